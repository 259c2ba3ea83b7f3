"""Samples for the robustness probe (PRB rules): small safetensors models whose answer is known.

Weights are set by hand, so that what the probe must say follows from arithmetic:

* robust: a linear classifier that decides on one input feature (`x0 > 0.5`); an L-infinity
  perturbation of size e moves its margin by at most e, so only inputs within e of the boundary
  flip (about 2e of them: 3% at 4/255).
* brittle: a linear classifier that weighs all 64 features equally with alternating signs and
  huge weights; a perturbation of size e moves its margin by 64e weight units while the margin of
  random inputs is spread over only sqrt(64/12) of them, so a third of the answers flip at 4/255.
"""

from __future__ import annotations

import json
import struct

import onnxpb as pb

WIDTH = 64


def safetensors(tensors: dict[str, tuple[list[int], list[float]]]) -> bytes:
    """F32 tensors in the order given, as `safetensors` writes them (header padded to 8 bytes)."""
    header, body = {}, b""
    for name, (shape, values) in tensors.items():
        raw = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + body


def linear(weight: list[list[float]], bias: list[float], prefix: str = "") -> dict:
    return {
        f"{prefix}weight": ([len(weight), len(weight[0])], [v for row in weight for v in row]),
        f"{prefix}bias": ([len(bias)], bias),
    }


def robust() -> bytes:
    return safetensors(linear([[1.0] + [0.0] * (WIDTH - 1), [0.0] * WIDTH], [0.0, 0.5]))


def brittle() -> bytes:
    row = [1000.0 if i % 2 == 0 else -1000.0 for i in range(WIDTH)]
    return safetensors(linear([row, [-v for v in row]], [0.0, 0.0]))


