//! `quarantine scan -` (standard input), `quarantine completions <shell>` and `quarantine man`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{bin, code, parse, repo};

fn with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

#[test]
fn scan_reads_standard_input() {
    let pickle =
        std::fs::read(repo().join("samples/malicious/global_posix_system_p0.pkl")).unwrap();
    let output = with_stdin(&["scan", "--no-policy", "--format", "json", "-"], &pickle);
    assert_eq!(
        code(&output),
        1,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = parse(&output);
    let artifact = &report["artifacts"][0];
    assert_eq!(artifact["path"], "<stdin>");
    assert_eq!(artifact["relative_path"], "<stdin>");
    assert_eq!(artifact["verdict"], "malicious");
    assert_eq!(artifact["findings"][0]["rule_id"], "PKL001");
    assert_eq!(artifact["findings"][0]["location"]["path"], "<stdin>");
    assert!(
        artifact["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("posix.system")
    );

    let benign = std::fs::read(repo().join("samples/benign/plain_data_protocol2.pkl")).unwrap();
    let output = with_stdin(&["scan", "--no-policy", "-"], &benign);
    assert_eq!(code(&output), 0);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("<stdin>"), "{text}");

    // Nothing at all reads as an empty file does: reported with its FMT004 note.
    let output = with_stdin(&["scan", "--no-policy", "--format", "json", "-"], b"");
    let report = parse(&output);
    assert_eq!(report["artifacts"][0]["path"], "<stdin>");
    assert_eq!(report["artifacts"][0]["findings"][0]["rule_id"], "FMT004");
}

#[test]
fn dash_stands_alone() {
    let output = with_stdin(&["scan", "-", "samples"], b"");
    assert_eq!(code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("standard input"));
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = bin().args(["completions", shell]).output().unwrap();
        assert_eq!(code(&output), 0, "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.len() > 1000, "{shell}: {script}");
        assert!(script.contains("scan"), "{shell}");
        assert!(script.contains("format"), "{shell}");
    }
    let output = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(code(&output), 2);
}

#[test]
fn man_page() {
    let output = bin().arg("man").output().unwrap();
    assert_eq!(code(&output), 0);
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH quarantine"),
        "{page}"
    );
    assert!(page.contains(".TH quarantine 1"));
    assert!(page.contains("scan"));
    assert!(page.contains("merge"));
}
