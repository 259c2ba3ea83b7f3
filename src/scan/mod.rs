//! Per artifact: map the file, detect its format by content, run the analyser registered for it
//! ([`registry`]; containers feed their members back through detection), read it a second way
//! where a loader could, probe it, and decide the verdict from the findings.

pub mod context;
pub(crate) mod deadline;
pub mod registry;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{Config, ProbeMode};
use crate::detect;
use crate::model::finding::{ArtifactReport, Finding, Implies, Location, MemberReport};
use crate::model::rules::RuleId;
use crate::model::{Format, Label};
use crate::probe;
use crate::signatures::{Matcher, Signatures};
use crate::zone::digest;
use context::{Ctx, MemberKind, Origin, Release, ScanState};
use registry::Analyser;

/// Hands the whole of an input to the signature engine: a text file as text, a small file or
/// member as a whole, and with `--deep` the raw bytes of anything else. Containers are scanned
/// through their members (their own bytes are compressed, or the members again), and tensor
/// storage only with `--deep`.
fn extract_whole(format: Format, data: &[u8], ctx: &mut Ctx<'_>, kind: MemberKind) {
    let settings = &ctx.config().signatures;
    let container = format.is_container();
    let small = data.len() as u64 <= settings.small_file_bytes;
    let origin = if kind == MemberKind::File && format == Format::Text {
        if context::is_documentation(ctx.name(), data) {
            Origin::Documentation
        } else if context::is_notebook(data) {
            Origin::Notebook
        } else {
            Origin::TextMember
        }
    } else if kind == MemberKind::File && small && !container {
        Origin::SmallFile
    } else if settings.deep && !container {
        Origin::RawBytes
    } else {
        return;
    };
    let context = if ctx.depth() == 0 {
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
    // A bare zlib stream has a two-byte header that one float in a few thousand matches, and
    // nothing inflates a storage: it is not followed either.
    if kind == MemberKind::Opaque && (!format.can_carry_code() || format == Format::Zlib) {
        return;
    }
    match registry::registration(format).analyser {
        Analyser::Run(analyse) => analyse(data, ctx),
        Analyser::NotYet => ctx.report(
            RuleId::FormatNotAnalysed,
            Some(0),
            format!("recognised as {format}, whose content the scanner does not analyse yet"),
            None,
        ),
    }
}

/// Other readings of the same bytes (a zip is found from its end, a pickle, safetensors or tar
/// header from the start: `torch.load` opens anything `zipfile` accepts, and tries `tarfile`
/// before `pickle`): each is a polyglot finding, and each is analysed, so the worst reading sets
/// the verdict. A zip whose directory lies inside one member of the file's container reading
/// (a `.nemo` model stored as the last member of a tar) is that member, already analysed, not
/// a second reading; a zip an analyser already reached as embedded content (a pickle's trailing
/// data) is not read twice.
fn analyse_other_readings(format: Format, data: &[u8], ctx: &mut Ctx<'_>) {
    for other in detect::other_readings(data, format) {
        if other == Format::Zip && zip_is_a_member(data, ctx) {
            continue;
        }
        ctx.report(
            RuleId::Polyglot,
            None,
            format!(
                "the file reads as {} from its start and as {} {}; loaders that pick one reading run what the other hides",
                format.name(),
                other.name(),
                if other == Format::Zip { "from its end" } else { "as well" }
            ),
            Some(format!("{} vs {}", format.name(), other.name())),
        );
        let already_read = other == Format::Zip && zip_already_read(data, ctx);
        if !already_read {
            ctx.nested_as(
                other,
                &format!("({} reading)", other.name()),
                data,
                MemberKind::File,
            );
        }
    }
}

/// Whether the zip `zipfile` finds from the end of `data` was already read whole as a zip
/// member that is a slice of the file (a pickle's trailing data, a container's member): one of
/// those slices runs from at or before the archive's start (where the end record puts its
/// first local header, prepended bytes counted as `zipfile` counts them) to past the end record.
/// A zip member that holds only part of it (a tar member whose size field was cut short, the
/// rest of the archive following in the tar's later blocks) is not that reading: `zipfile`
/// still reads every member through the end record, so the whole file is read as a zip too.
/// Nor is it when miniz's rule finds the whole file's directory at its stated offset.
fn zip_already_read(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    let Some((end_at, start)) = detect::zip_archive_bounds(data) else {
        return false;
    };
    // miniz counts the stated offsets from the start of what it is handed: when they lead to
    // central entries in the whole file, no later slice gives that reading (PyTorch's reader
    // loads those members, the slice's readings load others), so the file is read too.
    if crate::containers::zip::miniz_finds_entries(data) {
        return false;
    }
    ctx.state()
        .zip_slices
        .iter()
        .any(|&(offset, len)| offset <= start && end_at.saturating_add(22) <= offset + len)
}

/// Whether the zip found from the end of `data` lies inside one zip member of the file's
/// container reading.
fn zip_is_a_member(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    let Some((end_at, dir_at)) = detect::zip_end_record(data) else {
        return false;
    };
    ctx.state().spans.iter().any(|&(offset, len, format)| {
        format == Format::Zip && offset <= dir_at && end_at + 22 <= offset + len
    })
}

/// What to call the artifact: a zip is named after what its members make it, the way PyTorch
/// writes them (`torch.save`: `<name>/data.pkl` beside `<name>/data/`; `torch.jit.save`: also
/// `<name>/constants.pkl` and `<name>/code/`).
fn label(format: Format, members: &[MemberReport]) -> Label {
    // NeMo's SaveRestoreConnector packs a folder, so names may start with `./`.
    let in_root = |m: &MemberReport, name: &str| m.member.trim_start_matches("./") == name;
    if format == Format::Tar && members.iter().any(|m| in_root(m, "model_config.yaml")) {
        return Label::Nemo;
    }
    if matches!(format, Format::Tar | Format::Gzip)
        && members.iter().any(|m| {
            crate::formats::torchserve::names_tar_manifest(&m.member, format == Format::Gzip)
        })
    {
        return Label::Torchserve;
    }
    if format != Format::Zip {
        return Label::Format(format);
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
    if root_member(crate::formats::torchserve::MANIFEST) {
        Label::Torchserve
    } else if root_member("config.json") && root_member("metadata.json") {
        Label::Keras
    } else if root_member("schema.json") && members.iter().all(|m| !m.member.contains('/')) {
        Label::Skops
    } else if top_level("constants.pkl") {
        Label::Torchscript
    } else if top_level("data.pkl") {
        Label::PytorchZip
    } else {
        Label::Format(format)
    }
}

/// How the probe treats the artifact: as its format's registration says, except for zips that
/// are models: PyTorch checkpoints and TorchScript archives (tensors from `data.pkl`, read from
/// `data/<key>`) and `.npz` archives (their float arrays).
fn probe_support(label: Label, format: Format, members: &[MemberReport]) -> probe::Support {
    match label {
        Label::PytorchZip | Label::Torchscript => {
            probe::Support::Reads(probe::torch::zip_checkpoint)
        }
        Label::Format(Format::Zip) if probe::npz::is_npz(members) => {
            probe::Support::Reads(probe::npz::npz)
        }
        Label::Keras => probe::Support::NotYet("keras weights"),
        Label::Skops => probe::Support::NotYet("skops estimators"),
        Label::Nemo => probe::Support::NotYet("NeMo checkpoints"),
        Label::Torchserve => probe::Support::NotYet("TorchServe archives"),
        Label::Format(_) | Label::Unreadable => registry::registration(format).probe,
    }
}

/// Extensions of formats that cannot run code when loaded.
const DATA_ONLY_EXTENSIONS: &[&str] = &[
    "safetensors",
    "onnx",
    "gguf",
    "ggml",
    "npy",
    "json",
    "txt",
    "h5",
    "hdf5",
    "tflite",
];

/// Reports `FMT002` when the file's name promises a data-only format but its content carries a
/// pickle. Called only after analysis found one.
fn check_data_only_extension(path: &Path, ctx: &mut Ctx<'_>) {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return;
    };
    let ext = ext.to_ascii_lowercase();
    if DATA_ONLY_EXTENSIONS.contains(&ext.as_str()) {
        ctx.report(
            RuleId::ExtensionMismatch,
            Some(0),
            format!("named `.{ext}` (a data-only format) but its content carries a pickle, which runs code when loaded"),
            None,
        );
    }
}

/// Scans one file on disk. Never panics and never stops a batch: a file that cannot be read
/// gets an `error` verdict with the reason.
/// No signature rules are matched: [`scan_file_with`] takes a scanner of compiled rules.
pub fn scan_file(path: &Path, display: &str, config: &Config) -> ArtifactReport {
    scan_file_with(path, display, config, None)
}

/// Like [`scan_file`], with a signature scanner the caller keeps between files (one per worker
/// thread).
pub fn scan_file_with(
    path: &Path,
    display: &str,
    config: &Config,
    matcher: Option<&mut dyn Matcher>,
) -> ArtifactReport {
    scan_file_progress(path, display, config, matcher, &|_| {})
}

/// Like [`scan_file_with`], telling `hashed` of every block of the file hashed (bytes, in
/// order; 16 MiB blocks): the progress of a large file, whose hash runs beside its analysis.
pub fn scan_file_progress(
    path: &Path,
    display: &str,
    config: &Config,
    matcher: Option<&mut dyn Matcher>,
    hashed: Hashed<'_>,
) -> ArtifactReport {
    let file = match open_regular(path) {
        Ok(file) => file,
        Err(why) => return ArtifactReport::failed(display.to_owned(), why),
    };
    match crate::zone::mmap::map(&file) {
        Ok(mapped) => {
            let mapped = Arc::new(mapped);
            let whole = Bytes::from_owner(crate::zone::mmap::Shared(Arc::clone(&mapped)));
            let report = scan(
                detect::detect(&whole),
                &whole,
                (path, Some(path)),
                display,
                config,
                (&|part| mapped.release(part), Some(&whole), hashed),
                matcher,
            );
            let now = file.metadata().map(|m| m.len()).ok();
            if mapped.faulted() || now != Some(mapped.len() as u64) {
                return ArtifactReport::failed(
                    display.to_owned(),
                    format!(
                        "the file changed size while it was scanned ({} bytes when opened, {} now): \
                         another process truncated or rewrote it, so what was read is not the file; \
                         scan it again once it is complete",
                        mapped.len(),
                        now.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
                    ),
                );
            }
            report
        }
        Err(e) => ArtifactReport::failed(display.to_owned(), format!("cannot read: {e}")),
    }
}

/// Opens `path` for reading without blocking and checks, on the open descriptor, that it is a
/// regular file: opening a FIFO for reading would otherwise wait for a writer forever, and a
/// device or socket has no end. Checking the descriptor rather than the path leaves no gap
/// for the file to be swapped between check and open.
fn open_regular(path: &Path) -> Result<File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read metadata: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{}, not a regular file: not read (reading it could block or never end)",
            crate::zone::walk::special_kind(meta.file_type())
        ));
    }
    Ok(file)
}

