//! Accepted risks end to end: a trusted policy's `[[accept]]` entries in the JSON, text and
//! SARIF reports and the exit code; one shipped inside the scanned tree is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{artifacts, bin, code, parse, repo};
use serde_json::Value;

const MALICIOUS: &str = "samples/malicious/getattr_import_chain.pkl";
const SUSPICIOUS: &str = "samples/malicious/unknown_global_mylib.pkl";

fn sha256(path: &str) -> String {
    quarantine::zone::digest::sha256_hex(&std::fs::read(repo().join(path)).unwrap())
}

/// A scan tree with the two samples, and a policy file outside it.
fn tree(policy: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let scanned = dir.path().join("models");
    std::fs::create_dir(&scanned).unwrap();
    for sample in [MALICIOUS, SUSPICIOUS] {
        let name = Path::new(sample).file_name().unwrap();
        std::fs::copy(repo().join(sample), scanned.join(name)).unwrap();
    }
    let policy_path = dir.path().join("team-policy.toml");
    std::fs::write(&policy_path, policy).unwrap();
    (dir, scanned, policy_path)
}

fn entry(sample: &str, rule: &str, expires: &str, extra: &str) -> String {
    format!(
        "[[accept]]\nsha256 = \"{}\"\nrule = \"{rule}\"\nreason = \"reviewed in ticket 42\"\n\
         by = \"alice@example.com\"\nexpires = {expires}\n{extra}\n",
        sha256(sample)
    )
}

fn run(args: &[&str], policy: &Path, scanned: &Path) -> std::process::Output {
    bin()
        .arg("scan")
        .args(args)
        .arg("--policy")
        .arg(policy)
        .arg(scanned)
        .output()
        .unwrap()
}

fn artifact<'a>(report: &'a Value, name: &str) -> &'a Value {
    artifacts(report)
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with(name))
        .unwrap()
}

#[test]
fn accepted_findings_stay_in_every_report_and_decide_nothing() {
    let policy = format!(
        "{}{}",
        entry(SUSPICIOUS, "PKL002", "2099-12-31", ""),
        entry(MALICIOUS, "PKL001", "2099-12-31", "allow_malicious = true")
    );
    let (_dir, scanned, policy) = tree(&policy);
    let output = run(&["--format", "json"], &policy, &scanned);
    let report = parse(&output);
    let mylib = artifact(&report, "unknown_global_mylib.pkl");
    assert_eq!(mylib["verdict"], "clean", "{mylib:#}");
    let accepted = &mylib["findings"][0]["accepted"];
    assert_eq!(accepted["by"], "alice@example.com");
    assert_eq!(accepted["reason"], "reviewed in ticket 42");
    assert_eq!(accepted["expires"], "2099-12-31");
    assert_eq!(accepted["allow_malicious"], false);

    // The malicious sample may have more findings than PKL001; only those are accepted, and
    // ACC003 says a malicious finding was accepted.
    let chain = artifact(&report, "getattr_import_chain.pkl");
    let findings = chain["findings"].as_array().unwrap();
    for f in findings {
        let accepted = !f["accepted"].is_null();
        assert_eq!(accepted, f["rule_id"] == "PKL001", "{f:#}");
        if accepted {
            assert_eq!(f["accepted"]["allow_malicious"], true);
        }
    }
    let acc003 = findings.iter().find(|f| f["rule_id"] == "ACC003").unwrap();
    assert!(
        acc003["evidence"]
            .as_str()
            .unwrap()
            .contains("alice@example.com")
    );
    let others_decide = findings
        .iter()
        .any(|f| f["accepted"].is_null() && f["verdict"] != "clean");
    assert_eq!(
        chain["verdict"] != "clean",
        others_decide,
        "only unaccepted findings decide: {chain:#}"
    );

    // Text says so, SARIF carries external suppressions with the reason.
    let text = run(&["--format", "text", "--color", "never"], &policy, &scanned);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("ACCEPTED MALICIOUS finding (allow_malicious = true)"),
        "{text}"
    );
    assert!(text.contains("1 note, 1 accepted (-v)"), "{text}");
    let verbose = run(
        &["--format", "text", "--color", "never", "-v"],
        &policy,
        &scanned,
    );
    let verbose = String::from_utf8(verbose.stdout).unwrap();
    assert!(
        verbose.contains("accepted: by alice@example.com until 2099-12-31"),
        "{verbose}"
    );
    assert!(text.contains("accepted by the policy"), "{text}");
    let sarif = parse(&run(&["--format", "sarif"], &policy, &scanned));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert!(!suppressed.is_empty());
    for r in &suppressed {
        let s = &r["suppressions"][0];
        assert_eq!(s["kind"], "external");
        let justification = s["justification"].as_str().unwrap();
        assert!(justification.contains("reviewed in ticket 42"), "{r:#}");
        if r["ruleId"] == "PKL001" {
            assert!(justification.starts_with("ACCEPTED MALICIOUS"), "{r:#}");
        }
    }
    let html = run(&["--format", "html"], &policy, &scanned);
    assert!(String::from_utf8_lossy(&html.stdout).contains("ACCEPTED MALICIOUS FINDING"));
}

