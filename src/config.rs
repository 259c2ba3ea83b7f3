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
    /// Wall-clock time to analyse one artifact, members included (the signature and probe
    /// budgets are spent inside it).
    pub timeout: Duration,
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
            timeout: Duration::from_secs(600),
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

/// Bounds on ONNX models.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            max_bytes: 2 << 30,
            max_nodes: 1_000_000,
            max_initializers: 1_000_000,
            max_graph_depth: 24,
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

/// Bounds on safetensors files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetensorsLimits {
    /// Bytes of the JSON header (loaders refuse more than 100 MB).
    pub max_header: u64,
}

impl Default for SafetensorsLimits {
    fn default() -> Self {
        SafetensorsLimits {
            max_header: 100 << 20,
        }
    }
}

#[derive(Debug, Clone, Default)]
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
    /// A digest of everything that can change an artifact's report: the scanner version, the
    /// rule registry, the pickle import tables and these settings (which name the source hash of
    /// the signature rules). Part of the `--cache` key.
    pub fn fingerprint(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{self:?}",
            env!("CARGO_PKG_VERSION"),
            crate::model::rules::markdown(),
            crate::formats::pickle::imports_table(),
        );
        crate::zone::digest::sha256_hex(text.as_bytes())
    }
}

/// Limits set by a policy file, one of its per-path overrides, or the command line: each one
/// given replaces the limit below it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub max_total_bytes: Option<Size>,
    pub max_member_bytes: Option<Size>,
    pub max_ratio: Option<u64>,
    pub max_members: Option<u64>,
    pub max_depth: Option<u32>,
    pub max_path_len: Option<usize>,
    /// Seconds.
    pub timeout: Option<u64>,
}

impl LimitOverrides {
    /// Whether any limit given is higher than its default (a looser scan).
    pub fn raises_any(&self) -> bool {
        let mut raised = ZoneLimits::default();
        self.apply(&mut raised);
        let d = ZoneLimits::default();
        raised.max_total_bytes > d.max_total_bytes
            || raised.max_member_bytes > d.max_member_bytes
            || raised.max_ratio > d.max_ratio
            || raised.max_members > d.max_members
            || raised.max_depth > d.max_depth
            || raised.max_path_len > d.max_path_len
            || raised.timeout > d.timeout
    }

    pub fn apply(&self, zone: &mut ZoneLimits) {
        let set = |slot: &mut u64, value: Option<Size>| {
            if let Some(Size(v)) = value {
                *slot = v;
            }
        };
        set(&mut zone.max_total_bytes, self.max_total_bytes);
        set(&mut zone.max_member_bytes, self.max_member_bytes);
        zone.max_ratio = self.max_ratio.unwrap_or(zone.max_ratio);
        zone.max_members = self.max_members.unwrap_or(zone.max_members);
        zone.max_depth = self.max_depth.unwrap_or(zone.max_depth);
        zone.max_path_len = self.max_path_len.unwrap_or(zone.max_path_len);
        if let Some(seconds) = self.timeout {
            zone.timeout = Duration::from_secs(seconds);
        }
    }
}

/// A byte count, written as a number or with a K, M, G or T suffix (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (digits, shift) = match text.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let shift = match c.to_ascii_uppercase() {
                    'K' => 10,
                    'M' => 20,
                    'G' => 30,
                    'T' => 40,
                    _ => return Err(format!("unknown size suffix `{c}` (use K, M, G or T)")),
                };
                (text.get(..i).unwrap_or_default(), shift)
            }
            _ => (text, 0),
        };
        let value: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` is not a size"))?;
        value
            .checked_mul(1 << shift)
            .map(Size)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte count such as 4096 or \"16G\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// When the robustness probe runs (`--probe`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProbeMode {
    Off,
    /// Run where the artifact is supported; say why not where it is not.
    #[default]
    Auto,
    /// Like `Auto`, but a skipped probe is a finding (the artifact is not clean).
    Require,
}

/// Where the probe computes (`--device`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceKind {
    #[default]
    Cpu,
    /// Needs the `cuda` cargo feature and a GPU.
    Cuda,
}

/// Settings of the robustness probe (weights and behaviour).
#[derive(Debug, Clone, PartialEq, Eq)]
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
            max_bytes: 1 << 30,
            max_flip_permille: 250,
            gate_flip_permille: None,
        }
    }
}
