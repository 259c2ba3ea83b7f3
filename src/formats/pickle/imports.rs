//! The import policy: which globals a pickle may name (signatures/pickle-imports.toml), with
//! Python 2 name mapping, attribute paths through re-exported modules, and the user's
//! `--allow-global`/`--deny-global` entries.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::config::Config;

pub(super) const POLICY_TOML: &str = include_str!("../../../signatures/pickle-imports.toml");

#[derive(Deserialize)]
struct PolicyFile {
    deny: HashMap<String, String>,
    allow: HashMap<String, String>,
    reexported: Reexported,
    py2: Py2,
}

#[derive(Deserialize)]
struct Reexported {
    modules: Vec<String>,
}

#[derive(Deserialize)]
struct Py2 {
    modules: HashMap<String, String>,
    names: HashMap<String, String>,
}

struct Glob {
    module: String,
    prefix: String,
    suffix: String,
}

struct Policy {
    /// `a.b`: matches `a.b` and everything under it.
    deny_tree: HashMap<String, String>,
    /// `a.b.*`: matches what is under `a.b`.
    deny_below: HashMap<String, String>,
    allow_exact: HashSet<String>,
    /// `a.*`: plain names in module `a` and its submodules.
    allow_modules: Vec<String>,
    /// `a.x*y`: names matching the glob in module `a` and its submodules.
    allow_globs: Vec<Glob>,
    reexported: HashSet<String>,
    py2_modules: HashMap<String, String>,
    py2_names: HashMap<String, String>,
    known_roots: HashSet<String>,
}

fn root(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

impl Policy {
    fn parse(text: &str) -> Result<Policy, toml::de::Error> {
        let file: PolicyFile = toml::from_str(text)?;
        let mut policy = Policy {
            deny_tree: HashMap::new(),
            deny_below: HashMap::new(),
            allow_exact: HashSet::new(),
            allow_modules: Vec::new(),
            allow_globs: Vec::new(),
            reexported: file.reexported.modules.into_iter().collect(),
            py2_modules: file.py2.modules,
            py2_names: file.py2.names,
            known_roots: HashSet::new(),
        };
        for (pattern, reason) in file.deny {
            policy.known_roots.insert(root(&pattern).to_owned());
            match pattern.strip_suffix(".*") {
                Some(below) => policy.deny_below.insert(below.to_owned(), reason),
                None => policy.deny_tree.insert(pattern, reason),
            };
        }
        for pattern in file.allow.into_keys() {
            policy.known_roots.insert(root(&pattern).to_owned());
            let Some((module, name)) = pattern.rsplit_once('.') else {
                continue;
            };
            if name == "*" {
                policy.allow_modules.push(module.to_owned());
            } else if let Some((prefix, suffix)) = name.split_once('*') {
                policy.allow_globs.push(Glob {
                    module: module.to_owned(),
                    prefix: prefix.to_owned(),
                    suffix: suffix.to_owned(),
                });
            } else {
                policy.allow_exact.insert(pattern);
            }
        }
        for key in policy.py2_modules.keys().chain(policy.py2_names.keys()) {
            policy.known_roots.insert(root(key).to_owned());
        }
        policy.known_roots.insert("exceptions".to_owned());
        policy.known_roots.insert("__main__".to_owned());
        Ok(policy)
    }

    fn deny(&self, path: &str, config: &Config) -> Option<Denial> {
        let user = config
            .deny_globals
            .iter()
            .find(|entry| match entry.strip_suffix(".*") {
                Some(below) => is_below(path, below),
                None => path == entry.as_str() || is_below(path, entry),
            });
        if let Some(entry) = user {
            return Some(Denial {
                pattern: entry.clone(),
                reason: "on the --deny-global list".to_owned(),
            });
        }
        for (end, _) in path.match_indices('.').chain([(path.len(), "")]) {
            let Some(prefix) = path.get(..end) else {
                continue;
            };
            if let Some(reason) = self.deny_tree.get(prefix) {
                return Some(Denial {
                    pattern: prefix.to_owned(),
                    reason: reason.clone(),
                });
            }
            if end < path.len()
                && let Some(reason) = self.deny_below.get(prefix)
            {
                return Some(Denial {
                    pattern: format!("{prefix}.*"),
                    reason: reason.clone(),
                });
            }
        }
        None
    }

    fn allows(&self, module: &str, name: &str, config: &Config) -> bool {
        let path = format!("{module}.{name}");
        let in_module = |m: &str| module == m || is_below(module, m);
        if self.allow_exact.contains(&path) || config.allow_globals.contains(&path) {
            return true;
        }
        if name.contains('.') {
            // A dotted name reaches an attribute of a class: only exact entries allow that.
            return false;
        }
        config
            .allow_globals
            .iter()
            .filter_map(|e| e.strip_suffix(".*"))
            .any(in_module)
            || self.allow_modules.iter().any(|m| in_module(m))
            || self.allow_globs.iter().any(|g| {
                in_module(&g.module)
                    && name.len() >= g.prefix.len() + g.suffix.len()
                    && name.starts_with(&g.prefix)
                    && name.ends_with(&g.suffix)
            })
    }

    fn map_py2(&self, module: &str, name: &str) -> Option<(String, String)> {
        if let Some(mapped) = self.py2_names.get(&format!("{module}.{name}"))
            && let Some((m, n)) = mapped.rsplit_once('.')
        {
            return Some((m.to_owned(), n.to_owned()));
        }
        if module == "exceptions" {
            return Some(("builtins".to_owned(), name.to_owned()));
        }
        self.py2_modules
            .get(module)
            .map(|m| (m.clone(), name.to_owned()))
    }
}

fn is_below(path: &str, prefix: &str) -> bool {
    path.len() > prefix.len()
        && path.starts_with(prefix)
        && path.as_bytes().get(prefix.len()) == Some(&b'.')
}

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::parse(POLICY_TOML).expect("signatures/pickle-imports.toml is checked by a unit test")
});

