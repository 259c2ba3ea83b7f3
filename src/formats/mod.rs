//! Leaf analysers, one module per format.

pub mod hdf5;
pub mod hostcalls;
pub mod keras;
pub mod numpy;
pub mod onnx;
pub mod pickle;
pub mod safetensors;
pub mod staged;
pub mod tensorflow;
pub mod tflite;
pub mod torchscript;
