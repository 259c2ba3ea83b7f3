//! TorchServe model archives (`.mar`, written by `torch-model-archiver`): a zip whose
//! `MAR-INF/MANIFEST.json` names the handler TorchServe imports (`model.handler`), the model
//! definition (`model.modelFile`), the weights (`model.serializedFile`) and the dependencies
//! (`model.requirementsFile`), all at the root of the archive.
//!
//! TorchServe unpacks the archive, puts its folder on `sys.path` and resolves the handler the way
//! `ts.model_loader.TsModelLoader._load_handler_file` does: the text before `:` with `.py` and
//! any folder dropped is imported with `importlib.import_module`; only when that import fails is
//! the name looked up among the built-in handlers (`ts.torch_handler.<name>`). The handler's
//! module code runs when the model is registered, its `initialize` when each worker starts and
//! `handle` (`preprocess`, `inference`, `postprocess`) on every request; the model file and any
//! other module of the archive run when the handler imports them. So every `.py` member is model
//! code, judged by the Python analysis with those methods counted as load time. With
//! `install_py_dep_per_model=true` TorchServe runs `pip install -r` on the requirements file,
//! whose lines can point pip at any index, URL, repository or local path.
//!
//! The weights and other members go through detection like any zip member.

use std::collections::BTreeSet;
use std::io::Read;

use serde_json::Value;

use crate::formats::json;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

/// The manifest's path in the archive.
pub const MANIFEST: &str = "MAR-INF/MANIFEST.json";
/// Larger manifests are not read (a real one is a few hundred bytes).
const MAX_MANIFEST: u64 = 1 << 20;
/// Requirement lines reported per file.
const MAX_LISTED: usize = 32;

/// The handlers TorchServe ships (`ts/torch_handler/`), which `torch-model-archiver` leaves out
/// of the archive when `--handler` names one of them.
const BUILTIN_HANDLERS: &[&str] = &[
    "base_handler",
    "text_classifier",
    "image_classifier",
    "object_detector",
    "image_segmenter",
    "dali_image_classifier",
    "vllm_handler",
    "trt_llm_handler",
    "densenet_handler",
    "vision_handler",
    "text_handler",
    "request_envelope",
];

/// Methods TorchServe calls on a handler (or module-level functions it calls as the entry
/// point): what they do happens whenever the model is served.
pub const ENTRY_POINTS: &[&str] = &[
    "initialize",
    "handle",
    "preprocess",
    "inference",
    "postprocess",
    "_load_pickled_model",
    "_load_torchscript_model",
];

/// A TorchServe archive being analysed: what its members are to the server.
#[derive(Debug, Clone, Default)]
pub struct MarArchive {
    /// Depth of the archive's own bytes: its members are one level below.
    depth: u32,
    /// The member the manifest names as the requirements file, if any.
    requirements: Option<String>,
    /// The folder of the archive the model lives in, with its `/` (`<model name>/` in a tar
    /// written with `--archive-format tgz`), or empty when the manifest is at the root.
    prefix: String,
}

/// The module name TorchServe imports for a manifest's `handler` value.
fn handler_module(handler: &str) -> &str {
    let module = handler.split_once(':').map_or(handler, |(m, _)| m);
    let module = module.strip_suffix(".py").unwrap_or(module);
    module.rsplit('/').next().unwrap_or(module)
}

fn string_field<'v>(model: &'v Value, key: &str) -> Option<&'v str> {
    model.get(key).and_then(Value::as_str)
}

/// The model folder of a tar member that is a TorchServe manifest: empty for
/// `MAR-INF/MANIFEST.json` at the root, `<name>/` for one folder down (what
/// `torch-model-archiver --archive-format tgz` writes, and what TorchServe unpacks a single
/// top-level folder of an archive as).
pub fn manifest_prefix(name: &str) -> Option<&str> {
    let name = name.trim_start_matches("./");
    if name == MANIFEST {
        return Some("");
    }
    let dir = name.strip_suffix(MANIFEST)?;
    let folder = dir.strip_suffix('/')?;
    (!folder.is_empty() && !folder.contains('/') && folder != "." && folder != "..").then_some(dir)
}

