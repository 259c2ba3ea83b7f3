#!/usr/bin/env python3
"""Write a large ONNX model and a large safetensors file for measuring scan time and peak RSS.

    python3 scripts/large_models.py DIR [--onnx-mb 500] [--safetensors-gb 5]

DIR/large.onnx: an MLP whose initializers hold ONNX_MB of raw float data (written, since protobuf
keeps weights inline). DIR/large.safetensors: a header for SAFETENSORS_GB of F32 tensors and a
sparse data region (nothing is written past the header). Standard library only; `just
bench-large` runs this and the scanner under /usr/bin/time -v.
"""

import argparse
import json
import os
import struct
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ among the samples
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "samples"))
import onnxpb as pb  # noqa: E402

CHUNK = 64 << 20  # bytes of one initializer


def write_onnx(path: Path, total: int) -> None:
    count = max(1, -(-total // CHUNK))
    side = int((CHUNK // 4) ** 0.5)  # square float matrices of about CHUNK bytes
    raw_len = side * side * 4
    headers = []
    for i in range(count):
        # A TensorProto: dims, data_type, name, then raw_data's key and length; the bytes follow.
        head = pb.f_packed_ints(1, [side, side]) + pb.f_int(2, pb.FLOAT) + pb.f_str(8, f"w{i}")
        headers.append(head + pb.key(9, 2) + pb.varint(raw_len))
    nodes = [pb.node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"], name=f"mm{i}") for i in range(count)]
    io = (pb.f_msgs(11, [pb.value_info("h0", pb.FLOAT, ["batch", side])])
          + pb.f_msgs(12, [pb.value_info(f"h{count}", pb.FLOAT, ["batch", side])]))
    body_head = pb.f_msgs(1, nodes) + pb.f_str(2, "large")
    inits = b"".join(pb.key(5, 2) + pb.varint(len(h) + raw_len) for h in headers)  # lengths only
    graph_len = len(body_head) + len(inits) + count * raw_len + sum(len(h) for h in headers) + len(io)
    model_head = pb.f_int(1, 8) + pb.f_str(2, "quarantine-bench") + pb.key(7, 2) + pb.varint(graph_len)
    block = bytes(range(256)) * (raw_len // 256)
    with path.open("wb") as out:
        out.write(model_head + body_head)
        for h in headers:
            out.write(pb.key(5, 2) + pb.varint(len(h) + raw_len) + h)
            out.write(block)
        out.write(io)
        out.write(pb.f_msgs(8, [pb.opset("", 17)]))


def write_safetensors(path: Path, total: int) -> None:
    count = max(1, total // (256 << 20))
    rows, cols = 8192, 8192  # 256 MiB of F32
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for i in range(count):
        size = rows * cols * 4
        header[f"layer{i}.weight"] = {"dtype": "F32", "shape": [rows, cols], "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        out.truncate(8 + len(raw) + offset)  # sparse: the data region is never written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--onnx-mb", type=int, default=500)
    parser.add_argument("--safetensors-gb", type=int, default=5)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    write_onnx(args.dir / "large.onnx", args.onnx_mb << 20)
    write_safetensors(args.dir / "large.safetensors", args.safetensors_gb << 30)
    for name in ("large.onnx", "large.safetensors"):
        print(name, os.path.getsize(args.dir / name), "bytes")


if __name__ == "__main__":
    main()
