//! The analysis context: the one thing analysers import. It knows where the analysed bytes came
//! from (file, member chain, offset), the settings in force, and where findings, extracts and
//! nested members go. Nested content goes back through detection and the dispatch function the
//! scan layer injects, so no analyser depends on the scan engine above it.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Config;
use crate::detect;
use crate::model::Format;
use crate::model::budget::{Budget, PerRule};
use crate::model::finding::{Finding, Implies, Location, MemberReport, Severity};
use crate::model::robustness::Robustness;
use crate::model::rules::{RuleId, RuleRef};
use crate::model::summary::{ModelReport, ModelSummary};
use crate::scan::deadline;
use crate::signatures::{Matcher, Stop, Vars};
use crate::zone::digest;

/// What one artifact's analysis has gathered so far.
#[derive(Debug, Default)]
pub(crate) struct ScanState {
    pub(crate) findings: Vec<Finding>,
    /// Findings listed per rule so far, and how many more were left out past the cap.
    pub(crate) per_rule: PerRule<RuleRef, MAX_FINDINGS_PER_RULE>,
    pub(crate) members: Vec<MemberReport>,
    pub(crate) models: Vec<ModelReport>,
    /// Size of the artifact itself.
    input_len: u64,
    /// Bytes inflated from container members so far, all nesting levels together.
    unpacked_bytes: u64,
    /// Bytes handed out as slices of data already in hand (stored members) so far.
    sliced_bytes: u64,
    /// Members opened so far, all nesting levels together.
    member_count: u64,
    /// The first failure to keep a member in `--keep-zone`, if any.
    pub(crate) keep_error: Option<String>,
    /// Time spent in signature scans so far.
    signature_time: Duration,
    /// A signature scan stopped (time budget, engine error): no further extract is scanned.
    signature_stopped: bool,
    pub(crate) robustness: Option<Robustness>,
    /// What the TorchScript archives being analysed define in their code (innermost last).
    pub(crate) archive_code: Vec<crate::formats::torchscript::ArchiveCode>,
    /// The TorchServe archives being analysed (innermost last).
    pub(crate) mar: Vec<crate::formats::torchserve::MarArchive>,
    /// An analyser looked beside the file on disk (external data, shards, repository files).
    pub(crate) reads_neighbours: bool,
    /// Where the analysed file starts in memory, to place members that are slices of it.
    input_base: usize,
    /// Members of a container that are slices of the file itself: offset, length, format.
    pub(crate) spans: Vec<(usize, usize, Format)>,
    /// Zip members at any depth (a container's member, a pickle's trailing data) that are
    /// slices of the file itself: offset, length. The zip a reader finds from the file's end
    /// was already read when one of them holds all of it.
    pub(crate) zip_slices: Vec<(usize, usize)>,
    /// What looking for staged payloads (pickles carried as data) has cost so far.
    pub(crate) staged: crate::formats::staged::Budget,
    /// Indices in `members` of staged payloads and what they hold: loading the artifact does
    /// not read them.
    pub(crate) staged_members: Vec<usize>,
    /// Tensors pickles describe (`_rebuild_tensor_v2` arguments), for the probe.
    pub(crate) pickled_tensors: Vec<crate::model::tensors::PickledTensors>,
}

/// Pickle streams whose tensor descriptions are kept per artifact.
const MAX_TENSOR_RECORDS: usize = 64;

/// Nesting is analysed by recursion (member -> detection -> analyser -> member), so its depth is
/// capped here whatever `max_depth` says: 64 levels fit the batch workers' stacks many times
/// over (`tests/pipeline.rs` scans 200 levels with `--max-depth 1000`).
pub const MAX_DEPTH_CEILING: u32 = 64;

/// Findings of one rule listed per artifact; the rest are counted in one summary finding.
const MAX_FINDINGS_PER_RULE: u64 = 256;

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
    /// Runs the analyser of a format over nested bytes (injected by the scan layer).
    dispatch: Dispatch,
    /// The bytes are a staged payload (a pickle carried as data): loading the artifact does not
    /// run them, so their findings imply at most `suspicious`.
    staged: bool,
}

