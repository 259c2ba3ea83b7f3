//! The rule registry: every detection the scanner can make, with a stable id, a default
//! severity and verdict, a one-paragraph explanation and a fix.
//!
//! Ids are never reused or renumbered. `quarantine rules` and `quarantine explain ID` print this
//! table, and the README's rule section is kept in step with it by a test.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::finding::{Implies, Severity};

macro_rules! rules {
    ($(
        $variant:ident => {
            code: $code:literal,
            name: $name:literal,
            severity: $severity:ident,
            implies: $implies:ident,
            summary: $summary:literal,
            explanation: $explanation:literal,
            remediation: $remediation:literal $(,)?
        }
    ),* $(,)?) => {
        /// A stable rule identifier such as `PKL001`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $($variant),*
        }

        impl RuleId {
            /// Every rule, in registry order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant),*];

            pub fn info(self) -> &'static Rule {
                match self {
                    $(RuleId::$variant => &Rule {
                        id: RuleId::$variant,
                        code: $code,
                        name: $name,
                        severity: Severity::$severity,
                        implies: Implies::$implies,
                        summary: $summary,
                        explanation: $explanation,
                        remediation: $remediation,
                    }),*
                }
            }
        }
    };
}

/// Everything the registry knows about one rule.
#[derive(Debug)]
pub struct Rule {
    pub id: RuleId,
    /// The stable id printed in reports (`PKL001`).
    pub code: &'static str,
    /// A short kebab-case name (`pickle-denied-global`).
    pub name: &'static str,
    pub severity: Severity,
    pub implies: Implies,
    pub summary: &'static str,
    pub explanation: &'static str,
    pub remediation: &'static str,
}

impl RuleId {
    pub fn code(self) -> &'static str {
        self.info().code
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown rule id `{0}` (run `quarantine rules` for the list)")]
pub struct UnknownRule(String);

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|id| id.code().eq_ignore_ascii_case(s) || id.info().name == s)
            .ok_or_else(|| UnknownRule(s.to_owned()))
    }
}

/// The rule a finding cites: a built-in rule of the registry, or a signature (YARA) rule,
/// printed `YAR:<namespace>.<rule>`. Both serialise to their printed id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleRef {
    Builtin(RuleId),
    /// The printed id, `YAR:<namespace>.<rule>` (neither part contains a `.`).
    Signature(Box<str>),
}

/// The prefix of signature rule ids.
pub const SIGNATURE_PREFIX: &str = "YAR:";

impl RuleRef {
    pub fn signature(namespace: &str, rule: &str) -> Self {
        RuleRef::Signature(format!("{SIGNATURE_PREFIX}{namespace}.{rule}").into_boxed_str())
    }

    /// The printed id (`PKL001`, `YAR:shells.bash_dev_tcp`).
    pub fn code(&self) -> &str {
        match self {
            RuleRef::Builtin(id) => id.code(),
            RuleRef::Signature(code) => code,
        }
    }

    pub fn builtin(&self) -> Option<RuleId> {
        match self {
            RuleRef::Builtin(id) => Some(*id),
            RuleRef::Signature(_) => None,
        }
    }
}

impl From<RuleId> for RuleRef {
    fn from(id: RuleId) -> Self {
        RuleRef::Builtin(id)
    }
}

