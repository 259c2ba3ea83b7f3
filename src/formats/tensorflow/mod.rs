//! TensorFlow graphs: a SavedModel's `saved_model.pb`, a `*.meta` MetaGraphDef, a frozen
//! GraphDef `.pb`, and Keras's `keras_metadata.pb` beside them. Decoded with prost into our own
//! subset of TensorFlow's messages ([`proto`]), then every node of the graph and of every
//! function in its library is judged by its op ([`ops`]): ops that call back into Python, load
//! native code, or touch host files with constant paths. The paths and strings reaching them
//! are the evidence. Recognised by structure, never by name.

pub mod bundle;
mod detect;
pub(crate) mod ops;
pub mod proto;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};

use prost::Message;

use crate::formats::hostcalls;
use crate::formats::keras;
use crate::model::rules::RuleId;
use crate::model::summary::{FrameworkSummary, ModelSummary};
use crate::scan::context::{Ctx, Origin};
pub use detect::{Kind, detect};
use ops::Danger;

/// Graphs larger than this are not decoded.
const MAX_BYTES: usize = 2 << 30;
/// Nodes judged per file, all graphs and functions together.
const MAX_NODES: usize = 2_000_000;
/// Hops followed upstream from a file op's input to find the constant strings reaching it.
const MAX_HOPS: u32 = 6;

