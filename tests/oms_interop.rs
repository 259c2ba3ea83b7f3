//! Interoperability with OpenSSF Model Signing: `model_signing` (from PyPI, in a virtual
//! environment kept under `target/`) and `quarantine` verify each other's bare-key signatures.
//! Skips, saying why, only where the package cannot be installed (no Python, no network).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{bin, code, repo};

/// Pinned: the version whose bundle format `src/provenance/oms.rs` was written against.
/// `pyOpenSSL` is imported by `model_signing` 1.1.1 but not declared as a dependency.
const PACKAGES: [&str; 2] = ["model-signing==1.1.1", "pyOpenSSL==26.4.0"];

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

/// The `model_signing` command of a venv under target/, installed once; None (with the reason
/// printed) when it cannot be installed here.
fn model_signing() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oms-venv");
    let stamp = venv.join(format!("installed-{}", PACKAGES.join("-")));
    let exe = venv.join("bin/model_signing");
    if stamp.is_file() && exe.is_file() {
        return Some(exe);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let created = Command::new("python3")
        .args(["-m", "venv", s(&venv)])
        .output();
    match created {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "SKIP oms interop: cannot create a virtual environment: {}",
                text(&o)
            );
            return None;
        }
        Err(e) => {
            eprintln!("SKIP oms interop: no python3: {e}");
            return None;
        }
    }
    let start = std::time::Instant::now();
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .output()
        .expect("run pip");
    if !pip.status.success() {
        eprintln!(
            "SKIP oms interop: `pip install {}` failed (offline?): {}",
            PACKAGES.join(" "),
            text(&pip)
        );
        return None;
    }
    eprintln!(
        "installed {} in {:.1} s",
        PACKAGES.join(" "),
        start.elapsed().as_secs_f64()
    );
    std::fs::write(&stamp, b"").unwrap();
    Some(exe)
}

fn model(dir: &Path, name: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("onnx")).unwrap();
    for (from, to) in [
        ("linear.safetensors", "model.safetensors"),
        ("config.json", "config.json"),
        ("mlp.onnx", "onnx/model.onnx"),
        ("notes.txt", ".hidden-notes.txt"),
    ] {
        std::fs::copy(repo().join("samples/benign").join(from), root.join(to)).unwrap();
    }
    // What model_signing leaves out by default must be left out by us too.
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/HEAD"), b"ref: refs/heads/main\n").unwrap();
    root
}

#[test]
fn model_signing_and_quarantine_verify_each_other() {
    let Some(oms) = model_signing() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("key");
    let out = bin()
        .args(["keygen", "--out", s(&prefix)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let (key, public) = (dir.path().join("key.key"), dir.path().join("key.pub"));

    // Signed by model_signing, verified by quarantine.
    let a = model(dir.path(), "signed-by-oms");
    let out = Command::new(&oms)
        .args(["sign", "key", s(&a), "--private_key", s(&key)])
        .args(["--signature", s(&a.join("model.sig"))])
        .output()
        .unwrap();
    assert!(out.status.success(), "model_signing sign: {}", text(&out));
    let out = bin()
        .args(["verify", "--signature-only", "--key", s(&public), s(&a)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    // Without --signature-only it is integrity without admission: refused, and said why.
    let out = bin()
        .args(["verify", "--key", s(&public), s(&a)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("no admission attestation"),
        "{}",
        text(&out)
    );
    // And tampering with an OMS-signed model is seen.
    std::fs::write(a.join("config.json"), b"{}").unwrap();
    let out = bin()
        .args(["verify", "--signature-only", "--key", s(&public), s(&a)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("changed: config.json"),
        "{}",
        text(&out)
    );

    // Admitted by quarantine, verified by model_signing.
    let b = model(dir.path(), "admitted");
    let out = bin()
        .args([
            "admit",
            "--probe",
            "off",
            "--no-policy",
            "-q",
            "--key",
            s(&key),
            s(&b),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = Command::new(&oms)
        .args(["verify", "key", s(&b), "--public_key", s(&public)])
        .args(["--signature", s(&b.join("model.sig"))])
        .output()
        .unwrap();
    assert!(out.status.success(), "model_signing verify: {}", text(&out));
    assert!(
        text(&out).contains("Verification succeeded"),
        "{}",
        text(&out)
    );
    // model_signing rejects it once a byte changes: the manifest really covers the files.
    let weights = b.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&weights, &bytes).unwrap();
    let out = Command::new(&oms)
        .args(["verify", "key", s(&b), "--public_key", s(&public)])
        .args(["--signature", s(&b.join("model.sig"))])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "model_signing accepted a changed file"
    );

    // Single-file models, both ways.
    let file = dir.path().join("single.safetensors");
    std::fs::copy(repo().join("samples/benign/linear.safetensors"), &file).unwrap();
    let out = bin()
        .args([
            "admit",
            "--probe",
            "off",
            "--no-policy",
            "-q",
            "--key",
            s(&key),
            s(&file),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = Command::new(&oms)
        .args(["verify", "key", s(&file), "--public_key", s(&public)])
        .args(["--signature", &format!("{}.sig", s(&file))])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "model_signing verify (file): {}",
        text(&out)
    );
    let other = dir.path().join("other.onnx");
    std::fs::copy(repo().join("samples/benign/mlp.onnx"), &other).unwrap();
    let out = Command::new(&oms)
        .args(["sign", "key", s(&other), "--private_key", s(&key)])
        .args(["--signature", &format!("{}.sig", s(&other))])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "model_signing sign (file): {}",
        text(&out)
    );
    let out = bin()
        .args(["verify", "--signature-only", "--key", s(&public), s(&other)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));

    // An OpenSSL-made SEC1 key works for both as well, when openssl is here.
    let sec1 = dir.path().join("openssl.pem");
    let made = Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            s(&sec1),
        ])
        .output();
    if made.is_ok_and(|o| o.status.success()) {
        let c = model(dir.path(), "openssl-key");
        let out = bin()
            .args([
                "admit",
                "--probe",
                "off",
                "--no-policy",
                "-q",
                "--key",
                s(&sec1),
                s(&c),
            ])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", text(&out));
        // verify takes the private key too (it uses its public half).
        let out = bin()
            .args(["verify", "--key", s(&sec1), s(&c)])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
}
