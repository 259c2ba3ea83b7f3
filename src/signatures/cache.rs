//! The on-disk cache of compiled rules, keyed by a hash of their sources.
//!
//! An entry holds the rules serialised by YARA-X with their native code, so loading one skips
//! both parsing and code generation. Native code is executed, so an entry is trusted only when
//! its checksum matches and (on Unix) neither it nor its directory is writable by other users; a
//! corrupt, foreign or incompatible entry is ignored and rewritten. The cache lives in
//! `$XDG_CACHE_HOME/quarantine` (else `~/.cache/quarantine`); `--no-rules-cache` turns it off.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Diagnostic, SignatureError, Signatures, Source, compile};

const MAGIC: &[u8; 4] = b"QRC1";

/// How the rules of this run were obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache directory: compiled.
    Disabled,
    /// Loaded from the cache.
    Hit(PathBuf),
    /// Compiled and written to the cache (or not, with the reason).
    Miss {
        path: PathBuf,
        write_error: Option<String>,
    },
}

/// The default cache directory, if the environment names a home for one.
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("quarantine")),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".cache").join("quarantine")),
    }
}

/// The cache key: every source's namespace, file name and text, the scanner's version and the
/// external variables the rules are compiled with. YARA-X and wasmtime check their own
/// versions when an entry is read, and a mismatch counts as a miss.
pub fn key(sources: &[Source]) -> String {
    let mut hash = Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION").as_bytes());
    for name in super::compile::GLOBALS {
        hash.update(name.as_bytes());
        hash.update([0]);
    }
    for source in sources {
        for part in [&source.namespace, &source.file, &source.text] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiles `sources`, or loads them from the cache in `dir` when an entry for exactly these
/// sources is there.
pub fn load(
    sources: &[Source],
    dir: Option<&Path>,
) -> Result<(Signatures, CacheOutcome), SignatureError> {
    let Some(dir) = dir else {
        return Ok((compile(sources)?, CacheOutcome::Disabled));
    };
    let path = dir.join(format!("rules-{}.bin", key(sources)));
    if let Some(signatures) = read(&path, sources) {
        return Ok((signatures, CacheOutcome::Hit(path)));
    }
    let signatures = compile(sources)?;
    let write_error = write(dir, &path, &signatures).err();
    Ok((signatures, CacheOutcome::Miss { path, write_error }))
}

fn read(path: &Path, sources: &[Source]) -> Option<Signatures> {
    if !private(path) || !path.parent().is_some_and(private) {
        return None;
    }
    let bytes = fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let (digest, payload) = rest.split_at_checked(32)?;
    if Sha256::digest(payload).as_slice() != digest {
        return None;
    }
    let (len, payload) = payload.split_at_checked(4)?;
    let len = usize::try_from(u32::from_le_bytes(len.try_into().ok()?)).ok()?;
    let (warnings, rules) = payload.split_at_checked(len)?;
    let warnings: Vec<Diagnostic> = serde_json::from_slice(warnings).ok()?;
    let rules = yara_x::Rules::deserialize(rules).ok()?;
    let mut errors = Vec::new();
    let infos = super::compile::infos(&rules, sources, &mut errors);
    errors.is_empty().then_some(Signatures {
        rules,
        infos,
        warnings,
        source_hash: super::cache::key(sources),
    })
}

/// Whether nobody but the owner can write `path` (always true off Unix).
fn private(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::symlink_metadata(path).is_ok_and(|m| m.permissions().mode() & 0o022 == 0)
    }
    #[cfg(not(unix))]
    {
        path.exists()
    }
}

fn write(dir: &Path, path: &Path, signatures: &Signatures) -> Result<(), String> {
    let rules = signatures.rules.serialize().map_err(|e| e.to_string())?;
    let warnings = serde_json::to_vec(&signatures.warnings).map_err(|e| e.to_string())?;
    let len = u32::try_from(warnings.len()).map_err(|e| e.to_string())?;
    let mut payload = Vec::with_capacity(4 + warnings.len() + rules.len());
    payload.extend_from_slice(&len.to_le_bytes());
    payload.extend_from_slice(&warnings);
    payload.extend_from_slice(&rules);

    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io)?;
    // Written aside and renamed, so that concurrent runs never read half an entry.
    let temp = dir.join(format!(".rules-{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(io)?;
    file.write_all(MAGIC).map_err(io)?;
    file.write_all(&Sha256::digest(&payload)).map_err(io)?;
    file.write_all(&payload).map_err(io)?;
    drop(file);
    fs::rename(&temp, path).map_err(io)
}
