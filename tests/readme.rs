//! The README's rule reference and `docs/rules.md` are generated from the registry (and the
//! shipped signature rules). Run with `BLESS=1` to rewrite them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

#[test]
fn readme_rule_reference_matches_the_registry() {
    common::readme_part_is(
        "rules",
        &quarantine::model::rules::markdown(),
        "cargo test --test readme",
    );
}

#[test]
fn readme_opens_with_the_two_commands() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let head: String = readme.lines().take(15).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --release --locked -- scan samples/"));
    assert!(head.contains("cargo test --release --locked"));
}

/// `docs/rules.md` is generated; the SARIF helpUri anchors are its headings.
#[test]
fn rules_doc_matches_the_registry_and_the_shipped_signatures() {
    let path = common::repo().join("docs/rules.md");
    let signatures = quarantine::signatures::compile(&quarantine::signatures::sources::shipped())
        .expect("shipped rules compile");
    let generated = quarantine::report::rules_doc::markdown(signatures.rules());
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/rules.md is stale: run `BLESS=1 cargo test --release --locked --test readme`"
    );
    for heading in [
        "PKL001 pickle-denied-global",
        "YAR:download_exec.curl_pipe_shell",
    ] {
        assert!(committed.contains(&format!("### {heading}\n")));
    }
}
