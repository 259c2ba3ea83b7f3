//! Leaf analysers, one module per format.

pub mod gbm;
pub mod hdf5;
pub mod hostcalls;
pub mod keras;
pub mod msgpack;
pub mod nemo;
pub mod numpy;
pub mod onnx;
pub mod pickle;
pub mod safetensors;
pub mod skops;
pub mod staged;
pub mod tensorflow;
pub mod tflite;
pub mod torchscript;
