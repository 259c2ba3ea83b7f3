//! Per artifact: map the file, detect its format by content, run the matching analyser (containers
//! feed their members back through detection), and decide the verdict from the findings.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{Config, ProbeMode};
use crate::containers;
use crate::finding::{ArtifactReport, Finding, Implies, Location, MemberReport};
use crate::formats;
use crate::probe::{self, report::Robustness};
use crate::rules::{RuleId, RuleRef};
use crate::signatures::{Matcher, Signatures, Stop, Vars};
use crate::summary::{ModelReport, ModelSummary};
use crate::zone::detect::{self, Format};
use crate::zone::digest;

/// What one artifact's analysis has gathered so far.
#[derive(Debug, Default)]
struct ScanState {
    findings: Vec<Finding>,
    /// Findings listed per rule so far, and how many more were left out past the cap.
    per_rule: BTreeMap<RuleRef, (usize, u64)>,
    members: Vec<MemberReport>,
    models: Vec<ModelReport>,
    /// Size of the artifact itself.
    input_len: u64,
    /// Bytes inflated from container members so far, all nesting levels together.
    unpacked_bytes: u64,
    /// Bytes handed out as slices of data already in hand (stored members) so far.
    sliced_bytes: u64,
    /// Members opened so far, all nesting levels together.
    member_count: u64,
    /// The first failure to keep a member in `--keep-zone`, if any.
    keep_error: Option<String>,
    /// Time spent in signature scans so far.
    signature_time: Duration,
    /// A signature scan stopped (time budget, engine error): no further extract is scanned.
    signature_stopped: bool,
    robustness: Option<Robustness>,
    /// What the TorchScript archives being analysed define in their code (innermost last).
    archive_code: Vec<formats::torchscript::ArchiveCode>,
}

/// Findings of one rule listed per artifact; the rest are counted in one summary finding.
const MAX_FINDINGS_PER_RULE: usize = 256;

/// How a container member is expected to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// An ordinary file: content that matches no known format is a finding.
    File,
    /// Raw tensor storage bytes (PyTorch `data/N`): unrecognised content is expected, and
    /// only content that can carry code ([`Format::can_carry_code`]: a pickle, an archive) is
    /// analysed.
    Opaque,
}

/// The analysis context handed to every analyser: where the bytes came from, the limits in
/// force, and where findings and nested members go.
pub struct Ctx<'a> {
    config: &'a Config,
    path: &'a str,
    /// Where the analysed bytes are on disk: the artifact itself, never a member.
    disk_path: Option<&'a Path>,
    chain: Vec<String>,
    /// Format of the bytes being analysed (the `format` of their extracts).
    format: Format,
    depth: u32,
    /// Added to every reported offset: the position of the analysed bytes inside the member.
    offset_base: u64,
    state: &'a mut ScanState,
    /// Lets go of the pages of a slice of the input once it has been hashed.
    release: Release<'a>,
    /// The whole file as shareable bytes, while the bytes analysed are the whole file.
    whole: Option<&'a Bytes>,
    /// The worker thread's signature scanner, when signatures are on.
    matcher: Option<&'a mut (dyn Matcher + 'a)>,
}

/// Lends a context's scanner to a context that lives shorter.
fn lend<'b>(
    matcher: &'b mut Option<&mut (dyn Matcher + '_)>,
) -> Option<&'b mut (dyn Matcher + 'b)> {
    match matcher {
        Some(m) => Some(&mut **m),
        None => None,
    }
}

/// Extracts shorter than this hold nothing a signature could name, and are not scanned.
const MIN_EXTRACT: usize = 4;

/// Called with a slice of the input once it has been read and will not be needed soon, so that
/// a memory-mapped file's pages can leave the resident set.
type Release<'a> = &'a (dyn Fn(&[u8]) + Sync);