def mlp() -> bytes:
    """Two layers, 8-4-2: the first passes features 0-3 through, the second decides on x0."""
    first = [[1.0 if c == r else 0.0 for c in range(8)] for r in range(4)]
    second = [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    return safetensors({**linear(first, [0.0] * 4, "net.0."), **linear(second, [0.0, 0.5], "net.2.")})


def planted_nan() -> bytes:
    weight = [[((r * 7 + c * 3) % 11 - 5) / 10 for c in range(8)] for r in range(4)]
    weight[1][2] = float("nan")
    weight[3][0] = float("nan")
    weight[2][5] = float("inf")
    return safetensors(linear(weight, [0.1, -0.1, 0.0, 0.2]))


def bounds_and_mask() -> bytes:
    inf = float("inf")
    mask = [[0.0 if c <= r else -inf for c in range(8)] for r in range(8)]
    edges = [-inf] + [i / 20 for i in range(19)] + [inf]
    weight = [[((r * 7 + c * 3) % 11 - 5) / 10 for c in range(8)] for r in range(4)]
    return safetensors({
        "clip.min": ([], [-inf]),
        "clip.max": ([], [inf]),
        "attention.mask": ([8, 8], [v for row in mask for v in row]),
        "bucketize.edges": ([21], edges),
        "proj.weight": ([4, 8], [v for row in weight for v in row]),
    })


def planted_outlier() -> bytes:
    weight = [[((r * 5 + c * 3) % 13 - 6) / 100 for c in range(16)] for r in range(16)]
    weight[7][9] = 1e12
    return safetensors({"encoder.weight": ([16, 16], [v for row in weight for v in row])})


# --- ONNX: the same classifiers as graphs, a small CNN, and graphs the probe must refuse or skip


def onnx_linear(op: str, weight: list[list[float]], bias: list[float]) -> bytes:
    """A linear classifier as Gemm (weight [out, in], transB) or MatMul + Add (weight [in, out])."""
    out, width = len(weight), len(weight[0])
    if op == "Gemm":
        w = pb.tensor("W", pb.FLOAT, [out, width], floats=[v for row in weight for v in row])
        nodes = [pb.node("Gemm", ["x", "W", "B"], ["y"], name="fc", attrs=[pb.attr("transB", 1)])]
    else:
        w = pb.tensor("W", pb.FLOAT, [width, out], floats=[weight[o][i] for i in range(width) for o in range(out)])
        nodes = [pb.node("MatMul", ["x", "W"], ["h"], name="mm"), pb.node("Add", ["h", "B"], ["y"], name="add")]
    g = pb.graph("linear", nodes, inputs=[pb.value_info("x", pb.FLOAT, ["N", width])],
                 outputs=[pb.value_info("y", pb.FLOAT, ["N", out])],
                 initializers=[w, pb.tensor("B", pb.FLOAT, [out], floats=bias)])
    return pb.model(g)


def onnx_robust() -> bytes:
    return onnx_linear("Gemm", [[1.0] + [0.0] * (WIDTH - 1), [0.0] * WIDTH], [0.0, 0.5])


def onnx_brittle() -> bytes:
    row = [1000.0 if i % 2 == 0 else -1000.0 for i in range(WIDTH)]
    return onnx_linear("MatMul", [row, [-v for v in row]], [0.0, 0.0])


def onnx_cnn() -> bytes:
    """Conv 3x3 (mean filter, 2 channels) - BatchNormalization (identity) - Relu - MaxPool 2x2 -
    GlobalAveragePool - Reshape - Gemm - Softmax on 8x8 images: class 0 whenever the image's
    smoothed brightness is above 0.2, which uniform inputs always are."""
    conv = pb.tensor("conv.w", pb.FLOAT, [2, 1, 3, 3], floats=[1 / 9] * 18)
    ones, zeros = [1.0, 1.0], [0.0, 0.0]
    bn = [pb.tensor("bn.scale", pb.FLOAT, [2], floats=ones), pb.tensor("bn.bias", pb.FLOAT, [2], floats=zeros),
          pb.tensor("bn.mean", pb.FLOAT, [2], floats=zeros), pb.tensor("bn.var", pb.FLOAT, [2], floats=ones)]
    fc = [pb.tensor("fc.w", pb.FLOAT, [2, 2], floats=[1.0, 0.0, 0.0, 0.0]),
          pb.tensor("fc.b", pb.FLOAT, [2], floats=[0.0, 0.2]), pb.tensor("shape", pb.INT64, [2], int64s=[0, -1])]
    nodes = [
        pb.node("Conv", ["x", "conv.w"], ["c"], name="conv", attrs=[pb.attr("pads", [1, 1, 1, 1])]),
        pb.node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["n"], name="bn"),
        pb.node("Relu", ["n"], ["r"], name="relu"),
        pb.node("MaxPool", ["r"], ["p"], name="pool", attrs=[pb.attr("kernel_shape", [2, 2]), pb.attr("strides", [2, 2])]),
        pb.node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        pb.node("Reshape", ["g", "shape"], ["f"], name="flat"),
        pb.node("Gemm", ["f", "fc.w", "fc.b"], ["z"], name="fc", attrs=[pb.attr("transB", 1)]),
        pb.node("Softmax", ["z"], ["y"], name="softmax", attrs=[pb.attr("axis", 1)]),
    ]
    g = pb.graph("cnn", nodes, inputs=[pb.value_info("x", pb.FLOAT, ["N", 1, 8, 8])],
                 outputs=[pb.value_info("y", pb.FLOAT, ["N", 2])], initializers=[conv, *bn, *fc])
    return pb.model(g)


def onnx_terabytes() -> bytes:
    """One Relu over an input declared as 1,000,000 x 1,000,000 floats per sample (4 TB)."""
    g = pb.graph("huge", [pb.node("Relu", ["x"], ["y"], name="relu")],
                 inputs=[pb.value_info("x", pb.FLOAT, ["N", 1000000, 1000000])],
                 outputs=[pb.value_info("y", pb.FLOAT, ["N", 1000000, 1000000])])
    return pb.model(g)


