//! The command line's contract: exit codes, the JSON schema, `rules`/`explain`, and bad input
//! that must give a per-artifact result without stopping the batch.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::io::Write;

use common::{bin, code, scan_json};

const MALICIOUS: &[u8] = b"cposix\nsystem\n(S'echo quarantine-sample'\ntR.";
const BENIGN: &[u8] = b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02K\x03e.";

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path
}

#[test]
fn exit_codes_follow_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.pkl", MALICIOUS);
    let good = write(dir.path(), "good.pkl", BENIGN);
    let unknown = write(dir.path(), "blob.bin", b"\x00\x01\x02\x03\xff\xfe");

    assert_eq!(scan_json(&[&good], &[]).0, 0);
    assert_eq!(scan_json(&[&bad], &[]).0, 1);
    assert_eq!(
        scan_json(&[&unknown], &[]).0,
        1,
        "suspicious fails by default"
    );
    assert_eq!(scan_json(&[&unknown], &["--fail-on", "malicious"]).0, 0);
    assert_eq!(scan_json(&[&bad], &["--fail-on", "malicious"]).0, 1);

    let usage = bin()
        .args(["scan", "--format", "yaml", "x"])
        .output()
        .unwrap();
    assert_eq!(code(&usage), 2);
    let missing = bin().arg("scan").output().unwrap();
    assert_eq!(code(&missing), 2);
}

#[test]
fn json_report_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.pkl", MALICIOUS);
    let (_, report) = scan_json(&[&bad], &[]);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["scanner"]["name"], "quarantine");
    assert_eq!(report["verdict"], "malicious");
    assert_eq!(report["summary"]["artifacts"], 1);
    assert_eq!(report["summary"]["malicious"], 1);
    let artifact = &report["artifacts"][0];
    for key in ["path", "sha256", "size", "format", "verdict", "findings"] {
        assert!(artifact.get(key).is_some(), "artifact lacks {key}");
    }
    assert_eq!(artifact["format"], "pickle");
    assert_eq!(artifact["size"], MALICIOUS.len());
    let finding = &artifact["findings"][0];
    for key in [
        "rule_id",
        "severity",
        "verdict",
        "message",
        "location",
        "evidence",
        "remediation",
    ] {
        assert!(finding.get(key).is_some(), "finding lacks {key}");
    }
    assert_eq!(finding["rule_id"], "PKL001");
    assert_eq!(finding["verdict"], "malicious");
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains("posix.system('echo quarantine-sample')")
    );
    assert!(finding["location"]["offset"].is_u64());
    assert!(finding["location"]["member"].is_null());
}

#[test]
fn text_report_names_rule_evidence_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.pkl", MALICIOUS);
    let out = bin()
        .args(["scan", "--color", "never"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("malicious"), "{text}");
    assert!(text.contains("PKL001 critical"), "{text}");
    assert!(
        text.contains("evidence: posix.system('echo quarantine-sample')"),
        "{text}"
    );
    assert!(text.contains("fix: "), "{text}");
    assert!(!text.contains('\x1b'), "no colour with --color never");
    let quiet = bin()
        .args(["scan", "--quiet", "--color", "never"])
        .arg(dir.path().join("bad.pkl"))
        .output()
        .unwrap();
    // --quiet keeps the verdict line, and only it, after the artifacts that are not clean.
    let quiet = String::from_utf8(quiet.stdout).unwrap();
    assert!(quiet.starts_with("malicious"), "{quiet}");
    assert!(
        quiet
            .lines()
            .last()
            .unwrap()
            .starts_with("malicious: 1 artifact scanned"),
        "{quiet}"
    );
    assert!(!quiet.contains("most frequent rules"), "{quiet}");
}