/// Where a piece of extracted content came from. Signature rules can condition on it (the
/// `origin` external variable), and findings on an extract name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A string or bytes argument of a call that loading a pickle would make.
    PickleCallArg,
    /// Any other string a pickle carries (attached to an unknown global, a BUILD state).
    PickleString,
    /// A string attribute of an ONNX node.
    OnnxAttribute,
    /// A `doc_string` of an ONNX model, graph, node or function.
    OnnxDocString,
    /// A `metadata_props` value of an ONNX model.
    OnnxMetadata,
    /// An element of an ONNX string tensor.
    OnnxStringTensor,
    /// A `__metadata__` value of a safetensors header.
    SafetensorsMetadata,
    /// A string a framework model carries (Keras Lambda names and constants, HDF5 attributes,
    /// TensorFlow and TFLite op attributes, TorchScript code).
    FrameworkString,
    /// A text file, or a text member of an archive (script, config, template).
    TextMember,
    /// A small file or member, whole.
    SmallFile,
    /// The raw bytes of an artifact or member (`--deep`).
    RawBytes,
}

impl Origin {
    /// The value signature rules see in `origin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::PickleCallArg => "pickle_call_arg",
            Origin::PickleString => "pickle_string",
            Origin::OnnxAttribute => "onnx_attribute",
            Origin::OnnxDocString => "onnx_doc_string",
            Origin::OnnxMetadata => "onnx_metadata",
            Origin::OnnxStringTensor => "onnx_string_tensor",
            Origin::SafetensorsMetadata => "safetensors_metadata",
            Origin::FrameworkString => "framework_string",
            Origin::TextMember => "text_member",
            Origin::SmallFile => "small_file",
            Origin::RawBytes => "raw_bytes",
        }
    }
}

/// A zone limit that an archive ran into; the caller stops unpacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit;

impl<'a> Ctx<'a> {
    pub fn config(&self) -> &Config {
        self.config
    }

    /// The file on disk the analysed bytes are, when they are a whole file (not a member of an
    /// archive, not bytes handed over in memory): what a loader resolves relative paths from.
    pub fn disk_path(&self) -> Option<&Path> {
        self.disk_path
    }

    /// `data` as [`Bytes`] that share the mapped file instead of copying it, when `data` is the
    /// whole file being analysed.
    pub fn shared(&self, data: &[u8]) -> Option<Bytes> {
        self.whole
            .filter(|w| std::ptr::eq(w.as_ptr(), data.as_ptr()) && w.len() == data.len())
            .cloned()
    }

    /// Records the summary of a model found in the bytes being analysed.
    pub fn summarise(&mut self, summary: ModelSummary) {
        let member = (!self.chain.is_empty()).then(|| self.chain.join("!"));
        self.state.models.push(ModelReport { member, summary });
    }

    /// Whether the TorchScript archive being analysed resolves `module.name` from its own code
    /// (`__torch__.*` classes its `code/` defines, `torch.jit._pickle` list builders): the
    /// pickle engine allows such globals.
    pub fn archive_defines(&self, module: &str, name: &str) -> bool {
        self.state
            .archive_code
            .last()
            .is_some_and(|code| code.defines(module, name))
    }

    /// Container nesting depth of the bytes being analysed (0 for the file itself).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Records a finding with the rule's default severity and verdict.
    pub fn report(
        &mut self,
        rule: RuleId,
        offset: Option<u64>,
        message: impl Into<String>,
        evidence: Option<String>,
    ) {
        let location = self.location(offset);
        let finding = Finding::new(rule, location, message.into(), evidence);
        self.push(finding);
    }

    /// Where the current bytes sit, with `offset` inside them.
    fn location(&self, offset: Option<u64>) -> Location {
        Location {
            path: self.path.to_owned(),
            member: (!self.chain.is_empty()).then(|| self.chain.join("!")),
            member_chain: self.chain.clone(),
            offset: offset.map(|o| o.saturating_add(self.offset_base)),
        }
    }

    fn push(&mut self, finding: Finding) {
        // The same trick repeated a thousand times is one finding for the reader, and a crafted
        // file cannot make the report (or this duplicate check) grow without bound.
        if self.state.findings.contains(&finding) {
            return;
        }
        let (listed, left_out) = self
            .state
            .per_rule
            .entry(finding.rule_id.clone())
            .or_default();
        if *listed >= MAX_FINDINGS_PER_RULE {
            *left_out += 1;
        } else {
            *listed += 1;
            self.state.findings.push(finding);
        }
    }

