//! The shape issue 11 asks the source to keep: no hand-written source file over 1,000 lines,
//! and no function over 150 lines outside the opcode dispatch tables (one `match` each).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

/// Lines a hand-written source file may have.
const MAX_FILE_LINES: usize = 1_000;
/// Lines a function may have, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 150;
/// Functions that are one `match` over an instruction set, and may stay long.
const DISPATCH: &[(&str, &str)] = &[
    ("src/formats/pickle/plain.rs", "plain_data_end"),
    ("src/formats/pickle/vm.rs", "step"),
    ("src/formats/pickle/rare.rs", "step_rare"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every function of `text` with more than `MAX_FN_LINES` lines: name, first line, lines.
/// A function ends at the first line after its signature that is its own indentation and `}`.
fn long_functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let after_fn = [
            "pub ",
            "pub(crate) ",
            "pub(super) ",
            "const ",
            "async ",
            "unsafe ",
        ]
        .iter()
        .fold(body, |rest, p| rest.strip_prefix(p).unwrap_or(rest));
        let Some(sig) = after_fn.strip_prefix("fn ") else {
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The signature ends with the line that opens the body (or ends a declaration).
        let Some(open) = (i..lines.len()).find(|&j| {
            let l = lines[j].split("//").next().unwrap_or("").trim_end();
            l.ends_with('{') || l.ends_with(';') || l.ends_with('}')
        }) else {
            continue;
        };
        let opened = lines[open].split("//").next().unwrap_or("").trim_end();
        if !opened.ends_with('{') {
            continue; // a declaration or a one-line body
        }
        let close = format!("{indent}}}");
        if let Some(end) = (open + 1..lines.len()).find(|&j| lines[j] == close) {
            let count = end - i + 1;
            if count > MAX_FN_LINES {
                long.push((name, i + 1, count));
            }
        }
    }
    long
}

#[test]
fn source_files_and_functions_stay_short() {
    let root = common::repo();
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    let mut problems = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read source");
        let rel = path
            .strip_prefix(&root)
            .expect("under the repository")
            .to_string_lossy()
            .replace('\\', "/");
        let generated = text.lines().take(5).any(|l| l.contains("@generated"));
        let count = text.lines().count();
        if count > MAX_FILE_LINES && !generated {
            problems.push(format!(
                "{rel} has {count} lines (at most {MAX_FILE_LINES})"
            ));
        }
        for (name, line, count) in long_functions(&text) {
            if !DISPATCH.contains(&(rel.as_str(), name.as_str())) {
                problems.push(format!(
                    "{rel}:{line} fn {name} has {count} lines (at most {MAX_FN_LINES}); split it into named steps"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_function_measure_sees_bodies_not_declarations() {
    let body = "x();\n".repeat(MAX_FN_LINES);
    let text = format!(
        "trait T {{\n    fn declared(&self);\n}}\n\nfn short() {{}}\n\npub(crate) fn long(\n    a: u8,\n) {{\n{body}}}\n"
    );
    let long = long_functions(&text);
    assert_eq!(long, [("long".to_owned(), 7, MAX_FN_LINES + 4)]);
}
