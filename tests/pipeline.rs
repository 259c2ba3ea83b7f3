//! Pipeline use: SARIF (validated against the official schema), JSONL, policy files, shards
//! and merge, the cache, `--jobs`, registry layouts, and bad pipeline input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, code, parse};
use serde_json::Value;

const MALICIOUS: &[u8] = b"cposix\nsystem\n(S'echo quarantine-sample'\ntR.";
const UNKNOWN_GLOBAL: &[u8] = b"cmylab.models\nNet\n)R.";
const BENIGN: &[u8] = b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02K\x03e.";

fn put(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A small registry: nested directories of benign, suspicious and malicious pickles.
fn registry(root: &Path, n: usize) {
    for i in 0..n {
        let bytes = match i % 5 {
            0 => MALICIOUS,
            1 => UNKNOWN_GLOBAL,
            _ => BENIGN,
        };
        put(root, &format!("org{}/model-{i}/weights.pkl", i % 4), bytes);
    }
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run quarantine")
}

fn scan(root: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("scan")
        .arg("--no-policy")
        .args(extra)
        .arg(root)
        .output()
        .expect("run quarantine")
}

fn jsonl(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

/// The artifacts of a JSON report without what differs between runs (timing, cache use).
fn stable(report: &Value) -> Vec<Value> {
    common::artifacts(report)
        .iter()
        .map(|a| {
            let mut a = a.clone();
            let object = a.as_object_mut().unwrap();
            object.remove("duration_ms");
            object.remove("cached");
            a
        })
        .collect()
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let schema_path = common::repo().join("../shared/schemas/sarif-schema-2.1.0.json");
    let Ok(schema) = std::fs::read_to_string(&schema_path) else {
        eprintln!("skipped: {} is absent", schema_path.display());
        return;
    };
    let schema: Value = serde_json::from_str(&schema).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "unreadable-link", b"");
    std::fs::remove_file(dir.path().join("unreadable-link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("dangling")).unwrap();
    let samples = common::repo().join("samples");
    let output = bin()
        .args(["scan", "--no-policy", "--format", "sarif"])
        .arg(&samples)
        .arg(dir.path())
        .output()
        .unwrap();
    let sarif = parse(&output);
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(20)
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF is not valid:\n{}",
        errors.join("\n")
    );

    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let pkl001 = rules.iter().find(|r| r["id"] == "PKL001").unwrap();
    assert_eq!(pkl001["properties"]["security-severity"], "9.5");
    assert!(pkl001["help"]["text"].as_str().unwrap().contains("Fix:"));
    let results = run["results"].as_array().unwrap();
    let result = results
        .iter()
        .find(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                == "samples/malicious/torch_zip_payload.pt"
        })
        .expect("a result for the torch payload, relative to the repository root");
    assert_eq!(result["ruleId"], "PKL001");
    assert_eq!(
        rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "PKL001"
    );
    assert!(
        result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap()
            .ends_with("data.pkl")
    );
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap()
            .contains("at byte")
    );
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    assert!(
        run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("dangling")
    );
}

#[test]
fn jsonl_is_one_line_per_artifact_then_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    registry(dir.path(), 23);
    let output = scan(dir.path(), &["--format", "jsonl", "--jobs", "3"]);
    assert_eq!(code(&output), 1);
    let lines = jsonl(&output);
    assert_eq!(lines.len(), 24);
    let (summary, artifacts) = lines.split_last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["summary"]["artifacts"], 23);
    assert_eq!(summary["summary"]["malicious"], 5);
    assert_eq!(summary["top_rules"][0]["rule_id"], "PKL001");
    let mut seqs: Vec<u64> = artifacts
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "artifact");
            for key in [
                "path",
                "relative_path",
                "sha256",
                "verdict",
                "findings",
                "cached",
            ] {
                assert!(a.get(key).is_some(), "{key} missing in {a}");
            }
            a["seq"].as_u64().unwrap()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, (0..23).collect::<Vec<_>>());
}

