//! OpenSSF Model Signing (OMS), as `model_signing` 1.x writes it with a bare key
//! (`model_signing sign key`): a Sigstore bundle (JSON, media type v0.3) holding a DSSE envelope
//! whose payload is an in-toto v1 statement. The statement's one subject is the model (its
//! name, and a SHA-256 over every file digest in order); the predicate
//! (`https://model_signing/signature/v1.0`) lists every file with its SHA-256 under
//! `resources`, sorted by path components, and how the list was made under `serialization`
//! (`method: files`, `hash_type: sha256`, `allow_symlinks`, `ignore_paths`).
//!
//! The signature is ECDSA over the DSSE pre-authentication encoding (PAE) of the payload,
//! DER-encoded, base64 in the envelope; `verificationMaterial.publicKey.hint` is the hex SHA-256
//! of the signer's public key PEM; `tlogEntries` is empty (no transparency log for bare keys).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::keys::{PrivateKey, PublicKey};
use crate::zone::digest::hex;

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// Paths `model_signing` leaves out by default (`--ignore-git-paths`, on unless disabled).
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];
/// A bundle larger than this is refused before it is read (a real one is a few KB per file).
const MAX_BUNDLE_BYTES: u64 = 256 << 20;

/// One file of a model and its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    pub digest: String,
}

/// What a model signature covers: every file (path relative to the model, `/`-separated, `.`
/// for a single-file model) with its digest, and how that list was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub model_name: String,
    /// Sorted the way `model_signing` sorts them (by path components).
    pub resources: Vec<Resource>,
    pub allow_symlinks: bool,
    pub ignore_paths: Vec<String>,
}

/// `model_signing`'s order: `PurePosixPath` comparison, component by component.
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

impl Manifest {
    pub fn new(
        model_name: String,
        mut resources: Vec<Resource>,
        allow_symlinks: bool,
        ignore_paths: Vec<String>,
    ) -> Self {
        resources.sort_by(|a, b| path_order(&a.name, &b.name));
        Manifest {
            model_name,
            resources,
            allow_symlinks,
            ignore_paths,
        }
    }

    /// The subject digest: SHA-256 over the raw bytes of every resource digest, in order.
    pub fn root_digest(&self) -> String {
        let mut hasher = Sha256::new();
        for r in &self.resources {
            let raw = decode_hex(&r.digest).unwrap_or_default();
            hasher.update(raw);
        }
        hex(&hasher.finalize())
    }

    pub fn digests(&self) -> BTreeMap<&str, &str> {
        self.resources
            .iter()
            .map(|r| (r.name.as_str(), r.digest.as_str()))
            .collect()
    }

    pub fn total_files(&self) -> usize {
        self.resources.len()
    }