impl PartialEq<RuleId> for RuleRef {
    fn eq(&self, other: &RuleId) -> bool {
        self.builtin() == Some(*other)
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for RuleRef {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix(SIGNATURE_PREFIX) {
            Some(rest) => match rest.split_once('.') {
                Some((ns, rule)) if !ns.is_empty() && !rule.is_empty() && !rule.contains('.') => {
                    Ok(RuleRef::signature(ns, rule))
                }
                _ => Err(UnknownRule(s.to_owned())),
            },
            None => s.parse().map(RuleRef::Builtin),
        }
    }
}

impl Serialize for RuleRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for RuleRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

rules! {
    PickleDeniedGlobal => {
        code: "PKL001",
        name: "pickle-denied-global",
        severity: Critical,
        implies: Malicious,
        summary: "Pickle imports a callable that can run code, touch files or the network",
        explanation: "Loading a pickle imports every global it names and calls whatever REDUCE, INST, OBJ or NEWOBJ tell it to. This pickle names a global on the deny list in signatures/pickle-imports.toml: an interpreter entry point (eval, exec, compile, __import__, getattr), a process or shell API (os.system, subprocess), file-system or network access, native code loading, or an indirection helper that reaches those. Merely loading the file runs it; no model needs it.",
        remediation: "Do not load this file. If it came from a trusted source, re-export the weights to safetensors from a clean environment; if not, report it to whoever published it.",
    },
    PickleUnknownGlobal => {
        code: "PKL002",
        name: "pickle-unknown-global",
        severity: Medium,
        implies: Suspicious,
        summary: "Pickle imports a global that is neither known-safe nor known-dangerous",
        explanation: "Every global a pickle names is imported and may be called at load time. This one is on neither the allow list nor the deny list in signatures/pickle-imports.toml, so the scanner cannot vouch for what it does. Many are harmless classes of libraries we have not catalogued; some are gadgets that reach code execution through a side door.",
        remediation: "Check what the named callable does when called with the evidence's arguments. If it is a benign class your models use, allow it with `--allow-global module.name`; otherwise treat the file as untrusted and convert it to safetensors.",
    },
    PickleMalformed => {
        code: "PKL003",
        name: "pickle-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "Pickle stream is truncated, broken or uses an unknown opcode",
        explanation: "The stream stops in the middle of an opcode, uses an opcode that does not exist, or applies one to operands it cannot take. Python's unpickler executes opcodes as it reads them, so everything before the break still runs when the file is loaded; a deliberately broken tail is a known trick to make scanners give up while the payload at the start executes. Every finding before the break is kept.",
        remediation: "Treat the file as untrusted. A file written by a real library is never malformed; re-download it, check its published hash, or ask the publisher for a safetensors export.",
    },
    PickleTrailingData => {
        code: "PKL004",
        name: "pickle-trailing-data",
        severity: Low,
        implies: Suspicious,
        summary: "Bytes follow the last pickle stream and belong to no known layout",
        explanation: "After the final STOP opcode there are bytes that are neither another pickle nor part of a known layout (legacy PyTorch storages, joblib inline arrays). Loaders that read several pickles in a row, or other formats that look at the end of the file, may interpret them; a second reading of the same file is how polyglot attacks hide payloads.",
        remediation: "Find out what wrote the extra bytes. Strip them, or re-export the model from a clean environment.",
    },
    PickleLimitExceeded => {
        code: "PKL005",
        name: "pickle-limit-exceeded",
        severity: Medium,
        implies: Suspicious,
        summary: "Pickle exceeds an analysis limit (stack, memo, string size, opcode count or nesting)",
        explanation: "The stream grew the stack, the memo or a string beyond the scanner's bounds, or nests pickles deeper than it follows. The scanner stops interpreting rather than risk running out of memory, so the rest of the stream was not analysed. Benign checkpoints stay far below these limits.",
        remediation: "Treat the file as unverified. If it is genuinely this large, raise the limit and scan again.",
    },
    PickleGlobalMutation => {
        code: "PKL006",
        name: "pickle-global-mutation",
        severity: High,
        implies: Malicious,
        summary: "Pickle overwrites attributes of an imported module or class",
        explanation: "BUILD (or SETITEM/SETITEMS) is applied to a global itself rather than to an instance made from it. Setting state on a module or class replaces its attributes for the whole process: a later import of an innocent-looking name then resolves to whatever the pickle planted (for example builtins.eval behind torch._utils._rebuild_tensor). No library writes pickles like this.",
        remediation: "Do not load this file; it is built to defeat allow-list scanners.",
    },
    PickleDynamicCall => {
        code: "PKL007",
        name: "pickle-dynamic-call",
        severity: High,
        implies: Suspicious,
        summary: "Pickle calls something that is not a plain import",
        explanation: "REDUCE, OBJ or NEWOBJ is applied to a value that is the result of another call (for example getattr(module, 'name')(...)), or to a value the scanner cannot resolve statically. Calling call results is how payloads reach a dangerous function without naming it as a global.",
        remediation: "Read the evidence to see what is called; treat the file as untrusted unless the call is understood.",
    },
    PickleUnresolvableImport => {
        code: "PKL008",
        name: "pickle-unresolvable-import",
        severity: High,
        implies: Suspicious,
        summary: "Pickle builds an import whose module or name cannot be determined",
        explanation: "STACK_GLOBAL takes its module and name from the stack; here they are not plain strings (a number, a missing memo entry, the result of a call). Python's unpickler would fail or import something a scanner cannot name. Files crafted like this exist to crash or confuse scanners while an earlier opcode does the damage.",
        remediation: "Treat the file as untrusted; no library writes pickles like this.",
    },
    PickleExtensionCode => {
        code: "PKL009",
        name: "pickle-extension-code",
        severity: Medium,
        implies: Suspicious,
        summary: "Pickle imports through the copyreg extension registry (EXT1/EXT2/EXT4)",
        explanation: "EXT opcodes import whatever global the loading process registered under a number with copyreg.add_extension. The scanner cannot know that registry, so the import is unnamed. Standard libraries do not register extension codes.",
        remediation: "Treat the file as untrusted unless you know which process registers the code and what it maps to.",
    },
    PickleStagedPayload => {
        code: "PKL012",
        name: "pickle-staged-payload",
        severity: High,
        implies: Suspicious,
        summary: "A pickle is carried as data (raw, or base64/base85/hex/compressed), a second stage for code that unpickles it",
        explanation: "A value inside the file (a bytes or string entry of a state dict, a metadata string, an ONNX attribute) is itself a pickle stream, directly or after decoding layers such as base64, hex, base85, zlib, gzip, bz2 or LZMA. Loading the file does not run it, so the artifact is not malicious by itself; but any application code that unpickles the value (a training script's `pickle.loads(ckpt['extra'])`, a plugin reading metadata) runs whatever the carried pickle calls. The carried pickle is analysed as a member of its own (the location's chain names the value and each decoding step), and its findings are capped at suspicious. This finding is high when the carried pickle imports or calls anything its own loading would flag; when it holds only allowed content it is an info note.",
        remediation: "Find out which code reads the value and why it is a pickle. Do not unpickle it; store plain data (JSON, safetensors tensors) instead, or remove the value and re-export the model from a clean environment.",
    },
    NumpyMalformed => {
        code: "NPY001",
        name: "numpy-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "NumPy .npy header is malformed or does not match the data",
        explanation: "The .npy magic is present but the header is truncated, not a Python literal dict, names an unknown dtype, or declares more data than the file holds. numpy refuses such files, so nothing benign writes them; scanners that trust the header can be steered past an object-array payload.",
        remediation: "Re-export the array with numpy.save from a clean environment.",
    },
    TorchLayoutMismatch => {
        code: "TRC001",
        name: "torch-layout-mismatch",
        severity: Low,
        implies: Suspicious,
        summary: "Legacy PyTorch file does not follow the layout torch.save writes",
        explanation: "A legacy (non-zip) PyTorch file is five pickles in a row (magic number, protocol version, system info, the object, storage keys) followed by each storage's raw bytes. Here the sequence or the storage bytes do not match, so part of the file is not what torch.load expects to read.",
        remediation: "Re-save the checkpoint with a current torch.save, or better, export it to safetensors.",
    },
    TorchScriptCustomOp => {
        code: "TRC002",
        name: "torchscript-custom-op",
        severity: Medium,
        implies: Suspicious,
        summary: "TorchScript code calls operators from a namespace PyTorch does not ship",
        explanation: "TorchScript code calls `torch.ops.<namespace>.<op>`; operators outside aten, prim, quantized and the namespaces of PyTorch's own domain libraries exist only when a native library registers them (`torch.ops.load_library`) before the model is loaded. The model's behaviour then depends on native code that is not in the archive.",
        remediation: "Find the library that provides the namespace and review it before loading the model.",
    },
    UnknownFormat => {
        code: "FMT001",
        name: "unknown-format",
        severity: Low,
        implies: Suspicious,
        summary: "Binary content of a format the scanner does not recognise",
        explanation: "The file's bytes match no format the scanner can analyse (pickle, PyTorch, NumPy, joblib, zip, tar, 7z, compressed streams, text). Detection is by content, never by name, so a renamed or unknown format cannot be vouched for.",
        remediation: "Check what the file really is. If it is a format you need scanned, open an issue with a sample.",
    },
    ExtensionMismatch => {
        code: "FMT002",
        name: "extension-mismatch",
        severity: Medium,
        implies: Suspicious,
        summary: "File name promises a data-only format but the content can run code",
        explanation: "The extension names a format that cannot execute code when loaded (safetensors, ONNX, GGUF, plain .npy, JSON), but the content is a pickle or an archive holding one. Tools that pick a loader by extension, or reviewers who trust the name, are misled; the file executes code with the loader that really reads it.",
        remediation: "Rename the file to what it is and treat it by its content; better, convert it to the format its name promises.",
    },
    Polyglot => {
        code: "FMT003",
        name: "polyglot",
        severity: High,
        implies: Suspicious,
        summary: "File is valid as more than one format",
        explanation: "The bytes read as one format from the start and as another from the end (for example a pickle at offset 0 and a zip found through its end-of-central-directory record). Loaders choose differently: torch.load opens anything zipfile accepts as a zip, pickle.load reads from the first byte. A scanner that checks one reading misses the other. Every reading was analysed; the polyglot itself serves only to deceive.",
        remediation: "Do not load the file; a model written by a real library has exactly one reading.",
    },
    FormatNotAnalysed => {
        code: "FMT005",
        name: "format-not-analysed",
        severity: Low,
        implies: Suspicious,
        summary: "Recognised model format whose content is not analysed yet",
        explanation: "The file is a format the scanner recognises (GGUF, HDF5/Keras) but does not yet analyse in depth. These formats can carry code that runs at load time (Keras Lambda layers hold marshalled Python; GGUF chat templates are rendered by a template engine), so the scanner cannot vouch for the file.",
        remediation: "Review the file by other means, or accept the risk explicitly with `--fail-on malicious`.",
    },
    EmptyFile => {
        code: "FMT004",
        name: "empty-file",
        severity: Info,
        implies: Clean,
        summary: "File is empty",
        explanation: "A zero-byte file carries no code and no data. It is reported so that an empty model file in a registry (a failed upload or download) is noticed.",
        remediation: "Nothing to fix for safety; check the upload if a model was expected here.",
    },
    AnalysisTimeExceeded => {
        code: "FMT006",
        name: "analysis-time-exceeded",
        severity: High,
        implies: Suspicious,
        summary: "Analysis stopped when the artifact's time budget ran out",
        explanation: "Every artifact has a time budget (`--timeout`, `[limits] timeout`, 600 seconds by default) for unpacking, parsing and interpreting it. Inputs can be built to make a scanner slow (nested archives, slow codecs, pickles of hundreds of millions of opcodes) so that a pipeline hangs or gives up; the scanner stops where the budget runs out, keeps what it found, and reports this. Whatever was not reached was not analysed.",
        remediation: "Treat the artifact as unverified. If it is genuinely this large or slow to read, raise `--timeout` and scan again.",
    },
    SafetensorsMalformedHeader => {
        code: "SFT001",
        name: "safetensors-malformed-header",
        severity: Medium,
        implies: Suspicious,
        summary: "safetensors header is too large, truncated, not UTF-8 JSON, or names an unknown dtype",
        explanation: "A safetensors file starts with an 8-byte header length and a JSON header that describes every tensor. This one cannot be read the way loaders read it: the length is absurd or runs past the file, the JSON is broken, or a field has the wrong type. Loaders refuse the file; a scanner that trusts the header length can be made to allocate terabytes.",
        remediation: "Re-export the weights with the safetensors library from a clean environment.",
    },
    SafetensorsBadLayout => {
        code: "SFT002",
        name: "safetensors-bad-layout",
        severity: High,
        implies: Suspicious,
        summary: "safetensors tensors overlap, leave gaps, run out of bounds, mismatch their shape, or repeat a name",
        explanation: "Each tensor's data_offsets must cover exactly shape × dtype size bytes, tensors must tile the data region without overlaps or gaps, and names must be unique. Violations mean two readers can see different weights in the same file (a duplicate name is kept silently by one JSON reader and dropped by another), or that the header was edited by hand.",
        remediation: "Treat the file as tampered with; re-export it with the safetensors library.",
    },
    SafetensorsTrailingData => {
        code: "SFT003",
        name: "safetensors-trailing-data",
        severity: Medium,
        implies: Suspicious,
        summary: "Bytes follow the last tensor of a safetensors file",
        explanation: "Loaders read only the tensors the header describes and ignore anything after them, so extra bytes ride along unseen: an appended pickle or archive is a second reading of the file that another tool may load. The trailing bytes were analysed as content of their own.",
        remediation: "Strip the extra bytes or re-export the weights with the safetensors library.",
    },
    ArchiveCorrupt => {
        code: "ARC001",
        name: "archive-corrupt",
        severity: Medium,
        implies: Suspicious,
        summary: "Archive or compressed stream is truncated or corrupt",
        explanation: "The container cannot be read to the end: a truncated stream, a broken header, a member whose data runs past the file. Members that could be read were analysed; the rest were not, and lenient loaders may still read them.",
        remediation: "Re-download the file and check its published hash; do not load a damaged archive.",
    },
    ArchiveCrcMismatch => {
        code: "ARC002",
        name: "archive-crc-mismatch",
        severity: High,
        implies: Suspicious,
        summary: "Archive member's CRC does not match its data",
        explanation: "The member's bytes were changed after its checksum was computed. Strict readers (Python's zipfile) refuse it, but PyTorch's loader does not check CRCs, so scanners built on a strict reader skip exactly the member the model loader executes. The member was analysed anyway.",
        remediation: "Treat the file as tampered with; obtain the model again from its publisher.",
    },
    ArchiveHeaderMismatch => {
        code: "ARC003",
        name: "archive-header-mismatch",
        severity: High,
        implies: Suspicious,
        summary: "Zip local header and central directory disagree",
        explanation: "A member's name, size or compression method in its local file header differs from the central directory entry. Different readers trust different copies, so a scanner and a loader can see different files under the same name. Both readings were analysed.",
        remediation: "Treat the file as tampered with; re-create the archive with a standard tool.",
    },
    ArchiveEncryptedMember => {
        code: "ARC004",
        name: "archive-encrypted-member",
        severity: Low,
        implies: Suspicious,
        summary: "Archive member is encrypted and cannot be inspected",
        explanation: "The member is encrypted, so its content cannot be analysed without the password. Model loaders do not decrypt members, but a pipeline that unpacks with a password would receive content nobody has checked.",
        remediation: "Scan the decrypted content, or distribute the model unencrypted with a published hash.",
    },
    ArchiveLimitExceeded => {
        code: "ARC005",
        name: "archive-limit-exceeded",
        severity: Medium,
        implies: Suspicious,
        summary: "Archive exceeds an unpacking limit (size, ratio, member count, depth, path length)",
        explanation: "Unpacking stopped at a limit of the secure zone: the declared or actual unpacked size, the compression ratio, the number of members, the nesting depth or a path length. This is how decompression bombs take scanners down so a pipeline times out open. What was read before the limit was analysed; the rest was not.",
        remediation: "If the archive is genuinely this large, raise the limit with the matching flag and scan again; otherwise treat it as hostile.",
    },
    ArchiveUnsafePath => {
        code: "ARC006",
        name: "archive-unsafe-path",
        severity: High,
        implies: Malicious,
        summary: "Archive member path is absolute or climbs out with `..`",
        explanation: "A member's name is an absolute path or contains `..` components, so extracting the archive writes outside the target directory (\"zip slip\"): overwriting shell start-up files, SSH keys or site-packages. No model archive needs such a name. The scanner never writes it anywhere.",
        remediation: "Do not extract this archive. Re-create it with relative member names.",
    },
    ArchiveLinkMember => {
        code: "ARC007",
        name: "archive-link-member",
        severity: Medium,
        implies: Suspicious,
        summary: "Archive contains a symbolic link, hard link or device file",
        explanation: "Links inside an archive can point anywhere on the machine that extracts it (a model file that is really /etc/passwd or ~/.aws/credentials, or a later member written through the link). Device files have no place in a model. The scanner never creates or follows them.",
        remediation: "Replace links with the files they point to, and remove device entries.",
    },
    ArchiveDuplicateMember => {
        code: "ARC008",
        name: "archive-duplicate-member",
        severity: Medium,
        implies: Suspicious,
        summary: "Archive contains two members with the same name",
        explanation: "Readers disagree on which copy wins: one takes the first, another the last. A scanner can check a benign copy while the loader reads a malicious one. Every copy was analysed.",
        remediation: "Re-create the archive so that every name is unique.",
    },
    ArchiveFlagAnomaly => {
        code: "ARC009",
        name: "archive-flag-anomaly",
        severity: Medium,
        implies: Suspicious,
        summary: "Zip member sets general-purpose flag bits that standard writers do not use",
        explanation: "The member sets flag bits (encryption without an encryption header, compressed patched data, strong encryption) that make strict readers such as Python's zipfile refuse it, while PyTorch's reader ignores them and loads the member. Setting them on a model file serves only to blind scanners. The member was analysed anyway.",
        remediation: "Treat the file as tampered with; re-create the archive with a standard tool.",
    },
    ArchiveRecovered => {
        code: "ARC010",
        name: "archive-recovered",
        severity: Medium,
        implies: Suspicious,
        summary: "Zip central directory is unusable; members were recovered from local headers",
        explanation: "The archive's central directory is missing or broken, so a strict reader sees nothing inside it. Lenient readers still find members by their local headers, so the scanner walked those headers itself and analysed every member it found.",
        remediation: "Treat the file as damaged or tampered with; obtain it again from its publisher.",
    },
    ArchiveReadersDisagree => {
        code: "ARC011",
        name: "archive-readers-disagree",
        severity: High,
        implies: Suspicious,
        summary: "Two loaders read the same archive differently",
        explanation: "Archive formats leave room for more than one reading: a zip's central directory can be located from the end record's stated offset (miniz, which PyTorch uses) or computed back from the end record (Python's zipfile); an earlier end record can describe another directory; a tar directory entry's size is skipped by one reader and read as the next header by Python's tarfile. Here two readers both accept the file but see different members, or one refuses what the other loads. A scanner built on one reader is blind to what the other loads. Every member of every reading was analysed; the finding names both readings.",
        remediation: "Do not load the file; an archive written by a real library has one reading. Re-create it with a standard tool.",
    },
    OnnxMalformed => {
        code: "ONX001",
        name: "onnx-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "ONNX model does not decode as a ModelProto, or has no graph",
        explanation: "The file starts like an ONNX ModelProto but the protobuf inside is broken (a truncated field, a wrong wire type, invalid UTF-8 in a string) or the model has no graph at all. ONNX Runtime refuses such a file, so nothing benign writes it; a scanner that gives up on it must not call it clean.",
        remediation: "Re-export the model with the onnx library from a clean environment.",
    },
    OnnxExternalDataEscape => {
        code: "ONX002",
        name: "onnx-external-data-escape",
        severity: Critical,
        implies: Malicious,
        summary: "ONNX tensor reads its data from a path outside the model's directory",
        explanation: "A tensor's external data `location` is an absolute path, climbs out with `..`, or resolves (through a symbolic link) outside the directory the model was loaded from. ONNX Runtime and the onnx library read the named file into the tensor at load time, so loading the model reads an arbitrary file of the loading machine (SSH keys, cloud credentials) into weights that the model's outputs can then leak. No exported model needs it. The scanner never opens the path.",
        remediation: "Do not load the model. External data files belong next to the model, named by relative paths without `..`; re-export it with `onnx.save_model(..., save_as_external_data=True)`.",
    },
    OnnxExternalDataInvalid => {
        code: "ONX003",
        name: "onnx-external-data-invalid",
        severity: Medium,
        implies: Suspicious,
        summary: "ONNX external data names a missing file or a range outside it",
        explanation: "A tensor's external data points at a file that does not exist next to the model, at something that is not a regular file, or at an offset and length that run past the file's end, or its fields are not numbers. The loader fails or reads something other than what was published; a model moved without its data files also shows this.",
        remediation: "Fetch the model together with its external data files, or re-export it; check that every `location` names a file in the model's directory.",
    },
    OnnxPythonOperator => {
        code: "ONX004",
        name: "onnx-python-operator",
        severity: High,
        implies: Suspicious,
        summary: "ONNX node runs Python code registered by the host, or carries source code",
        explanation: "The node is a Python operator (ONNX Runtime's `PyOp`, an onnxruntime-extensions `Py*` operator registered with `@onnx_op`), or a string attribute holds Python source or names a module and class to import. Running the model calls into Python in the loading process, with whatever that code does. The code found was handed to the signature rules, which decide whether it is malicious.",
        remediation: "Run the model only where the Python operator's implementation is known and reviewed; otherwise export the computation with standard ONNX operators.",
    },
    OnnxCustomDomain => {
        code: "ONX005",
        name: "onnx-custom-domain",
        severity: Medium,
        implies: Suspicious,
        summary: "ONNX model uses operators from a non-standard domain",
        explanation: "The model's nodes use operators outside the standard ONNX domains (`ai.onnx`, `ai.onnx.ml`, the training domains) and ONNX Runtime's documented `com.microsoft` contrib operators. The runtime can only run them after loading a custom operator library, native code that runs with the full rights of the loading process; the model tells whoever loads it to go and find such a library.",
        remediation: "Check which library implements the listed operators and where it comes from before loading it; prefer models exported with standard operators.",
    },
    OnnxBadOpset => {
        code: "ONX006",
        name: "onnx-bad-opset",
        severity: Low,
        implies: Suspicious,
        summary: "ONNX model imports no operator set, the same one twice, or an absurd version",
        explanation: "Every ONNX model must import the operator sets it uses, once each, at versions that exist. A missing import, a domain imported twice with different versions, or a version below 1 or far beyond any release (or an absurd IR version) is not something an exporter writes; it makes runtimes disagree on which operator a node means.",
        remediation: "Re-export the model with a current exporter and check its opset_import.",
    },
    OnnxLimitExceeded => {
        code: "ONX007",
        name: "onnx-limit-exceeded",
        severity: Medium,
        implies: Suspicious,
        summary: "ONNX model exceeds an analysis limit (size, nodes, initializers, subgraph nesting)",
        explanation: "The model is larger than the scanner decodes, has more nodes or initializers than it walks, or nests subgraphs (If/Loop/Scan bodies) deeper than it follows: recursion bombs of nested graphs exist to exhaust parsers. The part beyond the limit was not analysed.",
        remediation: "If the model is genuinely this large, raise the limit (`--max-onnx-bytes`, `--max-onnx-nodes`) and scan again; otherwise treat it as hostile.",
    },
    SafetensorsShardEscape => {
        code: "SFT004",
        name: "safetensors-shard-escape",
        severity: High,
        implies: Malicious,
        summary: "Sharded checkpoint index names a shard outside its directory",
        explanation: "A `*.safetensors.index.json` maps tensors to shard files through `weight_map`. Here a shard is an absolute path, climbs out with `..`, or resolves through a symbolic link outside the checkpoint's directory. Loaders join the name to the directory and read whatever file it names, so loading the checkpoint reads files of the loading machine into the model.",
        remediation: "Do not load the checkpoint; shard names are plain file names next to the index. Re-save it with `save_pretrained`.",
    },
    SafetensorsShardMissing => {
        code: "SFT005",
        name: "safetensors-shard-missing",
        severity: Low,
        implies: Suspicious,
        summary: "Sharded checkpoint index names a shard that does not exist",
        explanation: "The index's `weight_map` names a shard file that is not in the checkpoint's directory (or is not a regular file), or the index is not the JSON object loaders expect. The checkpoint cannot be loaded as published, and the weights a loader would read were not scanned.",
        remediation: "Download the checkpoint with all its shards, or re-save it with `save_pretrained`.",
    },
    ProbeNonFiniteWeights => {
        code: "PRB001",
        name: "probe-non-finite-weights",
        severity: Low,
        implies: Clean,
        summary: "NaN or infinite values are spread through a weight matrix",
        explanation: "Where non-finite values sit decides what they mean. `±inf` in a scalar or small constant (the bounds of a `Clip`, a padding value, the open ends of a vector of bucket edges), in a mask (one finite value and infinities of one sign, such as an attention mask of 0 and `-inf`), and NaN in a data array (a missing feature) are normal and get no finding; the report counts them anyway. This finding is for NaN or infinity inside a weight matrix, which no working training run saves: one such value poisons every activation it touches, so a planted NaN crashes inference or silently zeroes a layer. It is an integrity note, not evidence of code execution, so it leaves the artifact clean; a pipeline that wants to refuse such weights can check the JSON report's `robustness.grade` for `tampered`.",
        remediation: "Do not deploy the weights; obtain them again from the publisher and compare hashes.",
    },
    ProbeWeightOutliers => {
        code: "PRB002",
        name: "probe-weight-outliers",
        severity: Medium,
        implies: Suspicious,
        summary: "A tensor holds values absurdly far from the rest of its values",
        explanation: "The tensor has values more than 10,000 scaled median absolute deviations from its median (a robust z-score that one planted value cannot mask). Trained weights have heavy tails, but not this heavy: such a value dominates every output it feeds, which is how a swapped or edited weight shows. The probe read the values without running the model.",
        remediation: "Compare the tensor with the publisher's original; re-export the weights from a trusted checkpoint.",
    },
    ProbeBrittleModel => {
        code: "PRB003",
        name: "probe-brittle-model",
        severity: Medium,
        implies: Suspicious,
        summary: "Input perturbations too small to notice flip the model's answers more often than the gate allows",
        explanation: "The behaviour probe ran the model (without its code, on its weights) on seeded inputs and searched for small perturbations (FGSM and PGD, L-infinity, 4/255 of the input range) that change the predicted class. Robustness is a figure the report always shows; it becomes this finding only when a gate is set (`--probe-gate RATE` or the policy's `[probe] gate_max_flip_rate`), because almost every model not trained adversarially is brittle by this measure. Here more answers flipped than the gate allows, far more than random noise of the same size flips: an attacker who controls the model's inputs controls its answers. The report's robustness section has the figures per epsilon.",
        remediation: "Do not deploy the model where inputs can be adversarial; retrain with adversarial training or a larger margin, or raise the gate knowingly.",
    },
    ProbeRefused => {
        code: "PRB004",
        name: "probe-refused",
        severity: Medium,
        implies: Suspicious,
        summary: "The model's declared shapes need more memory than any real model",
        explanation: "Before allocating anything, the probe works out from the declared shapes how much memory running the model needs. A model larger than the probe's limit is run on fewer samples, or not probed (and the report says why); this finding is for shapes that need more than 64 GiB for a single sample, or an operation whose output would be that absurd: shapes crafted to exhaust the memory of whatever loads the model. Nothing was allocated.",
        remediation: "Check the declared shapes against the model's documented architecture.",
    },
    ProbeSkipped => {
        code: "PRB005",
        name: "probe-skipped",
        severity: Low,
        implies: Suspicious,
        summary: "The robustness probe was required but could not run",
        explanation: "With --probe require, an artifact the probe cannot test is not accepted: its format has no tensors the probe can read yet, its model is not one the probe can run, or the probe's time budget ran out. The robustness section says why.",
        remediation: "Use --probe auto to accept untested artifacts, or convert the model to a format the probe reads (safetensors).",
    },
    SignatureScanIncomplete => {
        code: "YAR001",
        name: "signature-scan-incomplete",
        severity: Medium,
        implies: Suspicious,
        summary: "Signature (YARA) scan of the artifact did not finish within its time budget",
        explanation: "Every piece of content the analysers extract (pickle call arguments, text members, small files, and with --deep the raw bytes) is matched against the signature rules. This artifact used up the per-artifact time budget, or the signature engine stopped with an error, so some content was never matched. A rule that is catastrophically slow on crafted input, or a multi-gigabyte extract, is how this happens; what was matched before the stop is reported.",
        remediation: "Raise the budget with `--signature-timeout` and scan again, or find the slow rule with `quarantine rules --check`.",
    },
    KerasLambda => {
        code: "KRS001",
        name: "keras-lambda",
        severity: Medium,
        implies: Suspicious,
        summary: "Keras Lambda layer carries marshalled Python bytecode",
        explanation: "A Lambda layer (or a `__lambda__` function object anywhere in the configuration) stores its Python function as marshalled bytecode, which Keras rebuilds and runs when the model is loaded with safe mode off (and which older Keras versions ran regardless). The scanner decodes the code object without running it and lists the names and constants it uses; nothing in it reaches the host by name, but bytecode can still do anything its author wrote.",
        remediation: "Replace the Lambda with a registered custom layer whose code you review and ship as source, or rebuild the model without it. Never load the file with safe_mode=False unless you wrote it.",
    },
    KerasLambdaHostCall => {
        code: "KRS002",
        name: "keras-lambda-host-call",
        severity: Critical,
        implies: Malicious,
        summary: "Keras Lambda code calls process, network, file or code-execution functions",
        explanation: "The marshalled bytecode of a Lambda layer names functions or modules that run programs (`os.system`, `subprocess`), open connections (`socket`, `urlopen`), write or read host files (`open`), or run further code (`exec`, `eval`, `__import__`, `enable_unsafe_deserialization`); a legacy Lambda can also name such a function directly through its `module` and `function` fields. Loading the model runs it (CVE-2024-3660).",
        remediation: "Do not load the model. If it came from a trusted source, ask for a version without Lambda layers.",
    },
    KerasForeignModuleHostCall => {
        code: "KRS003",
        name: "keras-foreign-module-host-call",
        severity: Critical,
        implies: Malicious,
        summary: "Keras configuration makes Keras import a host-calling function from outside Keras",
        explanation: "Keras resolves every serialised object through its `module` and `class_name` with importlib. A configuration entry naming a module outside the Keras packages together with a function that runs programs, opens connections, touches files or runs code (`os.system`, `subprocess.Popen`, `builtins.exec`) makes loading the model call it with arguments from the configuration, safe mode or not in affected versions (CVE-2025-1550).",
        remediation: "Do not load the model; upgrade Keras to a version that restricts modules in safe mode (3.9 or later).",
    },
    KerasForeignModule => {
        code: "KRS004",
        name: "keras-foreign-module",
        severity: Medium,
        implies: Suspicious,
        summary: "Keras configuration imports a module from outside the Keras packages",
        explanation: "An entry's `module` is not part of keras, keras_hub, keras_nlp, keras_cv or tf_keras, so loading the model imports third-party (or attacker-chosen) code. Custom layers are normally registered objects (`registered_name`) resolved without importing arbitrary modules.",
        remediation: "Check that the module is a package you trust and have installed on purpose; prefer registered custom objects.",
    },
    KerasGadget => {
        code: "KRS005",
        name: "keras-gadget",
        severity: Critical,
        implies: Malicious,
        summary: "Keras configuration reaches a Keras function that disables safe mode or touches files",
        explanation: "A configuration entry inside the Keras packages names a function instead of a layer class: `keras.config.enable_unsafe_deserialization` switches safe mode off so that a later Lambda runs (CVE-2025-9906), `keras.utils.get_file` downloads a URL and writes it where the configuration says (CVE-2025-8747), and loading or saving functions read or write paths. Functional models call such an entry with arguments from `inbound_nodes` while the model is built. No ordinary model names these.",
        remediation: "Do not load the model; upgrade Keras to the latest release.",
    },
    KerasFileReference => {
        code: "KRS006",
        name: "keras-file-reference",
        severity: Low,
        implies: Suspicious,
        summary: "Keras configuration names a file or URL the loader opens",
        explanation: "A layer reads a file named in its configuration when the model is built (a `StringLookup`/`TextVectorization` vocabulary path, a `TFSMLayer` SavedModel path), or the configuration holds a URL. The path stays beside the model, but the model's behaviour depends on a file that is not part of the archive.",
        remediation: "Make sure the named file ships with the model and is reviewed too, or store the vocabulary inside the model.",
    },
    KerasFileEscape => {
        code: "KRS007",
        name: "keras-file-escape",
        severity: High,
        implies: Malicious,
        summary: "Keras layer reads a file outside the model (absolute path, `..`, URL)",
        explanation: "A layer configuration names a file by an absolute path, a path climbing out with `..`, a home directory or a URL: building the layer reads it (vocabularies: CVE-2025-12058, which reads `/etc/passwd` or fetches from the network; `TFSMLayer` loads and runs a TensorFlow graph from that path).",
        remediation: "Do not load the model; rebuild it with the vocabulary stored inside the model.",
    },
    KerasTorchModule => {
        code: "KRS008",
        name: "keras-torch-module",
        severity: Info,
        implies: Clean,
        summary: "Keras TorchModuleWrapper holds a pickled torch module",
        explanation: "Keras's torch backend saves a wrapped `torch.nn.Module` with `torch.save` inside the configuration and loads it with `torch.load(weights_only=False)`, which unpickles it. The pickle was analysed as a member of its own; its findings say whether it is safe.",
        remediation: "None needed if the nested pickle is clean.",
    },
    KerasMalformed => {
        code: "KRS009",
        name: "keras-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "Keras configuration or Lambda code could not be fully analysed",
        explanation: "Part of a Keras configuration is too deep or too large to analyse, or an embedded object is not in the encoding Keras writes. What it would do when loaded is unknown.",
        remediation: "Re-save the model with a current Keras release, or inspect it by hand.",
    },
    Hdf5Malformed => {
        code: "H5F001",
        name: "hdf5-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "HDF5 structure is broken, cyclic or over a limit",
        explanation: "The HDF5 superblock, an object header, a group's B-tree or heap, or an attribute could not be read within the file, points outside it, forms a cycle, or passes a limit on objects or sizes. The HDF5 library may read such a file differently, or not at all; the parts that were read were analysed.",
        remediation: "Re-save the file with h5py or Keras; do not load a file that arrived this way.",
    },
    Hdf5ExternalEscape => {
        code: "H5F002",
        name: "hdf5-external-escape",
        severity: High,
        implies: Malicious,
        summary: "HDF5 external link, external storage or virtual dataset reads a file outside the model",
        explanation: "HDF5 lets an object's data live in other files: an external link opens another HDF5 file, external raw storage reads a dataset's bytes from any file, and a virtual dataset maps other files' datasets. Named by an absolute path, a path climbing out with `..` or a home directory, loading the model reads that file (for instance `/etc/passwd` read into a weight and exfiltrated by the model's outputs); this is the CVE-2026-1669 class of Keras weight-loading attacks.",
        remediation: "Do not load the file; ask for a self-contained HDF5 file (no external links or storage).",
    },
    Hdf5ExternalReference => {
        code: "H5F003",
        name: "hdf5-external-reference",
        severity: Low,
        implies: Suspicious,
        summary: "HDF5 object's data lives in another file beside the model",
        explanation: "An external link, external raw storage or a virtual dataset points at a file by a relative path. The model reads a file that is not part of it; what that file holds was not checked.",
        remediation: "Ship a self-contained file (h5repack can copy external data in).",
    },
    Hdf5UserBlock => {
        code: "H5F004",
        name: "hdf5-user-block",
        severity: Low,
        implies: Suspicious,
        summary: "HDF5 user block holds content",
        explanation: "The bytes before the HDF5 superblock (the user block) are ignored by the HDF5 library but read by anything that looks at the start of the file. Content there that is a known format (a pickle, an archive) makes the file a polyglot; it was analysed as a member.",
        remediation: "Strip the user block (h5repack --block=0 or re-save) before sharing the file.",
    },
    TfMalformed => {
        code: "TFG001",
        name: "tensorflow-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "TensorFlow graph does not decode or passes a limit",
        explanation: "The protobuf of a SavedModel, MetaGraphDef or GraphDef could not be decoded, nests deeper than the limit, or holds more nodes than the limit. TensorFlow may still load it.",
        remediation: "Re-export the model with a current TensorFlow release.",
    },
    TfPythonOp => {
        code: "TFG002",
        name: "tensorflow-python-op",
        severity: Critical,
        implies: Malicious,
        summary: "TensorFlow graph calls back into Python or loads native code",
        explanation: "`PyFunc`, `PyFuncStateless` and `EagerPyFunc` call a Python function registered in the loading process by token; `LoadLibrary`-style ops load a shared object. A graph that ships such ops runs host code, or code its author placed, when executed; no exported inference graph needs them.",
        remediation: "Do not run the graph; re-export it without `tf.py_function`/`tf.numpy_function`.",
    },
    TfFileOp => {
        code: "TFG003",
        name: "tensorflow-file-op",
        severity: High,
        implies: Malicious,
        summary: "TensorFlow graph reads or writes host files",
        explanation: "Ops such as `ReadFile`, `WriteFile`, `MatchingFiles`, `DeleteFile`, `ImmutableConst` or Save/Restore ops with a constant path outside the model folder touch the host file system when the graph runs: reading `/etc/passwd` into a tensor the model returns, or overwriting files. The constant paths reaching them are the evidence.",
        remediation: "Do not run the graph; SavedModel variables are restored by the loader itself, not by file ops in the serving graph.",
    },
    TfUnusualOp => {
        code: "TFG004",
        name: "tensorflow-unusual-op",
        severity: Medium,
        implies: Suspicious,
        summary: "TensorFlow graph uses file, network-capable or unknown custom ops",
        explanation: "The graph uses ops that touch the file system with paths computed at run time, debugging/printing ops that write to files, or ops from no TensorFlow release (custom ops need a native library loaded beside the model). Their effect depends on inputs and libraries outside the file.",
        remediation: "Check where the custom op comes from, and whether the file ops are part of the model's purpose.",
    },
    TfliteMalformed => {
        code: "TFL001",
        name: "tflite-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "TFLite FlatBuffer is broken or passes a limit",
        explanation: "An offset, vector length or table in the TFLite FlatBuffer points outside the file, or a count passes a limit. The interpreter's own verifier would refuse the file, or read it differently.",
        remediation: "Re-convert the model with the TFLite converter.",
    },
    TfliteFlexOp => {
        code: "TFL002",
        name: "tflite-flex-op",
        severity: High,
        implies: Malicious,
        summary: "TFLite model runs TensorFlow ops that reach the host",
        explanation: "A Flex (select TensorFlow) op embeds a TensorFlow NodeDef that the Flex delegate runs with full TensorFlow: `PyFunc`, `ReadFile`, `WriteFile` and the other ops of TFG002/TFG003 work there as in a TensorFlow graph.",
        remediation: "Do not run the model; no converted inference model needs these ops.",
    },
    TfliteCustomOp => {
        code: "TFL003",
        name: "tflite-custom-op",
        severity: Low,
        implies: Suspicious,
        summary: "TFLite model uses custom or Flex ops",
        explanation: "Custom ops run native code registered by the application, and Flex ops run TensorFlow kernels; the model file alone does not say what that code does. MediaPipe's own custom ops are recognised and not reported.",
        remediation: "Check that the custom op's implementation comes from a library you trust.",
    },
    SkopsDeniedType => {
        code: "SKP001",
        name: "skops-denied-type",
        severity: Critical,
        implies: Malicious,
        summary: "skops schema makes the loader import a function or method that runs code, touches files or the network",
        explanation: "`skops.io.load` rebuilds the object tree described by the archive's schema.json: every node's `__module__` and `__class__` are imported with `getattr(importlib.import_module(module), name)`, an `OperatorFuncNode` takes its name from the `operator` module, and a `MethodNode` looks up `content.func` on another node's object. Here one of those names is on the pickle engine's deny list (`posix.system`, `numpy.testing` `runstring`, `operator.attrgetter`), or a method whose name reaches the host (`PosixPath.write_text`). Placed as a `FunctionTransformer`'s function it runs when the model is used; users who pass `get_untrusted_types()` as `trusted` load it without a prompt (CVE-2025-54412, CVE-2025-54413).",
        remediation: "Do not load the file, and never pass the output of `get_untrusted_types` as `trusted` unread. Ask the publisher for a file without the named function.",
    },
    SkopsUntrustedType => {
        code: "SKP002",
        name: "skops-untrusted-type",
        severity: Medium,
        implies: Suspicious,
        summary: "skops schema names a type or function that is neither known-safe nor known-dangerous",
        explanation: "A node of schema.json names a module attribute that is on neither the allow list nor the deny list of the pickle engine's import policy. skops imports it when the file is loaded with that type trusted (what `get_untrusted_types` would list); importing a module runs its top-level code, and the object is then instantiated or called.",
        remediation: "Check the named type or function. If it is one your models use on purpose, allow it with `--allow-global module.name`.",
    },
    SkopsMalformed => {
        code: "SKP003",
        name: "skops-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "skops schema is not one the scanner could read whole",
        explanation: "The schema.json of a skops archive is not JSON, names a loader skops does not have, misses a node's `__module__`/`__class__`, or is over the scanner's size or node limit. skops refuses or misreads such a file; the parts that were read were checked.",
        remediation: "Re-save the model with `skops.io.dump` from a clean environment.",
    },
    NemoDeniedTarget => {
        code: "NEM001",
        name: "nemo-denied-target",
        severity: Critical,
        implies: Malicious,
        summary: "NeMo/Hydra configuration instantiates a callable that runs code, touches files or the network",
        explanation: "NeMo restores a `.nemo` model by instantiating its `model_config.yaml` with Hydra: every `_target_` (with `_call_`/`_partial_`) anywhere in the tree is imported and called with the sibling keys as arguments. A target on the pickle engine's deny list (`os.system`, `subprocess.run`, `builtins.exec`) runs a command when the model is restored (CVE-2025-23304).",
        remediation: "Do not restore the model; upgrade NeMo to 2.3.2 or later, which checks targets, and ask the publisher for a clean file.",
    },
    NemoUnknownTarget => {
        code: "NEM002",
        name: "nemo-unknown-target",
        severity: Medium,
        implies: Suspicious,
        summary: "NeMo/Hydra configuration instantiates a class outside the known NeMo, PyTorch and Lightning names",
        explanation: "A Hydra `_target_` names a class or function that is on neither the allow list nor the deny list. Hydra imports its module (running its top-level code) and calls it with arguments from the configuration.",
        remediation: "Check the named target. If it is a class your models use on purpose, allow it with `--allow-global module.name`.",
    },
    NemoConfigMalformed => {
        code: "NEM003",
        name: "nemo-config-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "NeMo/Hydra YAML configuration could not be read whole",
        explanation: "The YAML configuration does not parse, uses YAML tags (which OmegaConf's loader refuses, and which name Python objects in unsafe loaders), expands aliases past the scanner's bound (an alias bomb), names a `_target_` that is not a string, or is over a size or depth limit. What Hydra would instantiate from it is not fully known.",
        remediation: "Re-save the configuration with OmegaConf from a clean environment.",
    },
    MsgpackMalformed => {
        code: "MSG001",
        name: "msgpack-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "MessagePack (Flax) checkpoint is truncated, inconsistent or over a limit",
        explanation: "The file starts as a msgpack map (how Flax's `to_bytes` writes model state) but a declared length or item count runs past the end, a reserved marker appears, bytes follow the value, or the nesting or value count passes the scanner's bounds. `msgpack.unpackb` refuses such data or reads it differently from a streaming reader; the part that was read was checked.",
        remediation: "Re-save the state with `flax.serialization.to_bytes` from a clean environment.",
    },
    GbmMalformed => {
        code: "GBM001",
        name: "gbm-malformed",
        severity: Medium,
        implies: Suspicious,
        summary: "Gradient-boosting model (XGBoost UBJSON, CatBoost) is truncated, inconsistent or over a limit",
        explanation: "The file starts like an XGBoost UBJSON model or a CatBoost `.cbm`, but a declared length or count runs past the end, a type marker is unknown, bytes follow the model, the model core's size or root table does not fit, or the nesting or value count passes the scanner's bounds. The library refuses such files or reads them differently; the part that was read was checked.",
        remediation: "Re-save the model with the library's own `save_model` from a clean environment.",
    },
    PickleRebuildsCode => {
        code: "PKL010",
        name: "pickle-rebuilds-code",
        severity: Medium,
        implies: Suspicious,
        summary: "Pickle rebuilds a Python function from raw code (dill, cloudpickle)",
        explanation: "dill and cloudpickle pickle functions by value: loading calls `dill._dill._create_code`/`_create_function`, or cloudpickle's `_make_function` on a `CodeType` built by `_builtin_type`, and returns a function made from the bytecode in the file. Nothing runs until the function is called, but a model that stores functions this way hands its author arbitrary code. The scanner decoded the code's names and constants statically; none reaches a process, the network, host files or further code by name.",
        remediation: "Load such files only from publishers you trust, or re-save the model without pickled functions (named, importable functions instead).",
    },
    PickleRebuiltCodeHostCall => {
        code: "PKL011",
        name: "pickle-rebuilt-code-host-call",
        severity: Critical,
        implies: Malicious,
        summary: "Pickle rebuilds a function whose code calls process, network, file or code-execution functions",
        explanation: "The code object a dill or cloudpickle pickle rebuilds names functions or modules that run programs (`os.system`, `subprocess`), open connections (`socket`, `urlopen`), write host files (`open`), or run further code (`eval`, `exec`, `__import__`, `getattr` with such a name as a constant). Calling the rebuilt function (which a model does when it runs, and a `__reduce__` or `__setstate__` can do at load time) runs it.",
        remediation: "Do not load the file; report it to whoever published it.",
    },
}

/// The README's rule reference, generated from the registry (a test keeps them in step).
pub fn markdown() -> String {
    let mut out = String::new();
    for id in RuleId::ALL {
        let rule = id.info();
        out.push_str(&format!(
            "### {} {}\n\n*Severity {}, implies {}.* {}\n\n{}\n\n**Fix:** {}\n\n",
            rule.code,
            rule.name,
            rule.severity.as_str(),
            crate::model::finding::Verdict::from(rule.implies).as_str(),
            rule.summary,
            rule.explanation,
            rule.remediation
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for id in RuleId::ALL {
            let rule = id.info();
            assert_eq!(rule.id, *id);
            assert!(codes.insert(rule.code), "duplicate code {}", rule.code);
            assert!(names.insert(rule.name), "duplicate name {}", rule.name);
            assert_eq!(rule.code.len(), 6, "{}", rule.code);
            assert!(rule.code[3..].chars().all(|c| c.is_ascii_digit()));
            assert!(!rule.explanation.is_empty() && !rule.remediation.is_empty());
        }
    }

    #[test]
    fn parses_codes_and_names() {
        assert_eq!(
            "pkl001".parse::<RuleId>().unwrap(),
            RuleId::PickleDeniedGlobal
        );
        assert_eq!(
            "archive-crc-mismatch".parse::<RuleId>().unwrap(),
            RuleId::ArchiveCrcMismatch
        );
        assert!("XYZ999".parse::<RuleId>().is_err());
    }

    #[test]
    fn rule_refs_print_and_parse_the_same() {
        for code in ["PKL001", "YAR:shells.bash_dev_tcp"] {
            let parsed: RuleRef = code.parse().unwrap();
            assert_eq!(parsed.to_string(), code);
            let json = serde_json::to_string(&parsed).unwrap();
            assert_eq!(json, format!("\"{code}\""));
        }
        assert_eq!(
            "PKL001".parse::<RuleRef>().unwrap(),
            RuleId::PickleDeniedGlobal
        );
        for bad in ["YAR:", "YAR:ns", "YAR:.r", "YAR:ns.", "YAR:a.b.c"] {
            assert!(bad.parse::<RuleRef>().is_err(), "{bad}");
        }
    }
}