#[test]
fn jobs_do_not_change_the_report() {
    let dir = tempfile::tempdir().unwrap();
    registry(dir.path(), 17);
    let one = parse(&scan(dir.path(), &["--format", "json", "--jobs", "1"]));
    let four = parse(&scan(dir.path(), &["--format", "json", "--jobs", "4"]));
    assert_eq!(stable(&one), stable(&four));
    let paths: Vec<&str> = common::artifacts(&one)
        .iter()
        .map(|a| a["relative_path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "walk order");
}

#[test]
fn shards_cover_every_artifact_once_and_merge_to_the_single_run_report() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    registry(&root, 31);
    let out = tempfile::tempdir().unwrap();
    let single = parse(&scan(&root, &["--format", "json"]));
    for n in [1, 2, 3, 5] {
        let mut files = Vec::new();
        let mut total = 0;
        for k in 1..=n {
            let file = out.path().join(format!("shard-{k}-of-{n}.jsonl"));
            let shard = format!("{k}/{n}");
            let output = scan(
                &root,
                &[
                    "--format",
                    "jsonl",
                    "--shard",
                    &shard,
                    "-o",
                    file.to_str().unwrap(),
                ],
            );
            assert!(output.stdout.is_empty(), "-o leaves stdout empty");
            total += std::fs::read_to_string(&file).unwrap().lines().count() - 1;
            files.push(file);
        }
        assert_eq!(total, 31, "{n} shards together hold every artifact once");
        let merged = bin()
            .args(["merge", "--format", "json"])
            .args(&files)
            .output()
            .unwrap();
        assert_eq!(code(&merged), 1);
        let merged = parse(&merged);
        assert_eq!(stable(&merged), stable(&single), "{n} shards");
        assert_eq!(merged["summary"], single["summary"]);

        if n > 1 {
            let partial = bin().arg("merge").args(&files[1..]).output().unwrap();
            assert_eq!(code(&partial), 2);
            let stderr = String::from_utf8_lossy(&partial.stderr);
            assert!(stderr.contains(&format!("1/{n}")), "{stderr}");
        }
    }
    let sarif = bin()
        .args(["merge", "--format", "sarif"])
        .arg(out.path().join("shard-1-of-1.jsonl"))
        .output()
        .unwrap();
    assert_eq!(parse(&sarif)["version"], "2.1.0");
}

#[test]
fn cache_hits_skip_analysis_and_corrupt_entries_are_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("models");
    for i in 0..6 {
        let bytes = if i % 2 == 0 {
            format!("cposix\nsystem\n(S'echo quarantine-sample {i}'\ntR.")
        } else {
            format!("(lp0\nI{i}\na.")
        };
        put(&root, &format!("org{}/m{i}.pkl", i % 3), bytes.as_bytes());
    }
    let cache = dir.path().join("cache");
    let args = ["--format", "json", "--cache", cache.to_str().unwrap()];
    let cold = parse(&scan(&root, &args));
    assert!(
        common::artifacts(&cold)
            .iter()
            .all(|a| a["cached"] == false)
    );
    let warm = parse(&scan(&root, &args));
    assert!(common::artifacts(&warm).iter().all(|a| a["cached"] == true));
    assert_eq!(stable(&cold), stable(&warm));

    // A moved file keeps its cached result under its new path.
    std::fs::rename(root.join("org0"), root.join("moved")).unwrap();
    let moved = parse(&scan(&root, &args));
    let artifact = common::artifacts(&moved)
        .iter()
        .find(|a| a["verdict"] == "malicious")
        .unwrap();
    assert_eq!(artifact["cached"], true);
    assert!(artifact["path"].as_str().unwrap().contains("moved"));
    assert!(
        artifact["findings"][0]["location"]["path"]
            .as_str()
            .unwrap()
            .contains("moved")
    );

    // Every entry and every index file (which holds a copy of its entry) corrupted (the
    // malicious ones now say "clean"): none is trusted, all are rewritten.
    let mut entries = 0;
    for fan in std::fs::read_dir(&cache).unwrap() {
        let fan = fan.unwrap();
        let index = fan.file_name() == "stat";
        for entry in std::fs::read_dir(fan.path()).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let forged = if text.contains("\"malicious\"") {
                text.replace("\"malicious\"", "\"clean\"")
            } else {
                text[..text.len() / 2].to_owned()
            };
            std::fs::write(&path, forged).unwrap();
            entries += usize::from(!index);
        }
    }
    assert_eq!(entries, 6, "one entry per artifact");
    let again = scan(&root, &args);
    assert_eq!(code(&again), 1);
    let again = parse(&again);
    assert_eq!(again["summary"], cold["summary"]);
    assert!(
        common::artifacts(&again)
            .iter()
            .all(|a| a["cached"] == false)
    );
    let healed = parse(&scan(&root, &args));
    assert!(
        common::artifacts(&healed)
            .iter()
            .all(|a| a["cached"] == true)
    );
}

