//! `quarantine scan hf://org/name` against a mock Hub served on 127.0.0.1 inside the test (no
//! network): listing, download, hash checks, reported names, `--download-to`, a tampered file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves `routes` (path with query → body) until the test ends; records request paths and
/// authorization headers.
/// Requests the mock Hub saw: path and `Authorization` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn serve(routes: HashMap<String, Vec<u8>>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut auth = None;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header
                    .strip_prefix("authorization: ")
                    .or(header.strip_prefix("Authorization: "))
                {
                    auth = Some(v.trim().to_owned());
                }
            }
            log.lock().unwrap().push((path.clone(), auth));
            let (status, body) = match routes.get(&path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"{\"error\":\"not found\"}".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (format!("http://{addr}"), seen)
}

struct File {
    name: &'static str,
    served: Vec<u8>,
    listed: Vec<u8>,
    lfs: bool,
}

fn hub(files: &[File]) -> HashMap<String, Vec<u8>> {
    let siblings: Vec<Value> = files
        .iter()
        .map(|f| {
            let blob = {
                let mut h = Sha1::new();
                h.update(format!("blob {}\0", f.listed.len()).as_bytes());
                h.update(&f.listed);
                hex(&h.finalize())
            };
            let mut s = json!({"rfilename": f.name, "size": f.listed.len(), "blobId": blob});
            if f.lfs {
                s["lfs"] = json!({"sha256": hex(&Sha256::digest(&f.listed)), "size": f.listed.len(), "pointerSize": 134});
            }
            s
        })
        .collect();
    let listing = json!({"id": "org/tiny", "sha": COMMIT, "siblings": siblings});
    let mut routes = HashMap::new();
    routes.insert(
        "/api/models/org/tiny/revision/main?blobs=true".to_owned(),
        serde_json::to_vec(&listing).unwrap(),
    );
    for f in files {
        routes.insert(
            format!("/org/tiny/resolve/{COMMIT}/{}", f.name),
            f.served.clone(),
        );
    }
    routes
}

fn scan(endpoint: &str, extra: &[&str]) -> (i32, Value) {
    let output = common::bin()
        .env("HF_ENDPOINT", endpoint)
        .env("HF_TOKEN", "hf_test_token")
        .args(["scan", "--format", "json", "hf://org/tiny"])
        .args(extra)
        .output()
        .expect("run quarantine");
    (common::code(&output), common::parse(&output))
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(common::sample(path)).unwrap()
}

#[test]
fn a_repository_is_downloaded_verified_and_scanned_under_its_hub_names() {
    let gguf = sample("malicious/gguf_template_obfuscated.gguf");
    let config = br#"{"model_type": "llama"}"#.to_vec();
    let files = [
        File {
            name: "config.json",
            served: config.clone(),
            listed: config,
            lfs: false,
        },
        File {
            name: "gguf/model.gguf",
            served: gguf.clone(),
            listed: gguf,
            lfs: true,
        },
    ];
    let (endpoint, seen) = serve(hub(&files));
    let keep = tempfile::tempdir().unwrap();
    let keep_dir = keep.path().join("kept");
    let (code, report) = scan(&endpoint, &["--download-to", keep_dir.to_str().unwrap()]);
    let artifacts = common::artifacts(&report);
    let by_path: HashMap<&str, &Value> = artifacts
        .iter()
        .map(|a| (a["path"].as_str().unwrap(), a))
        .collect();
    let prefix = format!("hf://org/tiny@{COMMIT}/");
    assert_eq!(
        by_path[format!("{prefix}config.json").as_str()]["verdict"],
        "clean",
        "{report:#}"
    );
    let model = by_path[format!("{prefix}gguf/model.gguf").as_str()];
    assert_eq!(model["verdict"], "malicious");
    assert!(
        model["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "TPL001")
    );
    assert_eq!(code, 1, "{report:#}");
    assert!(keep_dir.join("gguf/model.gguf").is_file());
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .all(|(_, auth)| auth.as_deref() == Some("Bearer hf_test_token")),
        "{seen:?}"
    );
}

#[test]
fn a_tampered_download_is_an_error_and_is_not_kept() {
    let good = b"{\"model_type\": \"llama\"}".to_vec();
    let weights = sample("benign/llama_chatml.gguf");
    let mut tampered = weights.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let files = [
        File {
            name: "config.json",
            served: good.clone(),
            listed: good,
            lfs: false,
        },
        File {
            name: "model.gguf",
            served: tampered,
            listed: weights,
            lfs: true,
        },
    ];
    let (endpoint, _) = serve(hub(&files));
    let keep = tempfile::tempdir().unwrap();
    let (code, report) = scan(&endpoint, &["--download-to", keep.path().to_str().unwrap()]);
    let model = common::artifacts(&report)
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("/model.gguf"))
        .expect("the tampered file is reported");
    assert_eq!(model["verdict"], "error", "{model:#}");
    assert!(
        model["error"]
            .as_str()
            .unwrap()
            .contains("does not match the LFS oid")
    );
    assert_ne!(code, 0);
    assert!(!keep.path().join("model.gguf").exists());
    assert!(keep.path().join("config.json").exists());
}

#[test]
fn datasets_and_missing_repositories_are_refused_clearly() {
    let output = common::bin()
        .args(["scan", "hf://datasets/org/data"])
        .output()
        .unwrap();
    assert_eq!(common::code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("dataset repository"));
    let (endpoint, _) = serve(HashMap::new());
    let output = common::bin()
        .env("HF_ENDPOINT", &endpoint)
        .args(["scan", "hf://org/missing"])
        .output()
        .unwrap();
    assert_eq!(common::code(&output), 2);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = Path::new("");
}