    /// The in-toto statement `model_signing` signs for this manifest.
    pub fn statement(&self) -> Value {
        let mut serialization = json!({
            "method": "files",
            "hash_type": "sha256",
            "allow_symlinks": self.allow_symlinks,
        });
        if !self.ignore_paths.is_empty() {
            serialization["ignore_paths"] = json!(self.ignore_paths);
        }
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|r| json!({"name": r.name, "algorithm": "sha256", "digest": r.digest}))
            .collect();
        json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.model_name, "digest": {"sha256": self.root_digest()}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {"serialization": serialization, "resources": resources},
        })
    }

    /// Reads the manifest back from a verified statement, checking it is self-consistent.
    pub fn from_statement(statement: &Value) -> Result<Self> {
        let predicate_type = statement["predicateType"].as_str().unwrap_or("");
        if predicate_type != PREDICATE_TYPE {
            bail!(
                "the signed statement is not a model signature (predicate type `{predicate_type}`, \
                 want `{PREDICATE_TYPE}`)"
            );
        }
        let subjects = statement["subject"].as_array().map_or(&[][..], |v| v);
        let [subject] = subjects else {
            bail!(
                "a model signature names exactly one subject; this one names {}",
                subjects.len()
            );
        };
        let model_name = subject["name"].as_str().unwrap_or("").to_owned();
        let Some(expected_root) = subject["digest"]["sha256"].as_str() else {
            bail!("the signature's subject has no sha256 digest");
        };
        let serialization = &statement["predicate"]["serialization"];
        let method = serialization["method"].as_str().unwrap_or("");
        if method != "files" {
            bail!(
                "serialization method `{method}` is not supported (only `files`; re-sign without \
                 sharding)"
            );
        }
        let hash_type = serialization["hash_type"].as_str().unwrap_or("");
        if hash_type != "sha256" {
            bail!("hash type `{hash_type}` is not supported (only sha256)");
        }
        let allow_symlinks = serialization["allow_symlinks"].as_bool().unwrap_or(false);
        let ignore_paths = serialization["ignore_paths"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut resources = Vec::new();
        let mut seen = BTreeSet::new();
        for r in statement["predicate"]["resources"]
            .as_array()
            .map_or(&[][..], |v| v)
        {
            let (Some(name), Some(algorithm), Some(digest)) = (
                r["name"].as_str(),
                r["algorithm"].as_str(),
                r["digest"].as_str(),
            ) else {
                bail!("a resource of the signature lacks name, algorithm or digest: {r}");
            };
            if algorithm != "sha256" || decode_hex(digest).is_none_or(|d| d.len() != 32) {
                bail!("resource `{name}`: digest is not a sha256 ({algorithm}: {digest})");
            }
            if !seen.insert(name.to_owned()) {
                bail!("resource `{name}` is listed twice");
            }
            resources.push(Resource {
                name: name.to_owned(),
                digest: digest.to_ascii_lowercase(),
            });
        }
        // Keep the signed order for the root digest, as `model_signing` does.
        let manifest = Manifest {
            model_name,
            resources,
            allow_symlinks,
            ignore_paths,
        };
        let root = manifest.root_digest();
        if !root.eq_ignore_ascii_case(expected_root) {
            bail!(
                "the signature is inconsistent: its subject digest is {expected_root} but its \
                 resources hash to {root}"
            );
        }
        Ok(manifest)
    }
}

/// DSSE v1 pre-authentication encoding: what is actually signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<KeyId>,
    #[serde(default)]
    pub tlog_entries: Vec<Value>,
    /// Present in certificate/Sigstore bundles, which need a different trust root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyId {
    #[serde(default)]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub sig: String,
    #[serde(default)]
    pub keyid: String,
}

/// Signs an in-toto statement into a bundle, as `model_signing`'s key signer does.
pub fn sign_statement(statement: &Value, key: &PrivateKey) -> Result<Bundle> {
    let payload = serde_json::to_vec_pretty(statement)?;
    let signature = key.sign(&pae(PAYLOAD_TYPE, &payload));
    Ok(Bundle {
        media_type: BUNDLE_MEDIA_TYPE.to_owned(),
        verification_material: VerificationMaterial {
            public_key: Some(KeyId {
                hint: Some(key.public().hint()),
            }),
            ..VerificationMaterial::default()
        },
        dsse_envelope: Some(Envelope {
            payload: B64.encode(&payload),
            payload_type: PAYLOAD_TYPE.to_owned(),
            signatures: vec![EnvelopeSignature {
                sig: B64.encode(signature),
                keyid: String::new(),
            }],
        }),
    })
}

impl Bundle {
    pub fn read(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut text = Vec::new();
        file.take(MAX_BUNDLE_BYTES + 1).read_to_end(&mut text)?;
        if text.len() as u64 > MAX_BUNDLE_BYTES {
            bail!(
                "{}: larger than {MAX_BUNDLE_BYTES} bytes; not a signature",
                path.display()
            );
        }
        Self::parse(&text).with_context(|| format!("{}: not a Sigstore bundle", path.display()))
    }