/// Whether a member path of an artifact (`a!b`, as reports list them) is the manifest of a
/// TorchServe archive that is a tar (`compressed`: the tar inside a `.tar.gz`).
pub fn names_tar_manifest(member: &str, compressed: bool) -> bool {
    let inner = if compressed {
        match member.split_once('!') {
            Some((_, rest)) if !rest.contains('!') => rest,
            _ => return false,
        }
    } else if member.contains('!') {
        return false;
    } else {
        member
    };
    manifest_prefix(inner).is_some()
}

/// Reads the manifest of a TorchServe archive, when `data` is one (a zip with
/// `MAR-INF/MANIFEST.json`), and reports what it names that the server would not find in the
/// archive. Returns what the member analysis needs to know.
pub fn prepare(data: &[u8], ctx: &mut Ctx<'_>) -> Option<MarArchive> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(data)).ok()?;
    let names: BTreeSet<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(std::borrow::Cow::into_owned))
        .collect();
    if !names.contains(MANIFEST) {
        return None;
    }
    let text = match archive.by_name(MANIFEST) {
        Err(_) => Err("cannot be opened".to_owned()),
        Ok(file) => read_bounded(file.size(), file),
    };
    let requirements = judge_manifest(text, &|n| names.contains(n), ctx);
    Some(MarArchive {
        depth: ctx.depth(),
        requirements,
        prefix: String::new(),
    })
}

/// Reads the manifest of a TorchServe archive written as a tar (`--archive-format tgz`, the tar
/// inside the gzip stream), when `data` is one: `MAR-INF/MANIFEST.json` at the root or in the
/// one folder the archiver puts the model in. Entries are listed up to the member limit.
pub fn prepare_tar(data: &[u8], ctx: &mut Ctx<'_>) -> Option<MarArchive> {
    let limit = ctx.config().zone.max_members;
    let mut archive = tar::Archive::new(std::io::Cursor::new(data));
    let entries = archive.entries_with_seek().ok()?;
    let mut names: Vec<String> = Vec::new();
    let mut found: Option<(String, Result<Vec<u8>, String>)> = None;
    for (n, entry) in entries.enumerate() {
        let Ok(entry) = entry else { break };
        if n as u64 >= limit {
            break;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = name.trim_start_matches("./").to_owned();
        if found.is_none()
            && entry.header().entry_type().is_file()
            && let Some(prefix) = manifest_prefix(&name)
        {
            let size = entry.size();
            found = Some((prefix.to_owned(), read_bounded(size, entry)));
        }
        names.push(name);
    }
    let (prefix, text) = found?;
    let members: BTreeSet<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix(prefix.as_str()))
        .collect();
    let requirements = judge_manifest(text, &|n| members.contains(n), ctx);
    Some(MarArchive {
        depth: ctx.depth(),
        requirements,
        prefix,
    })
}

/// The manifest's bytes, when it is no larger than the scanner reads.
fn read_bounded(size: u64, file: impl Read) -> Result<Vec<u8>, String> {
    if size > MAX_MANIFEST {
        return Err(format!(
            "is {size} bytes, over the {MAX_MANIFEST} bytes the scanner reads"
        ));
    }
    let mut text = Vec::new();
    file.take(MAX_MANIFEST)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot be read ({e})"))?;
    Ok(text)
}

/// Judges a manifest (its bytes, or why they could not be had) against the files of the model
/// folder (`has`, names relative to the folder the manifest's `MAR-INF` is in); returns the
/// requirements file it names.
fn judge_manifest(
    text: Result<Vec<u8>, String>,
    has: &dyn Fn(&str) -> bool,
    ctx: &mut Ctx<'_>,
) -> Option<String> {
    let text = match text {
        Ok(text) => text,
        Err(why) => {
            manifest_problem(ctx, why);
            return None;
        }
    };
    let manifest = match json::parse_like_python(&text) {
        Ok(v) => v,
        Err(e) => {
            manifest_problem(ctx, format!("is not JSON Python reads ({e})"));
            return None;
        }
    };
    let Some(model) = manifest.get("model").filter(|m| m.is_object()) else {
        manifest_problem(ctx, "has no `model` object".to_owned());
        return None;
    };
    let runtime = manifest
        .get("runtime")
        .and_then(Value::as_str)
        .unwrap_or("python");
    if !matches!(runtime, "python" | "python3") {
        ctx.report(
            RuleId::MarManifest,
            None,
            format!(
                "the archive's runtime is `{runtime}`: its handler is not Python source the scanner can read (the LSP runtime loads a native library)"
            ),
            Some(format!("runtime: {runtime}")),
        );
    }
    match string_field(model, "handler") {
        None => manifest_problem(ctx, "names no handler (`model.handler`)".to_owned()),
        Some(handler) => {
            let module = handler_module(handler);
            let in_archive = has(&format!("{module}.py")) || has(&format!("{module}/__init__.py"));
            if !in_archive && !BUILTIN_HANDLERS.contains(&module) {
                ctx.report(
                    RuleId::MarManifest,
                    None,
                    format!(
                        "the handler `{handler}` named in the manifest is neither in the archive nor one of TorchServe's built-in handlers: TorchServe imports whatever module `{module}` the worker's Python path holds"
                    ),
                    Some(format!("model.handler: {handler}")),
                );
            }
        }
    }
    string_field(model, "requirementsFile").map(str::to_owned)
}