/// Scans bytes already in memory as if they were the file at `path` (whose name is only
/// compared with the content, never used to pick an analyser).
/// No signature rules are matched: [`scan_bytes_with`] takes a scanner of compiled rules.
pub fn scan_bytes(data: &[u8], path: &Path, display: &str, config: &Config) -> ArtifactReport {
    scan_bytes_with(data, path, display, config, None)
}

/// Like [`scan_bytes`], with a signature scanner.
pub fn scan_bytes_with(
    data: &[u8],
    path: &Path,
    display: &str,
    config: &Config,
    matcher: Option<&mut dyn Matcher>,
) -> ArtifactReport {
    scan(
        detect::detect(data),
        data,
        (path, None),
        display,
        config,
        (&|_| {}, None, &|_| {}),
        matcher,
    )
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
    scan(
        format,
        data,
        (path, None),
        display,
        config,
        (&|_| {}, None, &|_| {}),
        None,
    )
}

/// SHA-256 of what decides a verdict besides the settings: the built-in rule registry, the
/// pickle import tables, the Hydra target list and the signature rules (their source hash), if
/// any.
pub fn rules_sha256(signatures: Option<&Signatures>) -> String {
    let text = format!(
        "{}\n{}\n{}\n{}",
        crate::model::rules::markdown(),
        crate::formats::pickle::imports_table(),
        crate::formats::nemo::targets_table(),
        signatures.map_or("no signature rules", Signatures::source_hash)
    );
    crate::zone::digest::sha256_hex(text.as_bytes())
}