    /// Hands a piece of content to the signature engine: `context` says where inside the
    /// current member it sits (`posix.system argument 1`, `graph/If_0/then_branch node n3
    /// attribute code`), `offset` where it starts when known.
    ///
    /// Every rule that matches becomes a finding at the extract's location, citing the rule's
    /// meta and the matched strings (offsets inside the extract). Scans of one artifact share
    /// a time budget; when it runs out, one YAR001 finding says so and later extracts are not
    /// scanned.
    pub fn extract(&mut self, origin: Origin, context: &str, offset: Option<u64>, data: &[u8]) {
        if data.len() < MIN_EXTRACT || self.state.signature_stopped {
            return;
        }
        let Some(matcher) = self.matcher.as_deref_mut() else {
            return;
        };
        let member = match self.chain.last() {
            Some(name) => name.as_str(),
            None => Path::new(self.path)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(self.path),
        };
        let vars = Vars {
            origin: origin.as_str(),
            format: self.format.name(),
            member,
            context,
        };
        let budget = self
            .config
            .signatures
            .timeout
            .saturating_sub(self.state.signature_time);
        let started = Instant::now();
        let result = matcher.scan(vars, data, budget, self.release);
        self.state.signature_time += started.elapsed();
        if origin == Origin::RawBytes {
            // Read once more for `--deep`; its pages need not stay resident.
            (self.release)(data);
        }
        let hits = match result {
            Ok(hits) => hits,
            Err(stop) => {
                self.state.signature_stopped = true;
                let why = match stop {
                    Stop::Timeout => format!(
                        "signature scans of this artifact used up their budget of {} s",
                        self.config.signatures.timeout.as_secs_f32()
                    ),
                    Stop::Failed(e) => format!("the signature engine stopped: {e}"),
                };
                let message = format!(
                    "{why} while scanning {} ({context}, {} bytes); later content was not matched",
                    origin.as_str(),
                    data.len()
                );
                self.report(RuleId::SignatureScanIncomplete, offset, message, None);
                return;
            }
        };
        let whole = matches!(origin, Origin::SmallFile | Origin::RawBytes);
        for hit in hits {
            if whole && self.matched_inside(&hit.rule.id) {
                continue;
            }
            let location = self.location(offset);
            let finding = hit.into_finding(origin.as_str(), context, location, data.len());
            self.push(finding);
        }
    }

    /// Whether [`Ctx::extract`] would scan anything: analysers skip gathering extracts when not.
    pub fn wants_extracts(&self) -> bool {
        self.matcher.is_some() && !self.state.signature_stopped
    }

    /// Whether signature rule `id` already matched an extract of the current member.
    fn matched_inside(&self, id: &RuleRef) -> bool {
        self.state.findings.iter().any(|f| {
            &f.rule_id == id && f.signature.is_some() && f.location.member_chain == self.chain
        })
    }

