//! The TensorFlow protobuf messages quarantine reads (a subset of TensorFlow 2.18's), generated
//! from `proto/tensorflow.proto` by `build.rs`.
#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));