#[test]
fn policy_is_found_above_the_scan_root_applied_per_path_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let policy = "fail_on = \"malicious\"\n\
                  [rules]\nseverity = { PKL002 = \"low\" }\n\
                  [[overrides]]\npaths = [\"vetted/**\"]\npickle.allow_globals = [\"mylab.models.Net\"]\n";
    put(repo, "quarantine.toml", policy.as_bytes());
    put(repo, "models/vetted/net.pkl", UNKNOWN_GLOBAL);
    put(repo, "models/other/net.pkl", UNKNOWN_GLOBAL);
    let output = bin()
        .args(["scan", "--format", "json"])
        .arg(repo.join("models"))
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "fail_on = malicious from the policy");
    assert!(String::from_utf8_lossy(&output.stderr).contains("applying policy"));
    let report = parse(&output);
    assert!(
        report["policy"]["path"]
            .as_str()
            .unwrap()
            .ends_with("quarantine.toml")
    );
    assert_eq!(
        report["policy"]["sha256"],
        quarantine::zone::digest::sha256_hex(policy.as_bytes())
    );
    let by_rel = |rel: &str| {
        common::artifacts(&report)
            .iter()
            .find(|a| a["relative_path"] == rel)
            .unwrap()
            .clone()
    };
    assert_eq!(by_rel("vetted/net.pkl")["verdict"], "clean");
    let other = by_rel("other/net.pkl");
    assert_eq!(other["verdict"], "suspicious");
    assert_eq!(other["findings"][0]["severity"], "low");

    // The command line wins over the policy; --no-policy ignores it.
    let cli = bin()
        .args(["scan", "--fail-on", "suspicious"])
        .arg(repo.join("models"))
        .output()
        .unwrap();
    assert_eq!(code(&cli), 1);
    let none = bin()
        .args(["scan", "--no-policy", "--format", "json"])
        .arg(repo.join("models"))
        .output()
        .unwrap();
    assert_eq!(parse(&none)["policy"], Value::Null);
    assert_eq!(parse(&none)["summary"]["suspicious"], 2);
}

#[test]
fn invalid_policies_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "fail_on = \"malicious\"\n[limits]\nmax_depht = 3\n",
            "max_depht",
        ),
        ("[rules]\ndisabled = [\"PKL999\"]\n", "PKL999"),
        ("[[overrides]]\npaths = [\"a/**\", \"[\"]\n", "line 2"),
        (
            "[pickle]\nallow_globals = [\"not a global\"]\n",
            "not a global",
        ),
        ("[limits]\nmax_total_bytes = \"12Q\"\n", "line 2"),
    ];
    let model = put(dir.path(), "m.pkl", BENIGN);
    for (text, expected) in cases {
        let policy = put(dir.path(), "bad.toml", text.as_bytes());
        let output = bin()
            .args(["scan", "--policy"])
            .arg(&policy)
            .arg(&model)
            .output()
            .unwrap();
        assert_eq!(code(&output), 2, "{text}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert!(stderr.contains("bad.toml"), "{stderr}");
    }
    let unknown = put(dir.path(), "bad.toml", b"\n\nbogus = 1\n");
    let check = run(&["policy", "--check", unknown.to_str().unwrap()]);
    assert_eq!(code(&check), 2);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("bogus"),
        "{stderr}"
    );
}

#[test]
fn the_default_policy_prints_parses_and_changes_nothing() {
    let printed = run(&["policy", "--print-default"]);
    assert_eq!(code(&printed), 0);
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "quarantine.toml", &printed.stdout);
    registry(&dir.path().join("models"), 5);
    let with = parse(
        &bin()
            .args(["scan", "--format", "json"])
            .arg(dir.path().join("models"))
            .output()
            .unwrap(),
    );
    let without = parse(&scan(&dir.path().join("models"), &["--format", "json"]));
    assert_eq!(stable(&with), stable(&without));
    assert!(with["policy"].is_object());
}

