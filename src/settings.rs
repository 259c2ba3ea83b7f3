//! Settings defined once. Every limit of a scan is one row of the `settings!` table below: the
//! policy key, the [`Config`](crate::config::Config) field it sets, its type on the command line
//! and in the policy file, its default and its help. From the table come
//!
//! - [`LimitOverrides`], the one struct that is both the policy file's `[limits]` table (serde,
//!   unknown keys refused) and the command line's limit flags (clap; the flag is the key with
//!   dashes, its `--help` line ends with the default);
//! - [`defaults`], the default of every limit, which the `Default` impls in `config.rs` read;
//! - the `[limits]` block of `quarantine policy --print-default` ([`policy_toml`]) and the README's
//!   settings table ([`markdown`]), both checked by `tests/settings.rs` and rewritten by it with
//!   `BLESS=1`.
//!
//! Settings that are not limits (switches, modes, lists, paths) are the rows of [`OTHER`]; they
//! are wired by hand in the policy and the command line, and the same test checks that their
//! flags, keys and defaults are where the table says.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How a value written in the policy file or on the command line sets a [`Config`] field.
///
/// [`Config`]: crate::config::Config
pub trait Setting<F> {
    fn into_field(self) -> F;
}

impl<T> Setting<T> for T {
    fn into_field(self) -> T {
        self
    }
}