fn manifest_problem(ctx: &mut Ctx<'_>, what: String) {
    ctx.report(
        RuleId::MarManifest,
        None,
        format!(
            "the TorchServe manifest {MANIFEST} {what}; which handler the server imports cannot be established"
        ),
        None,
    );
}

/// Analyses a text member of the TorchServe archive being analysed (a Python module or the
/// requirements file); returns whether it was one, so that the generic text analysis leaves it.
pub fn analyse_member(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    let Some(mar) = ctx.state().mar.last().cloned() else {
        return analyse_folder_file(data, ctx);
    };
    if ctx.depth() != mar.depth + 1 {
        return false;
    }
    let name = ctx.name().trim_start_matches("./");
    let Some(name) = name.strip_prefix(mar.prefix.as_str()) else {
        return false;
    };
    let name = name.to_owned();
    analyse_served(data, &name, mar.requirements.as_deref(), ctx)
}

/// A Python module or the requirements file of the model folder TorchServe serves (`name`
/// relative to it), judged as model code or as what pip installs; false for anything else.
fn analyse_served(data: &[u8], name: &str, requirements: Option<&str>, ctx: &mut Ctx<'_>) -> bool {
    if name.ends_with(".py") {
        analyse_python(data, name, ctx);
        return true;
    }
    if requirements == Some(name) || name == "requirements.txt" {
        analyse_requirements(data, name, ctx);
        return true;
    }
    false
}

/// Folders above a file searched for the `MAR-INF/MANIFEST.json` of an unpacked archive.
const FOLDER_LEVELS: usize = 4;

/// A file of an unpacked TorchServe archive (`torch-model-archiver --archive-format
/// no-archive`, or a `.mar` unzipped into the model store), scanned on its own: the manifest
/// itself, judged against the files beside its `MAR-INF` folder, or a Python module or the
/// requirements file of that folder (found up to [`FOLDER_LEVELS`] folders up).
fn analyse_folder_file(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    if ctx.depth() != 0 {
        return false;
    }
    let name = ctx.name();
    let maybe = name == "MANIFEST.json" || name.ends_with(".py") || name.ends_with(".txt");
    if !maybe {
        return false;
    }
    let Some(path) = ctx.disk_path() else {
        return false;
    };
    let Some(folder) = path
        .ancestors()
        .skip(1)
        .take(FOLDER_LEVELS)
        .find(|dir| dir.join(MANIFEST).is_file())
    else {
        return false;
    };
    let manifest = folder.join(MANIFEST);
    let Ok(relative) = path.strip_prefix(folder) else {
        return false;
    };
    let relative = relative.to_string_lossy().replace('\\', "/");
    let text = read_manifest_file(&manifest);
    if relative == MANIFEST {
        judge_manifest(text, &|n| folder.join(n).is_file(), ctx);
        return true;
    }
    // The manifest's own problems are reported on the manifest.
    let requirements = text.ok().and_then(|text| {
        let manifest = json::parse_like_python(&text).ok()?;
        string_field(manifest.get("model")?, "requirementsFile").map(str::to_owned)
    });
    analyse_served(data, &relative, requirements.as_deref(), ctx)
}

fn read_manifest_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be opened ({e})"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot be read ({e})"))?
        .len();
    read_bounded(size, file)
}

