//! Scan settings: limits of the secure zone and of the pickle interpreter, and user extensions
//! of the import policy. Defaults are the secure choice; every limit can be raised explicitly.

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Adversarial flip rate at the policy epsilon, in per mille, above which a model is
    /// called brittle (an integer so that settings stay `Eq`).
    pub max_flip_permille: u16,
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
        }
    }
}
