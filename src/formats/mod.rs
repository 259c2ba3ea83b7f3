//! Leaf analysers, one module per format.

pub mod numpy;
pub mod onnx;
pub mod pickle;
pub mod safetensors;
