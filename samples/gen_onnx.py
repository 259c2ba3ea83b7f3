"""ONNX and safetensors samples (issue 4): benign models, and one file per ONNX / safetensors finding.

Models are written with `onnxpb` (standard library only). Python code in operator attributes is the
harmless `echo quarantine-sample` payload; nothing here is ever loaded by a runtime.
"""

from __future__ import annotations

import struct

import onnxpb as pb
from onnxpb import attr, graph, model, node, tensor, value_info

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
PY_CODE = "import os\nos.system('echo quarantine-sample')\n"


def floats(n: int, scale: float = 0.01) -> list[float]:
    """Deterministic small weights."""
    return [((i * 37) % 17 - 8) * scale for i in range(n)]


def mlp() -> bytes:
    """x[batch,4] -> Gemm(8) -> Relu -> Gemm(2) -> Softmax."""
    inits = [
        tensor("w1", pb.FLOAT, [8, 4], floats=floats(32)), tensor("b1", pb.FLOAT, [8], floats=floats(8)),
        tensor("w2", pb.FLOAT, [2, 8], floats=floats(16)), tensor("b2", pb.FLOAT, [2], floats=floats(2)),
    ]
    nodes = [
        node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", attrs=[attr("transB", 1)]),
        node("Relu", ["h"], ["a"], name="relu"),
        node("Gemm", ["a", "w2", "b2"], ["logits"], name="fc2", attrs=[attr("transB", 1)]),
        node("Softmax", ["logits"], ["y"], name="softmax", attrs=[attr("axis", 1)]),
    ]
    g = graph("mlp", nodes, inputs=[value_info("x", pb.FLOAT, ["batch", 4])],
              outputs=[value_info("y", pb.FLOAT, ["batch", 2])], initializers=inits)
    return model(g, producer="pytorch", producer_version="2.1.0", doc="a 4-8-2 MLP",
                 metadata=[("author", "quarantine samples")])


def cnn() -> bytes:
    """x[1,1,8,8] -> Conv(4, 3x3) -> Relu -> MaxPool(2) -> Flatten -> Gemm(10)."""
    inits = [
        tensor("conv_w", pb.FLOAT, [4, 1, 3, 3], floats=floats(36)), tensor("conv_b", pb.FLOAT, [4], floats=floats(4)),
        tensor("fc_w", pb.FLOAT, [10, 36], floats=floats(360)), tensor("fc_b", pb.FLOAT, [10], floats=floats(10)),
    ]
    nodes = [
        node("Conv", ["x", "conv_w", "conv_b"], ["c"], name="conv",
             attrs=[attr("kernel_shape", [3, 3]), attr("pads", [0, 0, 0, 0])]),
        node("Relu", ["c"], ["r"], name="relu"),
        node("MaxPool", ["r"], ["p"], name="pool", attrs=[attr("kernel_shape", [2, 2]), attr("strides", [2, 2])]),
        node("Flatten", ["p"], ["f"], name="flatten"),
        node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", attrs=[attr("transB", 1)]),
    ]
    g = graph("cnn", nodes, inputs=[value_info("x", pb.FLOAT, [1, 1, 8, 8])],
              outputs=[value_info("y", pb.FLOAT, [1, 10])], initializers=inits)
    return model(g, producer="pytorch", producer_version="2.1.0")


def branch(name: str, nodes: list[bytes], out: str) -> bytes:
    return graph(name, nodes, outputs=[value_info(out, pb.FLOAT, [1, 4])])


def with_if(then_nodes: list[bytes], opsets=(("", 17),), functions=()) -> bytes:
    """cond ? then_branch : else_branch (Identity), both producing y from the outer x."""
    then_g = branch("then", then_nodes, "t")
    else_g = branch("else", [node("Identity", ["x"], ["e"])], "e")
    g = graph("gated", [node("If", ["cond"], ["y"], name="gate",
                             attrs=[attr("then_branch", then_g, pb.A_GRAPH), attr("else_branch", else_g, pb.A_GRAPH)])],
              inputs=[value_info("cond", pb.BOOL, []), value_info("x", pb.FLOAT, [1, 4])],
              outputs=[value_info("y", pb.FLOAT, [1, 4])])
    return model(g, opsets=opsets, functions=functions)


def pyop_node(out: str) -> bytes:
    return node("PyReverseMatrix", ["x"], [out], name="hidden_py", domain="ai.onnx.contrib",
                attrs=[attr("code", PY_CODE)])


def nested_ifs(depth: int) -> bytes:
    leaf = branch("leaf", [node("Identity", ["x"], ["t"])], "t")
    inner = leaf
    for level in range(depth):
        inner = branch(f"level{level}", [node("If", ["cond"], ["t"], name=f"if{level}",
                                              attrs=[attr("then_branch", inner, pb.A_GRAPH),
                                                     attr("else_branch", leaf, pb.A_GRAPH)])], "t")
    return model(inner)