def onnx_small(op: str, elem: int, shape: list) -> bytes:
    g = pb.graph("small", [pb.node(op, ["x"], ["y"], name="n0")],
                 inputs=[pb.value_info("x", elem, shape)], outputs=[pb.value_info("y", elem, shape)])
    return pb.model(g)


def npy_f32(shape: tuple[int, ...], values: list[float]) -> bytes:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack(f"<{len(values)}f", *values)


def npy_with_nan() -> bytes:
    values = [((i * 7) % 13 - 6) / 10 for i in range(64)]
    values[17] = float("nan")
    return npy_f32((8, 8), values)


def samples(register) -> None:
    register("benign/probe_robust.safetensors", "clean",
             desc="linear classifier on 64 inputs that decides on one feature (x0 > 0.5): a wide margin, "
                  "few answers flip under small perturbations",
             build=robust)
    register("benign/probe_mlp.safetensors", "clean",
             desc="two-layer MLP (8-4-2, names net.0 and net.2) deciding on one feature: the probe chains "
                  "the layers and finds it robust",
             build=mlp)
    register("malicious/probe_brittle.safetensors", "suspicious", ("PRB003", "flips"),
             desc="linear classifier with huge weights of alternating sign on all 64 inputs: perturbations "
                  "of 4/255 flip a third of its answers, random noise of that size almost none "
                  "(suspicious under the samples' --probe-gate 25%; by default measured, not judged)",
             build=brittle)
    register("benign/probe_robust.onnx", "clean",
             desc="the robust classifier as an ONNX Gemm with a symbolic batch dimension",
             build=onnx_robust)
    register("benign/probe_cnn.onnx", "clean",
             desc="small ONNX CNN (Conv, BatchNormalization, Relu, MaxPool, GlobalAveragePool, Reshape, Gemm, "
                  "Softmax) on 8x8 images, robust by construction",
             build=onnx_cnn)
    register("benign/probe_unsupported_op.onnx", "clean",
             desc="ONNX graph of one Erf node: not in the interpreter's subset, so the behaviour probe says skipped",
             build=lambda: onnx_small("Erf", pb.FLOAT, ["N", 4]))
    register("benign/probe_dynamic_shape.onnx", "clean",
             desc="ONNX Relu whose input has a symbolic feature dimension: skipped, no default to run it with",
             build=lambda: onnx_small("Relu", pb.FLOAT, ["N", "features"]))
    register("benign/probe_integer_input.onnx", "clean",
             desc="ONNX Identity over int64 inputs: skipped, integer inputs are not attacked",
             build=lambda: onnx_small("Identity", pb.INT64, ["N", 4]))
    register("malicious/probe_brittle.onnx", "suspicious", ("PRB003", "flips"),
             desc="the brittle classifier as ONNX MatMul + Add (suspicious under --probe-gate 25%)",
             build=onnx_brittle)
    register("malicious/probe_terabytes.onnx", "suspicious", ("PRB004", "needs about"),
             desc="ONNX Relu over an input declared as 10^12 floats per sample: refused before anything is allocated",
             build=onnx_terabytes)
    register("malicious/probe_nan.safetensors", "clean", ("PRB001", "NaN"),
             desc="a linear layer with two NaN and one infinite weight planted: spread through a weight "
                  "matrix, an integrity finding (low) that leaves the verdict clean",
             build=planted_nan)
    register("benign/probe_nan_features.npy", "clean",
             desc="an 8x8 float32 .npy array with one NaN: a missing value in a data array is normal",
             build=npy_with_nan)
    register("benign/probe_bounds_and_mask.safetensors", "clean",
             desc="a Clip-style pair of bounds (-inf, inf), an attention mask of 0 and -inf, bucket edges "
                  "open at both ends, and a weight matrix: the infinities sit where they mean 'unbounded'",
             build=bounds_and_mask)
    register("malicious/probe_outlier.safetensors", "suspicious", ("PRB002", "encoder.weight"),
             desc="a 16x16 weight whose values are all below 0.07 but one, set to 1e12",
             build=planted_outlier)