#[test]
fn bad_pipeline_input_fails_before_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let model = put(dir.path(), "m.pkl", MALICIOUS);
    let m = model.to_str().unwrap();
    for shard in ["3/2", "0/0", "0/2", "1", "a/b"] {
        let output = run(&["scan", "--shard", shard, m]);
        assert_eq!(code(&output), 2, "{shard}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("K/N"));
    }
    let output = run(&["scan", "-o", "/nonexistent/dir/report.json", m]);
    assert_eq!(code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot write --output"));
    let file_as_dir = run(&["scan", "--cache", m, m]);
    assert_eq!(code(&file_as_dir), 2);
    assert!(String::from_utf8_lossy(&file_as_dir.stderr).contains("cannot use cache"));
    let truncated = put(dir.path(), "cut.jsonl", b"{\"type\":\"artifact\"");
    let merge = run(&["merge", truncated.to_str().unwrap()]);
    assert_eq!(code(&merge), 2);
    assert!(String::from_utf8_lossy(&merge.stderr).contains("cut.jsonl:1"));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    registry(dir.path(), 8);
    let output = scan(dir.path(), &["--format", "jsonl"]);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("artifacts  "));
}

#[test]
fn mlflow_and_hub_cache_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "mlruns/0/meta.yaml", b"name: Default\n");
    put(
        root,
        "mlruns/1/3f2a/artifacts/model/MLmodel",
        b"flavors:\n  sklearn: {}\n",
    );
    put(root, "mlruns/1/3f2a/artifacts/model/model.pkl", MALICIOUS);
    put(root, "mlruns/1/3f2a/metrics/loss", b"1 0.5 0\n");
    let repo = root.join("hub/models--org--name");
    put(&repo, "blobs/abc", BENIGN);
    std::fs::create_dir_all(repo.join("snapshots/rev1")).unwrap();
    std::os::unix::fs::symlink("../../blobs/abc", repo.join("snapshots/rev1/model.pkl")).unwrap();
    let report = parse(&scan(root, &["--format", "json"]));
    let rel: Vec<&str> = common::artifacts(&report)
        .iter()
        .map(|a| a["relative_path"].as_str().unwrap())
        .collect();
    assert_eq!(
        rel,
        [
            "hub/models--org--name/snapshots/rev1/model.pkl",
            "mlruns/0/meta.yaml",
            "mlruns/1/3f2a/artifacts/model/MLmodel",
            "mlruns/1/3f2a/artifacts/model/model.pkl",
            "mlruns/1/3f2a/metrics/loss",
        ]
    );
    let model = &common::artifacts(&report)[3];
    assert_eq!(model["verdict"], "malicious");
}

#[test]
fn policy_names_rule_directories_and_probe_settings() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    put(
        repo,
        "quarantine.toml",
        b"[signatures]\ndirs = [\"team-rules\"]\n[probe]\nmode = \"off\"\n",
    );
    put(
        repo,
        "team-rules/team.yar",
        b"rule team_marker { meta: verdict = \"malicious\" strings: $a = \"team-canary-7\" condition: $a }\n",
    );
    put(
        repo,
        "models/settings.cfg",
        b"this config mentions team-canary-7\n",
    );
    let output = bin()
        .args(["scan", "--format", "json"])
        .arg(repo.join("models"))
        .output()
        .unwrap();
    let report = parse(&output);
    let notes = &common::artifacts(&report)[0];
    assert_eq!(notes["verdict"], "malicious", "{notes}");
    assert_eq!(notes["findings"][0]["rule_id"], "YAR:team.team_marker");

    // `[probe] mode = "off"`: no probe section for a model it would otherwise probe.
    let model = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/benign/probe_robust.safetensors"),
    )
    .unwrap();
    put(repo, "models/model.safetensors", &model);
    let output = bin()
        .args(["scan", "--format", "json"])
        .arg(repo.join("models/model.safetensors"))
        .output()
        .unwrap();
    let report = parse(&output);
    assert!(common::artifacts(&report)[0]["robustness"].is_null());
    let probed = bin()
        .args(["scan", "--format", "json", "--probe", "auto"])
        .arg(repo.join("models/model.safetensors"))
        .output()
        .unwrap();
    assert!(!common::artifacts(&parse(&probed))[0]["robustness"].is_null());

    put(repo, "quarantine.toml", b"[probe]\nbudget_seconds = -1\n");
    let bad = bin()
        .args(["scan"])
        .arg(repo.join("models"))
        .output()
        .unwrap();
    assert_eq!(code(&bad), 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("budget_seconds"));
}