/// Analyses `data` as `format`: the scan layer's dispatch, handed down so that containers can
/// send their members back through it.
pub type Dispatch = fn(Format, &[u8], &mut Ctx<'_>, MemberKind);

/// The innermost member's name, or the file name of the artifact.
pub(crate) fn name_of<'c>(chain: &'c [String], path: &'c str) -> &'c str {
    match chain.last() {
        Some(name) => name.as_str(),
        None => Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(path),
    }
}

/// Lends a context's scanner to a context that lives shorter.
pub(crate) fn lend<'b>(
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
pub type Release<'a> = &'a (dyn Fn(&[u8]) + Sync);

/// Declares [`Origin`], its names ([`Origin::as_str`]) and [`ORIGINS`] from one list, so that
/// `ORIGINS` holds every origin by construction.
macro_rules! origins {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Where a piece of extracted content came from. Signature rules can condition on it (the
        /// `origin` external variable), and findings on an extract name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Origin {
            $($(#[$doc])* $variant,)*
        }

        impl Origin {
            /// The value signature rules see in `origin`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Origin::$variant => $name,)*
                }
            }
        }

        /// Every origin, for rules that name them.
        pub const ORIGINS: &[Origin] = &[$(Origin::$variant,)*];
    };
}

origins! {
    /// A string or bytes argument of a call that loading a pickle would make.
    PickleCallArg => "pickle_call_arg",
    /// Any other string a pickle carries (attached to an unknown global, a BUILD state).
    PickleString => "pickle_string",
    /// A string attribute of an ONNX node.
    OnnxAttribute => "onnx_attribute",
    /// A `doc_string` of an ONNX model, graph, node or function.
    OnnxDocString => "onnx_doc_string",
    /// A `metadata_props` value of an ONNX model.
    OnnxMetadata => "onnx_metadata",
    /// An element of an ONNX string tensor.
    OnnxStringTensor => "onnx_string_tensor",
    /// A `__metadata__` value of a safetensors header.
    SafetensorsMetadata => "safetensors_metadata",
    /// A string a framework model carries (Keras Lambda names and constants, HDF5 attributes,
    /// TensorFlow and TFLite op attributes, TorchScript code).
    FrameworkString => "framework_string",
    /// A text file, or a text member of an archive (script, config, template).
    TextMember => "text_member",
    /// A string value (or the strings of an array value, one a line) of GGUF metadata.
    GgufMetadata => "gguf_metadata",
    /// A Jinja chat template (GGUF metadata, `tokenizer_config.json`, `chat_template.jinja`).
    ChatTemplate => "chat_template",
    /// A Jupyter notebook (JSON with `nbformat` and `cells`): a person runs its cells one by
    /// one; no model loader executes it. Its class is `code`, but rules for what installers
    /// and setup cells routinely do (`download_exec.yar`: `curl … | sh`) leave it out.
    Notebook => "notebook",
    /// A text file or member that is documentation no loader runs: a README or model card,
    /// `*.md`, `*.rst`, `*.txt`, wheel `METADATA` ([`is_documentation`]).
    Documentation => "documentation",
    /// A small file or member, whole.
    SmallFile => "small_file",
    /// The raw bytes of an artifact or member (`--deep`).
    RawBytes => "raw_bytes",
}

impl Origin {
    /// The class a signature rule's `origins` meta can name instead of each origin: `code`
    /// (what a loader runs or interprets: pickle calls and strings, ONNX attributes, scripts,
    /// templates, configs), `metadata` (strings stored beside weights), `data` (small files and
    /// raw bytes whole), `documentation`.
    pub fn class(self) -> &'static str {
        match self {
            Origin::PickleCallArg
            | Origin::PickleString
            | Origin::OnnxAttribute
            | Origin::FrameworkString
            | Origin::TextMember
            | Origin::Notebook
            | Origin::ChatTemplate => "code",
            Origin::OnnxDocString
            | Origin::OnnxMetadata
            | Origin::OnnxStringTensor
            | Origin::SafetensorsMetadata
            | Origin::GgufMetadata => "metadata",
            Origin::SmallFile | Origin::RawBytes => "data",
            Origin::Documentation => "documentation",
        }
    }
}