    /// Parses bundle JSON (no signature check yet).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Ok(serde_json::from_slice(bytes)?)
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// Checks the envelope's signature with `key` and returns the signed in-toto statement.
    pub fn verify(&self, key: &PublicKey) -> Result<Value, SignatureProblem> {
        if !self
            .media_type
            .starts_with("application/vnd.dev.sigstore.bundle")
        {
            return Err(SignatureProblem::Malformed(format!(
                "media type `{}` is not a Sigstore bundle",
                self.media_type
            )));
        }
        let Some(envelope) = &self.dsse_envelope else {
            return Err(SignatureProblem::Malformed(
                "no DSSE envelope (message-signature bundles are not model signatures)".into(),
            ));
        };
        if self.verification_material.certificate.is_some()
            || self.verification_material.x509_certificate_chain.is_some()
        {
            return Err(SignatureProblem::Malformed(
                "signed with a certificate (Sigstore or PKI), not a bare key; verify it with \
                 `model_signing verify sigstore|certificate`"
                    .into(),
            ));
        }
        let hint = self
            .verification_material
            .public_key
            .as_ref()
            .and_then(|k| k.hint.clone())
            .filter(|h| !h.is_empty());
        if let Some(hint) = &hint
            && !hint.eq_ignore_ascii_case(&key.hint())
        {
            return Err(SignatureProblem::OtherKey {
                signed_by: hint.clone(),
                given: key.hint(),
            });
        }
        let payload = B64.decode(envelope.payload.as_bytes()).map_err(|e| {
            SignatureProblem::Malformed(format!("envelope payload is not base64: {e}"))
        })?;
        let signed = pae(&envelope.payload_type, &payload);
        let valid = envelope.signatures.iter().any(|s| {
            B64.decode(s.sig.as_bytes())
                .is_ok_and(|sig| key.verify(&signed, &sig))
        });
        if !valid {
            return Err(SignatureProblem::Invalid { key: key.hint() });
        }
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(SignatureProblem::Malformed(format!(
                "payload type `{}`, want `{PAYLOAD_TYPE}`",
                envelope.payload_type
            )));
        }
        let statement: Value = serde_json::from_slice(&payload)
            .map_err(|e| SignatureProblem::Malformed(format!("signed payload is not JSON: {e}")))?;
        if statement["_type"] != STATEMENT_TYPE {
            return Err(SignatureProblem::Malformed(format!(
                "signed payload is not an in-toto v1 statement (`_type` {})",
                statement["_type"]
            )));
        }
        Ok(statement)
    }
}

/// Why a bundle did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("not a bare-key model signature: {0}")]
    Malformed(String),
    #[error("signed by another key (key hint {signed_by}; the key given has {given})")]
    OtherKey { signed_by: String, given: String },
    #[error(
        "the signature does not verify with the key given (hint {key}): the statement was altered \
         or signed by another key"
    )]
    Invalid { key: String },
}

/// A file of the model on disk.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub name: String,
    pub path: PathBuf,
}

/// The model's name as `model_signing` takes it: the last path component (resolved for `.`).
pub fn model_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || name == ".." {
        std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default()
    } else {
        name
    }
}

/// Whether `name` (relative, `/`-separated) lies in one of `ignore` (component prefix).
pub fn ignored(name: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|i| {
        let i = i.trim_end_matches('/');
        let i = i.strip_prefix("./").unwrap_or(i);
        !i.is_empty() && (name == i || name.strip_prefix(i).is_some_and(|r| r.starts_with('/')))
    })
}

