//! `quarantine scan hf://org/name[@revision]`: lists a Hugging Face model repository through
//! the Hub HTTP API (`HF_ENDPOINT`, default `https://huggingface.co`; `HF_TOKEN` for private
//! repositories), downloads every file into a private temporary folder with its size bounded
//! while streaming, checks each against the hash the listing gives (SHA-256 of LFS files, the
//! git blob id of the others), and hands the folder to the ordinary scan, with every file
//! reported as `hf://org/name@<commit>/<file>`. A file whose download does not match is an
//! `error` result and is not kept. `--download-to DIR` keeps the verified files under their
//! real names.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::zone::sibling::lexical_escape;

/// A repository named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRef {
    /// `org/name`.
    pub repo: String,
    /// A branch, tag or commit; `main` when not given.
    pub revision: String,
}

/// `None` when `arg` is not an `hf://` reference; `Err` for one that cannot be scanned.
pub fn parse_ref(arg: &str) -> Option<Result<HubRef, String>> {
    let rest = arg.strip_prefix("hf://")?;
    Some(parse_rest(rest))
}

fn parse_rest(rest: &str) -> Result<HubRef, String> {
    let (repo, revision) = match rest.split_once('@') {
        Some((repo, rev)) if !rev.is_empty() => (repo, rev.to_owned()),
        Some(_) => return Err("an empty revision after `@`".to_owned()),
        None => (rest, "main".to_owned()),
    };
    let repo = repo.trim_end_matches('/');
    if let Some(kind) = ["datasets/", "spaces/"]
        .iter()
        .find(|k| repo.starts_with(**k))
    {
        return Err(format!(
            "`hf://{repo}` is a {} repository; only model repositories can be scanned (`hf://org/name`)",
            kind.trim_end_matches('/').trim_end_matches('s')
        ));
    }
    let parts: Vec<&str> = repo.split('/').collect();
    let valid = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match parts[..] {
        [org, name] if valid(org) && valid(name) => Ok(HubRef {
            repo: repo.to_owned(),
            revision,
        }),
        [name] if valid(name) => Ok(HubRef {
            repo: repo.to_owned(),
            revision,
        }),
        _ => Err(format!(
            "`hf://{rest}` is not a model repository name (`hf://org/name[@revision]`)"
        )),
    }
}

/// Where and how to download.
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoint: String,
    pub token: Option<String>,
    /// Bytes downloaded per repository at most.
    pub max_total_bytes: u64,
    /// Keep verified files here under their real names.
    pub download_to: Option<PathBuf>,
}

impl Options {
    /// `HF_ENDPOINT` and `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) from the environment.
    pub fn from_env(max_total_bytes: u64, download_to: Option<PathBuf>) -> Options {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "https://huggingface.co".to_owned());
        let token = std::env::var("HF_TOKEN")
            .or_else(|_| std::env::var("HUGGING_FACE_HUB_TOKEN"))
            .ok()
            .filter(|t| !t.is_empty());
        Options {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
            max_total_bytes,
            download_to,
        }
    }
}

/// A repository downloaded and verified.
#[derive(Debug)]
pub struct Fetched {
    /// The folder holding the verified files (under their repository paths).
    pub dir: PathBuf,
    /// The commit the revision resolved to.
    pub commit: String,
    /// `hf://org/name@<commit>/`: what each file's path is reported under.
    pub display_prefix: String,
    /// Files that could not be downloaded or did not match the listing: (display, why).
    pub errors: Vec<(String, String)>,
    /// Keeps the temporary folder alive for the scan.
    _temp: tempfile::TempDir,
}

#[derive(Debug, Deserialize)]
struct Listing {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<Lfs>,
}

#[derive(Debug, Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// Percent-encodes one path segment.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .max_redirects(10)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
        .user_agent(concat!("quarantine/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn get(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    request.call().map_err(|e| match e {
        ureq::Error::StatusCode(401 | 403) => format!(
            "{url}: access denied (HTTP 401/403); private or gated repositories need HF_TOKEN"
        ),
        ureq::Error::StatusCode(404) => format!("{url}: not found (HTTP 404)"),
        other => format!("{url}: {other}"),
    })
}

