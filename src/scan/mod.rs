//! Per artifact: map the file, detect its format by content, run the analyser registered for it
//! ([`registry`]; containers feed their members back through detection), read it a second way
//! where a loader could, probe it, and decide the verdict from the findings.

pub mod context;
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
        Origin::TextMember
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
    if kind == MemberKind::Opaque && !format.can_carry_code() {
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
    let already_read = ctx.state().members.iter().any(|m| m.format == Format::Zip);
    if !already_read {
        ctx.nested_as(Format::Zip, "(zip reading)", data, MemberKind::File);
    }
}

/// What to call the artifact: a zip is named after what its members make it, the way PyTorch
/// writes them (`torch.save`: `<name>/data.pkl` beside `<name>/data/`; `torch.jit.save`: also
/// `<name>/constants.pkl` and `<name>/code/`).
fn label(format: Format, members: &[MemberReport]) -> Label {
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
    if top_level("constants.pkl") {
        Label::Torchscript
    } else if top_level("data.pkl") {
        Label::PytorchZip
    } else {
        Label::Format(format)
    }
}

/// How the probe treats the artifact: as its format's registration says, except that PyTorch
/// checkpoints (zips by format) hold weights it cannot read yet.
fn probe_support(label: Label, format: Format) -> probe::Support {
    match label {
        Label::PytorchZip | Label::Torchscript => probe::Support::NotYet("PyTorch checkpoints"),
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
    let mut state = ScanState::new(data.len() as u64);
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
        analyse(format, data, &mut ctx, MemberKind::File);
        analyse_second_reading(format, data, &mut ctx);
        let carries_pickle = format == Format::Pickle
            || ctx
                .state()
                .members
                .iter()
                .any(|m| m.format == Format::Pickle);
        if carries_pickle {
            check_data_only_extension(path, &mut ctx);
        }
        let malicious = ctx
            .state()
            .findings
            .iter()
            .any(|f| f.verdict == Implies::Malicious);
        if config.probe.mode != ProbeMode::Off && !malicious {
            let support = probe_support(label(format, &ctx.state().members), format);
            ctx.state().robustness = probe::run(support, data, &mut ctx);
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
        format: label(format, &state.members),
        verdict: ArtifactReport::decide(&state.findings, state.keep_error.as_deref()),
        findings: state.findings,
        members: state.members,
        models: state.models,
        aliases: Vec::new(),
        error: state.keep_error,
        robustness: state.robustness,
        reads_neighbours: state.reads_neighbours,
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
    }
}
