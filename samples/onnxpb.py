"""Write ONNX models as protobuf bytes with the Python standard library only.

A write-only encoder for the ONNX messages (field numbers of the ONNX IR spec, version 10), so that
the sample generator needs no `onnx` or `protobuf` package. Every builder returns the encoded
message as bytes; nest them by passing those bytes on. Fields are written in field-number order
and repeated numbers packed, as the reference C++ serializer does.

    g = graph("mlp", [node("Gemm", ["x", "w", "b"], ["y"])],
              inputs=[value_info("x", FLOAT, [1, 4])], outputs=[value_info("y", FLOAT, [1, 2])],
              initializers=[tensor("w", FLOAT, [2, 4], floats=[0.0] * 8), ...])
    data = model(g, opsets=[("", 17)])
"""

from __future__ import annotations

import struct
from typing import Iterable, Sequence

# TensorProto.DataType
FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL, FLOAT16, DOUBLE = range(1, 12)
UINT32, UINT64, COMPLEX64, COMPLEX128, BFLOAT16 = range(12, 17)

# AttributeProto.AttributeType
A_FLOAT, A_INT, A_STRING, A_TENSOR, A_GRAPH, A_FLOATS, A_INTS, A_STRINGS, A_TENSORS, A_GRAPHS = range(1, 11)

# TensorProto.DataLocation
EXTERNAL = 1


def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 fields: two's complement in ten bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def f_int(field: int, n: int) -> bytes:
    """A varint field, left out at its default (0) like proto3 writers do."""
    return key(field, 0) + varint(n) if n else b""


def f_len(field: int, data: bytes) -> bytes:
    return key(field, 2) + varint(len(data)) + data


def f_str(field: int, text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return f_len(field, data) if data else b""


def f_msgs(field: int, messages: Iterable[bytes]) -> bytes:
    return b"".join(f_len(field, m) for m in messages)


def f_strs(field: int, texts: Iterable[str | bytes]) -> bytes:
    return b"".join(f_len(field, t.encode() if isinstance(t, str) else t) for t in texts)


def f_packed_ints(field: int, values: Sequence[int]) -> bytes:
    return f_len(field, b"".join(varint(v) for v in values)) if values else b""


def f_packed_floats(field: int, values: Sequence[float]) -> bytes:
    return f_len(field, struct.pack(f"<{len(values)}f", *values)) if values else b""


def entry(k: str, v: str) -> bytes:
    """StringStringEntryProto."""
    return f_str(1, k) + f_str(2, v)


def opset(domain: str, version: int) -> bytes:
    """OperatorSetIdProto."""
    return f_str(1, domain) + f_int(2, version)


def tensor(name: str, data_type: int, dims: Sequence[int], *, floats: Sequence[float] = (),
           int64s: Sequence[int] = (), strings: Sequence[str | bytes] = (), raw: bytes | None = None,
           external: Sequence[tuple[str, str]] = (), doc: str = "") -> bytes:
    """TensorProto. `external` is the (key, value) list of external_data (location, offset, length)."""
    return b"".join([
        f_packed_ints(1, dims),
        f_int(2, data_type),
        f_packed_floats(4, floats),
        f_strs(6, strings),
        f_packed_ints(7, int64s),
        f_str(8, name),
        f_len(9, raw) if raw is not None else b"",
        f_str(12, doc),
        f_msgs(13, (entry(k, v) for k, v in external)),
        f_int(14, EXTERNAL if external else 0),
    ])


def tensor_type(elem_type: int, shape: Sequence[int | str]) -> bytes:
    """TypeProto holding a Tensor type; a str dimension is symbolic (dim_param)."""
    dims = (key(1, 0) + varint(d) if isinstance(d, int) else f_str(2, d) for d in shape)
    shape_proto = f_msgs(1, dims)
    return f_len(1, f_int(1, elem_type) + f_len(2, shape_proto))


def value_info(name: str, elem_type: int, shape: Sequence[int | str], doc: str = "") -> bytes:
    """ValueInfoProto of a tensor."""
    return f_str(1, name) + f_len(2, tensor_type(elem_type, shape)) + f_str(3, doc)


def attr(name: str, value, kind: int | None = None, doc: str = "") -> bytes:
    """AttributeProto. The type is inferred from `value` (int, float, str/bytes, a list of those) unless
    `kind` says A_TENSOR, A_GRAPH, A_TENSORS or A_GRAPHS (then `value` is encoded message bytes or a list
    of them)."""
    if kind is None:
        if isinstance(value, bool) or isinstance(value, int):
            kind = A_INT
        elif isinstance(value, float):
            kind = A_FLOAT
        elif isinstance(value, (str, bytes)):
            kind = A_STRING
        elif isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
            kind = A_INTS
        elif isinstance(value, (list, tuple)) and all(isinstance(v, float) for v in value):
            kind = A_FLOATS
        else:
            kind = A_STRINGS
    body = {
        A_FLOAT: lambda: key(2, 5) + struct.pack("<f", value),
        A_INT: lambda: key(3, 0) + varint(int(value)),
        A_STRING: lambda: f_len(4, value.encode() if isinstance(value, str) else value),
        A_TENSOR: lambda: f_len(5, value),
        A_GRAPH: lambda: f_len(6, value),
        A_FLOATS: lambda: f_packed_floats(7, value),
        A_INTS: lambda: f_packed_ints(8, value),
        A_STRINGS: lambda: f_strs(9, value),
        A_TENSORS: lambda: f_msgs(10, value),
        A_GRAPHS: lambda: f_msgs(11, value),
    }[kind]()
    return f_str(1, name) + body + f_str(13, doc) + f_int(20, kind)


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], *, name: str = "", domain: str = "",
         attrs: Sequence[bytes] = (), doc: str = "") -> bytes:
    """NodeProto; `attrs` are encoded AttributeProtos (see `attr`)."""
    return b"".join([
        f_strs(1, inputs), f_strs(2, outputs), f_str(3, name), f_str(4, op_type),
        f_msgs(5, attrs), f_str(6, doc), f_str(7, domain),
    ])