#[test]
fn rules_and_explain() {
    let out = bin().arg("rules").output().unwrap();
    assert_eq!(code(&out), 0);
    let text = String::from_utf8(out.stdout).unwrap();
    for id in quarantine::RuleId::ALL {
        assert!(text.contains(id.code()), "rules lacks {id}");
    }
    let out = bin().args(["explain", "PKL001"]).output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8(out.stdout).unwrap().contains("Fix:"));
    let out = bin().args(["explain", "NOPE42"]).output().unwrap();
    assert_eq!(code(&out), 2);
}

#[test]
fn bad_input_gets_a_result_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "empty.pkl", b"");
    write(
        root,
        "random.bin",
        &(0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    );
    write(root, "zero.zip", b"");
    write(root, "bad.pkl", MALICIOUS);
    // A file name that is not UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let odd = root.join(std::ffi::OsStr::from_bytes(b"odd-\xff-name.pkl"));
    std::fs::write(&odd, MALICIOUS).unwrap();
    // A link loop and a link leaving the scanned tree.
    std::os::unix::fs::symlink(root, root.join("loop")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("escape")).unwrap();

    let (exit, report) = scan_json(&[root], &[]);
    assert_eq!(exit, 1);
    let artifacts = common::artifacts(&report);
    let verdict_of = |suffix: &str| {
        artifacts
            .iter()
            .find(|a| a["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} missing from {report}"))["verdict"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(verdict_of("empty.pkl"), "clean");
    assert_eq!(verdict_of("random.bin"), "suspicious");
    assert_eq!(verdict_of("bad.pkl"), "malicious");
    assert_eq!(verdict_of("-name.pkl"), "malicious");
    assert_eq!(verdict_of("escape"), "error");
    assert_eq!(report["summary"]["malicious"], 2);
}

#[test]
fn unreadable_paths_are_errors_not_crashes() {
    // A path the user named that does not exist is a usage error, not a scan result.
    let missing = bin()
        .args(["scan", "/nonexistent/model.pt"])
        .output()
        .unwrap();
    assert_eq!(code(&missing), 2);
    // One the walk meets that cannot be read is an `error` result, which fails closed.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/nonexistent/model.pt", dir.path().join("model.pt")).unwrap();
    let (exit, report) = scan_json(&[dir.path()], &["--fail-on", "malicious"]);
    assert_eq!(
        exit, 1,
        "an error verdict fails closed, whatever --fail-on says"
    );
    assert_eq!(report["artifacts"][0]["verdict"], "error");
    assert!(
        report["artifacts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot resolve")
    );
}

#[test]
fn nothing_is_written_outside_the_zone() {
    // The zip-slip and symlink samples name paths two levels up; run from deep inside a canary
    // tree and check afterwards that the tree holds exactly what it held before.
    let canary = tempfile::tempdir().unwrap();
    let work = canary.path().join("a/b/work");
    std::fs::create_dir_all(&work).unwrap();
    let samples = common::repo().join("samples/malicious");
    for name in ["zip_slip.zip", "tar_symlink.tar", "pickle_in_tar.tar.gz"] {
        std::fs::copy(samples.join(name), work.join(name)).unwrap();
    }
    let before = tree(canary.path());
    let out = bin()
        .arg("scan")
        .arg(".")
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert_eq!(
        tree(canary.path()),
        before,
        "the scan wrote into the canary tree"
    );
}

fn tree(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths
}

#[test]
fn keep_zone_writes_members_only_below_the_zone() {
    use std::os::unix::fs::PermissionsExt;
    let canary = tempfile::tempdir().unwrap();
    let work = canary.path().join("a/b/work");
    std::fs::create_dir_all(&work).unwrap();
    let samples = common::repo().join("samples/malicious");
    for name in ["zip_slip.zip", "torch_zip_payload.pt"] {
        std::fs::copy(samples.join(name), work.join(name)).unwrap();
    }
    let zone = work.join("zone");
    let out = bin()
        .args([
            "scan",
            "--keep-zone",
            "zone",
            "zip_slip.zip",
            "torch_zip_payload.pt",
        ])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let kept = tree(&zone);
    let pickles: Vec<_> = kept.iter().filter(|p| p.ends_with("data.pkl")).collect();
    assert_eq!(pickles.len(), 1, "{kept:?}");
    assert!(std::fs::read(pickles[0]).unwrap().starts_with(b"\x80"));
    assert!(
        kept.iter()
            .any(|p| p.to_string_lossy().contains("evil.pkl")),
        "{kept:?}"
    );
    for path in &kept {
        assert!(path.starts_with(&zone));
        if path.is_dir() {
            assert_eq!(
                std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }
    let outside: Vec<_> = tree(canary.path())
        .into_iter()
        .filter(|p| !p.starts_with(&zone))
        .filter(|p| !p.ends_with("zip_slip.zip") && !p.ends_with("torch_zip_payload.pt"))
        .filter(|p| !work.starts_with(p) && *p != zone)
        .collect();
    assert!(outside.is_empty(), "written outside the zone: {outside:?}");
}

/// `quarantine … | head` must not print an error or panic when the reader goes away.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::process::Stdio;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    for args in [
        vec!["rules".to_owned()],
        vec!["scan".to_owned(), samples.display().to_string()],
        vec!["policy".to_owned(), "--print-default".to_owned()],
    ] {
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // The reader is gone before the first line.
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_ne!(output.status.code(), None, "{args:?}: killed by a signal");
    }
}

/// Names that are not UTF-8 are shown with each invalid byte as `\xNN`, so two of them never
/// print alike, and JSON keeps the raw bytes (hex) beside the text.
#[test]
fn non_utf8_names_stay_distinct() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let pickle =
        std::fs::read(common::repo().join("samples/benign/plain_data_protocol4.pkl")).unwrap();
    for raw in [&b"a\xff.pkl"[..], b"a\xfe.pkl"] {
        std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(raw)), &pickle).unwrap();
    }
    let (_, report) = scan_json(&[dir.path()], &[]);
    let mut shown: Vec<(String, String)> = common::artifacts(&report)
        .iter()
        .map(|a| {
            let path = a["path"].as_str().unwrap();
            let name = path.rsplit('/').next().unwrap().to_owned();
            (name, a["path_bytes"].as_str().unwrap().to_owned())
        })
        .collect();
    shown.sort();
    assert_eq!(shown[0].0, "a\\xFE.pkl");
    assert_eq!(shown[1].0, "a\\xFF.pkl");
    assert!(shown[0].1.ends_with("61fe2e706b6c"), "{shown:?}");
}

