//! Leaf analysers, one module per format.

pub mod executable;
pub mod gguf;
pub mod hf;
pub mod numpy;
pub mod onnx;
pub mod pickle;
#[cfg(feature = "python")]
pub mod python;
pub mod safetensors;
pub mod template;
pub mod text;
