//! Leaf analysers, one module per format.

pub mod executable;
pub mod executorch;
pub mod gbm;
pub mod gguf;
pub mod hdf5;
pub mod hf;
pub mod hostcalls;
pub mod json;
pub mod keras;
pub mod msgpack;
pub mod nemo;
pub mod numpy;
pub mod onnx;
pub mod pickle;
#[cfg(feature = "python")]
pub mod python;
pub mod safetensors;
pub mod skops;
pub mod staged;
pub mod template;
pub mod tensorflow;
pub mod text;
pub mod tflite;
pub mod torchscript;
pub mod torchserve;
pub mod xmlmodel;