    /// A context for bytes that start `by` bytes into the current ones (an embedded stream),
    /// so that offsets are reported relative to the member, not the slice.
    pub fn shifted(&mut self, by: u64) -> Ctx<'_> {
        Ctx {
            config: self.config,
            path: self.path,
            disk_path: self.disk_path,
            chain: self.chain.clone(),
            format: self.format,
            depth: self.depth,
            offset_base: self.offset_base.saturating_add(by),
            state: self.state,
            release: self.release,
            whole: None,
            matcher: lend(&mut self.matcher),
        }
    }

    /// Accounts `bytes` of member data that a container is about to inflate (allocate) against
    /// the zone's limit on unpacked bytes per artifact. Reports and returns `Err` when the
    /// limit would be passed; the container then stops.
    pub fn charge_unpacked(&mut self, member: &str, bytes: u64) -> Result<(), LimitHit> {
        self.count_member()?;
        let limit = self.config.zone.max_total_bytes;
        let total = self.state.unpacked_bytes.saturating_add(bytes);
        if total > limit {
            return Err(self.limit_hit(format!(
                "unpacking `{member}` ({bytes} bytes) would pass the limit of {limit} unpacked bytes per artifact"
            )));
        }
        self.state.unpacked_bytes = total;
        Ok(())
    }

    /// Accounts a member that is a slice of bytes already in hand (a stored zip entry, a tar
    /// member): nothing is allocated, so no per-member limit applies and a 6 GiB stored tensor
    /// is fine. What is bounded is the work of reading slices, which overlapping entries could
    /// otherwise multiply: at most the input itself plus the zone's unpacked-bytes limit.
    pub fn charge_slice(&mut self, member: &str, bytes: u64) -> Result<(), LimitHit> {
        self.count_member()?;
        let limit = self
            .config
            .zone
            .max_total_bytes
            .saturating_add(self.state.input_len);
        let total = self.state.sliced_bytes.saturating_add(bytes);
        if total > limit {
            return Err(self.limit_hit(format!(
                "reading `{member}` ({bytes} bytes) would pass the limit of {limit} bytes read from members of this artifact (overlapping members?)"
            )));
        }
        self.state.sliced_bytes = total;
        Ok(())
    }

    fn count_member(&mut self) -> Result<(), LimitHit> {
        self.state.member_count += 1;
        let limit = self.config.zone.max_members;
        if self.state.member_count > limit {
            return Err(self.limit_hit(format!(
                "more than {limit} members in one artifact; the rest were not opened"
            )));
        }
        Ok(())
    }

    fn limit_hit(&mut self, message: String) -> LimitHit {
        self.report(RuleId::ArchiveLimitExceeded, None, message, None);
        LimitHit
    }

    /// Analyses a container member (or an embedded byte string) as an input of its own: its
    /// digest is recorded, its format detected by content, and the matching analyser run.
    pub fn nested(&mut self, name: &str, data: &[u8], kind: MemberKind) {
        if !self.too_deep(name) {
            self.enter(detect::detect(data), name, data, kind);
        }
    }

    /// Like [`Ctx::nested`] with the format already decided (a second reading of the same bytes).
    fn nested_as(&mut self, format: Format, name: &str, data: &[u8], kind: MemberKind) {
        if !self.too_deep(name) {
            self.enter(format, name, data, kind);
        }
    }

    /// Reports and returns `true` when a member one level further down would pass the zone's
    /// depth limit.
    fn too_deep(&mut self, name: &str) -> bool {
        let limit = self.config.zone.max_depth;
        if self.depth < limit {
            return false;
        }
        self.report(
            RuleId::ArchiveLimitExceeded,
            None,
            format!("`{name}` is nested deeper than {limit} levels and was not analysed"),
            None,
        );
        true
    }

    /// Records the member (digest, format), keeps a copy if asked, and runs its analyser.
    fn enter(&mut self, format: Format, name: &str, data: &[u8], kind: MemberKind) {
        let mut chain = self.chain.clone();
        chain.push(name.to_owned());
        let member = chain.join("!");
        self.state.members.push(MemberReport {
            member,
            sha256: digest::sha256_hex_chunked(data, self.release),
            size: data.len() as u64,
            format: format.name().to_owned(),
        });
        if let Some(dir) = &self.config.keep_zone
            && let Err(e) = crate::zone::keep::keep(dir, self.path, &chain, data)
        {
            let member = chain.join("!");
            self.state.keep_error.get_or_insert_with(|| {
                format!("could not keep `{member}` in {}: {e}", dir.display())
            });
        }
        let mut child = Ctx {
            config: self.config,
            path: self.path,
            disk_path: None,
            chain,
            format,
            depth: self.depth + 1,
            offset_base: 0,
            state: self.state,
            release: self.release,
            whole: None,
            matcher: lend(&mut self.matcher),
        };
        analyse(format, data, &mut child, kind);
    }
}