/// Every file of the model at `root`, as `model_signing`'s file serializer lists them: a file
/// model is itself (named `.`); a directory is walked recursively, hidden files included, and
/// paths in `ignore` are left out. A symbolic link is an error unless `allow_symlinks`, and
/// anything that is neither file nor directory is an error.
pub fn list_files(root: &Path, ignore: &[String], allow_symlinks: bool) -> Result<Vec<ModelFile>> {
    let meta = std::fs::symlink_metadata(root)
        .with_context(|| format!("cannot read {}", root.display()))?;
    if meta.file_type().is_symlink() && !allow_symlinks {
        bail!("{} is a symbolic link; sign the real path", root.display());
    }
    let meta =
        std::fs::metadata(root).with_context(|| format!("cannot read {}", root.display()))?;
    if meta.is_file() {
        return Ok(vec![ModelFile {
            name: ".".to_owned(),
            path: root.to_owned(),
        }]);
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_owned(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                bail!(
                    "{}: a file name that is not UTF-8 cannot be named in a signature",
                    entry.path().display()
                );
            };
            let name = if prefix.is_empty() {
                file_name.to_owned()
            } else {
                format!("{prefix}/{file_name}")
            };
            if ignored(&name, ignore) {
                continue;
            }
            let path = entry.path();
            let mut kind = entry.file_type()?;
            if kind.is_symlink() {
                if !allow_symlinks {
                    bail!(
                        "{} is a symbolic link; model signatures (allow_symlinks = false) refuse \
                         links",
                        path.display()
                    );
                }
                kind = std::fs::metadata(&path)
                    .with_context(|| format!("broken link {}", path.display()))?
                    .file_type();
                if kind.is_dir() {
                    continue; // not followed, as `model_signing`'s glob does not
                }
            }
            if kind.is_dir() {
                stack.push((path, name));
            } else if kind.is_file() {
                out.push(ModelFile { name, path });
            } else {
                bail!("{} is neither a file nor a directory", path.display());
            }
        }
    }
    out.sort_by(|a, b| path_order(&a.name, &b.name));
    Ok(out)
}

/// SHA-256 of every file, files in parallel (one core each; SHA-NI where the CPU has it).
pub fn hash_files(files: &[ModelFile]) -> Result<Vec<Resource>> {
    files
        .par_iter()
        .map(|f| {
            let digest =
                hash_file(&f.path).with_context(|| format!("cannot read {}", f.path.display()))?;
            Ok(Resource {
                name: f.name.clone(),
                digest,
            })
        })
        .collect()
}

/// Hex SHA-256 of one file, read in 1 MiB blocks (never the whole file in memory).
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_by_components_like_pure_posix_path() {
        let mut names = vec!["a.txt", "a/b", "a.b", "sub/b.bin", "B"];
        names.sort_by(|a, b| path_order(a, b));
        assert_eq!(names, ["B", "a/b", "a.b", "a.txt", "sub/b.bin"]);
    }

    #[test]
    fn root_digest_matches_model_signing() {
        // From `model_signing sign key` on {a.b: "y\n", a.txt: "hello\n", sub/b.bin: "x\n"}.
        let resources = [("a.b", "y\n"), ("a.txt", "hello\n"), ("sub/b.bin", "x\n")]
            .map(|(name, text)| Resource {
                name: name.to_owned(),
                digest: crate::zone::digest::sha256_hex(text.as_bytes()),
            })
            .to_vec();
        let manifest = Manifest::new("m".into(), resources, false, vec![]);
        assert_eq!(
            manifest.root_digest(),
            "4dc29c5368489f9809d77a3245832450f2735c259b72854028884d1ebb46ce35"
        );
        let back = Manifest::from_statement(&manifest.statement()).unwrap();
        assert_eq!(back, manifest);
    }

    #[test]
    fn ignore_is_by_component_prefix() {
        let ignore = vec![".git".to_owned(), "model.sig".to_owned(), "out/".to_owned()];
        assert!(ignored(".git/config", &ignore));
        assert!(ignored("model.sig", &ignore));
        assert!(ignored("out/x", &ignore));
        assert!(!ignored(".gitx", &ignore));
        assert!(!ignored("model.sig2", &ignore));
    }

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
        );
    }
}
