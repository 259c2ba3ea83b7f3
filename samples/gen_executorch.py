"""ExecuTorch `.pte` samples (issue 16): programs hand-built from executorch's schema/program.fbs
(FlatBuffer, file identifier `ET12`) and the extended header of docs/source/pte-file-format.md
(`eh00`, header size, program data size, segment base offset), with data segments after the
program data aligned as the exporter aligns them.

The FlatBuffer writer below lays out every table with its vtable just before it and its children
after it (forward offsets), which any FlatBuffers reader accepts. Payloads are harmless
(`echo quarantine-sample`). Standard library only; helpers come from generate.py (as `g`).
"""

from __future__ import annotations

import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES = {
    "PTE001": ("executorch-unknown-delegate", SUSPICIOUS),
    "PTE002": ("executorch-custom-op", CLEAN),
    "PTE003": ("executorch-malformed", SUSPICIOUS),
}

SIZES = {"u8": 1, "i8": 1, "u32": 4, "i32": 4, "u64": 8}
FORMATS = {"u8": "<B", "i8": "<b", "u32": "<I", "i32": "<i", "u64": "<Q"}


class Writer:
    """Forward-offset FlatBuffer writer. A table is a list of fields by index: None (absent),
    (scalar_kind, value), ("str", text), ("bytes", data), ("table", fields) or
    ("tables", [fields, ...])."""

    def __init__(self, prefix: bytes):
        self.buf = bytearray(prefix)

    def align(self, n: int) -> None:
        while len(self.buf) % n:
            self.buf.append(0)

    def table(self, fields: list) -> int:
        # Inline layout: soffset, then each field aligned to its size (offsets are 4 bytes).
        layout, at = [], 4
        for f in fields:
            if f is None:
                layout.append(None)
                continue
            size = SIZES.get(f[0], 4)
            at += -at % size
            layout.append(at)
            at += size
        table_len = at + (-at % 4)
        vtable = struct.pack("<HH", 4 + 2 * len(fields), table_len)
        vtable += b"".join(struct.pack("<H", 0 if o is None else o) for o in layout)
        self.align(2)
        # Place the table 8-aligned right after the vtable.
        vt_at = len(self.buf)
        pad = -(vt_at + len(vtable)) % 8
        self.buf += vtable + bytes(pad)
        t_at = len(self.buf)
        self.buf += bytes(table_len)
        struct.pack_into("<i", self.buf, t_at, t_at - vt_at)
        for f, o in zip(fields, layout):
            if f is None:
                continue
            kind, value = f
            if kind in FORMATS:
                struct.pack_into(FORMATS[kind], self.buf, t_at + o, value)
            else:
                self.child(t_at + o, kind, value)
        return t_at

    def patch(self, slot: int, target: int) -> None:
        struct.pack_into("<I", self.buf, slot, target - slot)

    def child(self, slot: int, kind: str, value) -> None:
        self.align(4)
        if kind == "str" or kind == "bytes":
            data = value.encode() if kind == "str" else value
            if kind == "bytes":
                # Byte vectors (tensor and delegate data) are 16-aligned after the length.
                while (len(self.buf) + 4) % 16:
                    self.buf.append(0)
            at = len(self.buf)
            self.buf += struct.pack("<I", len(data)) + data + (b"\0" if kind == "str" else b"")
            self.patch(slot, at)
        elif kind == "table":
            self.patch(slot, self.table(value))
        elif kind == "tables":
            at = len(self.buf)
            self.buf += struct.pack("<I", len(value)) + bytes(4 * len(value))
            self.patch(slot, at)
            for i, t in enumerate(value):
                self.patch(at + 4 + 4 * i, self.table(t))
        else:
            raise ValueError(kind)


def operator(name: str, overload: str = "") -> list:
    return [("str", name), ("str", overload)]


def delegate(backend: str, location: int, index: int) -> list:
    return [("str", backend), ("table", [("i8", location), ("u32", index)]),
            ("tables", [[("str", "max_value"), ("bytes", b"\x04")]])]