impl Setting<usize> for Size {
    fn into_field(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl Setting<u64> for Size {
    fn into_field(self) -> u64 {
        self.0
    }
}

impl Setting<Duration> for Seconds {
    fn into_field(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

/// How a default is written in `--help`, the policy file and the README.
pub trait Shown: fmt::Display {
    /// As a TOML value.
    fn toml(&self) -> String {
        self.to_string()
    }
}

impl Shown for u64 {}
impl Shown for u32 {}
impl Shown for usize {}
impl Shown for Seconds {}

impl Shown for Size {
    fn toml(&self) -> String {
        if self.suffixed().1.is_empty() {
            self.to_string()
        } else {
            format!("\"{self}\"")
        }
    }
}

/// One limit, as the policy file, the command line and the README show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The group of limits it belongs to (a comment in the policy file, a column in the README).
    pub heading: &'static str,
    /// The key under `[limits]`; the flag is `--` and the key with dashes.
    pub key: &'static str,
    /// The `Config` field it sets, `group.field`.
    pub field: &'static str,
    /// The placeholder of its value on the command line.
    pub value: &'static str,
    pub default: String,
    /// The default as a TOML value.
    pub default_toml: String,
    pub help: &'static str,
}

impl Row {
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

/// Whether `value` sets a field higher than `current`.
fn above<F: PartialOrd, A: Setting<F>>(value: A, current: &F) -> bool {
    value.into_field() > *current
}

/// `help` with its default, for `--help`.
fn help(help: &str, default: &dyn Shown) -> String {
    format!("{help} [default: {default}]")
}

macro_rules! settings {
    ($(
        $heading:literal {
            $( $key:ident => $group:ident . $field:ident : $arg:ty = $default:expr, $value:literal, $help:literal; )*
        }
    )*) => {
        /// The default of every limit, by its policy key.
        #[allow(non_upper_case_globals)]
        pub mod defaults {
            #[allow(unused_imports)]
            use super::{Seconds, Size};
            $($( pub const $key: $arg = $default; )*)*
        }

        /// Limits given by a policy file (`[limits]`, top level or per path) or the command line:
        /// each one given replaces the limit below it.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        #[command(next_help_heading = "Limits (each one given wins over the policy file; sizes take K, M, G or T)")]
        pub struct LimitOverrides {
            $($(
                #[arg(long, value_name = $value, help = help($help, &defaults::$key))]
                pub $key: Option<$arg>,
            )*)*
        }

        impl LimitOverrides {
            /// Every limit at its default.
            pub fn defaults() -> Self {
                LimitOverrides { $($( $key: Some(defaults::$key), )*)* }
            }

            /// Sets the limits given here in `config`.
            pub fn apply(&self, config: &mut crate::config::Config) {
                $($(
                    if let Some(value) = self.$key {
                        config.$group.$field = Setting::into_field(value);
                    }
                )*)*
            }

            /// The keys of the limits given here that are higher than their defaults (a looser
            /// scan).
            pub fn raised(&self) -> Vec<&'static str> {
                let default = crate::config::Config::default();
                let mut raised = Vec::new();
                $($(
                    if let Some(value) = self.$key
                        && above(value, &default.$group.$field)
                    {
                        raised.push(stringify!($key));
                    }
                )*)*
                raised
            }
        }

        /// The rows of the table, in order.
        pub fn rows() -> Vec<Row> {
            vec![$($(
                Row {
                    heading: $heading,
                    key: stringify!($key),
                    field: concat!(stringify!($group), ".", stringify!($field)),
                    value: $value,
                    default: defaults::$key.to_string(),
                    default_toml: Shown::toml(&defaults::$key),
                    help: $help,
                },
            )*)*]
        }
    };
}

settings! {
    "The secure zone (unpacking containers)" {
        max_total_bytes => zone.max_total_bytes: Size = Size(16 << 30), "SIZE",
            "Total bytes unpacked from one artifact, all members and nesting levels together.";
        max_member_bytes => zone.max_member_bytes: Size = Size(4 << 30), "SIZE",
            "Bytes inflated from a single archive member (stored members are read in place and not cut).";
        max_memory => zone.max_memory: Size = Size(512 << 20), "SIZE",
            "Unpacked bytes one artifact keeps in memory; members past it go to an unlinked private file in $TMPDIR, memory-mapped.";
        max_ratio => zone.max_ratio: u64 = 200, "N",
            "Largest compression ratio accepted for a member (checked past 1 MiB unpacked).";
        max_members => zone.max_members: u64 = 100_000, "N",
            "Members opened per artifact, all nesting levels together.";
        max_depth => zone.max_depth: u32 = 8, "N",
            "Container nesting depth (a zip in a tar in a gzip is depth 3).";
        max_path_len => zone.max_path_len: usize = 4096, "N",
            "Bytes in one member path.";
        timeout => zone.timeout: Seconds = Seconds(600), "SECONDS",
            "Seconds to analyse one artifact, members included; past it the analysis stops and the artifact is suspicious (FMT006).";
    }
    "The pickle interpreter (per stream)" {
        max_pickle_stack => pickle.max_stack: usize = 1 << 20, "N",
            "Entries on the pickle stack (PKL005 past it).";
        max_pickle_memo => pickle.max_memo: usize = 1 << 24, "N",
            "Entries in the pickle memo (PKL005 past it).";
        max_pickle_memory => pickle.max_memory: Size = Size(192 << 20), "SIZE",
            "Memory the pickle interpreter keeps per stream. Past a quarter in containers or calls, new ones keep no content (evidence shows `[…]`); past half in memo entries, PKL005.";
        max_pickle_string => pickle.max_string: Size = Size(64 << 20), "SIZE",
            "Bytes kept of one pickle string or bytes operand (longer ones are skipped, their length noted).";
        max_pickle_opcodes => pickle.max_opcodes: u64 = 200_000_000, "N",
            "Opcodes interpreted in one pickle stream (PKL005 past it).";
        max_pickle_nesting => pickle.max_nesting: u32 = 4, "N",
            "How deep pickles nested in bytes arguments (`pickle.loads(b'...')`) are followed.";
    }
    "ONNX models" {
        max_onnx_bytes => onnx.max_bytes: Size = Size(2 << 30), "SIZE",
            "Bytes of an ONNX model decoded (its external data files are not counted).";
        max_onnx_nodes => onnx.max_nodes: u64 = 1_000_000, "N",
            "Nodes in one ONNX model, all graphs and functions together.";
        max_onnx_initializers => onnx.max_initializers: u64 = 1_000_000, "N",
            "Initializers in one ONNX model, all graphs together.";
        max_onnx_graph_depth => onnx.max_graph_depth: u32 = 24, "N",
            "Nesting of ONNX subgraphs (If/Loop/Scan bodies inside each other).";
    }
    "Safetensors" {
        max_safetensors_header => safetensors.max_header: Size = Size(100 << 20), "SIZE",
            "Bytes of a safetensors JSON header (loaders refuse more than 100 MB).";
    }
    "Signature rules" {
        small_file_size => signatures.small_file_bytes: Size = Size(1 << 20), "SIZE",
            "Files and members up to SIZE are matched against signature rules whole (tensor storage only with --deep).";
        signature_timeout => signatures.timeout: Seconds = Seconds(60), "SECONDS",
            "Seconds all signature scans of one artifact may take together; past it, a YAR001 finding and no further matching.";
    }
    "The robustness probe" {
        max_probe_bytes => probe.max_bytes: Size = Size(1 << 30), "SIZE",
            "Bytes the behaviour probe may allocate for one model (weights and activations), checked from declared shapes before anything is allocated.";
    }
}

/// A setting that is not a limit: wired by hand, checked by `tests/settings.rs` against the
/// command line, the default policy and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Other {
    /// The `Config` field it sets (`group.field`), or what it is for outside `Config`.
    pub field: &'static str,
    /// Its flag on `quarantine scan`, if it has one.
    pub flag: Option<&'static str>,
    /// Its policy key (`section.key`), if it has one.
    pub key: Option<&'static str>,
    /// Its default as the policy file writes it; `None`: unset (commented out there).
    pub default: Option<&'static str>,
    /// Why it has no flag or no key, where it lacks one.
    pub why: &'static str,
}

/// Every setting of [`Config`](crate::config::Config) that is not a limit.
pub const OTHER: &[Other] = &[
    Other {
        field: "allow_globals",
        flag: Some("--allow-global"),
        key: Some("pickle.allow_globals"),
        default: Some("[]"),
        why: "",
    },
    Other {
        field: "deny_globals",
        flag: Some("--deny-global"),
        key: Some("pickle.deny_globals"),
        default: Some("[]"),
        why: "",
    },
    Other {
        field: "keep_zone",
        flag: Some("--keep-zone"),
        key: None,
        default: None,
        why: "a place the scanner writes to is chosen on the command line only",
    },
    Other {
        field: "signatures.deep",
        flag: Some("--deep"),
        key: Some("signatures.deep"),
        default: Some("false"),
        why: "",
    },
    Other {
        field: "probe.mode",
        flag: Some("--probe"),
        key: Some("probe.mode"),
        default: Some("\"auto\""),
        why: "",
    },
    Other {
        field: "probe.budget",
        flag: Some("--probe-budget"),
        key: Some("probe.budget_seconds"),
        default: Some("5.0"),
        why: "",
    },
    Other {
        field: "probe.gate_flip_permille",
        flag: Some("--probe-gate"),
        key: Some("probe.gate_max_flip_rate"),
        default: None,
        why: "",
    },
    Other {
        field: "probe.device",
        flag: Some("--device"),
        key: None,
        default: None,
        why: "a property of the machine running the scan, not of the repository",
    },
    Other {
        field: "probe.inputs",
        flag: Some("--probe-inputs"),
        key: None,
        default: None,
        why: "a file of the machine running the scan",
    },
    Other {
        field: "probe.max_flip_permille",
        flag: None,
        key: None,
        default: None,
        why: "the grade shown as `brittle`; the gate that judges is --probe-gate",
    },
];

/// The `[limits]` block of the default policy file, as `quarantine policy --print-default`
/// prints it (up to the next table).
pub fn policy_toml() -> String {
    let mut out = String::from(
        "[limits]\n\
         # Limits of a scan, each also a command-line flag (the key with dashes: max_depth is\n\
         # --max-depth) that wins over this file. Sizes are numbers of bytes or strings with\n\
         # K/M/G/T suffixes. Generated from the settings table (src/settings.rs).\n",
    );
    let mut heading = "";
    for row in rows() {
        if row.heading != heading {
            heading = row.heading;
            out.push_str(&format!("\n# {heading}\n"));
        }
        for line in wrap(row.help, 94) {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!("{} = {}\n", row.key, row.default_toml));
    }
    out.push('\n');
    out
}

/// `text` in lines of at most `width` characters (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// The README's table of limits.
pub fn markdown() -> String {
    let mut out = String::from(
        "| limit | flag | `[limits]` key | default | meaning |\n|---|---|---|---|---|\n",
    );
    for row in rows() {
        out.push_str(&format!(
            "| {} | `{} {}` | `{}` | `{}` | {} |\n",
            row.heading,
            row.flag(),
            row.value,
            row.key,
            row.default,
            row.help.replace('|', "\\|")
        ));
    }
    out
}

/// A byte count, written as a number or with a K, M, G or T suffix (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Size(pub u64);

impl Size {
    /// The number and suffix that write this size exactly, the largest suffix first.
    fn suffixed(self) -> (u64, &'static str) {
        for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
            if self.0 != 0 && self.0.is_multiple_of(1 << shift) {
                return (self.0 >> shift, suffix);
            }
        }
        (self.0, "")
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (number, suffix) = self.suffixed();
        write!(f, "{number}{suffix}")
    }
}

impl FromStr for Size {
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
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
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

/// A whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map(Seconds)
            .map_err(|_| format!("`{text}` is not a whole number of seconds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn sizes_are_written_with_the_largest_exact_suffix() {
        assert_eq!(Size(16 << 30).to_string(), "16G");
        assert_eq!(Size(100 << 20).to_string(), "100M");
        assert_eq!(Size(1536).to_string(), "1536");
        assert_eq!(Size(1536).toml(), "1536");
        assert_eq!(Size(1 << 20).toml(), "\"1M\"");
        assert_eq!(Size(0).to_string(), "0");
        for text in ["16G", "100M", "1536", "0"] {
            assert_eq!(
                text.parse::<Size>().map(|s| s.to_string()),
                Ok(text.to_owned())
            );
        }
    }

    #[test]
    fn the_table_sets_every_default_and_each_limit_its_own_field() {
        let mut config = Config::default();
        LimitOverrides::defaults().apply(&mut config);
        assert_eq!(config, Config::default());
        assert!(LimitOverrides::defaults().raised().is_empty());
        // Each row names a field of the serialised `Config`.
        let fields: Vec<serde_json::Value> = rows()
            .iter()
            .map(|row| field(&Config::default(), row.field))
            .collect();
        assert!(fields.iter().all(|v| !v.is_null()), "{fields:?}");
    }

    /// The serialised value of `group.field` in `config`.
    pub(crate) fn field(config: &Config, path: &str) -> serde_json::Value {
        let mut value = serde_json::to_value(config).unwrap();
        for part in path.split('.') {
            value = value.get(part).cloned().unwrap_or(serde_json::Value::Null);
        }
        value
    }

    #[test]
    fn every_field_of_config_is_a_row_of_the_table() {
        let value = serde_json::to_value(Config::default()).unwrap();
        let mut leaves = Vec::new();
        collect(&value, String::new(), &mut leaves);
        let rows = rows();
        for leaf in leaves {
            assert!(
                rows.iter().any(|r| r.field == leaf) || OTHER.iter().any(|o| o.field == leaf),
                "Config field `{leaf}` is not in the settings table (src/settings.rs)"
            );
        }
    }

    /// The paths of the settings in a serialised `Config` (a `Duration` is one setting).
    fn collect(value: &serde_json::Value, path: String, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map)
                if !(map.contains_key("secs") && map.contains_key("nanos")) =>
            {
                for (key, inner) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    collect(inner, path, out);
                }
            }
            _ => out.push(path),
        }
    }
}