#[test]
fn a_policy_shipped_inside_the_scanned_tree_cannot_weaken_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path();
    put(
        download,
        "quarantine.toml",
        b"fail_on = \"malicious\"\n[rules]\ndisabled = [\"PKL002\"]\n",
    );
    put(download, "net.pkl", UNKNOWN_GLOBAL);
    let refused = bin().arg("scan").arg(download).output().unwrap();
    assert_eq!(code(&refused), 2);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("weakens the scan") && stderr.contains("rules.disabled"),
        "{stderr}"
    );

    // Named explicitly, it is a deliberate choice and applies.
    let given = bin()
        .arg("scan")
        .arg("--policy")
        .arg(download.join("quarantine.toml"))
        .arg(download)
        .output()
        .unwrap();
    assert_eq!(code(&given), 0);

    // Above the scanned directory (the repository's own policy), it applies as found.
    let nested = bin()
        .arg("scan")
        .arg(download.join("net.pkl"))
        .output()
        .unwrap();
    assert_eq!(code(&nested), 0);

    // A policy that only tightens applies even from inside the tree.
    put(
        download,
        "quarantine.toml",
        b"[pickle]\ndeny_globals = [\"mylab.*\"]\n",
    );
    let strict = bin().arg("scan").arg(download).output().unwrap();
    assert_eq!(code(&strict), 1);
    assert!(String::from_utf8_lossy(&strict.stderr).contains("applying policy"));
}

/// A cached result is only reused where everything it depends on is the same: the file's name
/// (a pickle named `.safetensors` is FMT002) and the files beside it (shards of an index).
#[test]
fn cache_results_depend_on_the_name_and_the_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let args = ["--format", "json", "--cache", cache.to_str().unwrap()];
    let codes = |report: &Value| -> Vec<String> {
        common::artifacts(report)[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap().to_owned())
            .collect()
    };

    let pickle = b"(lp0\nI1\na.";
    let plain = put(&dir.path().join("a"), "m.pkl", pickle);
    assert!(codes(&parse(&scan(&plain, &args))).is_empty());
    let renamed = put(&dir.path().join("b"), "m.safetensors", pickle);
    let report = parse(&scan(&renamed, &args));
    assert!(codes(&report).contains(&"FMT002".to_owned()), "{report}");

    let shards = common::repo().join("samples/benign/sharded_checkpoint");
    let index_name = "model.safetensors.index.json";
    let with_shards = dir.path().join("with");
    std::fs::create_dir_all(&with_shards).unwrap();
    for entry in std::fs::read_dir(&shards).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), with_shards.join(entry.file_name())).unwrap();
    }
    let index = with_shards.join(index_name);
    assert!(codes(&parse(&scan(&index, &args))).is_empty());
    let alone = put(
        &dir.path().join("alone"),
        index_name,
        &std::fs::read(&index).unwrap(),
    );
    let report = parse(&scan(&alone, &args));
    assert_eq!(common::artifacts(&report)[0]["cached"], false);
    assert!(codes(&report).contains(&"SFT005".to_owned()), "{report}");
}

/// A cache directory others can write is not used (whoever writes it decides verdicts); the
/// scan goes on without it.
#[cfg(unix)]
#[test]
fn a_cache_writable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let model = put(dir.path(), "m.pkl", b"(lp0\nI1\na.");
    let output = scan(&model, &["--cache", cache.to_str().unwrap()]);
    assert_eq!(code(&output), 0);
    assert!(String::from_utf8_lossy(&output.stderr).contains("not using the cache"));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
}

