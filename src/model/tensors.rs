//! Tensors an analyser located for the robustness probe: what a PyTorch pickle's
//! `_rebuild_tensor_v2` calls declare (storage, offset, shape, stride, storage type). Every
//! number is as the file declares it, untrusted: the probe checks each against the storage's
//! real bytes before reading any.

/// One tensor a pickle rebuilds from a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickledTensor {
    /// The state-dict key (dotted through nested dicts and module states), or `tensor N` when
    /// the tensor is not reached through a plain dict.
    pub name: String,
    /// The storage's key in its persistent id (`data/<key>` in a zip, the key list of a legacy
    /// file).
    pub storage_key: String,
    /// The storage type the persistent id names (`FloatStorage`, `HalfStorage`, …).
    pub storage_type: String,
    /// `storage_offset`, `size` and `stride`: `None` when the argument is not an integer (or a
    /// tuple of integers).
    pub offset: Option<i64>,
    pub shape: Option<Vec<i64>>,
    pub stride: Option<Vec<i64>>,
}

/// The tensors of one pickle stream, and where it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickledTensors {
    /// The member chain (`!`-joined) of the pickle, `None` for the artifact itself.
    pub member: Option<String>,
    pub tensors: Vec<PickledTensor>,
    /// A legacy `torch.save` file's storages: key, and the byte range of its raw data in the
    /// analysed bytes (after the element count), as the layout check found them.
    pub storages: Vec<(String, std::ops::Range<usize>)>,
    /// Tensors described past the recording cap, not kept.
    pub left_out: u64,
}