/// Files beside a TensorFlow model that match no format by their content: a SavedModel's
/// `fingerprint.pb` (recognised by its structure, beside a `saved_model.pb`) and a checkpoint's
/// data shards (vouched for by the `.index` beside them). `false` when `data` is neither.
pub fn analyse_sidecar(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    let Some(path) = ctx.disk_path() else {
        return false;
    };
    if bundle::is_fingerprint(data) && bundle::saved_model_beside(path) {
        ctx.report(
            RuleId::TfFingerprint,
            Some(0),
            "a SavedModel fingerprint (hashes of the `saved_model.pb` beside it); nothing loads it as a model",
            None,
        );
        return true;
    }
    match bundle::shard(path, data.len() as u64) {
        Some(bundle::Shard::Described { index, tensors }) => ctx.report(
            RuleId::TfCheckpointShard,
            None,
            format!("raw tensor bytes of a TensorFlow checkpoint: the index `{index}` beside this file places {tensors} tensor(s) in it, covering every byte"),
            None,
        ),
        Some(bundle::Shard::Mismatch { index, why }) => ctx.report(
            RuleId::TfCheckpointShardMismatch,
            None,
            format!("named as a data shard of the checkpoint `{index}`, but the index does not describe this file: {why}"),
            Some(why.clone()),
        ),
        None => return false,
    }
    true
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let Some(kind) = detect(data) else {
        return ctx.report(
            RuleId::TfMalformed,
            Some(0),
            "recognised as a TensorFlow protobuf but its structure does not hold",
            None,
        );
    };
    if data.len() > MAX_BYTES {
        return ctx.report(
            RuleId::TfMalformed,
            Some(0),
            format!(
                "the graph is {} bytes, over the {MAX_BYTES}-byte limit of what is decoded",
                data.len()
            ),
            None,
        );
    }
    let shared = ctx.shared(data);
    let decoded = match kind {
        Kind::SavedModel => {
            decode::<proto::SavedModel>(data, shared).map(|m| (m.meta_graphs, None))
        }
        Kind::MetaGraph => decode::<proto::MetaGraphDef>(data, shared).map(|m| (vec![m], None)),
        Kind::GraphDef => decode::<proto::GraphDef>(data, shared).map(|g| (Vec::new(), Some(g))),
        Kind::VariablesIndex => {
            // Tensor names, dtypes, shapes and offsets into the data shards: nothing runs, but
            // a table TensorFlow cannot read is not vouched for.
            let count = match bundle::read(data) {
                Ok(b) => b.extents.len() as u64,
                Err(why) => {
                    return ctx.report(
                        RuleId::TfMalformed,
                        Some(0),
                        format!(
                            "the checkpoint index (a tensor bundle table) does not decode: {why}"
                        ),
                        None,
                    );
                }
            };
            return ctx.summarise(ModelSummary::Tensorflow(FrameworkSummary {
                producer: kind.name().to_owned(),
                units: "tensors".to_owned(),
                count,
                ..FrameworkSummary::default()
            }));
        }
        Kind::KerasMetadata => {
            return match proto::SavedMetadata::decode(data) {
                Ok(meta) => keras_metadata(&meta, ctx),
                Err(e) => malformed(ctx, &e),
            };
        }
    };
    let (metas, graph) = match decoded {
        Ok(d) => d,
        Err(e) => return malformed(ctx, &e),
    };
    let mut judge = Judge {
        ctx,
        histogram: BTreeMap::new(),
        nodes: 0,
        functions: 0,
        cut: false,
        assets: OwnAssets::default(),
        function: None,
    };
    let mut version = String::new();
    let mut entry = Vec::new();
    if let Some(graph) = &graph {
        judge.graph(graph, "graph");
    }
    for (i, meta) in metas.iter().enumerate() {
        let place = if metas.len() > 1 {
            format!("meta_graphs[{i}]")
        } else {
            "meta_graph".to_owned()
        };
        if let Some(info) = &meta.meta_info_def {
            if version.is_empty() {
                version.clone_from(&info.tensorflow_version);
            }
            if !info.tags.is_empty() {
                entry.push(info.tags.join(","));
            }
        }
        for name in meta.signature_def.keys() {
            if !entry.contains(name) && entry.len() < 8 {
                entry.push(name.clone());
            }
        }
        for asset in &meta.asset_file_def {
            if let Some(why) = hostcalls::path_escape(&asset.filename) {
                judge.ctx.report(
                    RuleId::TfFileOp,
                    None,
                    format!(
                        "{place}: asset file `{}` is {why}; the loader reads assets from the model's assets/ folder joined with this name",
                        asset.filename
                    ),
                    Some(format!("asset_file_def filename {:?}", asset.filename)),
                );
            }
        }
        if let Some(graph) = &meta.graph_def {
            judge.assets = own_assets(meta);
            judge.graph(graph, &place);
            judge.assets = OwnAssets::default();
        }
    }
    if judge.cut {
        judge.ctx.report(
            RuleId::TfMalformed,
            None,
            format!("more than {MAX_NODES} nodes; the rest were not judged"),
            None,
        );
    }
    let (histogram, nodes, functions) = (judge.histogram, judge.nodes, judge.functions);
    let mut notes = Vec::new();
    if functions > 0 {
        notes.push(format!("{functions} library function(s)"));
    }
    ctx.summarise(ModelSummary::Tensorflow(FrameworkSummary {
        producer: kind.name().to_owned(),
        version,
        entry: entry.join(" "),
        units: "ops".to_owned(),
        count: nodes as u64,
        histogram,
        notes,
    }));
}

fn decode<M: Message + Default>(
    data: &[u8],
    shared: Option<bytes::Bytes>,
) -> Result<M, prost::DecodeError> {
    match shared {
        Some(bytes) => M::decode(bytes),
        None => M::decode(data),
    }
}

fn malformed(ctx: &mut Ctx<'_>, e: &prost::DecodeError) {
    let text = e.to_string();
    let text: String = text
        .chars()
        .rev()
        .take(200)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    ctx.report(
        RuleId::TfMalformed,
        None,
        format!("does not decode as the TensorFlow message it looks like: {text}"),
        None,
    );
}

