//! Scan settings: limits of the secure zone and of the pickle interpreter, and user extensions
//! of the import policy. Defaults are the secure choice; every limit can be raised explicitly.

use std::sync::Arc;
use std::time::Duration;

use crate::signatures::Signatures;

/// Bounds on unpacking containers (the secure zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneLimits {
    /// Total bytes unpacked from one artifact, all members and nesting levels together.
    pub max_total_bytes: u64,
    /// Bytes inflated from a single member. Stored members are slices of bytes already in
    /// hand and are not cut (their reading is bounded by `max_total_bytes` plus the input size).
    pub max_member_bytes: u64,
    /// Unpacked size divided by compressed size, per member (checked past 1 MiB unpacked).
    pub max_ratio: u64,
    /// Members opened per artifact, all nesting levels together.
    pub max_members: u64,
    /// Container nesting depth (a zip in a tar in a gzip is depth 3).
    pub max_depth: u32,
    /// Bytes in one member path.
    pub max_path_len: usize,
}

impl Default for ZoneLimits {
    fn default() -> Self {
        ZoneLimits {
            max_total_bytes: 16 << 30,
            max_member_bytes: 4 << 30,
            max_ratio: 200,
            max_members: 100_000,
            max_depth: 8,
            max_path_len: 4096,
        }
    }
}

/// Bounds on the pickle interpreter, per pickle stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleLimits {
    pub max_stack: usize,
    pub max_memo: usize,
    /// Bytes kept of one string or bytes operand (longer ones are skipped, their length noted).
    pub max_string: usize,
    pub max_opcodes: u64,
    /// How deep pickles nested in bytes arguments (`pickle.loads(b'...')`) are followed.
    pub max_nesting: u32,
}

impl Default for PickleLimits {
    fn default() -> Self {
        PickleLimits {
            max_stack: 1 << 20,
            max_memo: 1 << 24,
            max_string: 64 << 20,
            max_opcodes: 200_000_000,
            max_nesting: 4,
        }
    }
}

/// How content is matched against the signature rules.
#[derive(Debug, Clone)]
pub struct SignatureSettings {
    /// The compiled rules; `None` turns signature scanning off.
    pub rules: Option<Arc<Signatures>>,
    /// Files and members up to this size are scanned whole (tensor storage only with `deep`).
    pub small_file_bytes: u64,
    /// Also scan the raw bytes of every artifact and member, whatever their size or kind.
    pub deep: bool,
    /// Time all signature scans of one artifact may take together.
    pub timeout: Duration,
}

impl Default for SignatureSettings {
    fn default() -> Self {
        SignatureSettings {
            rules: None,
            small_file_bytes: 1 << 20,
            deep: false,
            timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub zone: ZoneLimits,
    pub pickle: PickleLimits,
    /// Extra globals treated as safe (`module.name`, or `module.*` for a whole module).
    pub allow_globals: Vec<String>,
    /// Extra globals treated as dangerous, same syntax.
    pub deny_globals: Vec<String>,
    /// Where to keep a copy of every unpacked member for review (`--keep-zone`); none by
    /// default, because the scan itself never writes to disk.
    pub keep_zone: Option<std::path::PathBuf>,
    pub signatures: SignatureSettings,
}
