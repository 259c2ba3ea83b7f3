//! The README's rule reference is generated from the registry. Run with `BLESS=1` to rewrite it.

mod common;

const BEGIN: &str = "<!-- rules:begin -->\n";
const END: &str = "<!-- rules:end -->";

#[test]
fn readme_rule_reference_matches_the_registry() {
    let path = common::repo().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("rules:begin marker") + BEGIN.len();
    let end = readme.find(END).expect("rules:end marker");
    let generated = quarantine::model::rules::markdown();
    if std::env::var_os("BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..start], generated, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        readme[start..end] == generated,
        "README rule reference is stale: run `BLESS=1 cargo test --test readme`"
    );
}

#[test]
fn readme_opens_with_the_two_commands() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let head: String = readme.lines().take(15).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --release --locked -- scan samples/"));
    assert!(head.contains("cargo test --release --locked"));
}