/// Hands the whole of an input to the signature engine: a text file as text, a small file or
/// member as a whole, and with `--deep` the raw bytes of anything else. Containers are scanned
/// through their members (their own bytes are compressed, or the members again), and tensor
/// storage only with `--deep`.
fn extract_whole(format: Format, data: &[u8], ctx: &mut Ctx<'_>, kind: MemberKind) {
    let settings = &ctx.config.signatures;
    let container = matches!(
        format,
        Format::Zip
            | Format::SevenZip
            | Format::Tar
            | Format::Gzip
            | Format::Bzip2
            | Format::Xz
            | Format::Lzma
            | Format::Zstd
            | Format::Zlib
            | Format::JoblibZfile
    );
    let small = data.len() as u64 <= settings.small_file_bytes;
    let origin = if kind == MemberKind::File && format == Format::Text {
        Origin::TextMember
    } else if kind == MemberKind::File && small && !container {
        Origin::SmallFile
    } else if settings.deep && !container {
        Origin::RawBytes
    } else {
        return;
    };
    let context = if ctx.chain.is_empty() {
        "whole file"
    } else {
        "whole member"
    };
    ctx.extract(origin, context, Some(0), data);
}

/// Runs the analyser for `format` over `data`, then hands the whole of it to the signature
/// engine (after the analyser, so that a rule that already matched a precise extract of these
/// bytes is not reported again for the whole).
fn analyse(format: Format, data: &[u8], ctx: &mut Ctx<'_>, kind: MemberKind) {
    run_analyser(format, data, ctx, kind);
    extract_whole(format, data, ctx, kind);
}

fn run_analyser(format: Format, data: &[u8], ctx: &mut Ctx<'_>, kind: MemberKind) {
    // Raw tensor bytes match a data format's weak magic now and then (ONNX starts with two
    // small bytes, safetensors with a length); the loader never reads them as such. Only what
    // could run code when read as bytes (a pickle, an archive holding one) is followed there.
    if kind == MemberKind::Opaque && !format.can_carry_code() {
        return;
    }
    match format {
        Format::Empty => ctx.report(RuleId::EmptyFile, None, "the file is empty", None),
        Format::Pickle => formats::pickle::analyse(data, ctx),
        Format::Numpy => formats::numpy::analyse(data, ctx),
        Format::Zip => {
            // A TorchScript archive's code is read first: its pickles name its own classes.
            let code = formats::torchscript::prepare(data, ctx);
            let scoped = code.is_some();
            ctx.state.archive_code.extend(code);
            containers::zip::analyse(data, ctx);
            if scoped {
                ctx.state.archive_code.pop();
            }
        }
        Format::SevenZip => containers::sevenz::analyse(data, ctx),
        Format::Tar => containers::tar::analyse(data, ctx),
        Format::Gzip
        | Format::Bzip2
        | Format::Xz
        | Format::Lzma
        | Format::Zstd
        | Format::Zlib
        | Format::JoblibZfile => containers::compress::analyse(format, data, ctx),
        Format::Safetensors => formats::safetensors::analyse(data, ctx),
        Format::Onnx => formats::onnx::analyse(data, ctx),
        Format::Hdf5 => formats::hdf5::analyse(data, ctx),
        Format::Tensorflow => formats::tensorflow::analyse(data, ctx),
        Format::Tflite => formats::tflite::analyse(data, ctx),
        Format::Gguf => ctx.report(
            RuleId::FormatNotAnalysed,
            Some(0),
            format!(
                "recognised as {}, whose content the scanner does not analyse yet",
                format.name()
            ),
            None,
        ),
        Format::Text => {
            if !formats::keras::analyse_text(data, ctx) {
                formats::safetensors::index::analyse(data, ctx);
            }
        }
        Format::Unknown => ctx.report(
            RuleId::UnknownFormat,
            Some(0),
            format!(
                "content matches no format the scanner analyses (starts with {})",
                detect::hex_prefix(data, 8)
            ),
            None,
        ),
    }
}