/// `keras_metadata.pb`: one JSON document per saved Keras object; layers carry their config
/// (Lambda bytecode included) as in `config.json`.
fn keras_metadata(meta: &proto::SavedMetadata, ctx: &mut Ctx<'_>) {
    let mut layers: BTreeMap<String, u64> = BTreeMap::new();
    for node in meta.nodes.iter().take(1_000_000) {
        let Ok(value) = crate::formats::json::parse_str(&node.metadata) else {
            if !node.metadata.is_empty() {
                ctx.report(
                    RuleId::KerasMalformed,
                    None,
                    format!(
                        "keras_metadata.pb node `{}`: the metadata is not JSON",
                        node.node_path
                    ),
                    None,
                );
            }
            continue;
        };
        if let Some(class) = value.get("class_name").and_then(|c| c.as_str()) {
            *layers.entry(class.to_owned()).or_default() += 1;
        }
        let source = format!("keras_metadata.pb node `{}`", node.node_path);
        keras::check_config(&value, &source, ctx);
    }
    ctx.summarise(ModelSummary::Keras(FrameworkSummary {
        producer: "keras (SavedModel metadata)".to_owned(),
        version: String::new(),
        entry: String::new(),
        units: "objects".to_owned(),
        count: meta.nodes.len() as u64,
        histogram: layers,
        notes: Vec::new(),
    }));
}

struct Judge<'c, 'x> {
    ctx: &'c mut Ctx<'x>,
    histogram: BTreeMap<String, u64>,
    nodes: usize,
    functions: usize,
    cut: bool,
    /// The model's own assets as the graph sees them ([`own_assets`]).
    assets: OwnAssets,
    /// The function whose body is being judged (`None` for a graph's own nodes).
    function: Option<String>,
}

/// Where a SavedModel's graph holds the paths of its own assets, which the loader points at
/// `assets/<filename>` inside the model folder: TF1 asset tensors (`asset_file_def`'s
/// `tensor_info`, fed with that path when the model loads) and TF2 function inputs captured
/// from an asset object (`object_graph_def`: a concrete function's `bound_inputs` are its last
/// inputs, and one that is a `SavedAsset` receives that path). Only assets whose file name stays
/// inside the folder count.
#[derive(Default)]
struct OwnAssets {
    tensors: HashSet<String>,
    /// (function, input name).
    inputs: HashSet<(String, String)>,
}

fn own_assets(meta: &proto::MetaGraphDef) -> OwnAssets {
    let mut own = OwnAssets::default();
    let inside = |index: usize| {
        meta.asset_file_def.get(index).is_some_and(|a| {
            !a.filename.is_empty() && hostcalls::path_escape(&a.filename).is_none()
        })
    };
    for (i, asset) in meta.asset_file_def.iter().enumerate() {
        if let Some(info) = &asset.tensor_info
            && inside(i)
        {
            let name = info.name.split(':').next().unwrap_or_default();
            own.tensors.insert(name.to_owned());
        }
    }
    let (Some(objects), Some(graph)) = (&meta.object_graph_def, &meta.graph_def) else {
        return own;
    };
    let Some(library) = &graph.library else {
        return own;
    };
    for function in &library.function {
        let Some(signature) = &function.signature else {
            continue;
        };
        let Some(concrete) = objects.concrete_functions.get(&signature.name) else {
            continue;
        };
        let args = &signature.input_arg;
        let Some(first) = args.len().checked_sub(concrete.bound_inputs.len()) else {
            continue;
        };
        for (arg, node) in args.iter().skip(first).zip(&concrete.bound_inputs) {
            let asset = usize::try_from(*node)
                .ok()
                .and_then(|n| objects.nodes.get(n))
                .and_then(|n| n.asset.as_ref());
            if let Some(asset) = asset
                && usize::try_from(asset.asset_file_def_index).is_ok_and(inside)
            {
                own.inputs
                    .insert((signature.name.clone(), arg.name.clone()));
            }
        }
    }
    own
}

impl Judge<'_, '_> {
    fn graph(&mut self, graph: &proto::GraphDef, place: &str) {
        self.nodes_of(&graph.node, place);
        if let Some(library) = &graph.library {
            for function in &library.function {
                self.functions += 1;
                let name = function.signature.as_ref().map_or("?", |s| s.name.as_str());
                self.function = Some(name.to_owned());
                self.nodes_of(&function.node_def, &format!("{place} function `{name}`"));
                self.function = None;
                for (key, value) in &function.attr {
                    self.attr_strings(value, &format!("{place} function `{name}` attr `{key}`"));
                }
            }
        }
    }

