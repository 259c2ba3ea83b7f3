//! Scan settings: limits of the secure zone and of the pickle interpreter, and user extensions
//! of the import policy. Defaults are the secure choice; every limit can be raised explicitly.

use std::time::Duration;

use serde::Serialize;

pub use crate::settings::{LimitOverrides, Seconds, Size};
use crate::settings::{Setting, defaults};

/// Bounds on unpacking containers (the secure zone).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ZoneLimits {
    /// Total bytes unpacked from one artifact, all members and nesting levels together.
    pub max_total_bytes: u64,
    /// Bytes inflated from a single member. Stored members are slices of bytes already in
    /// hand and are not cut (their reading is bounded by `max_total_bytes` plus the input size).
    pub max_member_bytes: u64,
    /// Unpacked bytes one artifact keeps in memory, all members and nesting levels together;
    /// members past it are spilled to a private temporary file and memory-mapped.
    pub max_memory: u64,
    /// Unpacked size divided by compressed size, per member (checked past 1 MiB unpacked).
    pub max_ratio: u64,
    /// Members opened per artifact, all nesting levels together.
    pub max_members: u64,
    /// Container nesting depth (a zip in a tar in a gzip is depth 3).
    pub max_depth: u32,
    /// Bytes in one member path.
    pub max_path_len: usize,
    /// Wall-clock time to analyse one artifact, members included (the signature and probe
    /// budgets are spent inside it).
    pub timeout: Duration,
}

impl Default for ZoneLimits {
    fn default() -> Self {
        ZoneLimits {
            max_total_bytes: defaults::max_total_bytes.into_field(),
            max_member_bytes: defaults::max_member_bytes.into_field(),
            max_memory: defaults::max_memory.into_field(),
            max_ratio: defaults::max_ratio,
            max_members: defaults::max_members,
            max_depth: defaults::max_depth,
            max_path_len: defaults::max_path_len,
            timeout: defaults::timeout.into_field(),
        }
    }
}

/// Bounds on the pickle interpreter, per pickle stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PickleLimits {
    pub max_stack: usize,
    pub max_memo: usize,
    /// Memory the interpreter keeps per stream (`vm::run_stream` splits it).
    pub max_memory: u64,
    /// Bytes kept of one string or bytes operand (longer ones are skipped, their length noted).
    pub max_string: usize,
    pub max_opcodes: u64,
    /// How deep pickles nested in bytes arguments (`pickle.loads(b'...')`) are followed.
    pub max_nesting: u32,
}

impl Default for PickleLimits {
    fn default() -> Self {
        PickleLimits {
            max_stack: defaults::max_pickle_stack,
            max_memo: defaults::max_pickle_memo,
            max_memory: defaults::max_pickle_memory.into_field(),
            max_string: defaults::max_pickle_string.into_field(),
            max_opcodes: defaults::max_pickle_opcodes,
            max_nesting: defaults::max_pickle_nesting,
        }
    }
}

/// Bounds on ONNX models.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct OnnxLimits {
    /// Bytes of one `ModelProto` decoded (protobuf itself stops at 2 GiB; larger models keep
    /// their weights in external data files).
    pub max_bytes: u64,
    /// Nodes in all graphs and functions together.
    pub max_nodes: u64,
    /// Initializers in all graphs together.
    pub max_initializers: u64,
    /// Nesting of subgraphs (If/Loop/Scan bodies inside each other).
    pub max_graph_depth: u32,
}

impl Default for OnnxLimits {
    fn default() -> Self {
        OnnxLimits {
            max_bytes: defaults::max_onnx_bytes.into_field(),
            max_nodes: defaults::max_onnx_nodes,
            max_initializers: defaults::max_onnx_initializers,
            max_graph_depth: defaults::max_onnx_graph_depth,
        }
    }
}

/// How content is matched against the signature rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SignatureSettings {
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
            small_file_bytes: defaults::small_file_size.into_field(),
            deep: false,
            timeout: defaults::signature_timeout.into_field(),
        }
    }
}

/// Bounds on safetensors files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SafetensorsLimits {
    /// Bytes of the JSON header (loaders refuse more than 100 MB).
    pub max_header: u64,
}

impl Default for SafetensorsLimits {
    fn default() -> Self {
        SafetensorsLimits {
            max_header: defaults::max_safetensors_header.into_field(),
        }
    }
}

/// The settings of a scan: plain data, compared and hashed as a whole (the `--cache` key takes
/// its serialised form). The compiled signature rules travel beside it, never inside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Config {
    pub probe: ProbeSettings,
    pub zone: ZoneLimits,
    pub pickle: PickleLimits,
    pub onnx: OnnxLimits,
    pub safetensors: SafetensorsLimits,
    /// Extra globals treated as safe (`module.name`, or `module.*` for a whole module).
    pub allow_globals: Vec<String>,
    /// Extra globals treated as dangerous, same syntax.
    pub deny_globals: Vec<String>,
    /// Where to keep a copy of every unpacked member for review (`--keep-zone`); none by
    /// default, because the scan itself never writes to disk.
    pub keep_zone: Option<std::path::PathBuf>,
    pub signatures: SignatureSettings,
}

impl Config {
    /// A digest of everything that can change an artifact's report: the scanner version,
    /// `rules_sha256` (the rule registry, the pickle import tables and the signature rules'
    /// source hash: `scan::rules_sha256`) and these settings, serialised. The `--cache` key.
    pub fn fingerprint(&self, rules_sha256: &str) -> String {
        // Serialising plain data (numbers, strings, paths, durations) cannot fail.
        let settings = serde_json::to_string(self).unwrap_or_default();
        let text = format!("{}\n{rules_sha256}\n{settings}", env!("CARGO_PKG_VERSION"));
        crate::zone::digest::sha256_hex(text.as_bytes())
    }
}

/// When the robustness probe runs (`--probe`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub enum ProbeMode {
    Off,
    /// Run where the artifact is supported; say why not where it is not.
    #[default]
    Auto,
    /// Like `Auto`, but a skipped probe is a finding (the artifact is not clean).
    Require,
}

/// Where the probe computes (`--device`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub enum DeviceKind {
    #[default]
    Cpu,
    /// Needs the `cuda` cargo feature and a GPU.
    Cuda,
}

/// Settings of the robustness probe (weights and behaviour).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ProbeSettings {
    pub mode: ProbeMode,
    /// Wall-clock budget per artifact; work left when it runs out is reported as not done.
    pub budget: std::time::Duration,
    pub device: DeviceKind,
    /// Inputs for the behaviour probe (`.npy`, one row per sample) instead of synthetic ones.
    pub inputs: Option<std::path::PathBuf>,
    /// Bytes the behaviour probe may allocate for one model (weights and activations), checked
    /// from declared shapes before anything is allocated.
    pub max_bytes: u64,
    /// Adversarial flip rate at the policy epsilon, in per mille, above which the report
    /// grades a model brittle (an integer so that settings stay `Eq`). A grade, not a finding.
    pub max_flip_permille: u16,
    /// The gate (`--probe-gate`, `[probe] gate_max_flip_rate`), in per mille: above it a model
    /// gets PRB003. `None` (the default): robustness never changes the verdict.
    pub gate_flip_permille: Option<u16>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            mode: ProbeMode::Auto,
            budget: std::time::Duration::from_secs(5),
            device: DeviceKind::Cpu,
            inputs: None,
            max_bytes: defaults::max_probe_bytes.into_field(),
            max_flip_permille: 250,
            gate_flip_permille: None,
        }
    }
}