/// Lists, downloads and verifies the repository's files.
pub fn fetch(hub: &HubRef, options: &Options) -> Result<Fetched, String> {
    let agent = agent();
    let repo_path: String = hub
        .repo
        .split('/')
        .map(encode)
        .collect::<Vec<_>>()
        .join("/");
    let url = format!(
        "{}/api/models/{repo_path}/revision/{}?blobs=true",
        options.endpoint,
        encode(&hub.revision)
    );
    let mut response = get(&agent, &url, options.token.as_deref())?;
    let listing: Listing = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_json()
        .map_err(|e| format!("{url}: the listing is not what the Hub API returns: {e}"))?;
    if !(listing.sha.len() == 40 && listing.sha.chars().all(|c| c.is_ascii_hexdigit())) {
        return Err(format!(
            "{url}: the listing's commit `{}` is not a commit id",
            listing.sha
        ));
    }
    let temp = tempfile::Builder::new()
        .prefix("quarantine-hf-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let display_prefix = format!("hf://{}@{}/", hub.repo, listing.sha);
    let mut errors = Vec::new();
    let mut total: u64 = 0;
    for sibling in &listing.siblings {
        let display = format!("{display_prefix}{}", sibling.rfilename);
        let declared = sibling.lfs.as_ref().map(|l| l.size).or(sibling.size);
        if let Some(why) = lexical_escape(&sibling.rfilename).or_else(|| {
            sibling
                .rfilename
                .split('/')
                .any(|p| p.is_empty() || p == ".")
                .then_some("an empty or `.` path component")
        }) {
            errors.push((
                display,
                format!("the listing names a file with {why}; not downloaded"),
            ));
            continue;
        }
        if let Some(size) = declared {
            total = total.saturating_add(size);
            if total > options.max_total_bytes {
                errors.push((
                    display,
                    format!(
                        "downloading it would pass the limit of {} bytes per repository (--max-download-bytes); not downloaded",
                        options.max_total_bytes
                    ),
                ));
                continue;
            }
        }
        let target = temp.path().join(&sibling.rfilename);
        let file_url = format!(
            "{}/{repo_path}/resolve/{}/{}",
            options.endpoint,
            listing.sha,
            sibling
                .rfilename
                .split('/')
                .map(encode)
                .collect::<Vec<_>>()
                .join("/")
        );
        match download(&agent, &file_url, options, sibling, &target) {
            Ok(()) => {
                if let Some(keep) = &options.download_to
                    && let Err(e) = keep_copy(&target, &keep.join(&sibling.rfilename))
                {
                    errors.push((
                        display,
                        format!("verified, but could not be kept in {}: {e}", keep.display()),
                    ));
                }
            }
            Err(why) => {
                let _ = fs::remove_file(&target);
                errors.push((display, why));
            }
        }
    }
    Ok(Fetched {
        dir: temp.path().to_path_buf(),
        commit: listing.sha,
        display_prefix,
        errors,
        _temp: temp,
    })
}

fn keep_copy(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to).map(|_| ())
}

/// The hash a file must have: SHA-256 for LFS files, the git blob id (SHA-1 of `blob <len>\0`
/// and the content) for the others.
enum Expected {
    Sha256(String),
    GitBlob(String),
    Nothing,
}

fn download(
    agent: &ureq::Agent,
    url: &str,
    options: &Options,
    sibling: &Sibling,
    target: &Path,
) -> Result<(), String> {
    let (expected, size) = match (&sibling.lfs, &sibling.blob_id) {
        (Some(lfs), _) => (
            Expected::Sha256(lfs.sha256.to_ascii_lowercase()),
            Some(lfs.size),
        ),
        (None, Some(blob)) => (Expected::GitBlob(blob.to_ascii_lowercase()), sibling.size),
        (None, None) => (Expected::Nothing, sibling.size),
    };
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut response = get(agent, url, options.token.as_deref())?;
    // Never more than the listing declared (or the per-repository limit when it declared nothing).
    let limit = size.unwrap_or(options.max_total_bytes);
    let mut reader = response
        .body_mut()
        .with_config()
        .limit(limit.saturating_add(1))
        .reader();
    let mut out =
        File::create(target).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    let mut sha256 = Sha256::new();
    let mut sha1 = Sha1::new();
    if let (Expected::GitBlob(_), Some(size)) = (&expected, size) {
        sha1.update(format!("blob {size}\0").as_bytes());
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut got: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("download failed after {got} bytes: {e}")),
        };
        got += n as u64;
        if got > limit {
            return Err(format!(
                "the download is larger than the {limit} bytes the listing declares; stopped and discarded"
            ));
        }
        sha256.update(&buf[..n]);
        sha1.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    if let Some(size) = size
        && got != size
    {
        return Err(format!(
            "the download has {got} bytes but the listing declares {size}; discarded"
        ));
    }
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match expected {
        Expected::Sha256(want) => {
            let have = hex(&sha256.finalize());
            if have != want {
                return Err(format!(
                    "the download's SHA-256 {have} does not match the LFS oid {want} of the listing (tampered in transit or on the mirror); discarded"
                ));
            }
        }
        Expected::GitBlob(want) => {
            let have = hex(&sha1.finalize());
            if have != want {
                return Err(format!(
                    "the download's git blob id {have} does not match {want} of the listing (tampered in transit or on the mirror); discarded"
                ));
            }
        }
        Expected::Nothing => {}
    }
    out.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            parse_ref("hf://org/name@v1.0"),
            Some(Ok(HubRef {
                repo: "org/name".to_owned(),
                revision: "v1.0".to_owned()
            }))
        );
        assert_eq!(parse_ref("hf://gpt2").unwrap().unwrap().revision, "main");
        assert!(parse_ref("./model.bin").is_none());
        let datasets = parse_ref("hf://datasets/org/data").unwrap().unwrap_err();
        assert!(datasets.contains("dataset repository"), "{datasets}");
        assert!(parse_ref("hf://org/../x").unwrap().is_err());
        assert!(parse_ref("hf://a/b/c").unwrap().is_err());
        assert_eq!(encode("refs/pr/1"), "refs%2Fpr%2F1");
    }
}