def external(location: str, length: int = 16, earlier: tuple = ()) -> bytes:
    entries = [("location", e) for e in earlier] + [("location", location), ("offset", "0"), ("length", str(length))]
    w = tensor("w", pb.FLOAT, [4], external=entries)
    g = graph("ext", [node("Add", ["x", "w"], ["y"])], inputs=[value_info("x", pb.FLOAT, [4])],
              outputs=[value_info("y", pb.FLOAT, [4])], initializers=[w])
    return model(g)


def safetensors_file(header: str, body: bytes) -> bytes:
    raw = header.encode()
    return struct.pack("<Q", len(raw)) + raw + body


SHARD_1 = ('{"__metadata__":{"format":"pt"},"layer0.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}',
           struct.pack("<4f", 1.0, 0.0, 0.0, 1.0))
SHARD_2 = ('{"__metadata__":{"format":"pt"},"layer1.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}',
           bytes(8))
INDEX = ('{\n  "metadata": {"total_size": 24},\n  "weight_map": {\n'
         '    "layer0.weight": "model-00001-of-00002.safetensors",\n'
         '    "layer1.weight": "model-00002-of-00002.safetensors"\n  }\n}\n')


def index_of(*shards: str) -> bytes:
    entries = ",\n".join(f'    "layer{i}.weight": "{s}"' for i, s in enumerate(shards))
    return ('{\n  "metadata": {"total_size": 24},\n  "weight_map": {\n' + entries + "\n  }\n}\n").encode()