def graph(name: str, nodes: Sequence[bytes], *, inputs: Sequence[bytes] = (), outputs: Sequence[bytes] = (),
          initializers: Sequence[bytes] = (), doc: str = "", value_infos: Sequence[bytes] = ()) -> bytes:
    """GraphProto."""
    return b"".join([
        f_msgs(1, nodes), f_str(2, name), f_msgs(5, initializers), f_str(10, doc),
        f_msgs(11, inputs), f_msgs(12, outputs), f_msgs(13, value_infos),
    ])


def function(name: str, domain: str, inputs: Sequence[str], outputs: Sequence[str], nodes: Sequence[bytes],
             opsets: Sequence[tuple[str, int]], *, attributes: Sequence[str] = (), doc: str = "") -> bytes:
    """FunctionProto (a model-local function)."""
    return b"".join([
        f_str(1, name), f_strs(4, inputs), f_strs(5, outputs), f_strs(6, attributes), f_msgs(7, nodes),
        f_str(8, doc), f_msgs(9, (opset(d, v) for d, v in opsets)), f_str(10, domain),
    ])


def model(g: bytes | None, *, opsets: Sequence[tuple[str, int]] = (("", 17),), ir_version: int = 8,
          producer: str = "quarantine-samples", producer_version: str = "1.0", doc: str = "",
          metadata: Sequence[tuple[str, str]] = (), functions: Sequence[bytes] = ()) -> bytes:
    """ModelProto. `g` None leaves the graph out."""
    return b"".join([
        f_int(1, ir_version), f_str(2, producer), f_str(3, producer_version), f_str(6, doc),
        f_len(7, g) if g is not None else b"", f_msgs(8, (opset(d, v) for d, v in opsets)),
        f_msgs(14, (entry(k, v) for k, v in metadata)), f_msgs(25, functions),
    ])