/// A deny-list match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The list entry that matched.
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    Allowed,
    Denied(Denial),
    Unknown,
}

/// The policy's decision about one `module.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub class: Class,
    /// Where the name really leads when that differs from what is written: a Python 2 name's
    /// Python 3 home, or an attribute path through a re-exported module (`logging.os.system`
    /// is `os.system`).
    pub resolved: Option<String>,
    /// The global is a builtin (rendered without its module).
    pub builtin: bool,
}

/// Classifies the global `module.name` as a pickle would import it.
pub fn classify(module: &str, name: &str, config: &Config) -> Classification {
    let policy = &*POLICY;
    let mapped = policy.map_py2(module, name);
    let (canon_module, canon_name) = match &mapped {
        Some((m, n)) => (m.as_str(), n.as_str()),
        None => (module, name),
    };
    let builtin = canon_module == "builtins" && !canon_name.contains('.');
    let written = format!("{module}.{name}");
    let canonical = format!("{canon_module}.{canon_name}");
    let mut resolved = (mapped.is_some() && module != "__builtin__" && canonical != written)
        .then(|| canonical.clone());

    let mut denial = policy
        .deny(&canonical, config)
        .or_else(|| policy.deny(&written, config));
    if denial.is_none()
        && name.contains('.')
        && name
            .split('.')
            .any(|part| part.len() > 4 && part.starts_with("__") && part.ends_with("__"))
    {
        denial = Some(Denial {
            pattern: "<dunder attribute path>".to_owned(),
            reason: "walks interpreter internals through double-underscore attributes".to_owned(),
        });
    }
    if denial.is_none() {
        // An attribute path through a re-exported module reaches that module. Only the name
        // is an attribute path; the module part names real modules, which are imported.
        let parts: Vec<&str> = canonical.split('.').collect();
        let first_attribute = canon_module.split('.').count();
        for i in first_attribute..parts.len() {
            let Some(&part) = parts.get(i) else { break };
            if !policy.reexported.contains(part) {
                continue;
            }
            let head = if part == "__builtin__" {
                "builtins"
            } else {
                part
            };
            let mut suffix = head.to_owned();
            for rest in parts.iter().skip(i + 1) {
                suffix.push('.');
                suffix.push_str(rest);
            }
            if let Some(d) = policy.deny(&suffix, config) {
                resolved = Some(suffix);
                denial = Some(d);
                break;
            }
        }
    }
    let class = match denial {
        Some(d) => Class::Denied(d),
        None if policy.allows(canon_module, canon_name, config)
            || policy.allows(module, name, config) =>
        {
            Class::Allowed
        }
        None => Class::Unknown,
    };
    Classification {
        class,
        resolved,
        builtin,
    }
}