    /// Judges the nodes of one graph or function body; constants are looked up within it.
    fn nodes_of(&mut self, nodes: &[proto::NodeDef], place: &str) {
        let by_name: HashMap<&str, &proto::NodeDef> =
            nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        for node in nodes {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                self.cut = true;
                return;
            }
            *self.histogram.entry(node.op.clone()).or_default() += 1;
            for (key, value) in &node.attr {
                self.attr_strings(
                    value,
                    &format!("{place} node `{}` ({}) attr `{key}`", node.name, node.op),
                );
            }
            let Some(danger) = ops::danger(&node.op) else {
                self.attr_paths(node, place);
                continue;
            };
            let mut paths = Vec::new();
            // DecodeProto's inputs are the messages; only its attribute names a file.
            let attribute_only = ops::base_name(&node.op) == "DecodeProto";
            // An input that is one of the model's own assets is the path the loader gives it.
            let mut reads_own_asset = false;
            if !attribute_only {
                for input in &node.input {
                    if self.is_own_asset(input) {
                        reads_own_asset = true;
                        continue;
                    }
                    upstream_strings(&by_name, input, 0, &mut paths);
                }
            }
            for key in ops::PATH_ATTRS {
                if let Some(value) = node.attr.get(*key) {
                    attr_string_values(value, &mut paths);
                }
            }
            // Memory-mapped graphs name their own package, not a host file.
            paths.retain(|p| !p.starts_with("memmapped_package://") && !ops::names_no_file(p));
            // DecodeProto with its descriptors built in or inline reads nothing.
            if attribute_only && paths.is_empty() {
                continue;
            }
            paths.sort();
            paths.dedup();
            paths.truncate(16);
            if reads_own_asset && paths.is_empty() && matches!(danger, Danger::Read(_)) {
                continue;
            }
            self.judge(node, danger, &paths, place);
        }
    }

    /// Whether a node input (`name`, `name:1`, never a control input) is one of the model's
    /// own assets: a TF1 asset tensor, or an input of the function being judged that is
    /// captured from an asset.
    fn is_own_asset(&self, input: &str) -> bool {
        if input.starts_with('^') {
            return false;
        }
        let name = input.split(':').next().unwrap_or_default();
        match &self.function {
            Some(function) => self
                .assets
                .inputs
                .contains(&(function.clone(), name.to_owned())),
            None => self.assets.tensors.contains(name),
        }
    }

    fn judge(&mut self, node: &proto::NodeDef, danger: Danger, paths: &[String], place: &str) {
        let at = format!("{place} node `{}`", node.name);
        let shown = paths
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let evidence = if paths.is_empty() {
            Some(format!("{} op `{}` inputs {:?}", at, node.op, node.input))
        } else {
            Some(format!("{} op `{}` with constant {shown}", at, node.op))
        };
        let escaping: Vec<(&String, &str)> = paths
            .iter()
            .filter_map(|p| hostcalls::path_escape(p).map(|why| (p, why)))
            .collect();
        match danger {
            Danger::Python(why) => self.ctx.report(
                RuleId::TfPythonOp,
                None,
                format!("{at} is a `{}` op, which {why}", node.op),
                evidence,
            ),
            Danger::Write(why) => self.ctx.report(
                RuleId::TfFileOp,
                None,
                format!("{at} is a `{}` op, which {why}", node.op),
                evidence,
            ),
            Danger::Read(why) => {
                if let Some((path, how)) = escaping.first() {
                    self.ctx.report(
                        RuleId::TfFileOp,
                        None,
                        format!(
                            "{at} is a `{}` op, which {why}, on the constant {how} {path:?}",
                            node.op
                        ),
                        evidence,
                    );
                } else if !paths.is_empty() {
                    self.ctx.report(
                        RuleId::TfFileOp,
                        None,
                        format!(
                            "{at} is a `{}` op, which {why}, on a path fixed in the graph",
                            node.op
                        ),
                        evidence,
                    );
                } else {
                    self.ctx.report(
                        RuleId::TfUnusualOp,
                        None,
                        format!(
                            "{at} is a `{}` op, which {why}, on a path computed at run time",
                            node.op
                        ),
                        evidence,
                    );
                }
            }
            Danger::Checkpoint => {
                // Every SavedModel saves and restores through these, with the file name fed
                // at run time; a constant path outside the model is the trick.
                if let Some((path, how)) = escaping.first() {
                    self.ctx.report(
                        RuleId::TfFileOp,
                        None,
                        format!(
                            "{at} is a `{}` op whose checkpoint path is the constant {how} {path:?}, outside the model folder",
                            node.op
                        ),
                        evidence,
                    );
                }
            }
            Danger::Dataset => {
                if let Some((path, how)) = escaping.first() {
                    self.ctx.report(
                        RuleId::TfFileOp,
                        None,
                        format!(
                            "{at} is a `{}` op reading the constant {how} {path:?}",
                            node.op
                        ),
                        evidence,
                    );
                }
            }
            Danger::Unusual(why) => self.ctx.report(
                RuleId::TfUnusualOp,
                None,
                format!("{at} is a `{}` op, which {why}", node.op),
                evidence,
            ),
        }
    }

    /// Path-valued attributes of ops not otherwise dangerous (`PrintV2` writing to a file).
    fn attr_paths(&mut self, node: &proto::NodeDef, place: &str) {
        if let Some(stream) = node.attr.get("output_stream")
            && let Some(proto::attr_value::Value::S(s)) = &stream.value
        {
            let s = String::from_utf8_lossy(s);
            if let Some(path) = s.strip_prefix("file://") {
                let rule = if hostcalls::path_escape(path).is_some() {
                    RuleId::TfFileOp
                } else {
                    RuleId::TfUnusualOp
                };
                self.ctx.report(
                    rule,
                    None,
                    format!(
                        "{place} node `{}` ({}) writes its output to the file {path:?}",
                        node.name, node.op
                    ),
                    Some(format!("output_stream {s:?}")),
                );
            }
        }
    }

    fn attr_strings(&mut self, value: &proto::AttrValue, context: &str) {
        if !self.ctx.wants_extracts() {
            return;
        }
        let mut strings = Vec::new();
        attr_string_values(value, &mut strings);
        for s in strings {
            self.ctx
                .extract(Origin::FrameworkString, context, None, s.as_bytes());
        }
    }
}

