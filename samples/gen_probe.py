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


def planted_outlier() -> bytes:
    weight = [[((r * 5 + c * 3) % 13 - 6) / 100 for c in range(16)] for r in range(16)]
    weight[7][9] = 1e12
    return safetensors({"encoder.weight": ([16, 16], [v for row in weight for v in row])})


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
                  "of 4/255 flip a third of its answers, random noise of that size almost none",
             build=brittle)
    register("malicious/probe_nan.safetensors", "suspicious", ("PRB001", "NaN"),
             desc="a linear layer with two NaN and one infinite weight planted",
             build=planted_nan)
    register("malicious/probe_outlier.safetensors", "suspicious", ("PRB002", "encoder.weight"),
             desc="a 16x16 weight whose values are all below 0.07 but one, set to 1e12",
             build=planted_outlier)