/// Classifies an import of which only the module is known (the name operand was not a string):
/// denied when the module is, unknown otherwise.
pub fn classify_module(module: &str, config: &Config) -> Option<Denial> {
    let policy = &*POLICY;
    let canonical = policy
        .py2_modules
        .get(module)
        .map_or(module, |m| m.as_str());
    policy
        .deny(canonical, config)
        .or_else(|| policy.deny(module, config))
}

/// Whether the top-level package of `module` is one the policy knows (used to recognise
/// protocol-0 pickles by their first GLOBAL).
pub fn is_known_module(module: &str) -> bool {
    POLICY.known_roots.contains(root(module))
}

/// A malformed `--allow-global`/`--deny-global` entry.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "invalid --{flag} entry `{entry}`: expected `module.name` or `module.*` (dotted Python identifiers, e.g. `mypkg.models.Net` or `mypkg.*`)"
    )]
    InvalidEntry { flag: &'static str, entry: String },
}

fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn valid_entry(entry: &str) -> bool {
    let body = entry.strip_suffix(".*").unwrap_or(entry);
    let parts: Vec<&str> = body.split('.').collect();
    let min_parts = if body.len() < entry.len() { 1 } else { 2 };
    parts.len() >= min_parts && parts.iter().all(|p| is_identifier(p))
}