#[test]
fn only_the_accepted_findings_leave_the_exit_code() {
    let (_dir, scanned, policy) = tree(&entry(SUSPICIOUS, "PKL002", "2099-12-31", ""));
    std::fs::remove_file(scanned.join("getattr_import_chain.pkl")).unwrap();
    let output = run(&["--format", "json"], &policy, &scanned);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(parse(&output)["verdict"], "clean");

    // Expired: the finding counts again, and ACC001 names the entry.
    std::fs::write(&policy, entry(SUSPICIOUS, "PKL002", "2020-01-01", "")).unwrap();
    let output = run(&["--format", "json"], &policy, &scanned);
    assert_eq!(code(&output), 1);
    let report = parse(&output);
    let mylib = artifact(&report, "unknown_global_mylib.pkl");
    assert_eq!(mylib["verdict"], "suspicious");
    let rules: Vec<&str> = mylib["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"PKL002") && rules.contains(&"ACC001"),
        "{rules:?}"
    );
    assert!(
        mylib["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["accepted"].is_null())
    );

    // A malicious finding without allow_malicious is refused (ACC002), and stays malicious.
    std::fs::write(&policy, entry(MALICIOUS, "PKL001", "2099-12-31", "")).unwrap();
    std::fs::copy(repo().join(MALICIOUS), scanned.join("chain.pkl")).unwrap();
    let output = run(&["--format", "json"], &policy, &scanned);
    assert_eq!(code(&output), 1);
    let report = parse(&output);
    let chain = artifact(&report, "chain.pkl");
    assert_eq!(chain["verdict"], "malicious");
    assert!(
        chain["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "ACC002")
    );
}

#[test]
fn a_policy_inside_the_scanned_tree_accepts_nothing() {
    let (_dir, scanned, _) = tree("");
    std::fs::write(
        scanned.join("quarantine.toml"),
        entry(SUSPICIOUS, "PKL002", "2099-12-31", ""),
    )
    .unwrap();
    let output = bin()
        .args(["scan", "--format", "json"])
        .arg(&scanned)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not honouring the [[accept]] entries"),
        "{stderr}"
    );
    assert_eq!(code(&output), 1);
    let report = parse(&output);
    let mylib = artifact(&report, "unknown_global_mylib.pkl");
    assert_eq!(mylib["verdict"], "suspicious");
    let acc002 = mylib["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "ACC002")
        .unwrap();
    assert!(
        acc002["message"]
            .as_str()
            .unwrap()
            .contains("inside the scanned tree")
    );
    // Named with --policy, the same file is trusted.
    let output = run(
        &["--format", "json"],
        &scanned.join("quarantine.toml"),
        &scanned,
    );
    let report = parse(&output);
    assert_eq!(
        artifact(&report, "unknown_global_mylib.pkl")["verdict"],
        "clean"
    );
}
