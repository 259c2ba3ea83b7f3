//! Which operators a runtime resolves without loading foreign code, and which ones hand control
//! to Python.

/// Operator set domains whose operators ship with ONNX Runtime itself.
const STANDARD_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
];

/// ONNX Runtime's documented contrib operators (`docs/ContribOperators.md`), the only ones it
/// resolves in the `com.microsoft` domain without a custom operator library.
const MICROSOFT_CONTRIB_OPS: &[&str] = &[
    "Attention",
    "AttnLSTM",
    "BeamSearch",
    "BiasAdd",
    "BiasDropout",
    "BiasGelu",
    "BiasSoftmax",
    "BiasSplitGelu",
    "BifurcationDetector",
    "BitmaskBiasDropout",
    "BitmaskDropout",
    "CDist",
    "CausalConvWithState",
    "ComplexMul",
    "ComplexMulConj",
    "ConvTransposeWithDynamicPads",
    "CropAndResize",
    "DecoderAttention",
    "DecoderMaskedMultiHeadAttention",
    "DecoderMaskedSelfAttention",
    "DequantizeBFP",
    "DequantizeLinear",
    "DequantizeWithOrder",
    "DynamicQuantizeLSTM",
    "DynamicQuantizeMatMul",
    "DynamicTimeWarping",
    "EPContext",
    "EmbedLayerNormalization",
    "EngramGate",
    "ExpandDims",
    "FastGelu",
    "FusedConv",
    "FusedGemm",
    "FusedMatMul",
    "FusedMatMulActivation",
    "GatedAdd",
    "GatedDeltaNet",
    "GatedRMSNorm",
    "GatedRelativePositionBias",
    "GatherBlockQuantized",
    "GatherND",
    "Gelu",
    "GemmFastGelu",
    "GemmFloat8",
    "GemmaRotaryEmbedding",
    "GreedySearch",
    "GridSample",
    "GroupNorm",
    "GroupQueryAttention",
    "Inverse",
    "Irfft",
    "IsAllFinite",
    "LinearAttention",
    "LinearAttentionGate",
    "LongformerAttention",
    "MRotaryEmbedding",
    "MatMulBlockQuantizedFp4Weight",
    "MatMulBlockQuantizedFp8Weight",
    "MatMulBnb4",
    "MatMulFpQ4",
    "MatMulInteger16",
    "MatMulIntegerToFloat",
    "MatMulNBits",
    "MatMulNBitsMlp",
    "MatMulNBitsQkv",
    "MaxpoolWithMask",
    "MoE",
    "MulInteger",
    "MultiHeadAttention",
    "MurmurHash3",
    "NGramHashMapping",
    "NGramRepeatBlock",
    "NhwcConv",
    "NhwcFusedConv",
    "NhwcMaxPool",
    "PackedAttention",
    "PackedMultiHeadAttention",
    "Pad",
    "PagedAttention",
    "QAttention",
    "QEmbedLayerNormalization",
    "QGemm",
    "QLinearAdd",
    "QLinearAveragePool",
    "QLinearConcat",
    "QLinearConv",
    "QLinearGlobalAveragePool",
    "QLinearLeakyRelu",
    "QLinearMul",
    "QLinearReduceMean",
    "QLinearSigmoid",
    "QLinearSoftmax",
    "QLinearWhere",
    "QMoE",
    "QOrderedAttention",
    "QOrderedGelu",
    "QOrderedLayerNormalization",
    "QOrderedLongformerAttention",
    "QOrderedMatMul",
    "QuantizeBFP",
    "QuantizeLinear",
    "QuantizeWithOrder",
    "QuickGelu",
    "Range",
    "ReduceSumInteger",
    "RelativePositionBias",
    "RemovePadding",
    "RestorePadding",
    "Rfft",
    "RotaryEmbedding",
    "SampleOp",
    "Sampling",
    "SkipGroupNorm",
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "Snpe",
    "SparseAttention",
    "SparseToDenseMatMul",
    "Tokenizer",
    "TorchEmbedding",
    "TransposeMatMul",
    "Trilu",
    "UnfoldTensor",
    "Unique",
    "VarlenCausalConvWithState",
    "VarlenNGramHashMapping",
    "WhisperBeamSearch",
    "WordConvEmbedding",
];