/// Whether `data` is a Jupyter notebook: the whole text is JSON (so, read as Python, it is a
/// literal that calls nothing) whose top-level object has an integer `nbformat` and a `cells`
/// list. Judged by content, whatever the name.
pub fn is_notebook(data: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Notebook {
        #[allow(dead_code, reason = "only its type is checked")]
        nbformat: u32,
        #[allow(dead_code, reason = "only its type is checked")]
        cells: Vec<serde::de::IgnoredAny>,
    }
    let start = data.trim_ascii_start();
    start.starts_with(b"{")
        && memchr::memmem::find(start, b"\"nbformat\"").is_some()
        && data.len() <= 64 << 20
        && serde_json::from_slice::<Notebook>(data).is_ok()
}

/// Whether a text file or member named `name` (the last path component is what counts) is
/// documentation that no model loader runs: its name is of a documentation class (`*.md`,
/// `*.rst`, `*.txt`, `README`, `LICENSE`, wheel `METADATA` / `PKG-INFO`, …) and its content
/// fits (text, not a `#!` script; `METADATA`/`PKG-INFO` are RFC 822 headers). A `.py`, `.json`,
/// `.jinja` or `.sh` file is never documentation, whatever it says.
pub fn is_documentation(name: &str, data: &[u8]) -> bool {
    if data.starts_with(b"#!") {
        return false;
    }
    let base = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let (stem, ext) = match lower.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (lower.as_str(), ""),
    };
    if matches!(lower.as_str(), "metadata" | "pkg-info") {
        return data.starts_with(b"Metadata-Version:");
    }
    const DOC_EXTENSIONS: &[&str] = &[
        "md", "markdown", "mdown", "mkd", "rst", "txt", "text", "adoc", "asciidoc", "rdoc", "org",
        "textile",
    ];
    const DOC_NAMES: &[&str] = &[
        "readme",
        "license",
        "licence",
        "copying",
        "notice",
        "authors",
        "contributors",
        "changelog",
        "changes",
        "history",
        "news",
        "model_card",
        "modelcard",
    ];
    DOC_EXTENSIONS.contains(&ext) || (ext.is_empty() && DOC_NAMES.contains(&stem))
}

/// A zone limit that an archive ran into; the caller stops unpacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit;

impl ScanState {
    /// The state of a scan of `input`, before anything was analysed.
    pub(crate) fn new(input: &[u8]) -> Self {
        ScanState {
            input_len: input.len() as u64,
            input_base: input.as_ptr() as usize,
            ..ScanState::default()
        }
    }
}

