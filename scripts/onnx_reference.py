#!/usr/bin/env python3
"""Write ONNX models with the reference `onnx` package, for tests/onnx_reference.rs.

Needs PyPI, so CI does not run it; its outputs are committed under tests/data/onnx-reference/:

    python3 -m venv /tmp/onnxref && /tmp/onnxref/bin/pip install onnx
    /tmp/onnxref/bin/python scripts/onnx_reference.py

Every model passes onnx.checker (except the escaping one, which the checker rightly refuses to
resolve); nothing is ever run.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "onnx-reference"


def mlp() -> onnx.ModelProto:
    w1 = numpy_helper.from_array(np.arange(32, dtype=np.float32).reshape(8, 4) / 100, "w1")
    b1 = numpy_helper.from_array(np.zeros(8, dtype=np.float32), "b1")
    w2 = numpy_helper.from_array(np.ones((2, 8), dtype=np.float32), "w2")
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("Transpose", ["w2"], ["w2t"], name="t"),
        helper.make_node("MatMul", ["a", "w2t"], ["y"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [w1, b1, w2],
        doc_string="reference MLP",
    )
    model = helper.make_model(graph, producer_name="onnx-reference", opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.add(key="license", value="Apache-2.0")
    return model


def if_subgraph() -> onnx.ModelProto:
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4])])
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value=helper.make_tensor("c", TensorProto.FLOAT, [4], [0, 0, 0, 0]))],
        "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [4])])
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)], "gated",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    return helper.make_model(graph, producer_name="onnx-reference", opset_imports=[helper.make_opsetid("", 17)])


def function() -> onnx.ModelProto:
    fn = helper.make_function("local.fn", "Swish", ["i"], ["o"],
                              [helper.make_node("Sigmoid", ["i"], ["s"]), helper.make_node("Mul", ["i", "s"], ["o"])],
                              [helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("Swish", ["x"], ["y"], domain="local.fn")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    return helper.make_model(graph, producer_name="onnx-reference", functions=[fn],
                             opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)])


def external(location: str) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones(4, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    model = helper.make_model(graph, producer_name="onnx-reference", opset_imports=[helper.make_opsetid("", 17)])
    tensor = model.graph.initializer[0]
    raw = tensor.raw_data
    set_external_data(tensor, location=location, offset=0, length=len(raw))
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    return model, raw


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, model in (("mlp", mlp()), ("if_subgraph", if_subgraph()), ("function", function())):
        onnx.checker.check_model(model, full_check=True)
        onnx.save_model(model, OUT / f"{name}.onnx")
    model, raw = external("external_weights.bin")
    (OUT / "external_weights.bin").write_bytes(raw)
    onnx.save_model(model, OUT / "external.onnx")
    onnx.checker.check_model(str(OUT / "external.onnx"))
    escaping, _ = external("../../../etc/passwd")
    onnx.save_model(escaping, OUT / "external_escape.onnx")
    print(f"onnx {onnx.__version__}: wrote", ", ".join(sorted(p.name for p in OUT.iterdir())))


if __name__ == "__main__":
    main()
