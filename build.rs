//! Compiles `proto/onnx.proto` and `proto/tensorflow.proto` into Rust types with the pure-Rust
//! `protox` compiler, so the build needs no `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    println!("cargo:rerun-if-changed=proto/tensorflow.proto");
    let descriptors = protox::compile(["proto/onnx.proto", "proto/tensorflow.proto"], ["proto"])?;
    write_onnx_schema(&descriptors)?;
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

/// Writes `onnx_schema.rs`: for each message of the `onnx` package (nested ones included), its
/// string fields (`None`) and message fields (`Some(index)`) by number, and the index of
/// `ModelProto`. `formats::onnx::utf8` rewrites non-UTF-8 strings with it.
fn write_onnx_schema(
    set: &prost_types::FileDescriptorSet,
) -> Result<(), Box<dyn std::error::Error>> {
    const TYPE_STRING: i32 = 9;
    const TYPE_MESSAGE: i32 = 11;
    let mut messages: Vec<(String, &prost_types::DescriptorProto)> = Vec::new();
    let mut stack: Vec<(String, &prost_types::DescriptorProto)> = set
        .file
        .iter()
        .filter(|f| f.package() == "onnx")
        .flat_map(|f| {
            f.message_type
                .iter()
                .map(|m| (format!(".onnx.{}", m.name()), m))
        })
        .collect();
    while let Some((name, message)) = stack.pop() {
        for nested in &message.nested_type {
            stack.push((format!("{name}.{}", nested.name()), nested));
        }
        messages.push((name, message));
    }
    messages.sort_by(|a, b| a.0.cmp(&b.0));
    let index = |name: &str| messages.iter().position(|(n, _)| n == name);
    let mut out = String::from("pub const SCHEMA: &[&[(u32, Option<usize>)]] = &[\n");
    for (name, message) in &messages {
        out.push_str(&format!("    // {name}\n    &["));
        for field in &message.field {
            let kind = match field.r#type {
                Some(TYPE_STRING) => Some("None".to_owned()),
                Some(TYPE_MESSAGE) => index(field.type_name()).map(|i| format!("Some({i})")),
                _ => None,
            };
            if let Some(kind) = kind {
                out.push_str(&format!("({}, {kind}), ", field.number()));
            }
        }
        out.push_str("],\n");
    }
    out.push_str("];\n");
    let model = index(".onnx.ModelProto").ok_or("onnx.proto has no ModelProto")?;
    out.push_str(&format!("pub const MODEL_PROTO: usize = {model};\n"));
    let dir = std::env::var("OUT_DIR")?;
    std::fs::write(std::path::Path::new(&dir).join("onnx_schema.rs"), out)?;
    Ok(())
}
