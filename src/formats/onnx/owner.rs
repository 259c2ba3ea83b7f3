//! Which ONNX model beside a file names it as its external data. Models over 2 GB are saved as
//! a small graph (`model.onnx`) plus a raw tensor file (`model.onnx.data`, any name) that
//! matches no format by its content; scanned on its own, that file would be "unknown binary".
//! It is known once a model in the same directory is found to name it.

use std::fs::File;
use std::path::Path;

use prost::Message;

use super::proto::{GraphProto, ModelProto, TensorProto};
use crate::zone::mmap;
use crate::zone::sibling::lexical_escape;

/// Directory entries looked at, and ONNX models among them decoded, before giving up: a
/// registry directory can hold thousands of files.
const MAX_ENTRIES: usize = 4096;
const MAX_MODELS: usize = 16;
/// Memory a sibling model may take decoded (see [`super::census`]); larger ones are skipped.
const MAX_DECODED: u64 = 512 << 20;
/// Graphs and tensor-carrying attributes visited in one model.
const MAX_VISITS: usize = 1 << 20;

/// The file name of an ONNX model in `data_file`'s directory (at most `max_bytes` long) that
/// reads `data_file` as external data, if there is one.
pub fn external_data_owner(data_file: &Path, max_bytes: u64) -> Option<String> {
    let target = data_file.canonicalize().ok()?;
    let dir = target.parent()?;
    let name = target.file_name()?.to_str()?;
    let mut models = 0;
    for entry in std::fs::read_dir(dir).ok()?.take(MAX_ENTRIES) {
        let Ok(path) = entry.map(|e| e.path()) else {
            continue;
        };
        let Ok(meta) = path.metadata() else { continue };
        if path == target || !meta.is_file() || meta.len() > max_bytes {
            continue;
        }
        let Ok(mapped) = File::open(&path).and_then(|f| mmap::map(&f)) else {
            continue;
        };
        // The name must appear in the model's bytes before anything is decoded.
        if !super::looks_like_onnx(&mapped)
            || memchr::memmem::find(&mapped, name.as_bytes()).is_none()
        {
            continue;
        }
        models += 1;
        if models > MAX_MODELS {
            return None;
        }
        if super::census::estimate(&mapped, true).is_none_or(|cost| cost > MAX_DECODED) {
            continue;
        }
        // Decoded from the shared mapping, so initializers are slices of the file, not copies.
        let shared = bytes::Bytes::from_owner(mmap::Shared(std::sync::Arc::new(mapped)));
        let Ok(model) = ModelProto::decode(shared) else {
            continue;
        };
        if names_as_external_data(&model, dir, &target) {
            return path.file_name().map(|n| n.to_string_lossy().into_owned());
        }
    }
    None
}

/// Whether a tensor anywhere in `model` (graphs, subgraphs, functions, training graphs) keeps
/// its data in `target`, a canonical path, resolving locations against `dir` as loaders do.
fn names_as_external_data(model: &ModelProto, dir: &Path, target: &Path) -> bool {
    let mut graphs: Vec<&GraphProto> = model.graph.iter().collect();
    for info in &model.training_info {
        graphs.extend(info.initialization.iter().chain(&info.algorithm));
    }
    let mut tensors: Vec<&TensorProto> = Vec::new();
    let mut attributes: Vec<_> = model
        .functions
        .iter()
        .flat_map(|f| &f.node)
        .flat_map(|n| &n.attribute)
        .collect();
    let mut visits = 0;
    while visits < MAX_VISITS {
        visits += 1;
        if let Some(graph) = graphs.pop() {
            tensors.extend(&graph.initializer);
            for sparse in &graph.sparse_initializer {
                tensors.extend(sparse.values.iter().chain(&sparse.indices));
            }
            attributes.extend(graph.node.iter().flat_map(|n| &n.attribute));
        } else if let Some(a) = attributes.pop() {
            tensors.extend(a.t.iter().chain(&a.tensors));
            for sparse in a.sparse_tensor.iter().chain(&a.sparse_tensors) {
                tensors.extend(sparse.values.iter().chain(&sparse.indices));
            }
            graphs.extend(a.g.iter().chain(&a.graphs));
        } else {
            break;
        }
    }
    tensors.iter().any(|tensor| {
        // The last `location` wins, as in onnx and ONNX Runtime.
        let location = tensor
            .external_data
            .iter()
            .rev()
            .find(|e| e.key == "location")
            .map(|e| e.value.as_str());
        location.is_some_and(|l| {
            lexical_escape(l).is_none()
                && dir.join(l).canonicalize().is_ok_and(|real| real == target)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::onnx::proto::{NodeProto, OperatorSetIdProto, StringStringEntryProto};

    fn model_naming(location: &str) -> Vec<u8> {
        let tensor = TensorProto {
            name: "w".into(),
            data_location: 1,
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: location.into(),
            }],
            ..Default::default()
        };
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    op_type: "Identity".into(),
                    ..Default::default()
                }],
                initializer: vec![tensor],
                ..Default::default()
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn finds_the_model_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("weights.bin"), [7u8; 64]).unwrap();
        std::fs::write(dir.path().join("other.bin"), [7u8; 64]).unwrap();
        std::fs::write(dir.path().join("model.onnx"), model_naming("./weights.bin")).unwrap();
        let owner = external_data_owner(&dir.path().join("weights.bin"), 1 << 20);
        assert_eq!(owner.as_deref(), Some("model.onnx"));
        assert_eq!(
            external_data_owner(&dir.path().join("other.bin"), 1 << 20),
            None
        );
        // Over the size limit, the model is not read.
        assert_eq!(
            external_data_owner(&dir.path().join("weights.bin"), 8),
            None
        );
    }
}
