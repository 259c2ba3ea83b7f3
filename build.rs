//! Compiles `proto/onnx.proto` and `proto/tensorflow.proto` into Rust types with the pure-Rust
//! `protox` compiler, so the build needs no `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    println!("cargo:rerun-if-changed=proto/tensorflow.proto");
    let descriptors = protox::compile(["proto/onnx.proto", "proto/tensorflow.proto"], ["proto"])?;
    prost_build::Config::new()
        // Initializer bytes are the bulk of a model: one `Bytes` instead of a `Vec` avoids a
        // second copy while decoding.
        .bytes([
            ".onnx.TensorProto.raw_data",
            ".tensorflow.TensorProto.tensor_content",
        ])
        .compile_fds(descriptors)?;
    Ok(())
}