def plan(operators: list, delegates: list, name: str = "forward") -> list:
    # name, container_meta_type, values, inputs, outputs, chains, operators, delegates
    return [("str", name), ("table", [("str", "T1#1#0(]"), ("str", "T1#1#0(]")]), None, None, None,
            None, ("tables", operators), ("tables", delegates)]


SEGMENT_ALIGN = 4096


def program(plans: list, segments: list[bytes] = (), inline: list[bytes] = (),
            bad_segment: tuple | None = None, header_len: int = 24) -> bytes:
    """A .pte: flatbuffer header, extended header, Program, then the segments (each aligned to
    4096 bytes). `bad_segment` = (offset, size) replaces the first segment's entry."""
    offsets, at = [], 0
    for s in segments:
        offsets.append((at, len(s)))
        at += len(s) + (-len(s) % SEGMENT_ALIGN)
    if bad_segment is not None:
        offsets[0] = bad_segment
    table = [("u32", 0), ("tables", plans), None,
             ("tables", [[("bytes", d)] for d in inline]) if inline else None,
             ("tables", [[("u64", o), ("u64", n)] for o, n in offsets]) if segments else None,
             ("table", [("u32", 0), ("tables", [])])]
    w = Writer(bytes(32))
    root = w.table(table)
    w.align(16)
    program_size = len(w.buf)
    base = program_size + (-program_size % SEGMENT_ALIGN) if segments else 0
    struct.pack_into("<I4s4sIQQ", w.buf, 0, root, b"ET12", b"eh00", header_len, program_size, base)
    out = bytes(w.buf)
    if segments:
        out += bytes(base - len(out))
        for s in segments:
            out += s + bytes(-len(s) % SEGMENT_ALIGN)
    return out


# What XNNPACK's preprocess writes: its own flatbuffer ("XN01") behind a small header.
XNNPACK_BLOB = struct.pack("<I4sHHIQ", 0, b"XH00", 32, 0, 24, 0) + bytes(8) + b"XN01" + bytes(60)

ADD_OPS = [operator("aten::add", "out"), operator("dim_order_ops::_to_dim_order_copy", "out")]


def samples(register, g) -> None:
    register("benign/executorch_xnnpack.pte", CLEAN,
             desc="an ExecuTorch program (ET12, eh00 extended header) with one method, portable aten ops "
                  "and an XnnpackBackend delegate whose blob is data segment 0",
             build=lambda: program([plan(ADD_OPS, [delegate("XnnpackBackend", 1, 0)])],
                                   segments=[XNNPACK_BLOB]))
    register("benign/executorch_custom_op.pte", CLEAN, ("PTE002", "mycorp::fused_gelu.out"),
             desc="an ExecuTorch program calling an operator of a custom kernel library (listed, info)",
             build=lambda: program([plan(ADD_OPS + [operator("mycorp::fused_gelu", "out")], [])]))
    register("malicious/executorch_unknown_delegate.pte", SUSPICIOUS, ("PTE001", "ShellBackend"),
             desc="an ExecuTorch program whose delegate id is no ExecuTorch backend (its inline blob goes to "
                  "whatever native code the application registered under that id)",
             build=lambda: program([plan(ADD_OPS, [delegate("ShellBackend", 0, 0)])],
                                   inline=[b"echo quarantine-sample"]))
    register("malicious/executorch_segment_pickle.pte", MALICIOUS, ("PKL001", "posix.system"),
             desc="an ExecuTorch program whose data segment (the XNNPACK delegate's blob) is a pickle "
                  "calling posix.system",
             build=lambda: program([plan(ADD_OPS, [delegate("XnnpackBackend", 1, 0)])],
                                   segments=[g.ok_dumps(g.system(), 2)]))
    register("malicious/executorch_segment_out_of_bounds.pte", SUSPICIOUS, ("PTE003", "extends past the end"),
             desc="an ExecuTorch program whose data segment entry points past the end of the file",
             build=lambda: program([plan(ADD_OPS, [delegate("XnnpackBackend", 1, 0)])],
                                   segments=[XNNPACK_BLOB], bad_segment=(1 << 40, 4096)))