/// The domain onnxruntime-extensions registers its operators in, Python ones (`@onnx_op`)
/// included.
const EXTENSIONS_DOMAIN: &str = "ai.onnx.contrib";

/// The NCHWc kernels of ONNX Runtime's CPU provider (`com.microsoft.nchwc`), which its graph
/// optimiser writes into models saved with `optimized_model_filepath`.
const MICROSOFT_NCHWC_OPS: &[&str] = &[
    "AveragePool",
    "Conv",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "MaxPool",
    "ReorderInput",
    "ReorderOutput",
    "Upsample",
];

/// Whether ONNX Runtime resolves `domain`.`op_type` on its own, without a custom operator library.
pub fn is_standard(domain: &str, op_type: &str) -> bool {
    STANDARD_DOMAINS.contains(&domain)
        || (domain == "com.microsoft" && MICROSOFT_CONTRIB_OPS.contains(&op_type))
        || (domain == "com.microsoft.nchwc" && MICROSOFT_NCHWC_OPS.contains(&op_type))
}

/// Whether the operator dispatches to Python code registered in the loading process: ONNX
/// Runtime's language-interop `PyOp`, and onnxruntime-extensions' Python operators (`Py*` in
/// its domain).
pub fn is_python_op(domain: &str, op_type: &str) -> bool {
    matches!(op_type, "PyOp" | "PythonOp" | "PyFunc")
        || (domain == EXTENSIONS_DOMAIN && op_type.starts_with("Py"))
}

/// Attribute names under which Python operators carry their code or the module to import.
const CODE_ATTRIBUTES: &[&str] = &[
    "code",
    "source",
    "script",
    "compute",
    "module",
    "class_name",
    "function",
    "func",
    "py_code",
    "python_code",
];

/// Fragments that occur in Python source and hardly ever in an ordinary string attribute.
const CODE_MARKERS: &[&str] = &[
    "import ",
    "def ",
    "exec(",
    "eval(",
    "__import__",
    "os.system",
    "subprocess",
    "lambda ",
];

/// Whether a string attribute carries source code (or names code to import). Names count only
/// on non-standard operators (ONNX Runtime's own `EPContext` has a `source`); text needs two
/// different markers, so that a tokenizer vocabulary entry such as `def ` is not code.
pub fn carries_code(name: &str, value: &[u8], standard: bool) -> bool {
    let text = String::from_utf8_lossy(value);
    let named = !standard && CODE_ATTRIBUTES.contains(&name) && !text.trim().is_empty();
    named || CODE_MARKERS.iter().filter(|m| text.contains(*m)).count() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_custom_operators() {
        assert!(is_standard("", "Conv"));
        assert!(is_standard("ai.onnx.ml", "TreeEnsembleClassifier"));
        assert!(is_standard("com.microsoft", "FusedMatMul"));
        assert!(!is_standard("com.microsoft", "MyOwnKernel"));
        assert!(is_standard("com.microsoft.nchwc", "ReorderInput"));
        assert!(!is_standard("com.microsoft.nchwc", "MyOwnKernel"));
        assert!(!is_standard("com.example", "Relu"));
        assert!(is_python_op("ai.onnx.contrib", "PyReverseMatrix"));
        assert!(is_python_op("", "PyOp"));
        assert!(!is_python_op("ai.onnx.contrib", "StringUpper"));
    }

    #[test]
    fn code_in_attributes() {
        assert!(carries_code("code", b"print(1)", false));
        assert!(!carries_code("source", b"QNN", true));
        assert!(carries_code("x", b"import os\nos.system('id')", true));
        assert!(!carries_code("vocab", b"def ", true));
        assert!(!carries_code("mode", b"constant", false));
        assert!(!carries_code("code", b"", false));
    }
}