/// A zip is found from its end, so bytes that are something else from the start can also be a
/// zip (`torch.load` opens anything `zipfile` accepts). Analyses that second reading, unless an
/// analyser already reached the zip as an embedded member (a pickle's trailing data).
fn analyse_second_reading(format: Format, data: &[u8], ctx: &mut Ctx<'_>) {
    if format == Format::Zip || !detect::has_zip_end_record(data) {
        return;
    }
    ctx.report(
        RuleId::Polyglot,
        None,
        format!(
            "the file reads as {} from its start and as a zip from its end",
            format.name()
        ),
        None,
    );
    let already_read = ctx
        .state
        .members
        .iter()
        .any(|m| m.format == Format::Zip.name());
    if !already_read {
        ctx.nested_as(Format::Zip, "(zip reading)", data, MemberKind::File);
    }
}

/// The format to report: a zip is named after what its members make it, the way PyTorch
/// writes them (`torch.save`: `<name>/data.pkl` beside `<name>/data/`; `torch.jit.save`: also
/// `<name>/constants.pkl` and `<name>/code/`).
fn label(format: Format, members: &[MemberReport]) -> &'static str {
    if format != Format::Zip {
        return format.name();
    }
    let top_level = |suffix: &str| {
        members.iter().any(|m| {
            m.member
                .strip_suffix(suffix)
                .and_then(|dir| dir.strip_suffix('/'))
                .is_some_and(|dir| !dir.is_empty() && !dir.contains(['/', '!']))
        })
    };
    let root_member = |name: &str| members.iter().any(|m| m.member == name);
    if root_member("config.json") && root_member("metadata.json") {
        // Keras 3 `.keras`: config.json, metadata.json, model.weights.h5 at the root.
        "keras"
    } else if top_level("constants.pkl") {
        "torchscript"
    } else if top_level("data.pkl") {
        "pytorch-zip"
    } else {
        format.name()
    }
}

/// Scans one file on disk. Never panics and never stops a batch: a file that cannot be read
/// gets an `error` verdict with the reason.
pub fn scan_file(path: &Path, display: &str, config: &Config) -> ArtifactReport {
    let mut scanner = config.signatures.rules.as_deref().map(Signatures::scanner);
    scan_file_with(
        path,
        display,
        config,
        scanner.as_mut().map(|s| s as &mut dyn Matcher),
    )
}

/// Like [`scan_file`], with a signature scanner the caller keeps between files (one per worker
/// thread).
pub fn scan_file_with(
    path: &Path,
    display: &str,
    config: &Config,
    matcher: Option<&mut dyn Matcher>,
) -> ArtifactReport {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => return ArtifactReport::failed(display.to_owned(), format!("cannot open: {e}")),
    };
    match crate::zone::mmap::map(&file) {
        Ok(mapped) => {
            let mapped = Arc::new(mapped);
            let whole = Bytes::from_owner(crate::zone::mmap::Shared(Arc::clone(&mapped)));
            scan(
                detect::detect(&whole),
                &whole,
                (path, Some(path)),
                display,
                config,
                (&|part| mapped.release(part), Some(&whole)),
                matcher,
            )
        }
        Err(e) => ArtifactReport::failed(display.to_owned(), format!("cannot read: {e}")),
    }
}

/// Scans bytes already in memory as if they were the file at `path` (whose name is only
/// compared with the content, never used to pick an analyser).
pub fn scan_bytes(data: &[u8], path: &Path, display: &str, config: &Config) -> ArtifactReport {
    scan_bytes_as(detect::detect(data), data, path, display, config)
}

/// Like [`scan_bytes`], but analyses the bytes as `format` whatever detection would say (for
/// fuzzing one analyser directly).
pub fn scan_bytes_as(
    format: Format,
    data: &[u8],
    path: &Path,
    display: &str,
    config: &Config,
) -> ArtifactReport {
    let mut scanner = config.signatures.rules.as_deref().map(Signatures::scanner);
    let matcher = scanner.as_mut().map(|s| s as &mut dyn Matcher);
    scan(
        format,
        data,
        (path, None),
        display,
        config,
        (&|_| {}, None),
        matcher,
    )
}

/// Inputs at least this large are hashed on another thread while they are analysed.
const PARALLEL_HASH_ABOVE: usize = 4 << 20;