impl<'a> Ctx<'a> {
    /// The context of a whole artifact (`path` as reported, `disk_path` where it is on disk).
    #[allow(clippy::too_many_arguments)] // Each is a distinct input of the scan; a struct would only rename them.
    pub(crate) fn root(
        config: &'a Config,
        path: &'a str,
        disk_path: Option<&'a Path>,
        format: Format,
        state: &'a mut ScanState,
        (release, whole): (Release<'a>, Option<&'a Bytes>),
        matcher: Option<&'a mut (dyn Matcher + 'a)>,
        dispatch: Dispatch,
    ) -> Self {
        Ctx {
            config,
            path,
            disk_path,
            chain: Vec::new(),
            format,
            depth: 0,
            offset_base: 0,
            state,
            release,
            whole,
            matcher,
            dispatch,
            staged: false,
        }
    }

    /// What the analysis has gathered so far.
    pub(crate) fn state(&mut self) -> &mut ScanState {
        self.state
    }

    pub fn config(&self) -> &'a Config {
        self.config
    }

    /// The file on disk the analysed bytes are, when they are a whole file (not a member of an
    /// archive, not bytes handed over in memory): what a loader resolves relative paths from.
    /// Asking for it marks the result as depending on the file's neighbours, so that it is
    /// never reused for the same bytes elsewhere (`--cache`).
    pub fn disk_path(&mut self) -> Option<&'a Path> {
        if self.disk_path.is_some() {
            self.state.reads_neighbours = true;
        }
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

    /// Keeps the tensors a pickle stream describes for the robustness probe, at the current
    /// member (nothing from a staged payload, which loading does not run).
    pub fn record_tensors(&mut self, mut tensors: crate::model::tensors::PickledTensors) {
        if self.staged
            || tensors.tensors.is_empty()
            || self.state.pickled_tensors.len() >= MAX_TENSOR_RECORDS
        {
            return;
        }
        tensors.member = (!self.chain.is_empty()).then(|| self.chain.join("!"));
        if self.offset_base != 0 {
            // Byte ranges are kept only for the artifact's own bytes.
            tensors.storages.clear();
        }
        self.state.pickled_tensors.push(tensors);
    }

    /// The tensors pickles described so far ([`Ctx::record_tensors`]).
    pub fn pickled_tensors(&self) -> &[crate::model::tensors::PickledTensors] {
        &self.state.pickled_tensors
    }

    /// The innermost member's name, or the artifact's file name: what `is_documentation` and
    /// signature rules (`member`) judge by.
    pub fn name(&self) -> &str {
        name_of(&self.chain, self.path)
    }

    /// Container nesting depth of the bytes being analysed (0 for the file itself).
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
            line: None,
        }
    }

    fn push(&mut self, mut finding: Finding) {
        if self.staged {
            let worst = &mut self.state.staged.worst;
            *worst = (*worst).max(Some(finding.verdict));
            if finding.verdict > Implies::Suspicious {
                finding.verdict = Implies::Suspicious;
                finding
                    .message
                    .push_str(" (in a staged payload: loading this file does not run it)");
            }
        }
        // The same trick repeated a thousand times is one finding for the reader, and a crafted
        // file cannot make the report (or this duplicate check) grow without bound.
        if self.state.findings.contains(&finding) {
            return;
        }
        if self.state.per_rule.admit(finding.rule_id.clone()) {
            self.state.findings.push(finding);
        }
    }

    /// Reports, as one finding of `rule`, how many findings `budget` left out (nothing when it
    /// left out none); `scope` says where they were counted (`"in this archive"`).
    pub fn report_not_listed(&mut self, rule: RuleId, budget: &Budget, scope: &str) {
        if let Some(message) = budget.not_listed(scope) {
            self.report(rule, None, message, None);
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
        if crate::formats::staged::examines(origin) && data.len() >= crate::formats::staged::MIN_LEN
        {
            let anchor = match offset {
                Some(at) => format!("{context}@{}", at.saturating_add(self.offset_base)),
                None => context.to_owned(),
            };
            self.state.staged.probes += 1;
            crate::formats::staged::examine(self, &anchor, data);
        }
        if data.len() < MIN_EXTRACT || self.state.signature_stopped {
            return;
        }
        let member = name_of(&self.chain, self.path);
        let Some(matcher) = self.matcher.as_deref_mut() else {
            return;
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
        // A whole text file: matches can be placed on their line.
        let lines = self.chain.is_empty()
            && offset == Some(0)
            && matches!(
                origin,
                Origin::TextMember | Origin::Notebook | Origin::Documentation
            );
        for hit in hits {
            if whole && self.matched_inside(&hit.rule.id) {
                continue;
            }
            let mut location = self.location(offset);
            if lines && let Some(first) = hit.matches.first() {
                let before = data
                    .get(..usize::try_from(first.offset).unwrap_or(usize::MAX))
                    .unwrap_or(data);
                location.line = Some(memchr::memchr_iter(b'\n', before).count() as u64 + 1);
            }
            let finding = hit.into_finding(origin, context, location, data.len());
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
            dispatch: self.dispatch,
            staged: self.staged,
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

    /// Unpacked bytes this artifact may still allocate before the zone's limit.
    pub fn unpacked_room(&self) -> u64 {
        self.config
            .zone
            .max_total_bytes
            .saturating_sub(self.state.unpacked_bytes)
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
        // Past the time budget members are left alone; the scan reports that once (FMT006).
        if !self.too_deep(name) && !deadline::passed() {
            self.enter(detect::detect(data), name, data, kind);
        }
    }

    /// Like [`Ctx::nested`] with the format already decided (a second reading of the same bytes).
    pub fn nested_as(&mut self, format: Format, name: &str, data: &[u8], kind: MemberKind) {
        if !self.too_deep(name) && !deadline::passed() {
            self.enter(format, name, data, kind);
        }
    }

    /// Analyses `data`, a pickle carried as data (a staged payload), at the member chain extended
    /// by `steps` (the value's name, then one entry per decoding layer). Its findings imply at
    /// most `suspicious`: loading the artifact does not run it. One PKL012 finding sums it up,
    /// `high` when the carried pickle does anything its own loading would flag, `info` when it
    /// holds only allowed content.
    pub fn staged(&mut self, steps: &[String], data: &[u8]) {
        let name = steps.join("!");
        if self.too_deep(&name) {
            return;
        }
        let first = self.state.findings.len();
        let outer = self.state.staged.worst.take();
        self.state.staged.carried += 1;
        let saved = std::mem::replace(&mut self.staged, true);
        let chain_len = self.chain.len();
        // Every step but the last is a level of its own in the chain; `enter` adds the last.
        let (last, before) = steps
            .split_last()
            .map_or(("", &[][..]), |(l, b)| (l.as_str(), b));
        self.chain.extend(before.iter().cloned());
        self.enter(Format::Pickle, last, data, MemberKind::File);
        self.chain.truncate(chain_len);
        self.staged = saved;
        let inner = self.state.staged.worst.take();
        self.state.staged.worst = outer.max(inner);
        let mut chain = self.chain.clone();
        chain.extend(steps.iter().cloned());
        let evidence = self.state.findings.get(first..).and_then(|new| {
            new.iter()
                .filter(|f| f.verdict > Implies::Clean && f.evidence.is_some())
                .max_by_key(|f| f.severity)
                .and_then(|f| f.evidence.clone())
        });
        let harmful = inner.is_some_and(|v| v > Implies::Clean);
        let how = steps.join(" → ");
        let message = if harmful {
            format!(
                "a pickle is carried as data ({} bytes, {how}): loading this file does not run it, but code that unpickles the value would",
                data.len()
            )
        } else {
            format!(
                "a pickle with only allowed content is carried as data ({} bytes, {how})",
                data.len()
            )
        };
        let location = Location {
            path: self.path.to_owned(),
            member: Some(chain.join("!")),
            member_chain: chain,
            offset: None,
            line: None,
        };
        let mut finding = Finding::new(RuleId::PickleStagedPayload, location, message, evidence);
        if !harmful {
            finding.severity = Severity::Info;
            finding.verdict = Implies::Clean;
        }
        self.push(finding);
    }

    /// Reports and returns `true` when a member one level further down would pass the zone's
    /// depth limit, or the ceiling that no setting can raise.
    fn too_deep(&mut self, name: &str) -> bool {
        let limit = self.config.zone.max_depth.min(MAX_DEPTH_CEILING);
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
        let offset = (data.as_ptr() as usize).wrapping_sub(self.state.input_base);
        let container = matches!(self.format, Format::Zip | Format::Tar | Format::SevenZip);
        let in_input = offset
            .checked_add(data.len())
            .is_some_and(|e| e <= self.state.input_len as usize);
        if container && in_input {
            self.state.spans.push((offset, data.len(), format));
        }
        if format == Format::Zip && in_input {
            self.state.zip_slices.push((offset, data.len()));
        }
        let mut chain = self.chain.clone();
        chain.push(name.to_owned());
        let member = chain.join("!");
        if self.staged {
            self.state.staged_members.push(self.state.members.len());
        }
        self.state.members.push(MemberReport {
            member,
            sha256: digest::sha256_hex_chunked(data, self.release),
            size: data.len() as u64,
            format,
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
            dispatch: self.dispatch,
            staged: self.staged,
        };
        (self.dispatch)(format, data, &mut child, kind);
    }
}