/// Checks the user's policy entries before any scan starts.
pub fn validate_config(config: &Config) -> Result<(), PolicyError> {
    let lists = [
        ("allow-global", &config.allow_globals),
        ("deny-global", &config.deny_globals),
    ];
    for (flag, list) in lists {
        if let Some(entry) = list.iter().find(|e| !valid_entry(e)) {
            return Err(PolicyError::InvalidEntry {
                flag,
                entry: entry.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(module: &str, name: &str) -> Class {
        classify(module, name, &Config::default()).class
    }

    fn denied(module: &str, name: &str) -> bool {
        matches!(class(module, name), Class::Denied(_))
    }

    #[test]
    fn embedded_policy_parses() {
        let policy = Policy::parse(POLICY_TOML).unwrap();
        assert!(policy.deny_tree.contains_key("os"));
        assert!(!policy.allow_modules.is_empty());
        for reason in policy.deny_tree.values() {
            assert!(!reason.is_empty() && !reason.contains('\n'));
        }
    }

    #[test]
    fn deny_list() {
        for (m, n) in [
            ("builtins", "eval"),
            ("__builtin__", "eval"),
            ("__builtin__", "apply"),
            ("os", "system"),
            ("posix", "system"),
            ("nt", "system"),
            ("subprocess", "Popen"),
            ("asyncio.unix_events", "_UnixSubprocessTransport._start"),
            ("bdb", "Bdb.run"),
            ("torch.serialization", "load"),
            ("torch._inductor.codecache", "compile_file"),
            ("httplib", "HTTPSConnection"),
            ("requests.api", "get"),
            ("_io", "FileIO"),
            ("io", "FileIO"),
            ("logging", "FileHandler"),
            ("operator", "attrgetter"),
            ("_operator", "methodcaller"),
            ("functools", "partial"),
            ("types", "CodeType"),
            ("numpy.testing._private.utils", "runstring"),
            ("pathlib", "Path.write_text"),
            ("copy_reg", "add_extension"),
            ("cPickle", "loads"),
        ] {
            assert!(denied(m, n), "{m}.{n} should be denied");
        }
    }

    #[test]
    fn allow_list() {
        for (m, n) in [
            ("collections", "OrderedDict"),
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch", "FloatStorage"),
            ("torch", "BFloat16Storage"),
            ("torch", "bfloat16"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy", "dtype"),
            ("copy_reg", "_reconstructor"),
            ("__builtin__", "set"),
            ("sklearn.linear_model._logistic", "LogisticRegression"),
            ("sklearn.tree._tree", "Tree"),
            ("transformers.models.bert.configuration_bert", "BertConfig"),
            ("joblib.numpy_pickle", "NumpyArrayWrapper"),
            ("pathlib", "PosixPath"),
        ] {
            assert_eq!(class(m, n), Class::Allowed, "{m}.{n} should be allowed");
        }
    }

    #[test]
    fn unknown_and_dotted() {
        assert_eq!(class("mypkg.models", "Net"), Class::Unknown);
        // Methods of allowed classes are not allowed by a module wildcard.
        assert_eq!(
            class("sklearn.linear_model", "LogisticRegression.fit"),
            Class::Unknown
        );
        assert!(denied("collections", "OrderedDict.__init__.__globals__"));
        // An innocuous module re-exporting a dangerous one.
        let c = classify("logging", "os.system", &Config::default());
        assert!(matches!(c.class, Class::Denied(_)));
        assert_eq!(c.resolved.as_deref(), Some("os.system"));
        let c = classify("torch.serialization", "os.system", &Config::default());
        assert_eq!(c.resolved.as_deref(), Some("os.system"));
        assert!(denied("logging", "os"));
        // A package's own submodule that shares a name with a dangerous one is not an alias.
        assert_eq!(
            class("numpy.random._pickle", "__randomstate_ctor"),
            Class::Allowed
        );
        // Python 2 names resolve to their Python 3 home.
        let c = classify("httplib", "HTTPSConnection", &Config::default());
        assert_eq!(c.resolved.as_deref(), Some("http.client.HTTPSConnection"));
        assert!(classify("__builtin__", "eval", &Config::default()).builtin);
        assert!(
            classify("__builtin__", "eval", &Config::default())
                .resolved
                .is_none()
        );
    }

    #[test]
    fn user_entries_extend_both_lists_and_deny_wins() {
        let config = Config {
            allow_globals: vec!["mypkg.*".into(), "os.system".into()],
            deny_globals: vec!["collections.OrderedDict".into(), "evil.*".into()],
            ..Config::default()
        };
        assert_eq!(
            classify("mypkg.models", "Net", &config).class,
            Class::Allowed
        );
        assert!(matches!(
            classify("os", "system", &config).class,
            Class::Denied(_)
        ));
        assert!(matches!(
            classify("collections", "OrderedDict", &config).class,
            Class::Denied(_)
        ));
        assert!(matches!(
            classify("evil.sub", "x", &config).class,
            Class::Denied(_)
        ));
    }

    #[test]
    fn validates_user_entries() {
        let ok = Config {
            allow_globals: vec!["a.b".into(), "a.*".into(), "a.b.C".into()],
            deny_globals: vec!["x.y".into()],
            ..Config::default()
        };
        assert!(validate_config(&ok).is_ok());
        for bad in ["a", "", "a.", ".a", "a..b", "a.b c", "*", "a.*.b", "1a.b"] {
            let config = Config {
                deny_globals: vec![bad.into()],
                ..Config::default()
            };
            let err = validate_config(&config).unwrap_err().to_string();
            assert!(err.contains("--deny-global"), "{bad}: {err}");
        }
    }

    #[test]
    fn known_modules() {
        assert!(is_known_module("builtins"));
        assert!(is_known_module("__builtin__"));
        assert!(is_known_module("torch._utils"));
        assert!(!is_known_module("onfig"));
    }
}
