//! OmegaConf interpolations in a Hydra target. OmegaConf resolves `${…}` in a value before
//! Hydra reads it, so `_target_: ${names.fn}` with `names.fn: builtins.exec` imports
//! `builtins.exec`. The plain forms are resolved here against the same document: absolute key
//! paths (`${a.b}`, `${a.list[0]}`), relative ones (`${.sibling}`, `${..uncle}`), several in one
//! string (`${a}.${b}`), and the `oc.select` and `oc.decode` resolvers on them. Anything else
//! (environment variables, custom resolvers) stays unresolved, and the target is judged as
//! written, which makes it unknown.

use super::yaml::Yaml;

/// Interpolations followed through other interpolations before giving up (a cycle).
const MAX_DEPTH: usize = 8;

/// `text` with every interpolation resolved, when it has any and all of them resolve. `at` is
/// the path of the mapping that holds the value (`model.preprocessor`), for relative keys.
pub fn resolve(text: &str, root: &Yaml, at: &str) -> Option<String> {
    if !text.contains("${") {
        return None;
    }
    expand(text, root, at, 0)
}

fn expand(text: &str, root: &Yaml, at: &str, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start)?);
        let inner_start = start + 2;
        let end = closing(rest, inner_start)?;
        let inner = rest.get(inner_start..end)?;
        out.push_str(&interpolation(inner, root, at, depth)?);
        rest = rest.get(end + 1..)?;
    }
    out.push_str(rest);
    Some(out)
}

/// The index of the `}` that closes the interpolation whose body starts at `from`.
fn closing(text: &str, from: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.get(from..)?.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(from + i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn interpolation(inner: &str, root: &Yaml, at: &str, depth: usize) -> Option<String> {
    let inner = inner.trim();
    if let Some((resolver, args)) = inner.split_once(':') {
        let arg = expand(unquote(first_arg(args)), root, at, depth + 1)?;
        return match resolver.trim() {
            // oc.select:key,default — the key's value.
            "oc.select" => value_at(&arg, root, at, depth),
            // oc.decode:string — the string read as YAML; a scalar is itself, unquoted.
            "oc.decode" => Some(unquote(&arg).to_owned()),
            _ => None,
        };
    }
    value_at(inner, root, at, depth)
}

/// The scalar at a key path, itself resolved.
fn value_at(key: &str, root: &Yaml, at: &str, depth: usize) -> Option<String> {
    let node = lookup(root, &absolute(key, at)?)?;
    let text = node.as_str()?;
    expand(text, root, at, depth + 1)
}

/// A key path made absolute: leading dots climb from the mapping at `at` (one dot is that
/// mapping itself).
fn absolute(key: &str, at: &str) -> Option<Vec<String>> {
    let dots = key.len() - key.trim_start_matches('.').len();
    let key = key.get(dots..)?;
    let mut path: Vec<String> = if dots == 0 { Vec::new() } else { segments(at) };
    for _ in 1..dots {
        path.pop()?;
    }
    path.extend(segments(key));
    Some(path)
}

/// `a.b[0].c` as `["a", "b", "[0]", "c"]`.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            out.push(key.to_owned());
        }
        out.extend(pieces.map(|index| format!("[{index}")));
    }
    out
}

fn lookup<'y>(root: &'y Yaml, path: &[String]) -> Option<&'y Yaml> {
    path.iter().try_fold(root, |node, segment| {
        match segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(index) => match node {
                Yaml::Seq(items) => items.get(index.parse::<usize>().ok()?),
                _ => None,
            },
            None => node.get(segment),
        }
    })
}

fn first_arg(args: &str) -> &str {
    // Only a first argument that holds no comma of its own is taken apart; oc.select's default
    // comes after it.
    args.split(',').next().unwrap_or_default().trim()
}

fn unquote(text: &str) -> &str {
    let text = text.trim();
    for quote in ['\'', '"'] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::nemo::yaml;

    fn root(text: &str) -> Yaml {
        yaml::parse(text).unwrap().root.unwrap()
    }

    #[test]
    fn plain_relative_and_resolver_forms_resolve() {
        let doc = root(
            "names: {fn: builtins.exec, list: [posix.system]}\n\
             parts: {a: builtins, b: '${parts.c}', c: eval}\n\
             m: {x: subprocess.run, sub: {t: 1}}\n",
        );
        let r = |t: &str, at: &str| resolve(t, &doc, at);
        assert_eq!(r("${names.fn}", "m").as_deref(), Some("builtins.exec"));
        assert_eq!(r("${names.list[0]}", "m").as_deref(), Some("posix.system"));
        assert_eq!(
            r("${parts.a}.${parts.b}", "m").as_deref(),
            Some("builtins.eval")
        );
        assert_eq!(r("${.x}", "m").as_deref(), Some("subprocess.run"));
        assert_eq!(r("${..x}", "m.sub").as_deref(), Some("subprocess.run"));
        assert_eq!(
            r("${oc.decode:'\"posix.system\"'}", "m").as_deref(),
            Some("posix.system")
        );
        assert_eq!(
            r("${oc.select:names.fn,torch.nn.ReLU}", "m").as_deref(),
            Some("builtins.exec")
        );
        assert_eq!(r("plain.name", "m"), None);
        assert_eq!(r("${oc.env:TARGET}", "m"), None);
        assert_eq!(r("${missing.key}", "m"), None);
    }

    #[test]
    fn cycles_end() {
        let doc = root("a: '${b}'\nb: '${a}'\n");
        assert_eq!(resolve("${a}", &doc, ""), None);
    }
}
