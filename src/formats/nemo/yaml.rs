//! A bounded YAML tree over the events of `yaml-rust2`'s parser (a pure-Rust YAML 1.2 parser
//! whose parser is a state machine, so nesting does not recurse).
//!
//! The tree is built here rather than by the crate's loader so that hostile input is bounded:
//! aliases are expanded against a node budget (the billion-laughs document stops instead of
//! growing), nesting past a depth is refused, and tags are recorded but never resolved (a tag
//! names a constructor in PyYAML's unsafe loaders; OmegaConf's loader refuses them).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    /// A scalar, with whether it was written plain (unquoted: a number, bool or null may be
    /// what it means).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Yaml>),
    Map(Vec<(Yaml, Yaml)>),
}

impl Yaml {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value of a scalar key of a mapping (the last one, as PyYAML's constructor keeps).
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// What was read: the first document, and what the reader noticed on the way.
#[derive(Debug, Default)]
pub struct Document {
    pub root: Option<Yaml>,
    /// Tags seen (`!!python/object:os.system`), in order, at most a few.
    pub tags: Vec<String>,
    pub documents: usize,
}

/// Why the document could not be read whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Syntax(String),
    /// Aliases expand past the node budget.
    AliasBomb(usize),
    TooDeep(usize),
    /// An alias to an anchor that was never defined.
    UnknownAnchor,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Syntax(why) => write!(f, "not YAML a loader reads ({why})"),
            Error::AliasBomb(n) => write!(
                f,
                "more than {n} nodes once anchors and aliases are expanded (an alias bomb)"
            ),
            Error::TooDeep(n) => write!(f, "nested deeper than {n} levels"),
            Error::UnknownAnchor => write!(f, "an alias names an anchor that was never defined"),
        }
    }
}

/// Nodes (counting every alias expansion) a document may have.
pub const MAX_NODES: usize = 1_000_000;
pub const MAX_DEPTH: usize = 256;
const MAX_TAGS: usize = 16;

enum Frame {
    Seq(Vec<Yaml>, usize),
    Map(Vec<(Yaml, Yaml)>, Option<Yaml>, usize),
}

/// What a copy of a subtree costs against the budget: a node each, and a node per 64 bytes of
/// text (so that one long scalar aliased many times is bounded too).
fn cost(y: &Yaml) -> usize {
    let mut n = 0usize;
    let mut stack = vec![y];
    while let Some(y) = stack.pop() {
        n = n.saturating_add(1);
        match y {
            Yaml::Scalar { text, .. } => n = n.saturating_add(text.len() / 64),
            Yaml::Seq(items) => stack.extend(items.iter()),
            Yaml::Map(pairs) => {
                for (k, v) in pairs {
                    stack.push(k);
                    stack.push(v);
                }
            }
        }
    }
    n
}

/// Reads the first document of `text`.
pub fn parse(text: &str) -> Result<Document, Error> {
    let mut parser = Parser::new_from_str(text);
    let mut doc = Document::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Yaml, usize)> = HashMap::new();
    let mut nodes = 0usize;
    loop {
        let (event, _) = parser
            .next_token()
            .map_err(|e| Error::Syntax(e.to_string()))?;
        let note_tag = |tag: &Option<yaml_rust2::parser::Tag>, doc: &mut Document| {
            if let Some(tag) = tag
                && doc.tags.len() < MAX_TAGS
            {
                doc.tags.push(format!("{}{}", tag.handle, tag.suffix));
            }
        };
        let finished: Option<(Yaml, usize)> = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                doc.documents += 1;
                None
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => None,
            Event::Alias(id) => {
                let (node, n) = anchors.get(&id).ok_or(Error::UnknownAnchor)?;
                nodes = nodes.saturating_add(*n);
                if nodes > MAX_NODES {
                    return Err(Error::AliasBomb(MAX_NODES));
                }
                Some((node.clone(), 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                note_tag(&tag, &mut doc);
                nodes += 1;
                let plain = matches!(style, yaml_rust2::scanner::TScalarStyle::Plain);
                Some((Yaml::Scalar { text, plain }, anchor))
            }
            Event::SequenceStart(anchor, tag) => {
                note_tag(&tag, &mut doc);
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(Error::TooDeep(MAX_DEPTH));
                }
                stack.push(Frame::Seq(Vec::new(), anchor));
                None
            }
            Event::MappingStart(anchor, tag) => {
                note_tag(&tag, &mut doc);
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(Error::TooDeep(MAX_DEPTH));
                }
                stack.push(Frame::Map(Vec::new(), None, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => Some((Yaml::Seq(items), anchor)),
                _ => return Err(Error::Syntax("unbalanced sequence".to_owned())),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(pairs, _, anchor)) => Some((Yaml::Map(pairs), anchor)),
                _ => return Err(Error::Syntax("unbalanced mapping".to_owned())),
            },
        };
        if nodes > MAX_NODES {
            return Err(Error::AliasBomb(MAX_NODES));
        }
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor > 0 {
            let n = cost(&node);
            anchors.insert(anchor, (node.clone(), n));
        }
        match stack.last_mut() {
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(pairs, key, _)) => match key.take() {
                Some(k) => pairs.push((k, node)),
                None => *key = Some(node),
            },
            None => {
                if doc.root.is_none() {
                    doc.root = Some(node);
                }
            }
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mappings_sequences_and_anchors() {
        let doc = parse("a: 1\nb: &x [p, 'q']\nc: *x\n").unwrap();
        let root = doc.root.unwrap();
        assert_eq!(root.get("a").and_then(Yaml::as_str), Some("1"));
        assert_eq!(root.get("b"), root.get("c"));
        assert!(doc.tags.is_empty());
    }

    #[test]
    fn alias_bombs_and_depth_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert_eq!(parse(&text).unwrap_err(), Error::AliasBomb(MAX_NODES));
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        // The parser's own recursion limit or ours, whichever comes first.
        assert!(matches!(
            parse(&deep),
            Err(Error::TooDeep(_) | Error::Syntax(_))
        ));
    }

    #[test]
    fn tags_are_recorded_not_resolved() {
        let doc = parse("x: !!python/object/apply:os.system ['echo hi']\n").unwrap();
        assert_eq!(doc.tags.len(), 1);
        assert!(
            doc.tags[0].contains("python/object/apply:os.system"),
            "{:?}",
            doc.tags
        );
    }
}