/// A policy inside the scanned tree may not loosen limits or make the scanner read files of its
/// choosing; a trusted policy's rule directories stay inside its own tree; and no error quotes
/// a file that is not a rule file.
#[test]
fn in_tree_policies_cannot_reach_outside_or_loosen_limits() {
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path().join("download");
    put(&download, "net.pkl", b"(lp0\nI1\na.");
    for (policy, named) in [
        (&b"[limits]\nmax_ratio = 100000\n"[..], "limits raised"),
        (b"[signatures]\ndirs = [\"rules\"]\n", "signatures.dirs"),
    ] {
        put(&download, "quarantine.toml", policy);
        let refused = bin().arg("scan").arg(&download).output().unwrap();
        assert_eq!(code(&refused), 2);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(named), "{stderr}");
    }
    // Lowering a limit only tightens: allowed from inside.
    put(&download, "quarantine.toml", b"[limits]\nmax_ratio = 50\n");
    assert_eq!(code(&bin().arg("scan").arg(&download).output().unwrap()), 0);

    // Even a policy named with --policy cannot point its rules outside its own directory,
    // and a secret is never echoed through a compile error.
    let secret = put(dir.path(), "secret.env", b"TOKEN=hunter2-not-a-rule\n");
    let team = dir.path().join("team");
    for dirs in [secret.display().to_string(), "../secret.env".to_owned()] {
        put(
            &team,
            "quarantine.toml",
            format!("[signatures]\ndirs = [{dirs:?}]\n").as_bytes(),
        );
        let output = bin()
            .arg("scan")
            .arg("--policy")
            .arg(team.join("quarantine.toml"))
            .arg(download.join("net.pkl"))
            .output()
            .unwrap();
        assert_eq!(code(&output), 2);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("outside the policy"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    let rules = bin()
        .arg("scan")
        .arg("--rules")
        .arg(&secret)
        .arg(download.join("net.pkl"))
        .output()
        .unwrap();
    assert_eq!(code(&rules), 2);
    let stderr = String::from_utf8_lossy(&rules.stderr);
    assert!(
        stderr.contains("not a rule file") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// `-o` never follows a link, never overwrites a scanned input, and a report appears whole.
#[cfg(unix)]
#[test]
fn reports_never_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let model = put(
        dir.path(),
        "x.pkl",
        b"cposix\nsystem\n(S'echo quarantine-sample'\ntR.",
    );
    let before = std::fs::read(&model).unwrap();
    let onto_input = run(&[
        "scan",
        "-o",
        model.to_str().unwrap(),
        model.to_str().unwrap(),
    ]);
    assert_eq!(code(&onto_input), 2);
    assert_eq!(std::fs::read(&model).unwrap(), before);

    let victim = put(dir.path(), "victim.txt", b"precious");
    let link = dir.path().join("report.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for format in ["json", "jsonl"] {
        let through_link = run(&[
            "scan",
            "--format",
            format,
            "-o",
            link.to_str().unwrap(),
            model.to_str().unwrap(),
        ]);
        assert_eq!(code(&through_link), 2, "{format}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    let out = dir.path().join("out.json");
    let written = run(&[
        "scan",
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
        model.to_str().unwrap(),
    ]);
    assert_eq!(code(&written), 1);
    assert_eq!(parse_file(&out)["summary"]["malicious"], 1);
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".quarantine-report-")
        })
        .count();
    assert_eq!(leftovers, 0);
}

fn parse_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Nesting deeper than the stack could hold ends in a finding at the ceiling, whatever
/// `--max-depth` says, never in a crash that loses the other results.
#[test]
fn nesting_stops_at_the_ceiling_without_a_crash() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut data = b"(lp0\nI1\na.".to_vec();
    for _ in 0..200 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        gz.write_all(&data).unwrap();
        data = gz.finish().unwrap();
    }
    put(dir.path(), "deep.gz", &data);
    put(dir.path(), "other.pkl", MALICIOUS);
    let output = scan(dir.path(), &["--format", "json", "--max-depth", "1000"]);
    assert_eq!(
        code(&output),
        1,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = parse(&output);
    let artifacts = common::artifacts(&report);
    assert_eq!(artifacts.len(), 2);
    let deep = artifacts
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("deep.gz"))
        .unwrap();
    assert_eq!(deep["verdict"], "suspicious", "{deep}");
    assert!(
        deep["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "ARC005")
    );
}

/// A spent time budget stops the analysis of that artifact with a finding (never a silent
/// clean), and the other artifacts of the run are judged as usual.
#[test]
fn a_spent_time_budget_is_a_finding_not_a_clean_or_a_hang() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(BENIGN).unwrap();
    put(dir.path(), "weights.pkl.gz", &gz.finish().unwrap());
    put(dir.path(), "other.pkl", MALICIOUS);
    let output = scan(dir.path(), &["--format", "json", "--timeout", "0"]);
    assert_eq!(code(&output), 1);
    let report = parse(&output);
    let artifacts = common::artifacts(&report);
    let verdict_of = |name: &str| {
        let artifact = artifacts
            .iter()
            .find(|a| a["path"].as_str().unwrap().ends_with(name))
            .unwrap();
        let rules: Vec<&str> = artifact["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap())
            .collect();
        (artifact["verdict"].as_str().unwrap().to_owned(), rules)
    };
    let (verdict, rules) = verdict_of("weights.pkl.gz");
    assert_eq!(verdict, "suspicious", "{rules:?}");
    assert!(rules.contains(&"FMT006"), "{rules:?}");
    // The budget bounds the work, not what is already known: a denied call read before the
    // first check is still malicious.
    let (verdict, rules) = verdict_of("other.pkl");
    assert_eq!(verdict, "malicious", "{rules:?}");
}