/// `paths`: the name the bytes go by, and where they are on disk if they are a file there.
fn scan(
    format: Format,
    data: &[u8],
    (path, disk_path): (&Path, Option<&Path>),
    display: &str,
    config: &Config,
    (release, whole): (Release<'_>, Option<&Bytes>),
    mut matcher: Option<&mut dyn Matcher>,
) -> ArtifactReport {
    let mut state = ScanState {
        input_len: data.len() as u64,
        ..ScanState::default()
    };
    let mut analyse_all = |state: &mut ScanState| {
        let mut ctx = Ctx {
            config,
            path: display,
            disk_path,
            chain: Vec::new(),
            format,
            depth: 0,
            offset_base: 0,
            state,
            release,
            whole,
            matcher: lend(&mut matcher),
        };
        analyse(format, data, &mut ctx, MemberKind::File);
        analyse_second_reading(format, data, &mut ctx);
        let carries_pickle = format == Format::Pickle
            || ctx
                .state
                .members
                .iter()
                .any(|m| m.format == Format::Pickle.name());
        if carries_pickle {
            detect::check_data_only_extension(path, &mut ctx);
        }
        let malicious = ctx
            .state
            .findings
            .iter()
            .any(|f| f.verdict == Implies::Malicious);
        if config.probe.mode != ProbeMode::Off && !malicious {
            let label = label(format, &ctx.state.members);
            ctx.state.robustness = probe::run(format, label, data, &mut ctx);
        }
    };
    // Hashing the whole file and analysing it are independent reads of the same mapped bytes;
    // doing them side by side keeps a scan close to the cost of hashing alone. Below a few MiB
    // handing work to another thread costs more than it saves (a batch is already parallel
    // across artifacts). The analysis stays on this thread: the signature scanner belongs to it.
    let sha256 = if data.len() < PARALLEL_HASH_ABOVE {
        analyse_all(&mut state);
        digest::sha256_hex_chunked(data, release)
    } else {
        let mut sha256 = String::new();
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| sha256 = digest::sha256_hex_chunked(data, release));
            analyse_all(&mut state);
        });
        sha256
    };
    for (rule, &(_, left_out)) in &state.per_rule {
        // A listed finding of the rule carries its severity and verdict (signature rules take
        // theirs from the rule's meta).
        let listed = state.findings.iter().find(|f| &f.rule_id == rule);
        if let (true, Some(listed)) = (left_out > 0, listed) {
            let summary = Finding {
                message: format!("{left_out} more findings of this rule were not listed"),
                location: Location {
                    path: display.to_owned(),
                    member: None,
                    member_chain: Vec::new(),
                    offset: None,
                },
                evidence: None,
                ..listed.clone()
            };
            state.findings.push(summary);
        }
    }
    ArtifactReport {
        path: display.to_owned(),
        sha256: Some(sha256),
        size: data.len() as u64,
        format: label(format, &state.members).to_owned(),
        verdict: ArtifactReport::decide(&state.findings, state.keep_error.as_deref()),
        findings: state.findings,
        members: state.members,
        models: state.models,
        aliases: Vec::new(),
        error: state.keep_error,
        robustness: state.robustness,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> Vec<MemberReport> {
        names
            .iter()
            .map(|n| MemberReport {
                member: (*n).to_owned(),
                sha256: String::new(),
                size: 0,
                format: String::new(),
            })
            .collect()
    }

    #[test]
    fn zips_are_labelled_by_their_pytorch_layout() {
        let torch = members(&["model/data.pkl", "model/data/0", "model/version"]);
        assert_eq!(label(Format::Zip, &torch), "pytorch-zip");
        let script = members(&["m/data.pkl", "m/constants.pkl", "m/code/__torch__.py"]);
        assert_eq!(label(Format::Zip, &script), "torchscript");
        for plain in [
            &["data.pkl"][..],
            &["a/b/data.pkl"],
            &["mydata.pkl"],
            &["x.zip!m/data.pkl"],
        ] {
            assert_eq!(label(Format::Zip, &members(plain)), "zip", "{plain:?}");
        }
        assert_eq!(label(Format::Pickle, &torch), "pickle");
    }
}