/// Told the size of each block of the file hashed (progress).
pub type Hashed<'a> = &'a (dyn Fn(u64) + Sync);

/// Inputs at least this large are hashed on another thread while they are analysed.
const PARALLEL_HASH_ABOVE: usize = 4 << 20;

/// `paths`: the name the bytes go by, and where they are on disk if they are a file there.
fn scan(
    format: Format,
    data: &[u8],
    (path, disk_path): (&Path, Option<&Path>),
    display: &str,
    config: &Config,
    (release, whole, hashed): (Release<'_>, Option<&Bytes>, Hashed<'_>),
    mut matcher: Option<&mut dyn Matcher>,
) -> ArtifactReport {
    let mut state = ScanState::new(data);
    let release_hashed = |part: &[u8]| {
        release(part);
        hashed(part.len() as u64);
    };
    let release_hashed: Release<'_> = &release_hashed;
    let mut analyse_all = |state: &mut ScanState| {
        let mut ctx = Ctx::root(
            config,
            display,
            disk_path,
            format,
            state,
            (release, whole),
            context::lend(&mut matcher),
            analyse,
        );
        let _deadline = deadline::Deadline::start(config.zone.timeout);
        analyse(format, data, &mut ctx, MemberKind::File);
        analyse_other_readings(format, data, &mut ctx);
        if deadline::passed() {
            ctx.report(
                RuleId::AnalysisTimeExceeded,
                None,
                format!(
                    "the analysis took longer than the budget of {} s per artifact and stopped; what came after was not analysed",
                    config.zone.timeout.as_secs()
                ),
                None,
            );
        }
        let state = ctx.state();
        let carries_pickle = format == Format::Pickle
            || state
                .members
                .iter()
                .enumerate()
                .any(|(i, m)| m.format == Format::Pickle && !state.staged_members.contains(&i));
        if carries_pickle {
            check_data_only_extension(path, &mut ctx);
        }
        let malicious = ctx
            .state()
            .findings
            .iter()
            .any(|f| f.verdict == Implies::Malicious);
        if config.probe.mode != ProbeMode::Off && !malicious && !deadline::passed() {
            let members = &ctx.state().members;
            let support = probe_support(label(format, members), format, members);
            ctx.state().robustness = probe::run(support, data, &mut ctx);
        }
    };
    // Hashing the whole file and analysing it are independent reads of the same mapped bytes;
    // doing them side by side keeps a scan close to the cost of hashing alone. Below a few MiB
    // handing work to another thread costs more than it saves (a batch is already parallel
    // across artifacts). The analysis stays on this thread: the signature scanner belongs to it.
    let sha256 = if data.len() < PARALLEL_HASH_ABOVE {
        analyse_all(&mut state);
        digest::sha256_hex_chunked(data, release_hashed)
    } else {
        let mut sha256 = String::new();
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| sha256 = digest::sha256_hex_chunked(data, release_hashed));
            analyse_all(&mut state);
        });
        sha256
    };
    for (rule, budget) in state.per_rule.overflowing() {
        // A listed finding of the rule carries its severity and verdict (signature rules take
        // theirs from the rule's meta).
        let listed = state.findings.iter().find(|f| &f.rule_id == rule);
        if let (Some(message), Some(listed)) = (budget.not_listed(""), listed) {
            let summary = Finding {
                message,
                location: Location {
                    path: display.to_owned(),
                    member: None,
                    member_chain: Vec::new(),
                    offset: None,
                    line: None,
                },
                evidence: None,
                ..listed.clone()
            };
            state.findings.push(summary);
        }
    }
    ArtifactReport {
        path_bytes: None,
        path: display.to_owned(),
        sha256: Some(sha256),
        size: data.len() as u64,
        format: label(format, &state.members),
        verdict: ArtifactReport::decide(&state.findings, state.keep_error.as_deref()),
        findings: state.findings,
        members: state.members,
        models: state.models,
        aliases: Vec::new(),
        error: state.keep_error,
        robustness: state.robustness,
        reads_neighbours: state.reads_neighbours,
        staged: crate::model::finding::StagedCost {
            probes: state.staged.probes,
            decodes: state.staged.decodes,
            decoded_bytes: state.staged.decoded_bytes,
            carried: state.staged.carried,
        },
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
                format: Format::Unknown,
            })
            .collect()
    }

    #[test]
    fn zips_are_labelled_by_their_pytorch_layout() {
        let torch = members(&["model/data.pkl", "model/data/0", "model/version"]);
        assert_eq!(label(Format::Zip, &torch), Label::PytorchZip);
        let script = members(&["m/data.pkl", "m/constants.pkl", "m/code/__torch__.py"]);
        assert_eq!(label(Format::Zip, &script), Label::Torchscript);
        for plain in [
            &["data.pkl"][..],
            &["a/b/data.pkl"],
            &["mydata.pkl"],
            &["x.zip!m/data.pkl"],
        ] {
            assert_eq!(
                label(Format::Zip, &members(plain)),
                Label::Format(Format::Zip),
                "{plain:?}"
            );
        }
        assert_eq!(label(Format::Pickle, &torch), Label::Format(Format::Pickle));
        let nemo = members(&["./model_config.yaml", "./model_weights.ckpt"]);
        assert_eq!(label(Format::Tar, &nemo), Label::Nemo);
        let skops = members(&["140.npy", "schema.json"]);
        assert_eq!(label(Format::Zip, &skops), Label::Skops);
    }
}