#[cfg(feature = "python")]
fn analyse_python(data: &[u8], name: &str, ctx: &mut Ctx<'_>) {
    use crate::formats::python;
    let source = match std::str::from_utf8(data) {
        Ok(s) => s,
        Err(_) => return unanalysed(name, "it is not UTF-8 text", ctx),
    };
    let analysis = match python::analyse(source) {
        Ok(a) => a,
        Err(e) => {
            return unanalysed(name, &format!("it does not parse as Python 3 ({e})"), ctx);
        }
    };
    for v in python::judge_with(&analysis, true, ENTRY_POINTS) {
        let rule = if v.clearly_malicious {
            RuleId::MarHandlerMalicious
        } else {
            RuleId::MarHandlerSuspicious
        };
        ctx.report(
            rule,
            None,
            format!(
                "`{name}`, code TorchServe imports and runs when it serves the model, {}",
                v.what
            ),
            Some(format!("{name}:{}: {}", v.line, v.evidence)),
        );
    }
}

#[cfg(not(feature = "python"))]
fn analyse_python(_: &[u8], name: &str, ctx: &mut Ctx<'_>) {
    unanalysed(
        name,
        "this build of quarantine has no Python analyser (cargo feature `python`)",
        ctx,
    );
}

fn unanalysed(name: &str, why: &str, ctx: &mut Ctx<'_>) {
    ctx.report(
        RuleId::PythonUnanalysed,
        Some(0),
        format!("`{name}`, Python code of a TorchServe archive, could not be analysed: {why}"),
        None,
    );
}

/// Why pip would fetch or build something other than a named release from PyPI for one
/// requirements line, if it would.
pub fn requirement_source(line: &str) -> Option<&'static str> {
    // pip drops comments (` #` or a line starting with `#`) and joins `\` continuations
    // before reading options.
    let line = match line.find(" #").or_else(|| line.find("\t#")) {
        Some(at) => line.get(..at).unwrap_or(line),
        None => line,
    };
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let lower = line.to_ascii_lowercase();
    let option = |names: &[&str]| {
        names.iter().any(|n| {
            lower.strip_prefix(n).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with([' ', '\t', '=']) || n.len() == 2
            })
        })
    };
    if option(&["--index-url", "-i"]) {
        return Some("replaces the package index");
    }
    if option(&["--extra-index-url"]) {
        return Some("adds a package index");
    }
    if option(&["--find-links", "-f"]) {
        return Some("makes pip take packages from a link page or folder");
    }
    if option(&["--trusted-host"]) {
        return Some("turns off TLS checks for a host");
    }
    if option(&["--editable", "-e"]) {
        return Some("installs a project from a folder or repository");
    }
    if option(&["--requirement", "-r", "--constraint", "-c"]) {
        return Some("reads another requirements file");
    }
    for vcs in ["git+", "hg+", "svn+", "bzr+"] {
        if lower.starts_with(vcs)
            || lower.contains(&format!("@ {vcs}"))
            || lower.contains(&format!("@{vcs}"))
        {
            return Some("installs from a version-control repository");
        }
    }
    if lower.contains("://") || lower.starts_with("file:") {
        return Some("installs from a URL");
    }
    if lower.starts_with(['.', '/', '\\', '~'])
        || lower.get(1..3) == Some(":\\")
        || lower.ends_with(".whl")
        || lower.ends_with(".tar.gz")
        || lower.ends_with(".zip")
    {
        return Some("installs from a local path");
    }
    if lower.starts_with('-') {
        return Some("passes an option to pip");
    }
    None
}

fn analyse_requirements(data: &[u8], name: &str, ctx: &mut Ctx<'_>) {
    let text = String::from_utf8_lossy(data);
    let joined = text.replace("\\\r\n", "").replace("\\\n", "");
    let mut listed = 0usize;
    for (n, line) in joined.lines().enumerate() {
        let Some(why) = requirement_source(line) else {
            continue;
        };
        listed += 1;
        if listed > MAX_LISTED {
            break;
        }
        ctx.report(
            RuleId::MarRequirements,
            None,
            format!(
                "`{name}`, which TorchServe installs with pip when `install_py_dep_per_model` is on, {why}: what gets installed and run is not a named release from PyPI"
            ),
            Some(format!("{name}:{}: {}", n + 1, line.trim())),
        );
    }
}

#[cfg(test)]
mod tests;
