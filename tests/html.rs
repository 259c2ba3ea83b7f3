//! The HTML report: self-contained, every attacker-chosen string escaped, and (when a Chromium
//! is installed: `apt-get install chromium`) rendered by a real headless browser whose DOM is
//! checked: counts, a known finding's evidence, filtering. The browser test also saves a
//! screenshot to `target/html-report.png` (docs/html-report.png is one).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, code, repo};

/// Runs `quarantine <args> --format html` and returns the document.
fn html(args: &[&str]) -> String {
    let output = bin()
        .args(args)
        .args(["--format", "html"])
        .output()
        .expect("run quarantine");
    assert!(
        code(&output) <= 1,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn hostile_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // A pickle whose evidence (the command) is markup, under a name that is markup too (a file
    // name cannot hold `/`, so no closing tag there).
    std::fs::write(
        dir.path().join("<img src=x onerror=alert('name')>.pkl"),
        b"cposix\nsystem\n(S'<script>alert(\"evidence\")</script>'\ntR.",
    )
    .unwrap();
    // A zip whose member name is markup.
    let file = std::fs::File::create(dir.path().join("model.zip")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file(
        "<script>alert('member')</script>.pkl",
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(b"cposix\nsystem\n(S'echo member'\ntR.")
        .unwrap();
    zip.finish().unwrap();
    dir
}

#[test]
fn self_contained_and_every_string_escaped() {
    let dir = hostile_tree();
    let page = html(&["scan", "--no-policy", dir.path().to_str().unwrap()]);
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Our two script elements (data and code), nothing else.
    assert_eq!(page.matches("<script").count(), 2, "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    // Nothing from the network.
    for remote in ["http://", "https://", "//cdn", "src=\"", "@import"] {
        assert!(!page.contains(remote), "{remote} in the page");
    }
    // The data block still carries the names, escaped for the script context.
    assert!(page.contains("\\u003cimg src=x onerror=alert('name')\\u003e"));
    assert!(page.contains("\\u003cscript\\u003ealert('member')"));
    assert!(page.contains("id=\"verdict\" class=\"verdict\" data-verdict=\"malicious\""));
}

#[test]
fn merge_renders_html() {
    let dir = hostile_tree();
    let shards: Vec<PathBuf> = (1..=2)
        .map(|k| {
            let out = dir.path().join(format!("shard{k}.jsonl"));
            let status = bin()
                .args(["scan", "--no-policy", "--format", "jsonl", "--shard"])
                .arg(format!("{k}/2"))
                .arg("-o")
                .arg(&out)
                .arg(repo().join("samples/malicious"))
                .status()
                .unwrap();
            assert!(status.code() == Some(1) || status.code() == Some(0));
            out
        })
        .collect();
    let page = html(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
    ]);
    let (_, report) = common::scan_json(&[&repo().join("samples/malicious")], &["--no-policy"]);
    let n = report["summary"]["artifacts"].as_u64().unwrap();
    assert!(
        page.contains(&format!(
            "id=\"count-artifacts\"><b style=\"color:#37474f\">{n}</b>"
        )),
        "merged page does not count {n} artifacts"
    );
}

/// A Chromium-family browser: `$CHROMIUM`, else the first on PATH.
fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs headless Chromium on `url` with `args` and returns its standard output.
fn chromium(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The text of the element with `id` in a dumped DOM (first text run).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &dom[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap();
    &rest[open..open + close]
}

#[test]
fn chromium_renders_the_samples_report() {
    let Some(browser) = browser() else {
        eprintln!(
            "SKIPPED: no Chromium found (install the distribution's `chromium` package, or set \
             CHROMIUM to a Chromium or Chrome binary)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    let benign = repo().join("samples/benign");
    let malicious = repo().join("samples/malicious");
    let (_, json) = common::scan_json(&[&benign, &malicious], &["--no-policy"]);
    let summary = &json["summary"];
    let total = summary["artifacts"].as_u64().unwrap();
    let clean = summary["clean"].as_u64().unwrap();
    let page_path = dir.path().join("report.html");
    let status = bin()
        .args(["scan", "--no-policy", "--format", "html", "-o"])
        .arg(&page_path)
        .arg(&benign)
        .arg(&malicious)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let url = format!("file://{}", page_path.display());

    // Counts: the header and the table agree with the JSON report.
    let dom = chromium(&browser, &profile, &["--dump-dom"], &url);
    assert_eq!(text_of(&dom, "verdict"), "malicious");
    assert_eq!(
        text_of(&dom, "shown"),
        format!("{total} of {total} artifacts")
    );
    let rows = dom.matches("<tr class=\"row\"").count() as u64;
    assert_eq!(rows, total.min(100), "one page of rows");
    assert!(!dom.contains("class=\"detail\""), "findings open on demand");

    // Filtering by name, with the findings expanded: the known finding's evidence.
    let dom = chromium(
        &browser,
        &profile,
        &["--dump-dom"],
        &format!("{url}#q=global_posix_system_p0.pkl&open=all"),
    );
    assert_eq!(text_of(&dom, "shown"), format!("1 of {total} artifacts"));
    assert!(dom.contains("PKL001"), "{dom}");
    assert!(
        dom.contains("<dd class=\"evidence\">posix.system("),
        "evidence of global_posix_system_p0.pkl not shown"
    );

    // Filtering by verdict.
    let dom = chromium(
        &browser,
        &profile,
        &["--dump-dom"],
        &format!("{url}#v=clean"),
    );
    assert_eq!(
        text_of(&dom, "shown"),
        format!("{clean} of {total} artifacts")
    );
    assert!(!dom.contains("v v-malicious\">malicious</td>"));

    // Hostile names and evidence stay text in the live DOM too.
    let hostile = hostile_tree();
    let hostile_page = dir.path().join("hostile.html");
    bin()
        .args(["scan", "--no-policy", "--format", "html", "-o"])
        .arg(&hostile_page)
        .arg(hostile.path())
        .status()
        .unwrap();
    let dom = chromium(
        &browser,
        &profile,
        &["--dump-dom"],
        &format!("file://{}#open=all", hostile_page.display()),
    );
    assert_eq!(dom.matches("<script").count(), 2, "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    assert!(dom.contains("&lt;img src=x onerror=alert('name')&gt;"));
    assert!(dom.contains("&lt;script&gt;alert(\"evidence\")&lt;/script&gt;"));
    assert!(dom.contains("&lt;script&gt;alert('member')&lt;/script&gt;"));

    // A screenshot of the artifacts that are not clean.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let shot = target.join("html-report.png");
    chromium(
        &browser,
        &profile,
        &[&format!("--screenshot={}", shot.display())],
        &format!("{url}#v=!clean"),
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"));
}