/// Every string an attribute value carries: `s`, string lists, string tensors.
fn attr_string_values(value: &proto::AttrValue, out: &mut Vec<String>) {
    use proto::attr_value::Value;
    let tensor = |t: &proto::TensorProto, out: &mut Vec<String>| {
        for s in t.string_val.iter().take(1024) {
            out.push(String::from_utf8_lossy(s).into_owned());
        }
    };
    match &value.value {
        Some(Value::S(s)) => out.push(String::from_utf8_lossy(s).into_owned()),
        Some(Value::Tensor(t)) => tensor(t, out),
        Some(Value::List(list)) => {
            for s in list.s.iter().take(1024) {
                out.push(String::from_utf8_lossy(s).into_owned());
            }
            for t in list.tensor.iter().take(64) {
                tensor(t, out);
            }
        }
        _ => {}
    }
}

/// Constant strings that reach `input` within a few hops upstream (through Identity,
/// StringJoin, Add, …): what a file op would open. Each node is visited once, and at most 256
/// per input, so wide fan-in cannot make this explode.
fn upstream_strings(
    by_name: &HashMap<&str, &proto::NodeDef>,
    input: &str,
    _hops: u32,
    out: &mut Vec<String>,
) {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![(input, 0u32)];
    while let Some((input, hops)) = stack.pop() {
        if hops > MAX_HOPS || seen.len() >= 256 || out.len() >= 64 {
            break;
        }
        let name = input.trim_start_matches('^');
        let name = name.split(':').next().unwrap_or(name);
        let Some(node) = by_name.get(name) else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        if node.op == "Const" {
            if let Some(value) = node.attr.get("value") {
                attr_string_values(value, out);
            }
            continue;
        }
        for next in &node.input {
            if !next.starts_with('^') {
                stack.push((next, hops + 1));
            }
        }
    }
}
