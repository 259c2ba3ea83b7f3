//! `keygen`, `admit`, `verify`, `admitted`, `log` and `diff` end to end through the binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, code, repo};

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .env_remove("QUARANTINE_SIGNING_KEY")
        .env_remove("QUARANTINE_VERIFY_KEY")
        .env_remove("QUARANTINE_LOG_KEY")
        .output()
        .expect("run quarantine")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small clean model folder made of benign samples.
fn model(dir: &Path, name: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("onnx")).unwrap();
    for (from, to) in [
        ("linear.safetensors", "model.safetensors"),
        ("config.json", "config.json"),
        ("torch_state_dict.pt", "pytorch_model.bin"),
        ("mlp.onnx", "onnx/model.onnx"),
    ] {
        std::fs::copy(repo().join("samples/benign").join(from), root.join(to)).unwrap();
    }
    root
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let out = run(&["keygen", "--out", s(&prefix)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

fn admit(model: &Path, key: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "admit",
        "--probe",
        "off",
        "--no-policy",
        "--key",
        s(key),
        "-q",
    ];
    args.extend_from_slice(extra);
    args.push(s(model));
    run(&args)
}

fn verify(model: &Path, public: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify", "--key", s(public)];
    args.extend_from_slice(extra);
    args.push(s(model));
    run(&args)
}

#[test]
fn admitted_model_verifies_and_every_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "a");
    let m = model(dir.path(), "bert");
    let out = admit(&m, &key, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(m.join("model.sig").is_file() && m.join("model.admission.sig").is_file());
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("verified:"), "{}", text(&out));
    assert!(text(&out).contains("verdict clean"), "{}", text(&out));

    // A byte flipped.
    let weights = m.join("model.safetensors");
    let original = std::fs::read(&weights).unwrap();
    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(&weights, &flipped).unwrap();
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("changed: model.safetensors"),
        "{}",
        text(&out)
    );
    std::fs::write(&weights, &original).unwrap();

    // A file added: a failure, or listed with --allow-extra.
    std::fs::write(m.join("onnx/extra.pkl"), b"\x80\x04K\x01.").unwrap();
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("added: onnx/extra.pkl"),
        "{}",
        text(&out)
    );
    let out = verify(&m, &public, &["--allow-extra"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("added: onnx/extra.pkl"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(m.join("onnx/extra.pkl")).unwrap();

    // A file removed.
    std::fs::rename(m.join("config.json"), dir.path().join("config.json")).unwrap();
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("missing: config.json"),
        "{}",
        text(&out)
    );
    std::fs::rename(dir.path().join("config.json"), m.join("config.json")).unwrap();
    assert_eq!(code(&verify(&m, &public, &[])), 0);

    // A signature swapped for another model's (same key): the files do not match it, and the
    // attestation is for another release.
    let other = model(dir.path(), "other");
    std::fs::write(other.join("config.json"), b"{\"model_type\": \"other\"}").unwrap();
    assert_eq!(code(&admit(&other, &key, &[])), 0);
    let saved = std::fs::read(m.join("model.sig")).unwrap();
    std::fs::copy(other.join("model.sig"), m.join("model.sig")).unwrap();
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 1);
    let t = text(&out);
    assert!(t.contains("changed: config.json"), "{t}");
    assert!(t.contains("attestation is for another release"), "{t}");
    std::fs::write(m.join("model.sig"), &saved).unwrap();

    // A signature by another key, and an attestation by another key.
    let (key_b, public_b) = keygen(dir.path(), "b");
    let store = dir.path().join("store-b");
    let out = admit(&m, &key_b, &["-o", s(&store)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let sig_b = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !s(p).ends_with(".admission.sig"))
        .unwrap();
    let att_b = PathBuf::from(s(&sig_b).replace(".sig", ".admission.sig"));
    let out = verify(&m, &public, &["--signature", s(&sig_b)]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("signed by another key"),
        "{}",
        text(&out)
    );
    let out = verify(&m, &public, &["--attestation", s(&att_b)]);
    assert_eq!(code(&out), 1);
    let t = text(&out);
    assert!(
        t.contains("attestation") && t.contains("another key"),
        "{t}"
    );
    // B's own pair verifies with B's key.
    let out = verify(&m, &public_b, &["--signature", s(&sig_b)]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // The attestation deleted: not admitted, unless only the signature is asked for.
    std::fs::remove_file(m.join("model.admission.sig")).unwrap();
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("no admission attestation"),
        "{}",
        text(&out)
    );
    assert_eq!(code(&verify(&m, &public, &["--signature-only"])), 0);

    // Garbage where the signature should be.
    std::fs::write(m.join("model.sig"), b"not json").unwrap();
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("not a Sigstore bundle"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_failing_verdict_writes_nothing_and_malicious_is_never_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "k");
    let m = model(dir.path(), "m");
    std::fs::copy(
        repo().join("samples/malicious/global_posix_system_p0.pkl"),
        m.join("extra.pkl"),
    )
    .unwrap();
    let out = admit(&m, &key, &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("NOT admitted"), "{}", text(&out));
    assert!(!m.join("model.sig").exists() && !m.join("model.admission.sig").exists());

    // A policy that disables the rule and fails only on malicious still cannot admit it.
    let policy = dir.path().join("weak.toml");
    std::fs::write(
        &policy,
        "fail_on = \"malicious\"\n[rules]\ndisabled = [\"PKL001\"]\n",
    )
    .unwrap();
    let out = run(&[
        "admit",
        "--probe",
        "off",
        "--policy",
        s(&policy),
        "--key",
        s(&key),
        "-q",
        s(&m),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("never admitted"), "{}", text(&out));
    assert!(!m.join("model.sig").exists());

    // No key: a usage error before anything is scanned or written.
    let out = run(&["admit", "--probe", "off", "--no-policy", s(&m)]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn the_admitted_verdict_must_pass_the_current_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "k");
    let m = model(dir.path(), "m");
    std::fs::copy(
        repo().join("samples/malicious/unknown_global_mylib.pkl"),
        m.join("custom.pkl"),
    )
    .unwrap();
    let lenient = dir.path().join("lenient.toml");
    std::fs::write(&lenient, "fail_on = \"malicious\"\n").unwrap();
    let out = run(&[
        "admit",
        "--probe",
        "off",
        "--policy",
        s(&lenient),
        "--key",
        s(&key),
        "-q",
        s(&m),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = verify(&m, &public, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("`suspicious` fails the current policy"),
        "{}",
        text(&out)
    );
    assert_eq!(code(&verify(&m, &public, &["--policy", s(&lenient)])), 0);
}

#[test]
fn keys_from_the_environment_and_single_file_models() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "k");
    let file = dir.path().join("weights.safetensors");
    std::fs::copy(repo().join("samples/benign/linear.safetensors"), &file).unwrap();
    let out = bin()
        .args(["admit", "--probe", "off", "--no-policy", "-q", s(&file)])
        .env(
            "QUARANTINE_SIGNING_KEY",
            std::fs::read_to_string(&key).unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(dir.path().join("weights.safetensors.sig").is_file());
    let out = bin()
        .args(["verify", s(&file)])
        .env(
            "QUARANTINE_VERIFY_KEY",
            std::fs::read_to_string(&public).unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    std::fs::write(&file, b"swapped").unwrap();
    let out = verify(&file, &public, &[]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("changed: ."), "{}", text(&out));
    assert_eq!(
        code(&run(&["keygen", "--out", s(&dir.path().join("k"))])),
        2
    );
}

#[test]
fn admitted_lists_releases_newest_first_and_marks_what_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "k");
    let m = model(dir.path(), "m");
    let store = dir.path().join("store");
    assert_eq!(code(&admit(&m, &key, &["-o", s(&store)])), 0);
    // The admission time has one-second resolution.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(m.join("config.json"), b"{\"model_type\": \"v2\"}").unwrap();
    assert_eq!(code(&admit(&m, &key, &["-o", s(&store)])), 0);
    let out = run(&["admitted", s(&store), "--key", s(&public)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 2, "{t}");
    assert!(lines[0].starts_with("verifies"), "{t}");
    assert!(lines[1].starts_with("changed"), "{t}");
    // Verify the older release's signature explicitly: the changed config is named.
    let json = run(&[
        "admitted",
        s(&store),
        "--key",
        s(&public),
        "--format",
        "json",
    ]);
    let releases: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(releases[1]["status"], "changed");
}

#[test]
fn the_audit_log_chains_every_run_and_names_the_first_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "k");
    let m = model(dir.path(), "m");
    let log = dir.path().join("audit.jsonl");
    let out = admit(&m, &key, &["--log", s(&log), "--log-checkpoint-every", "3"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for _ in 0..3 {
        let out = verify(
            &m,
            &public,
            &[
                "--log",
                s(&log),
                "--log-key",
                s(&key),
                "--log-checkpoint-every",
                "3",
            ],
        );
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    let out = run(&[
        "scan",
        "--probe",
        "off",
        "--no-policy",
        "-q",
        "--log",
        s(&log),
        s(&m),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = run(&["log", "checkpoint", s(&log), "--key", s(&key)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = run(&["log", "verify", s(&log), "--key", s(&public)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "admit",
            "verify",
            "checkpoint",
            "verify",
            "verify",
            "checkpoint",
            "scan",
            "checkpoint"
        ]
    );
    let head = run(&["log", "head", s(&log)]);
    let head = String::from_utf8_lossy(&head.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();

    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let write = |lines: &[String]| {
        std::fs::write(
            &log,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap()
    };
    let mut edited = lines.clone();
    edited[1] = edited[1].replace("\"ok\":true", "\"ok\":false");
    write(&edited);
    let out = run(&["log", "verify", s(&log)]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("first bad line: 3"), "{}", text(&out));
    let mut deleted = lines.clone();
    deleted.remove(3);
    write(&deleted);
    let out = run(&["log", "verify", s(&log)]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("first bad line: 4"), "{}", text(&out));
    let mut reordered = lines.clone();
    reordered.swap(3, 4);
    write(&reordered);
    assert_eq!(code(&run(&["log", "verify", s(&log)])), 1);
    write(&lines[..6]);
    let out = run(&["log", "verify", s(&log), "--expect-head", &head]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("cut"), "{}", text(&out));
    write(&lines);
    assert_eq!(
        code(&run(&["log", "verify", s(&log), "--expect-head", &head])),
        0
    );
}

#[test]
fn two_processes_appending_at_once_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"hello").unwrap();
    let log = dir.path().join("audit.jsonl");
    let worker = |n: usize| {
        let (file, log) = (file.clone(), log.clone());
        std::thread::spawn(move || {
            for _ in 0..n {
                let out = run(&[
                    "scan",
                    "--probe",
                    "off",
                    "--no-policy",
                    "-q",
                    "--log",
                    s(&log),
                    s(&file),
                ]);
                assert_eq!(code(&out), 0, "{}", text(&out));
            }
        })
    };
    let (a, b) = (worker(12), worker(12));
    a.join().unwrap();
    b.join().unwrap();
    let out = run(&["log", "verify", s(&log)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("24 lines"), "{}", text(&out));
}

#[test]
fn a_policy_found_in_the_scanned_tree_cannot_choose_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), "m");
    std::fs::write(
        m.join("quarantine.toml"),
        "[log]\npath = \"../planted.jsonl\"\n",
    )
    .unwrap();
    let out = run(&["scan", "--probe", "off", "-q", s(&m)]);
    assert!(text(&out).contains("ignoring [log] path"), "{}", text(&out));
    assert!(!dir.path().join("planted.jsonl").exists());
    // Named with --policy, it is used.
    let out = run(&[
        "scan",
        "--probe",
        "off",
        "-q",
        "--policy",
        s(&m.join("quarantine.toml")),
        s(&m),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(dir.path().join("planted.jsonl").exists());
}

#[test]
fn diff_tells_value_changes_from_structure_changes() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = model(dir.path(), "v1");
    let v2 = model(dir.path(), "v2");
    let out = run(&["diff", s(&v1), s(&v2)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("identical"), "{}", text(&out));

    // A fine-tune: same tensors, other values.
    let weights = v2.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 0x40;
    std::fs::write(&weights, &bytes).unwrap();
    let out = run(&["diff", "--format", "json", s(&v1), s(&v2)]);
    let diff: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diff["change"], "values", "{diff}");
    let changes = diff["changed"][0]["changes"].to_string();
    assert!(changes.contains("values changed"), "{changes}");

    // An injected payload, a config key and a new file: structure.
    std::fs::copy(
        repo().join("samples/malicious/global_posix_system_p0.pkl"),
        v2.join("pytorch_model.bin"),
    )
    .unwrap();
    std::fs::write(
        v2.join("config.json"),
        b"{\"model_type\": \"bert\", \"auto_map\": {\"AutoModel\": \"x.Y\"}}",
    )
    .unwrap();
    std::fs::write(v2.join("tokenizer.json"), b"{}").unwrap();
    let out = run(&["diff", s(&v1), s(&v2)]);
    let t = text(&out);
    assert!(t.contains("STRUCTURE changed"), "{t}");
    assert!(t.contains("+ file tokenizer.json"), "{t}");
    assert!(t.contains("posix.system"), "{t}");
    assert!(t.contains("config auto_map.AutoModel"), "{t}");
}
