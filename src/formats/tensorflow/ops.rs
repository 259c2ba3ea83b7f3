//! TensorFlow ops that reach past the tensors: Python callbacks, native code, host files.
//! Each entry says why; the list is the closing note's "ops treated as dangerous".

/// How an op reaches the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Danger {
    /// Calls back into the loading Python process or loads native code: always malicious.
    Python(&'static str),
    /// Writes or deletes host files: always malicious in a shipped graph.
    Write(&'static str),
    /// Reads or lists host files: malicious with a constant path, suspicious otherwise.
    Read(&'static str),
    /// Save/Restore: ordinary with a fed path, malicious with a constant path outside the model.
    Checkpoint,
    /// Dataset readers: ordinary in input pipelines, malicious with a constant escaping path.
    Dataset,
    /// Network-capable, debugging or native-extension ops: suspicious.
    Unusual(&'static str),
}

const PY: &str = "calls a Python function registered in the loading process (tf.py_function / tf.numpy_function)";

/// Every op treated as dangerous, with why.
pub const DANGEROUS: &[(&str, Danger)] = &[
    ("PyFunc", Danger::Python(PY)),
    ("PyFuncStateless", Danger::Python(PY)),
    ("EagerPyFunc", Danger::Python(PY)),
    ("EagerPyFuncV2", Danger::Python(PY)),
    ("NumpyFunction", Danger::Python(PY)),
    (
        "LoadLibrary",
        Danger::Python("loads a native shared library into the process"),
    ),
    (
        "LoadOpLibrary",
        Danger::Python("loads a native shared library into the process"),
    ),
    (
        "WriteFile",
        Danger::Write("writes a host file with contents from the graph"),
    ),
    ("DeleteFile", Danger::Write("deletes a host file")),
    (
        "DatasetToTFRecord",
        Danger::Write("writes a dataset to a host file"),
    ),
    (
        "SaveDataset",
        Danger::Write("writes a dataset to a host path"),
    ),
    (
        "SaveDatasetV2",
        Danger::Write("writes a dataset to a host path"),
    ),
    (
        "ReadFile",
        Danger::Read("reads a whole host file into a tensor"),
    ),
    (
        "MatchingFiles",
        Danger::Read("lists host files matching a pattern"),
    ),
    ("WholeFileReader", Danger::Read("reads whole host files")),
    ("WholeFileReaderV2", Danger::Read("reads whole host files")),
    ("ImmutableConst", Danger::Dataset),
    (
        "InitializeTableFromTextFile",
        Danger::Read("reads a host text file into a lookup table"),
    ),
    (
        "InitializeTableFromTextFileV2",
        Danger::Read("reads a host text file into a lookup table"),
    ),
    (
        "LoadDataset",
        Danger::Read("reads a saved dataset from a host path"),
    ),
    ("Save", Danger::Checkpoint),
    ("SaveV2", Danger::Checkpoint),
    ("SaveSlices", Danger::Checkpoint),
    ("Restore", Danger::Checkpoint),
    ("RestoreV2", Danger::Checkpoint),
    ("RestoreSlice", Danger::Checkpoint),
    ("MergeV2Checkpoints", Danger::Checkpoint),
    ("ShardedFilename", Danger::Checkpoint),
    ("TFRecordDataset", Danger::Dataset),
    ("TFRecordDatasetV2", Danger::Dataset),
    ("TextLineDataset", Danger::Dataset),
    ("FixedLengthRecordDataset", Danger::Dataset),
    ("FixedLengthRecordDatasetV2", Danger::Dataset),
    ("TFRecordReader", Danger::Dataset),
    ("TFRecordReaderV2", Danger::Dataset),
    ("TextLineReader", Danger::Dataset),
    ("TextLineReaderV2", Danger::Dataset),
    ("LMDBDataset", Danger::Dataset),
    ("CSVDataset", Danger::Dataset),
    ("CSVDatasetV2", Danger::Dataset),
    ("SnapshotDataset", Danger::Dataset),
    ("SnapshotDatasetV2", Danger::Dataset),
    (
        "SqlDataset",
        Danger::Unusual("queries a database over a connection named in the graph"),
    ),
    (
        "Rpc",
        Danger::Unusual("calls a remote server (tf.contrib.rpc)"),
    ),
    (
        "TryRpc",
        Danger::Unusual("calls a remote server (tf.contrib.rpc)"),
    ),
    (
        "DebugIdentity",
        Danger::Unusual("dumps tensors to the debug URLs in its attributes"),
    ),
    (
        "DebugIdentityV2",
        Danger::Unusual("dumps tensors to a dump root on the host"),
    ),
    (
        "DebugNanCount",
        Danger::Unusual("dumps tensors to the debug URLs in its attributes"),
    ),
    (
        "CreateSummaryFileWriter",
        Danger::Unusual("writes event files to a host log directory"),
    ),
    (
        "CreateSummaryDbWriter",
        Danger::Unusual("writes a summary database on the host"),
    ),
    (
        "RpcClient",
        Danger::Unusual("connects to a remote server (tf.distribute.experimental.rpc)"),
    ),
    (
        "RpcCall",
        Danger::Unusual("calls a remote server (tf.distribute.experimental.rpc)"),
    ),
    (
        "RpcServer",
        Danger::Unusual("starts a server on the host (tf.distribute.experimental.rpc)"),
    ),
    (
        "RpcServerStart",
        Danger::Unusual("starts a server on the host (tf.distribute.experimental.rpc)"),
    ),
    (
        "DataServiceDataset",
        Danger::Unusual("reads data from a tf.data service over the network"),
    ),
    (
        "RegisterDataset",
        Danger::Unusual("registers a dataset with a tf.data service over the network"),
    ),
    (
        "DistributedSave",
        Danger::Write("writes a dataset to a host path through a tf.data service"),
    ),
    (
        "FileSystemSetConfiguration",
        Danger::Unusual("changes the configuration of the process's file systems"),
    ),
    ("SnapshotChunkDataset", Danger::Dataset),
    ("SnapshotNestedDatasetReader", Danger::Dataset),
    (
        "DecodeProto",
        Danger::Read(
            "reads a protobuf descriptor set from the host file named in its `descriptor_source`",
        ),
    ),
];

/// TensorFlow registers ops under older `Experimental…` names and newer `…V2`, `…V3` versions
/// that do the same thing: an op is judged by its base name when its exact name is not listed.
pub fn base_name(op: &str) -> &str {
    let op = op.strip_prefix("Experimental").unwrap_or(op);
    match op.rfind('V') {
        Some(at)
            if at > 0
                && op.len() > at + 1
                && op
                    .get(at + 1..)
                    .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit())) =>
        {
            op.get(..at).unwrap_or(op)
        }
        _ => op,
    }
}

/// Attributes that hold paths for the dangerous ops above.
pub const PATH_ATTRS: &[&str] = &[
    "memory_region_name",
    "debug_urls",
    "dump_root",
    "filename",
    "descriptor_source",
];

/// Attribute values that name no host file: DecodeProto's built-in descriptors and inline bytes.
pub fn names_no_file(value: &str) -> bool {
    value.starts_with("local://") || value.starts_with("bytes://")
}

pub fn danger(op: &str) -> Option<Danger> {
    let exact = DANGEROUS.iter().find(|(name, _)| *name == op);
    let base = base_name(op);
    exact
        .or_else(|| DANGEROUS.iter().find(|(name, _)| base_name(name) == base))
        .map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_and_newer_names_of_an_op_are_judged_alike() {
        assert_eq!(
            base_name("ExperimentalDatasetToTFRecord"),
            "DatasetToTFRecord"
        );
        assert_eq!(base_name("DebugIdentityV3"), "DebugIdentity");
        assert_eq!(base_name("DataServiceDatasetV4"), "DataServiceDataset");
        assert_eq!(base_name("V2"), "V2");
        assert_eq!(base_name("MatMul"), "MatMul");
        assert!(matches!(
            danger("ExperimentalDatasetToTFRecord"),
            Some(Danger::Write(_))
        ));
        assert!(matches!(
            danger("ExperimentalSqlDataset"),
            Some(Danger::Unusual(_))
        ));
        assert!(matches!(
            danger("ExperimentalLMDBDataset"),
            Some(Danger::Dataset)
        ));
        assert!(matches!(danger("DecodeProtoV2"), Some(Danger::Read(_))));
        assert!(matches!(danger("SaveV2"), Some(Danger::Checkpoint)));
        assert_eq!(danger("MatMul"), None);
        assert_eq!(danger("ConcatV2"), None);
    }
}