def samples(register) -> None:
    # --- benign ---
    register("benign/mlp.onnx", CLEAN, desc="ONNX 4-8-2 MLP (Gemm, Relu, Softmax; float initializers; symbolic batch)",
             build=mlp)
    register("benign/cnn.onnx", CLEAN, desc="ONNX small CNN (Conv 3x3, Relu, MaxPool, Flatten, Gemm)", build=cnn)
    register("benign/onnx_if_and_function.onnx", CLEAN,
             desc="ONNX If whose then-branch calls a model-local function (custom domain `local.fn`, Relu body)",
             build=lambda: with_if([node("MyRelu", ["x"], ["t"], domain="local.fn")],
                                   opsets=(("", 17), ("local.fn", 1)),
                                   functions=[pb.function("MyRelu", "local.fn", ["i"], ["o"],
                                                          [node("Relu", ["i"], ["o"])], [("", 17)])]))
    for name, (header, body) in (("model-00001-of-00002.safetensors", SHARD_1),
                                 ("model-00002-of-00002.safetensors", SHARD_2)):
        register(f"benign/sharded_checkpoint/{name}", CLEAN, desc="a shard of a two-shard safetensors checkpoint",
                 build=lambda h=header, b=body: safetensors_file(h, b))
    register("benign/onnx_external/model.onnx", CLEAN,
             desc="ONNX model saved with its initializer as external data in model.onnx.data beside it",
             build=lambda: external("model.onnx.data"))
    register("benign/onnx_external/model.onnx.data", CLEAN, ("ONX008", "model.onnx"),
             desc="the raw tensor bytes model.onnx names as external data: no format of its own, known by its model",
             build=lambda: struct.pack("<4f", 0.5, -0.25, 0.125, 1.0))
    register("benign/sharded_checkpoint/model.safetensors.index.json", CLEAN,
             desc="the sharded checkpoint's index: weight_map naming both shards next to it",
             build=lambda: INDEX.encode())

    # --- ONNX findings ---
    register("malicious/onnx_external_data_absolute.onnx", MALICIOUS, ("ONX002", "/etc/passwd"),
             desc="ONNX initializer whose external data location is /etc/passwd (arbitrary file read at load time)",
             build=lambda: external("/etc/passwd"))
    register("malicious/onnx_external_data_dotdot.onnx", MALICIOUS, ("ONX002", "../../../root/.ssh/id_rsa"),
             desc="ONNX external data location that climbs out of the model directory with `..`",
             build=lambda: external("../../../root/.ssh/id_rsa"))
    register("malicious/onnx_external_data_repeated_location.onnx", MALICIOUS, ("ONX002", "/etc/passwd"),
             desc="ONNX external data naming `location` twice: a harmless file first, /etc/passwd last (onnx and ONNX Runtime read the last)",
             build=lambda: external("/etc/passwd", earlier=("onnx_weights.bin",)))
    register("malicious/onnx_external_data_missing.onnx", SUSPICIOUS, ("ONX003", "onnx_missing_weights.bin"),
             desc="ONNX external data naming a file that is not next to the model",
             build=lambda: external("onnx_missing_weights.bin"))
    register("malicious/onnx_pyop_in_if.onnx", SUSPICIOUS, ("ONX004", "ai.onnx.contrib.PyReverseMatrix"),
             ("ONX005", "ai.onnx.contrib"),
             desc="onnxruntime-extensions Python operator (PyReverseMatrix, `code` attribute calling os.system) "
                  "hidden in an If then-branch",
             build=lambda: with_if([pyop_node("t")], opsets=(("", 17), ("ai.onnx.contrib", 1))))
    register("malicious/onnx_pyop_in_function.onnx", SUSPICIOUS, ("ONX004", "os.system"),
             desc="a model-local function whose body is a Python operator carrying os.system source code",
             build=lambda: with_if([node("Wrapped", ["x"], ["t"], domain="local.fn")],
                                   opsets=(("", 17), ("local.fn", 1), ("ai.onnx.contrib", 1)),
                                   functions=[pb.function("Wrapped", "local.fn", ["x"], ["hidden"],
                                                          [pyop_node("hidden")], [("ai.onnx.contrib", 1)])]))
    register("malicious/onnx_custom_domain.onnx", SUSPICIOUS, ("ONX005", "com.example.native: LoadKernel"),
             desc="ONNX node from the custom domain com.example.native (the runtime must load a native library)",
             build=lambda: model(graph("g", [node("LoadKernel", ["x"], ["y"], domain="com.example.native")],
                                       inputs=[value_info("x", pb.FLOAT, [4])],
                                       outputs=[value_info("y", pb.FLOAT, [4])]),
                                 opsets=(("", 17), ("com.example.native", 1))))
    register("malicious/onnx_no_opset.onnx", SUSPICIOUS, ("ONX006", "imports no operator set"),
             desc="ONNX model without any opset_import",
             build=lambda: model(graph("g", [node("Relu", ["x"], ["y"])], inputs=[value_info("x", pb.FLOAT, [4])],
                                       outputs=[value_info("y", pb.FLOAT, [4])]), opsets=()))
    register("malicious/onnx_absurd_opset.onnx", SUSPICIOUS, ("ONX006", "version 999999"),
             desc="ONNX model importing the default operator set at version 999999",
             build=lambda: model(graph("g", [node("Relu", ["x"], ["y"])], inputs=[value_info("x", pb.FLOAT, [4])],
                                       outputs=[value_info("y", pb.FLOAT, [4])]), opsets=(("", 999999),)))
    register("malicious/onnx_nested_if_30.onnx", SUSPICIOUS, ("ONX007", "nested deeper than 24"),
             desc="If nodes nested 30 deep (each branch holding the next): past the subgraph depth limit",
             build=lambda: nested_ifs(30))
    register("malicious/onnx_nested_if_200.onnx", SUSPICIOUS, ("ONX007", "recursion limit"),
             desc="If nodes nested 200 deep: past the protobuf decoder's recursion limit",
             build=lambda: nested_ifs(200))
    register("malicious/onnx_no_graph.onnx", SUSPICIOUS, ("ONX001", "no graph"),
             desc="ONNX ModelProto with ir_version and an opset import but no graph", build=lambda: model(None))
    register("malicious/onnx_broken_node.onnx", SUSPICIOUS, ("ONX001", "does not decode"),
             desc="ONNX model whose graph holds a node with an invalid protobuf wire type",
             build=lambda: model(pb.f_len(1, b"\x0f\xff\xff")))
    register("malicious/onnx_not_protobuf.onnx", SUSPICIOUS, ("FMT001", "-"),
             desc="random-looking bytes named .onnx (not a ModelProto): unknown format, never clean",
             build=lambda: bytes((i * 73 + 11) % 256 for i in range(256)))

    # --- safetensors findings ---
    register("malicious/safetensors_gap.safetensors", SUSPICIOUS, ("SFT002", "belong to no tensor"),
             desc="safetensors whose second tensor starts 8 bytes after the first ends (a hidden gap)",
             build=lambda: safetensors_file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                            '"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}', bytes(24)))
    register("malicious/safetensors_unknown_dtype.safetensors", SUSPICIOUS, ("SFT001", "unknown dtype `F99`"),
             desc="safetensors tensor with dtype F99", build=lambda: safetensors_file(
                 '{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}', bytes(8)))
    register("malicious/safetensors_metadata_not_string.safetensors", SUSPICIOUS, ("SFT001", "__metadata__"),
             desc="safetensors whose __metadata__ holds a nested object instead of a string",
             build=lambda: safetensors_file('{"__metadata__":{"cfg":{"cmd":"echo quarantine-sample"}},'
                                            '"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)))
    register("malicious/safetensors_huge_header.safetensors", SUSPICIOUS, ("FMT001", "-"),
             desc="safetensors declaring a 1 TB header in a 64-byte file: not readable as safetensors, never clean",
             build=lambda: struct.pack("<Q", 10**12) + b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'[:56])
    register("malicious/sharded_escape.safetensors.index.json", MALICIOUS, ("SFT004", "../../../etc/passwd"),
             desc="sharded checkpoint index whose weight_map names ../../../etc/passwd as a shard",
             build=lambda: index_of("model-00001-of-00002.safetensors", "../../../etc/passwd"))
    register("malicious/sharded_missing.safetensors.index.json", SUSPICIOUS, ("SFT005", "model-00009-of-00009"),
             desc="sharded checkpoint index naming a shard file that does not exist",
             build=lambda: index_of("model-00009-of-00009.safetensors"))