/// `--keep-zone` on an archive inside an archive: the inner archive is kept as a file and its
/// members below `<name>.d`.
#[test]
fn keep_zone_keeps_members_of_nested_archives() {
    let work = tempfile::tempdir().unwrap();
    let inner = {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("data/model.pkl", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"\x80\x04K\x01.").unwrap();
        zip.finish().unwrap().into_inner()
    };
    let mut outer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    outer
        .start_file("inner.zip", zip::write::SimpleFileOptions::default())
        .unwrap();
    outer.write_all(&inner).unwrap();
    std::fs::write(
        work.path().join("outer.zip"),
        outer.finish().unwrap().into_inner(),
    )
    .unwrap();
    let out = bin()
        .args(["scan", "--keep-zone", "zone", "outer.zip"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let zone = work.path().join("zone");
    let kept = tree(&zone);
    assert!(
        kept.iter()
            .any(|p| p.ends_with("outer.zip/inner.zip") && p.is_file()),
        "{kept:?}"
    );
    let member = kept
        .iter()
        .find(|p| p.ends_with("outer.zip/inner.zip.d/data/model.pkl"))
        .unwrap_or_else(|| panic!("{kept:?}"));
    assert_eq!(std::fs::read(member).unwrap(), b"\x80\x04K\x01.");
}
