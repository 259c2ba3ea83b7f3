#!/usr/bin/env python3
"""Generate quarantine's sample corpus: small benign and malicious model artifacts.

    python3 samples/generate.py           rewrite samples/{benign,malicious}/, MANIFEST.tsv, README.md
    python3 samples/generate.py --check   verify everything instead (no file is written)
    python3 samples/generate.py --out D   write the corpus under D instead of samples/

Rules this file keeps:

* Standard library only. numpy, torch, joblib and scikit-learn are never imported; their file
  layouts are written by hand, following what those libraries write.
* Nothing is ever unpickled. Pickles are assembled opcode by opcode (`op`) or by `Encoder`, a
  small write-only copy of CPython's pickler that takes a description of the object (globals,
  calls, persistent ids) instead of live objects. `pickle.dumps` is used on plain data only.
  `pickletools.dis`, which disassembles without executing, is the only reader (`--check`).
* Payloads are harmless: the shell command is always `echo quarantine-sample` and the Python
  expression `print('quarantine-sample')`. Only the structure is that of the real attack.
* Output is deterministic: fixed timestamps in zip, tar and gzip headers and no randomness, so a
  second run writes identical bytes (`--check` builds everything twice and compares).

Each sample is one function registered with `@sample(path, expected, findings..., desc=...)`; the
registrations are the single table that MANIFEST.tsv and README.md are rendered from.
"""

from __future__ import annotations

import argparse
import ast
import bz2
import hashlib
import io
import lzma
import pickle
import pickletools
import struct
import sys
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

CMD = "echo quarantine-sample"
PY = "print('quarantine-sample')"

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

# The scanner's rule registry (src/model/rules/table.rs): id -> (name, verdict the rule implies).
RULES = {
    "PKL001": ("pickle-denied-global", MALICIOUS),
    "PKL002": ("pickle-unknown-global", SUSPICIOUS),
    "PKL003": ("pickle-malformed", SUSPICIOUS),
    "PKL004": ("pickle-trailing-data", SUSPICIOUS),
    "PKL005": ("pickle-limit-exceeded", SUSPICIOUS),
    "PKL006": ("pickle-global-mutation", MALICIOUS),
    "PKL007": ("pickle-dynamic-call", SUSPICIOUS),
    "PKL008": ("pickle-unresolvable-import", SUSPICIOUS),
    "PKL009": ("pickle-extension-code", SUSPICIOUS),
    "PKL013": ("pickle-frame-overrun", SUSPICIOUS),
    "PKL014": ("joblib-array-file-escape", MALICIOUS),
    "PKL015": ("joblib-array-file-outside", SUSPICIOUS),
    "NPY001": ("numpy-malformed", SUSPICIOUS),
    "TRC001": ("torch-layout-mismatch", SUSPICIOUS),
    "FMT001": ("unknown-format", SUSPICIOUS),
    "FMT002": ("extension-mismatch", SUSPICIOUS),
    "FMT003": ("polyglot", SUSPICIOUS),
    "FMT004": ("empty-file", CLEAN),
    "FMT005": ("format-not-analysed", SUSPICIOUS),
    "FMT007": ("data-file", CLEAN),
    "SFT001": ("safetensors-malformed-header", SUSPICIOUS),
    "SFT002": ("safetensors-bad-layout", SUSPICIOUS),
    "SFT003": ("safetensors-trailing-data", SUSPICIOUS),
    "PRB001": ("probe-non-finite-weights", CLEAN),
    "PRB002": ("probe-weight-outliers", SUSPICIOUS),
    "PRB003": ("probe-brittle-model", SUSPICIOUS),
    "PRB004": ("probe-refused", SUSPICIOUS),
    "PRB005": ("probe-skipped", SUSPICIOUS),
    "ARC001": ("archive-corrupt", SUSPICIOUS),
    "ARC002": ("archive-crc-mismatch", SUSPICIOUS),
    "ARC003": ("archive-header-mismatch", SUSPICIOUS),
    "ARC004": ("archive-encrypted-member", SUSPICIOUS),
    "ARC005": ("archive-limit-exceeded", SUSPICIOUS),
    "ARC006": ("archive-unsafe-path", MALICIOUS),
    "ARC012": ("archive-lookalike-path", SUSPICIOUS),
    "ARC007": ("archive-link-member", SUSPICIOUS),
    "ARC008": ("archive-duplicate-member", SUSPICIOUS),
    "ARC009": ("archive-flag-anomaly", SUSPICIOUS),
    "ARC010": ("archive-recovered", SUSPICIOUS),
    "ONX001": ("onnx-malformed", SUSPICIOUS),
    "ONX002": ("onnx-external-data-escape", MALICIOUS),
    "ONX003": ("onnx-external-data-invalid", SUSPICIOUS),
    "ONX004": ("onnx-python-operator", SUSPICIOUS),
    "ONX005": ("onnx-custom-domain", SUSPICIOUS),
    "ONX006": ("onnx-bad-opset", SUSPICIOUS),
    "ONX007": ("onnx-limit-exceeded", SUSPICIOUS),
    "ONX008": ("onnx-external-data-file", CLEAN),
    "ONX009": ("onnx-tensor-file", CLEAN),
    "TFG005": ("tensorflow-fingerprint", CLEAN),
    "TFG006": ("tensorflow-checkpoint-shard", CLEAN),
    "TFG007": ("tensorflow-checkpoint-shard-mismatch", SUSPICIOUS),
    "ARC013": ("archive-concatenated", SUSPICIOUS),
    "ARC014": ("archive-dcp-shard", CLEAN),
    "SFT004": ("safetensors-shard-escape", MALICIOUS),
    "SFT005": ("safetensors-shard-missing", SUSPICIOUS),
}
VERDICT_RANK = {CLEAN: 0, SUSPICIOUS: 1, MALICIOUS: 2}


# ---------------------------------------------------------------------------------------------
# Raw pickle opcodes
# ---------------------------------------------------------------------------------------------


class op:
    """Pickle opcodes: constants are bare opcodes, functions return an opcode with its argument."""

    MARK = b"("
    STOP = b"."
    POP = b"0"
    NONE = b"N"
    NEWTRUE = b"\x88"
    NEWFALSE = b"\x89"
    EMPTY_TUPLE = b")"
    TUPLE = b"t"
    TUPLE1 = b"\x85"
    TUPLE2 = b"\x86"
    TUPLE3 = b"\x87"
    EMPTY_LIST = b"]"
    LIST = b"l"
    APPEND = b"a"
    APPENDS = b"e"
    EMPTY_DICT = b"}"
    DICT = b"d"
    SETITEM = b"s"
    SETITEMS = b"u"
    REDUCE = b"R"
    BUILD = b"b"
    OBJ = b"o"
    NEWOBJ = b"\x81"
    NEWOBJ_EX = b"\x92"
    STACK_GLOBAL = b"\x93"
    MEMOIZE = b"\x94"
    BINPERSID = b"Q"

    @staticmethod
    def proto(n: int) -> bytes:
        return b"\x80" + bytes([n])

    @staticmethod
    def frame(body: bytes) -> bytes:
        return b"\x95" + struct.pack("<Q", len(body)) + body

    @staticmethod
    def global_(module: str, name: str) -> bytes:
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    @staticmethod
    def inst(module: str, name: str) -> bytes:
        return b"i" + module.encode() + b"\n" + name.encode() + b"\n"

    @staticmethod
    def string(s: str) -> bytes:
        """Protocol 0 STRING: a quoted Python literal on one line."""
        return b"S" + repr(s).encode("ascii") + b"\n"

    @staticmethod
    def unicode(s: str) -> bytes:
        """Protocol 0 UNICODE (raw-unicode-escape, one line)."""
        assert "\\" not in s and "\n" not in s
        return b"V" + s.encode("raw-unicode-escape") + b"\n"

    @staticmethod
    def binunicode(s: str) -> bytes:
        data = s.encode()
        return b"X" + struct.pack("<I", len(data)) + data

    @staticmethod
    def short_binunicode(s: str) -> bytes:
        data = s.encode()
        return b"\x8c" + bytes([len(data)]) + data

    @staticmethod
    def short_binbytes(b: bytes) -> bytes:
        return b"C" + bytes([len(b)]) + b

    @staticmethod
    def binbytes(b: bytes) -> bytes:
        return b"B" + struct.pack("<I", len(b)) + b

    @staticmethod
    def binint1(n: int) -> bytes:
        return b"K" + bytes([n])

    @staticmethod
    def put(i: int) -> bytes:
        return b"p%d\n" % i

    @staticmethod
    def get(i: int) -> bytes:
        return b"g%d\n" % i

    @staticmethod
    def binput(i: int) -> bytes:
        return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)

    @staticmethod
    def binget(i: int) -> bytes:
        return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)

    @staticmethod
    def long_binput(i: int) -> bytes:
        return b"r" + struct.pack("<I", i)

    @staticmethod
    def long_binget(i: int) -> bytes:
        return b"j" + struct.pack("<I", i)

    @staticmethod
    def ext1(code: int) -> bytes:
        return b"\x82" + bytes([code])


def encode_long(x: int) -> bytes:
    """Two's-complement little-endian, as LONG1 wants it (pickle.encode_long)."""
    if x == 0:
        return b""
    result = x.to_bytes((x.bit_length() >> 3) + 1, "little", signed=True)
    if x < 0 and len(result) > 1 and result[-1] == 0xFF and result[-2] & 0x80:
        result = result[:-1]
    return result


# ---------------------------------------------------------------------------------------------
# A write-only CPython-compatible pickle encoder over object *descriptions*
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class G:
    """A global reference `module.name` (GLOBAL, or STACK_GLOBAL from protocol 4)."""

    module: str
    name: str


@dataclass(eq=False)
class Call:
    """`func(*args)` as save_reduce writes it: REDUCE (or NEWOBJ), the result memoized, then
    dict items (SETITEM/SETITEMS) and BUILD with `state`. Share one instance to get a memo hit."""

    func: object
    args: tuple = ()
    state: object = None
    items: list | None = None
    newobj: bool = False


@dataclass(eq=False)
class PersId:
    """A persistent id: the tuple is pickled, then BINPERSID."""

    pid: tuple


@dataclass(eq=False)
class Then:
    """Evaluate `first`, POP it, continue with `then` (how payloads are spliced in front)."""

    first: object
    then: object


@dataclass(eq=False)
class JoblibArray:
    """A numpy array as joblib's NumpyPickler writes it: a NumpyArrayWrapper object, then (outside
    any pickle frame) one padding-length byte, 0xff padding to 16-byte alignment, raw data."""

    dtype: object
    shape: tuple
    data: bytes
    allow_mmap: bool = True


class Encoder:
    """Writes the opcodes CPython's pickler would write for the described object, with the same
    memo numbering and protocol-4 framing. Strings, bytes and globals are memo-shared by value,
    Call nodes by identity, containers never (as fresh objects are in CPython)."""

    def __init__(self, protocol: int):
        self.proto = protocol
        self.out = bytearray()
        self.frame: bytearray | None = None
        self.memo: dict = {}
        self.raw_spans: list[tuple[int, int]] = []

    def dumps(self, obj) -> bytes:
        if self.proto >= 2:
            self.out += op.proto(self.proto)
        if self.proto >= 4:
            self.frame = bytearray()
        self.save(obj)
        self.write(op.STOP)
        self.commit_frame()
        return bytes(self.out)

    def write(self, data: bytes) -> None:
        (self.frame if self.frame is not None else self.out).extend(data)

    def commit_frame(self) -> None:
        if self.frame is None:
            return
        if len(self.frame) >= 4:
            self.out += b"\x95" + struct.pack("<Q", len(self.frame))
        self.out += self.frame
        self.frame = bytearray()

    def memoize(self, key=None) -> None:
        idx = len(self.memo)
        self.memo[key if key is not None else ("anon", idx)] = idx
        if self.proto >= 4:
            self.write(op.MEMOIZE)
        elif self.proto >= 1:
            self.write(op.binput(idx))
        else:
            self.write(op.put(idx))

    @staticmethod
    def memo_key(obj):
        if type(obj) in (str, bytes):
            return (type(obj), obj)
        if type(obj) is G:
            return ("global", obj.module, obj.name)
        if type(obj) is Call:
            return ("call", id(obj))
        return None

    def save(self, obj) -> None:
        key = self.memo_key(obj)
        if key is not None and key in self.memo:
            idx = self.memo[key]
            self.write(op.binget(idx) if self.proto >= 1 else op.get(idx))
            return
        handler = {
            type(None): self.save_none,
            bool: self.save_bool,
            int: self.save_int,
            float: self.save_float,
            str: self.save_str,
            bytes: self.save_bytes,
            tuple: self.save_tuple,
            list: self.save_list,
            dict: self.save_dict,
            G: self.save_global,
            Call: self.save_call,
            PersId: self.save_persid,
            Then: self.save_then,
            JoblibArray: self.save_joblib_array,
        }[type(obj)]
        handler(obj)

    def save_none(self, obj) -> None:
        self.write(op.NONE)

    def save_bool(self, obj: bool) -> None:
        if self.proto >= 2:
            self.write(op.NEWTRUE if obj else op.NEWFALSE)
        else:
            self.write(b"I01\n" if obj else b"I00\n")

    def save_int(self, n: int) -> None:
        if self.proto >= 1:
            if 0 <= n <= 0xFF:
                return self.write(op.binint1(n))
            if 0 <= n <= 0xFFFF:
                return self.write(b"M" + struct.pack("<H", n))
            if -0x80000000 <= n <= 0x7FFFFFFF:
                return self.write(b"J" + struct.pack("<i", n))
        if self.proto >= 2:
            data = encode_long(n)
            return self.write(b"\x8a" + bytes([len(data)]) + data)
        if -0x80000000 <= n <= 0x7FFFFFFF:
            return self.write(b"I%d\n" % n)
        self.write(b"L%dL\n" % n)

    def save_float(self, x: float) -> None:
        if self.proto >= 1:
            self.write(b"G" + struct.pack(">d", x))
        else:
            self.write(b"F" + repr(x).encode() + b"\n")

    def save_str(self, s: str) -> None:
        if self.proto == 0:
            escaped = (
                s.replace("\\", "\\u005c").replace("\0", "\\u0000").replace("\n", "\\u000a")
                .replace("\r", "\\u000d").replace("\x1a", "\\u001a")
            )
            self.write(b"V" + escaped.encode("raw-unicode-escape") + b"\n")
        elif self.proto >= 4 and len(s.encode()) < 256:
            self.write(op.short_binunicode(s))
        else:
            self.write(op.binunicode(s))
        self.memoize((str, s))

    def save_bytes(self, b: bytes) -> None:
        if self.proto < 3:
            raise ValueError("bytes need protocol 3 here (older ones go through _codecs.encode)")
        self.write(op.short_binbytes(b) if len(b) < 256 else op.binbytes(b))
        self.memoize((bytes, b))

    def save_tuple(self, t: tuple) -> None:
        if not t:
            self.write(op.EMPTY_TUPLE if self.proto >= 1 else op.MARK + op.TUPLE)
            return
        if len(t) <= 3 and self.proto >= 2:
            for item in t:
                self.save(item)
            self.write((op.TUPLE1, op.TUPLE2, op.TUPLE3)[len(t) - 1])
        else:
            self.write(op.MARK)
            for item in t:
                self.save(item)
            self.write(op.TUPLE)
        self.memoize()

    def save_list(self, items: list) -> None:
        self.write(op.EMPTY_LIST if self.proto >= 1 else op.MARK + op.LIST)
        self.memoize()
        if self.proto == 0:
            for item in items:
                self.save(item)
                self.write(op.APPEND)
            return
        for start in range(0, len(items), 1000):
            batch = items[start : start + 1000]
            if len(batch) > 1:
                self.write(op.MARK)
            for item in batch:
                self.save(item)
            self.write(op.APPENDS if len(batch) > 1 else op.APPEND)

    def save_dict(self, d: dict) -> None:
        self.write(op.EMPTY_DICT if self.proto >= 1 else op.MARK + op.DICT)
        self.memoize()
        self.save_setitems(list(d.items()))

    def save_setitems(self, pairs: list) -> None:
        if self.proto == 0:
            for k, v in pairs:
                self.save(k)
                self.save(v)
                self.write(op.SETITEM)
            return
        for start in range(0, len(pairs), 1000):
            batch = pairs[start : start + 1000]
            if len(batch) > 1:
                self.write(op.MARK)
            for k, v in batch:
                self.save(k)
                self.save(v)
            self.write(op.SETITEMS if len(batch) > 1 else op.SETITEM)

    def save_global(self, g: G) -> None:
        if self.proto >= 4:
            self.save(g.module)
            self.save(g.name)
            self.write(op.STACK_GLOBAL)
        else:
            self.write(op.global_(g.module, g.name))
        self.memoize(self.memo_key(g))

    def save_call(self, call: Call) -> None:
        self.save(call.func)
        self.save(tuple(call.args))
        self.write(op.NEWOBJ if call.newobj else op.REDUCE)
        self.memoize(self.memo_key(call))
        if call.items is not None:
            self.save_setitems(call.items)
        if call.state is not None:
            self.save(call.state)
            self.write(op.BUILD)

    def save_persid(self, p: PersId) -> None:
        self.save(p.pid)
        self.write(op.BINPERSID)

    def save_then(self, t: Then) -> None:
        self.save(t.first)
        self.write(op.POP)
        self.save(t.then)

    def save_joblib_array(self, a: JoblibArray) -> None:
        wrapper_state = {
            "subclass": G("numpy", "ndarray"),
            "shape": a.shape,
            "order": "C",
            "dtype": a.dtype,
            "allow_mmap": a.allow_mmap,
            "numpy_array_alignment_bytes": 16,
        }
        self.save(Call(G("joblib.numpy_pickle", "NumpyArrayWrapper"), (), wrapper_state, newobj=True))
        self.commit_frame()  # joblib forces the frame out before writing the array bytes
        start = len(self.out)
        padding = 16 - (start + 1) % 16
        self.out += bytes([padding]) + b"\xff" * padding + a.data
        self.raw_spans.append((start, len(self.out)))


def dumps(obj, protocol: int) -> bytes:
    return Encoder(protocol).dumps(obj)


def system(module: str = "posix") -> Call:
    """`posix.system('echo quarantine-sample')`: the payload most samples carry."""
    return Call(G(module, "system"), (CMD,))


# ---------------------------------------------------------------------------------------------
# Pickles to verify in --check
# ---------------------------------------------------------------------------------------------

_VALID: list[bytes] = []
_BROKEN: list[bytes] = []


def ok(pickle_bytes: bytes, raw_spans=()) -> bytes:
    """Marks a pickle that `pickletools.dis` must accept (after cutting out joblib's inline array
    bytes at `raw_spans`). Returns it unchanged."""
    cut, last = bytearray(), 0
    for start, end in raw_spans:
        cut += pickle_bytes[last:start]
        last = end
    cut += pickle_bytes[last:]
    _VALID.append(bytes(cut))
    return pickle_bytes


def broken(pickle_bytes: bytes) -> bytes:
    """Marks a deliberately broken pickle that `pickletools.dis` must reject."""
    _BROKEN.append(pickle_bytes)
    return pickle_bytes


def ok_dumps(obj, protocol: int) -> bytes:
    enc = Encoder(protocol)
    data = enc.dumps(obj)
    return ok(data, enc.raw_spans)


# ---------------------------------------------------------------------------------------------
# Compression, zip, tar
# ---------------------------------------------------------------------------------------------


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def gzip_frame(deflated: bytes, crc: int, size: int, level: int) -> bytes:
    """A gzip member with mtime 0, no name, OS 3 (Unix), the way zlib (wbits=31) writes it."""
    xfl = 2 if level == 9 else 4 if level == 1 else 0
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + bytes([xfl, 3])
    return header + deflated + struct.pack("<II", crc, size & 0xFFFFFFFF)


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    return gzip_frame(raw_deflate(data, level), zlib.crc32(data), len(data), level)


DOS_DATE_1980 = (0 << 9) | (1 << 5) | 1  # 1980-01-01
DOS_TIME_0 = 0


@dataclass
class ZipEntry:
    """One zip member, with every field the tricks need to bend."""

    name: str
    data: bytes
    method: int = 8  # 0 stored, 8 deflated
    level: int = 6
    flags: int = 0
    version_needed: int = 20
    made_by: int = 0x0314  # Unix, spec 2.0 (what Python's zipfile writes)
    external_attr: int = 0o644 << 16
    descriptor: bool = False  # sizes and CRC in a data descriptor after the data
    align: int | None = None  # PyTorch's "FB" padding extra field aligning data to this
    crc: int | None = None  # override the CRC written in the headers
    local_name: str | None = None  # a different name in the local header
    declared_size: int | None = None  # override the uncompressed size in the headers
    password: bytes | None = None  # traditional PKWARE encryption


_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0xEDB88320 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def zipcrypto_encrypt(payload: bytes, password: bytes, crc: int) -> bytes:
    """Traditional PKWARE encryption (APPNOTE 6.1) with a fixed 12-byte header."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = _CRC_TABLE[(keys[0] ^ byte) & 0xFF] ^ (keys[0] >> 8)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = _CRC_TABLE[(keys[2] ^ (keys[1] >> 24)) & 0xFF] ^ (keys[2] >> 8)

    for byte in password:
        update(byte)
    out = bytearray()
    for plain in b"quarantine!" + bytes([crc >> 24]) + payload:
        temp = (keys[2] | 2) & 0xFFFF
        out.append(plain ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
        update(plain)
    return bytes(out)


def build_zip(entries: list[ZipEntry], prefix: bytes = b"", zip64_end: bool = False,
              central_directory: bool = True) -> bytes:
    """Writes local headers, data (and descriptors), the central directory and the end records.
    Offsets are absolute, so a `prefix` makes a zip that is still valid after prepended bytes."""
    out = bytearray(prefix)
    central = bytearray()
    for e in entries:
        offset = len(out)
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        payload = raw_deflate(e.data, e.level) if e.method == 8 else e.data
        flags = e.flags
        if e.password is not None:
            payload = zipcrypto_encrypt(payload, e.password, zlib.crc32(e.data))
            flags |= 0x1
        size = len(e.data) if e.declared_size is None else e.declared_size
        csize = len(payload)
        zip64 = size >= 0xFFFFFFFF
        zip64_extra = struct.pack("<HHQQ", 0x0001, 16, size, csize) if zip64 else b""
        size32, csize32 = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (size, csize)
        local_name = (e.local_name or e.name).encode()
        extra = zip64_extra
        if e.align:
            start = offset + 30 + len(local_name) + len(extra) + 4
            padding = -start % e.align
            extra += b"FB" + struct.pack("<H", padding) + b"Z" * padding
        local_crc, local_csize, local_size = (0, 0, 0) if e.descriptor else (crc, csize32, size32)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, e.version_needed, flags, e.method, DOS_TIME_0,
            DOS_DATE_1980, local_crc, local_csize, local_size, len(local_name), len(extra),
        )
        out += local_name + extra + payload
        if e.descriptor:
            out += struct.pack("<IIII", 0x08074B50, crc, csize32, size32)
        name = e.name.encode()
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, e.made_by, e.version_needed, flags, e.method,
            DOS_TIME_0, DOS_DATE_1980, crc, csize32, size32, len(name), len(zip64_extra), 0, 0, 0,
            e.external_attr, offset,
        )
        central += name + zip64_extra
    if not central_directory:
        return bytes(out)
    cd_offset, count = len(out), len(entries)
    out += central
    if zip64_end:
        zip64_eocd_offset = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, count, count,
                           len(central), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, zip64_eocd_offset, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), cd_offset, 0)
    return bytes(out)


def zip_of(*members: tuple[str, bytes], **layout) -> bytes:
    """An ordinary deflated zip, as a standard tool writes it."""
    return build_zip([ZipEntry(name, data) for name, data in members], **layout)


def build_tar(*members: tuple) -> bytes:
    """(name, data) for files, (name, None, target) for symbolic links; mtime 0, root-owned."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, *link in members:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if link:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, link[0], 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# numpy
# ---------------------------------------------------------------------------------------------


def npy_header(descr: str, shape: tuple, fortran_order: bool = False) -> bytes:
    """numpy.lib.format header, version 1.0: the dict repr (keys sorted), spare room for the first
    axis to grow (GROWTH_AXIS_MAX_DIGITS = 21), space padding to 64 bytes, newline."""
    d = {"descr": descr, "fortran_order": fortran_order, "shape": shape}
    header = "{" + "".join(f"'{k}': {v!r}, " for k, v in sorted(d.items())) + "}"
    if shape:
        header += " " * (21 - len(repr(shape[-1 if fortran_order else 0])))
    hlen = len(header) + 1
    padlen = 64 - (8 + 2 + hlen) % 64
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", hlen + padlen) + header.encode("latin1") + b" " * padlen + b"\n"


def np_dtype(code: str, byteorder: str = "<", flags: int = 0) -> Call:
    """numpy.dtype(code, False, True) with the version-3 BUILD state numpy pickles."""
    return Call(G("numpy", "dtype"), (code, False, True), (3, byteorder, None, None, None, -1, -1, flags))


def np_object_dtype() -> Call:
    return np_dtype("O8", "|", 63)


def np_ndarray(dtype: Call, shape: tuple, data) -> Call:
    """An ndarray as ndarray.__reduce__ gives it (numpy 1.x names): _reconstruct(ndarray, (0,), b'b')
    then BUILD (1, shape, dtype, is_fortran, raw bytes or, for object arrays, a list)."""
    return Call(
        G("numpy.core.multiarray", "_reconstruct"),
        (G("numpy", "ndarray"), (0,), b"b"),
        (1, shape, dtype, False, data),
    )


def npy_object(items: list) -> bytes:
    """An object-dtype .npy: header, then the array pickled at protocol 3 (numpy 1.x format.py)."""
    return npy_header("|O", (len(items),)) + ok_dumps(np_ndarray(np_object_dtype(), (len(items),), items), 3)


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def f64(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def i64(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def npz(members: dict[str, bytes], compression: int) -> bytes:
    """numpy.savez / savez_compressed: zipfile with allowZip64 and force_zip64 members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression, allowZip64=True) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.create_system = 3
            with zf.open(info, "w", force_zip64=True) as f:
                f.write(data)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------

ODICT = G("collections", "OrderedDict")
LINEAR = [  # nn.Linear(2, 2): (key, storage key, shape, float32 data)
    ("weight", "0", (2, 2), f32(0.1, -0.2, 0.3, 0.4)),
    ("bias", "1", (2,), f32(0.01, -0.02)),
]


def strides(shape: tuple) -> tuple:
    out, acc = [], 1
    for dim in reversed(shape):
        out.append(acc)
        acc *= dim
    return tuple(reversed(out))


def state_dict(tensors, legacy: bool = False) -> Call:
    """An nn.Module state_dict: OrderedDict of torch._utils._rebuild_tensor_v2(storage, offset,
    size, stride, requires_grad, backward_hooks) with the storage as a persistent id
    ('storage', torch.FloatStorage, key, 'cpu', numel) (+ view_metadata None in the legacy
    format), and the `_metadata` attribute set by BUILD."""
    items = []
    for name, key, shape, data in tensors:
        pid = ("storage", G("torch", "FloatStorage"), key, "cpu", len(data) // 4)
        tensor = Call(
            G("torch._utils", "_rebuild_tensor_v2"),
            (PersId(pid + (None,) if legacy else pid), 0, shape, strides(shape), False, Call(ODICT)),
        )
        items.append((name, tensor))
    metadata = Call(ODICT, items=[("", {"version": 1})])
    return Call(ODICT, items=items, state={"_metadata": metadata})


def hash_combine(seed: int, value: int) -> int:
    """c10::hash_combine on 64-bit size_t."""
    mask = (1 << 64) - 1
    return (seed ^ ((value + 0x9E3779B9 + (seed << 6) + (seed >> 2)) & mask)) & mask


def torch_zip(data_pkl: bytes, tensors=LINEAR, prefix: bytes = b"", **pkl_tweaks) -> bytes:
    """What torch.save (zip serialization, torch 2.x) writes through PyTorchStreamWriter/miniz:
    stored members under `archive/` (data.pkl, byteorder, data/<key>, then version and
    .data/serialization_id at end of file), each with an "FB" extra field padding its data to a
    64-byte boundary, flags 0x0808 (UTF-8 + data descriptor: zero CRC/sizes in the local header),
    version-needed 0, version-made-by 0, and zip64 end records. `pkl_tweaks` override fields of
    the data.pkl entry (the container tricks)."""
    records = [("data.pkl", data_pkl), ("byteorder", b"little")]
    records += [(f"data/{key}", data) for _, key, _, data in sorted(tensors, key=lambda t: t[1])]
    records.append(("version", b"3\n"))
    name_hash = 0
    for name, _ in sorted(records + [(".data/serialization_id", b"")]):
        name_hash = hash_combine(name_hash, int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "little"))
    crc_hash = 0
    for _, data in records:
        crc_hash = hash_combine(crc_hash, zlib.crc32(data))
    records.append((".data/serialization_id", f"{name_hash:020d}{crc_hash:020d}".encode()))
    entries = []
    for name, data in records:
        entry = ZipEntry(f"archive/{name}", data, method=0, flags=0x0808, version_needed=0,
                         made_by=0, external_attr=0, descriptor=True, align=64)
        entries.append(replace(entry, **pkl_tweaks) if name == "data.pkl" else entry)
    return build_zip(entries, prefix=prefix, zip64_end=True)


TORCH_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_SYS_INFO = {"protocol_version": 1001, "little_endian": True,
                   "type_sizes": {"short": 2, "int": 4, "long": 4}}
LEGACY_TENSORS = [("weight", "0", (2, 2), f32(0.5, -1.5, 2.5, -3.5))]


def legacy_torch(obj_pickle: bytes, tensors=LEGACY_TENSORS, tail: bytes = b"") -> bytes:
    """torch.save(_use_new_zipfile_serialization=False): five protocol-2 pickles (magic number,
    protocol version, sys_info, the object, the sorted storage keys), then per storage an int64
    little-endian element count and the raw bytes."""
    parts = [ok_dumps(TORCH_MAGIC, 2), ok_dumps(1001, 2), ok_dumps(LEGACY_SYS_INFO, 2), obj_pickle,
             ok_dumps(sorted(key for _, key, _, _ in tensors), 2)]
    for _, _, _, data in sorted(tensors, key=lambda t: t[1]):
        parts += [struct.pack("<q", len(data) // 4), data]
    return b"".join(parts) + tail


# ---------------------------------------------------------------------------------------------
# joblib
# ---------------------------------------------------------------------------------------------

JOBLIB_COEF = f64(0.25, -1.0, 3.5, 42.0)


def joblib_model(allow_mmap: bool = True, payload: bool = False) -> bytes:
    """joblib.dump({'coef': array(4 float64), 'intercept': 0.5, 'classes': [...]}) at the
    default protocol 4: the array's NumpyArrayWrapper sits in the dict, its bytes follow the
    wrapper's BUILD inline, and the pickle goes on (new frame) until the dict is done."""
    model = {
        "coef": JoblibArray(np_dtype("f8"), (4,), JOBLIB_COEF, allow_mmap),
        "intercept": 0.5,
        "classes": ["cat", "dog"],
    }
    if payload:
        model["hook"] = system()
    return ok_dumps(model, 4)


def joblib_compressed(method: str, payload: bool = False) -> bytes:
    """joblib.dump(..., compress=(method, 3)). gzip and zlib go through joblib's BinaryZlibFile,
    so the pickler sees a buffered file and sets allow_mmap=False; bz2/lzma/xz do not."""
    data = joblib_model(allow_mmap=method not in ("gzip", "zlib"), payload=payload)
    if method == "gzip":
        return gzip_bytes(data, 3)
    if method == "zlib":
        return zlib.compress(data, 3)
    if method == "bz2":
        return bz2.compress(data, 3)
    if method == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE, preset=3)
    if method == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=3)
    raise ValueError(method)


JOBLIB_SUFFIX = {"gzip": "gz", "zlib": "z", "bz2": "bz2", "lzma": "lzma", "xz": "xz"}


# ---------------------------------------------------------------------------------------------
# The sample table
# ---------------------------------------------------------------------------------------------


@dataclass
class Sample:
    path: str
    expected: str
    findings: tuple  # ((rule_id, evidence fragment or "-"), ...)
    description: str
    build: Callable[[], bytes] = field(repr=False)


SAMPLES: list[Sample] = []


def register(path: str, expected: str, *findings: tuple[str, str], desc: str, build) -> None:
    SAMPLES.append(Sample(path, expected, findings, desc, build))


def sample(path: str, expected: str, *findings: tuple[str, str], desc: str):
    def decorate(fn):
        register(path, expected, *findings, desc=desc, build=fn)
        return fn

    return decorate


# --- benign ----------------------------------------------------------------------------------


def plain_data(protocol: int) -> bytes:
    value = {
        "list": [1, 2, 3],
        "dict": {"lr": 0.001, "epochs": 10},
        "str": "hello",
        "int": 123456789012,
        "float": 1.5,
        "bytes": b"\x00\x01\xff",
        "tuple": (1, "two", 3.0),
        "set": {1, 2, 3},
        "frozenset": frozenset({4, 5}),
        "none": None,
        "bool": True,
    }
    if protocol >= 5:
        value["bytearray"] = bytearray(b"\x01\x02")
    return ok(pickle.dumps(value, protocol=protocol))


for _proto in range(6):
    register(
        f"benign/plain_data_protocol{_proto}.pkl", CLEAN,
        desc=f"pickle.dumps of plain data (list, dict, str, int, float, bytes, tuple, set, frozenset"
             f"{', bytearray' if _proto == 5 else ''}) at protocol {_proto}"
             + (" (bytes and sets go through _codecs.encode and builtins.set/frozenset)" if _proto < 3 else ""),
        build=partial(plain_data, _proto),
    )


@sample("benign/torch_state_dict.pt", CLEAN,
        desc="torch.save zip checkpoint of an nn.Linear(2, 2) state_dict: archive/data.pkl (protocol 2, "
             "OrderedDict of _rebuild_tensor_v2 with BINPERSID storages), byteorder, data/0, data/1, "
             "version, .data/serialization_id; 64-byte aligned stored members with data descriptors")
def torch_state_dict_pt() -> bytes:
    return torch_zip(ok_dumps(state_dict(LINEAR), 2))


@sample("benign/legacy_torch.pt", CLEAN,
        desc="legacy (non-zip) torch.save: magic number, protocol 1001, sys_info, state_dict pickle with "
             "('storage', torch.FloatStorage, '0', 'cpu', 4, None) persistent ids, keys ['0'], then "
             "int64 numel + 16 bytes of float32")
def legacy_torch_pt() -> bytes:
    return legacy_torch(ok_dumps(state_dict(LEGACY_TENSORS, legacy=True), 2))


@sample("benign/float64_matrix.npy", CLEAN,
        desc="numpy.save of a 2x3 float64 array: v1.0 header padded to 64 bytes, raw little-endian data")
def float64_matrix_npy() -> bytes:
    return npy_header("<f8", (2, 3)) + f64(0.0, 0.5, 1.0, 1.5, 2.0, 2.5)


@sample("benign/object_array.npy", CLEAN,
        desc="numpy.save(allow_pickle=True) of an object array [1, 'two', {'three': 3.0}, None]: protocol 3 "
             "pickle using only numpy.core.multiarray._reconstruct, numpy.ndarray and numpy.dtype")
def object_array_npy() -> bytes:
    return npy_object([1, "two", {"three": 3.0}, None])


NPZ_MEMBERS = {
    "weights.npy": npy_header("<f4", (2, 2)) + f32(1.0, 2.0, 3.0, 4.0),
    "labels.npy": npy_header("<i8", (3,)) + i64(0, 1, 2),
}


@sample("benign/arrays.npz", CLEAN, desc="numpy.savez: stored zip of two numeric .npy members (zip64 local extras)")
def arrays_npz() -> bytes:
    return npz(NPZ_MEMBERS, zipfile.ZIP_STORED)


@sample("benign/arrays_compressed.npz", CLEAN, desc="numpy.savez_compressed: the same two members, deflated")
def arrays_compressed_npz() -> bytes:
    return npz(NPZ_MEMBERS, zipfile.ZIP_DEFLATED)


@sample("benign/joblib_model.joblib", CLEAN,
        desc="joblib.dump of a dict holding a float64 array: NumpyArrayWrapper (NEWOBJ + BUILD state), then "
             "padding byte, 0xff padding to 16-byte alignment and 32 raw bytes inline, then the rest of the dict")
def joblib_model_joblib() -> bytes:
    return joblib_model()


for _method, _suffix in JOBLIB_SUFFIX.items():
    register(
        f"benign/joblib_model.joblib.{_suffix}", CLEAN,
        desc=f"the joblib model dumped with compress=('{_method}', 3)"
             + (" (bare zlib stream)" if _method == "zlib" else " (LZMA-alone container)" if _method == "lzma" else ""),
        build=partial(joblib_compressed, _method),
    )


@sample("benign/sklearn_logistic_regression.pkl", CLEAN,
        desc="pickle of a fitted sklearn LogisticRegression (protocol 4): NEWOBJ of "
             "sklearn.linear_model._logistic.LogisticRegression, BUILD with hyper-parameters and numpy arrays "
             "(coef_, intercept_, classes_, n_iter_) pickled via _reconstruct")
def sklearn_logistic_regression_pkl() -> bytes:
    f8, i8, i4 = np_dtype("f8"), np_dtype("i8"), np_dtype("i4")
    state = {
        "penalty": "l2", "dual": False, "tol": 0.0001, "C": 1.0, "fit_intercept": True,
        "intercept_scaling": 1, "class_weight": None, "random_state": None, "solver": "lbfgs",
        "max_iter": 100, "multi_class": "auto", "verbose": 0, "warm_start": False, "n_jobs": None,
        "l1_ratio": None, "n_features_in_": 4,
        "classes_": np_ndarray(i8, (2,), i64(0, 1)),
        "n_iter_": np_ndarray(i4, (1,), struct.pack("<i", 7)),
        "coef_": np_ndarray(f8, (1, 4), f64(0.5, -0.25, 1.75, -2.0)),
        "intercept_": np_ndarray(f8, (1,), f64(0.125)),
        "_sklearn_version": "1.3.2",
    }
    model = Call(G("sklearn.linear_model._logistic", "LogisticRegression"), (), state, newobj=True)
    return ok_dumps(model, 4)


@sample("benign/torch_checkpoint.tar.gz", CLEAN,
        desc="tar.gz (mtime 0) holding the benign torch zip checkpoint and a README")
def torch_checkpoint_tar_gz() -> bytes:
    tar = build_tar(("checkpoint/README.md", b"# demo checkpoint\n"),
                    ("checkpoint/torch_state_dict.pt", torch_state_dict_pt()))
    return gzip_bytes(tar, 9)


@sample("benign/notes.txt", CLEAN, desc="a plain text file")
def notes_txt() -> bytes:
    return b"Training notes\n\nlr=0.001, 10 epochs, batch 32. Nothing here runs.\n"


@sample("benign/config.json", CLEAN, desc="a Hugging Face style model config (JSON)")
def config_json() -> bytes:
    return (b'{\n  "architectures": ["LinearModel"],\n  "hidden_size": 2,\n  "model_type": "demo",\n'
            b'  "torch_dtype": "float32",\n  "transformers_version": "4.40.0"\n}\n')


def safetensors_file(header: str, body: bytes) -> bytes:
    """8-byte little-endian header length, the JSON header, then the tensor bytes."""
    raw = header.encode()
    return struct.pack("<Q", len(raw)) + raw + body


SAFETENSORS_HEADER = (
    '{"__metadata__":{"format":"pt"},'
    '"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    '"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}'
)
SAFETENSORS_BODY = struct.pack("<6f", 0.5, -0.5, 1.0, 0.0, 0.0, 1.0)


@sample("benign/linear.safetensors", CLEAN, desc="safetensors of an nn.Linear(2, 2): bias and weight, F32")
def linear_safetensors() -> bytes:
    return safetensors_file(SAFETENSORS_HEADER, SAFETENSORS_BODY)


@sample("benign/empty.bin", CLEAN, ("FMT004", "-"), desc="a zero-byte file (reported as info, verdict clean)")
def empty_bin() -> bytes:
    return b""


@sample("benign/readme_image.png", CLEAN, ("FMT007", "PNG image"),
        desc="a 2x2 PNG as model cards embed (data beside a model, not a model)")
def readme_image() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\0" + bytes([200, 30, 30]) * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


@sample("benign/tokenizer.model", CLEAN, ("FMT007", "SentencePiece"),
        desc="a SentencePiece tokenizer model (protobuf pieces: <unk>, <s>, </s>, two words)")
def sentencepiece_model() -> bytes:
    def field(number: int, wire: int, body: bytes) -> bytes:
        return bytes([number << 3 | wire]) + (bytes([len(body)]) + body if wire == 2 else body)
    out = b""
    for piece, score, kind in (("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3),
                               ("\u2581the", -1.5, 1), ("\u2581model", -2.25, 1)):
        body = field(1, 2, piece.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, bytes([kind]))
        out += field(1, 2, body)
    trainer = field(3, 0, bytes([1]))  # trainer_spec.model_type = UNIGRAM
    return out + field(2, 2, trainer)


# --- malicious: pickle opcode routes ------------------------------------------------------------


@sample("malicious/global_posix_system_p0.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="protocol 0 GLOBAL posix.system, MARK, STRING command, TUPLE, REDUCE (the classic hand-written payload)")
def global_posix_system_p0() -> bytes:
    return ok(op.global_("posix", "system") + op.MARK + op.string(CMD) + op.TUPLE + op.REDUCE + op.STOP)


@sample("malicious/builtin_eval_p0.pkl", MALICIOUS, ("PKL001", "builtins.eval"),
        desc="protocol 0 GLOBAL __builtin__.eval (Python 2 module name) called on a UNICODE expression")
def builtin_eval_p0() -> bytes:
    return ok(op.global_("__builtin__", "eval") + op.MARK + op.unicode(PY) + op.TUPLE + op.REDUCE + op.STOP)


@sample("malicious/inst_subprocess_popen.pkl", MALICIOUS, ("PKL001", "subprocess.Popen"),
        desc="protocol 0 INST subprocess.Popen with an argument list ['echo', 'quarantine-sample']")
def inst_subprocess_popen() -> bytes:
    argv = op.MARK + op.LIST + op.unicode("echo") + op.APPEND + op.unicode("quarantine-sample") + op.APPEND
    return ok(op.MARK + argv + op.inst("subprocess", "Popen") + op.STOP)


@sample("malicious/inst_builtin_exec.pkl", MALICIOUS, ("PKL001", "builtins.exec"),
        desc="protocol 0 INST __builtin__.exec on a Python statement")
def inst_builtin_exec() -> bytes:
    return ok(op.MARK + op.unicode(PY) + op.inst("__builtin__", "exec") + op.STOP)


@sample("malicious/obj_posix_system.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="protocol 1 OBJ: MARK, GLOBAL posix.system, BINUNICODE command, OBJ")
def obj_posix_system() -> bytes:
    return ok(op.MARK + op.global_("posix", "system") + op.binunicode(CMD) + op.OBJ + op.STOP)


@sample("malicious/newobj_posix_system.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="protocol 2 NEWOBJ on GLOBAL posix.system with a one-tuple argument")
def newobj_posix_system() -> bytes:
    return ok(op.proto(2) + op.global_("posix", "system") + op.binunicode(CMD) + op.TUPLE1 + op.NEWOBJ + op.STOP)


@sample("malicious/newobj_ex_posix_system.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="protocol 4 NEWOBJ_EX on STACK_GLOBAL posix.system with args and an empty kwargs dict")
def newobj_ex_posix_system() -> bytes:
    body = (op.short_binunicode("posix") + op.MEMOIZE + op.short_binunicode("system") + op.MEMOIZE
            + op.STACK_GLOBAL + op.MEMOIZE + op.short_binunicode(CMD) + op.MEMOIZE + op.TUPLE1 + op.MEMOIZE
            + op.EMPTY_DICT + op.MEMOIZE + op.NEWOBJ_EX + op.MEMOIZE + op.STOP)
    return ok(op.proto(4) + op.frame(body))


@sample("malicious/reduce_stack_global_p4.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="protocol 4 FRAME, SHORT_BINUNICODE posix/system, STACK_GLOBAL, REDUCE: exactly what pickle.dumps "
             "writes for an object whose __reduce__ returns (os.system, (cmd,)) on Linux")
def reduce_stack_global_p4() -> bytes:
    return ok_dumps(system(), 4)


def frame_overrun(shown: bytes, hidden: bytes) -> bytes:
    """A protocol 4 stream that pickle.loads reads as `shown` and a file reader (torch.load,
    pickle.load on a BytesIO) as `hidden` (both opcode runs ending in STOP, without PROTO).

    The first FRAME holds a SHORT_BINUNICODE that declares 16 bytes but keeps only 5. Read in
    order, the string takes the 11 bytes after the frame too, and a BINBYTES header there then
    swallows `hidden` as bytes, which are popped before `shown` runs. A file reader drops the 5
    bytes, reads the 16 after the frame as the string (the BINBYTES header among them), pops it,
    and runs `hidden`. The string must decode as UTF-8, so `hidden` is padded (after its STOP)
    to a length whose bytes are ASCII."""
    hidden = op.POP + hidden
    while any(b >= 0x80 for b in struct.pack("<I", len(hidden))):
        hidden += b"\n"
    after = b"n-data-1234" + b"B" + struct.pack("<I", len(hidden))
    assert len(after) == 16
    return op.proto(4) + op.frame(b"\x8c\x10benig") + after + hidden + op.POP + shown


def posix_system_ops() -> bytes:
    return (op.short_binunicode("posix") + op.short_binunicode("system") + op.STACK_GLOBAL
            + op.short_binunicode(CMD) + op.TUPLE1 + op.REDUCE)


@sample("malicious/frame_overrun_file_reading.pkl", MALICIOUS, ("PKL013", "SHORT_BINUNICODE"),
        ("PKL001", "posix.system"),
        desc="protocol 4: a SHORT_BINUNICODE in the first FRAME declares more bytes than the frame holds; "
             "pickle.loads reads plain strings, a file reader (pickle.load, torch.load) drops the rest of the "
             "frame, reads the string from after it, and calls posix.system")
def frame_overrun_file_reading() -> bytes:
    return frame_overrun(dumps({"note": "plain data"}, 2)[2:], posix_system_ops() + op.STOP)


@sample("malicious/torch_zip_frame_overrun.pt", MALICIOUS, ("PKL013", "SHORT_BINUNICODE"),
        ("PKL001", "posix.system"),
        desc="torch zip checkpoint whose data.pkl is a frame overrun: read in order it is the plain state_dict; "
             "torch.load reads data.pkl through io.BytesIO, drops the rest of the frame and calls posix.system "
             "before rebuilding the same state_dict")
def torch_zip_frame_overrun() -> bytes:
    state = dumps(state_dict(LINEAR), 2)[2:]
    return torch_zip(frame_overrun(state, posix_system_ops() + op.POP + state))


@sample("malicious/stack_global_memo_hops.pkl", MALICIOUS, ("PKL001", "os.system"),
        desc="STACK_GLOBAL whose module and name come from the memo: PUT/BINPUT, GET, LONG_BINPUT, "
             "BINGET, MEMOIZE and LONG_BINGET hops before the import")
def stack_global_memo_hops() -> bytes:
    return ok(
        op.proto(4)
        + op.short_binunicode("os") + op.put(0) + op.POP
        + op.short_binunicode("system") + op.binput(1) + op.POP
        + op.get(0) + op.long_binput(300) + op.POP        # 'os' now also at 300
        + op.binget(1) + op.MEMOIZE + op.POP              # 'system' now also at 3 (len(memo))
        + op.long_binget(300) + op.binget(3) + op.STACK_GLOBAL
        + op.short_binunicode(CMD) + op.TUPLE1 + op.REDUCE + op.STOP
    )


@sample("malicious/stack_global_from_string_p0_ops.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="protocol 4 STACK_GLOBAL fed by protocol 0 STRING opcodes ('posix', 'system')")
def stack_global_from_string() -> bytes:
    return ok(op.proto(4) + op.string("posix") + op.string("system") + op.STACK_GLOBAL
              + op.string(CMD) + op.TUPLE1 + op.REDUCE + op.STOP)


@sample("malicious/dotted_name_via_logging.pkl", MALICIOUS, ("PKL001", "os.system"),
        desc="protocol 4 STACK_GLOBAL('logging', 'os.system'): a dotted name through an innocent module "
             "resolves to os.system")
def dotted_name_via_logging() -> bytes:
    return ok_dumps(Call(G("logging", "os.system"), (CMD,)), 4)


@sample("malicious/getattr_import_chain.pkl", MALICIOUS, ("PKL001", "builtins.getattr"), ("PKL007", "-"),
        desc="getattr(__import__('os'), 'system')('echo quarantine-sample'): the final REDUCE calls a call result")
def getattr_import_chain() -> bytes:
    os_system = Call(G("builtins", "getattr"), (Call(G("builtins", "__import__"), ("os",)), "system"))
    return ok_dumps(Call(os_system, (CMD,)), 4)


@sample("malicious/operator_attrgetter_chain.pkl", MALICIOUS, ("PKL001", "operator.attrgetter"),
        desc="operator.attrgetter('system')(importlib.import_module('os'))('echo quarantine-sample')")
def operator_attrgetter_chain() -> bytes:
    getter = Call(G("operator", "attrgetter"), ("system",))
    os_system = Call(getter, (Call(G("importlib", "import_module"), ("os",)),))
    return ok_dumps(Call(os_system, (CMD,)), 4)


@sample("malicious/operator_methodcaller_chain.pkl", MALICIOUS, ("PKL001", "operator.methodcaller"),
        desc="operator.methodcaller('system', 'echo quarantine-sample')(importlib.import_module('os'))")
def operator_methodcaller_chain() -> bytes:
    caller = Call(G("operator", "methodcaller"), ("system", CMD))
    return ok_dumps(Call(caller, (Call(G("importlib", "import_module"), ("os",)),)), 4)


@sample("malicious/functools_partial.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="functools.partial(posix.system, 'echo quarantine-sample')()")
def functools_partial() -> bytes:
    return ok_dumps(Call(Call(G("functools", "partial"), (G("posix", "system"), CMD))), 4)


@sample("malicious/runpy_run_code.pkl", MALICIOUS, ("PKL001", "runpy._run_code"),
        desc="runpy._run_code(\"print('quarantine-sample')\", {}): exec through the standard library")
def runpy_run_code() -> bytes:
    return ok_dumps(Call(G("runpy", "_run_code"), (PY, {})), 4)


@sample("malicious/stacked_second_payload.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="two pickles back to back: a benign dict, then posix.system (read by loaders that call load twice)")
def stacked_second_payload() -> bytes:
    return ok(pickle.dumps({"model": "demo", "epoch": 3}, protocol=4)) + ok_dumps(system(), 4)


@sample("malicious/payload_then_truncated.pkl", MALICIOUS, ("PKL001", "posix.system"), ("PKL003", "-"),
        desc="posix.system REDUCE at the start, then a BINUNICODE that claims 256 bytes and the file ends "
             "(no STOP): the payload runs before the loader fails")
def payload_then_truncated() -> bytes:
    good = op.proto(2) + op.global_("posix", "system") + op.binunicode(CMD) + op.TUPLE1 + op.REDUCE + op.POP
    return broken(good + b"X" + struct.pack("<I", 256) + b"state_dict trunc")


@sample("malicious/junk_after_stop.pkl", MALICIOUS, ("PKL001", "posix.system"), ("PKL004", "-"),
        desc="posix.system pickle followed by 32 bytes that belong to no layout")
def junk_after_stop() -> bytes:
    return ok_dumps(system(), 2) + bytes.fromhex("deadbeef") * 4 + b"\x00quarantine-junk"


@sample("malicious/build_mutates_module.pkl", MALICIOUS, ("PKL006", "torch._utils"), ("PKL001", "builtins.eval"),
        desc="GLOBAL torch._utils (a module) then BUILD {'_rebuild_tensor': builtins.eval}, then a call of the "
             "allow-listed-looking torch._utils._rebuild_tensor, which now is eval")
def build_mutates_module() -> bytes:
    return ok(
        op.proto(2)
        + op.global_("torch", "_utils")
        + op.EMPTY_DICT + op.binunicode("_rebuild_tensor") + op.global_("builtins", "eval") + op.SETITEM
        + op.BUILD + op.POP
        + op.global_("torch._utils", "_rebuild_tensor") + op.binunicode(PY) + op.TUPLE1 + op.REDUCE
        + op.STOP
    )


@sample("malicious/nested_pickle_loads.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="_pickle.loads(b'<protocol 4 pickle calling posix.system>'): the payload is inside a bytes argument")
def nested_pickle_loads() -> bytes:
    inner = ok_dumps(system(), 4)
    return ok_dumps(Call(G("_pickle", "loads"), (inner,)), 4)


@sample("malicious/torch_load_second_stage.pkl", MALICIOUS, ("PKL001", "posix.system"),
        desc="functools.partial(torch.load, io.BytesIO(<pickle calling posix.system>), weights_only=False)(): "
             "partial built with REDUCE + BUILD state as partial.__reduce__ writes it, then called")
def torch_load_second_stage() -> bytes:
    inner = ok_dumps(system(), 2)
    load = G("torch", "load")
    loader = Call(G("functools", "partial"), (load,),
                  (load, (Call(G("io", "BytesIO"), (inner,)),), {"weights_only": False}, None))
    return ok_dumps(Call(loader), 4)


@sample("malicious/ext1_extension_code.pkl", SUSPICIOUS, ("PKL009", "-"),
        desc="protocol 2 EXT1 code 1 (an import through the copyreg extension registry) called with the command")
def ext1_extension_code() -> bytes:
    return ok(op.proto(2) + op.ext1(1) + op.binunicode(CMD) + op.TUPLE1 + op.REDUCE + op.STOP)


@sample("malicious/unknown_global_mylib.pkl", SUSPICIOUS, ("PKL002", "mylib.Model"),
        desc="NEWOBJ of an uncatalogued class mylib.Model with a BUILD state dict")
def unknown_global_mylib() -> bytes:
    return ok_dumps(Call(G("mylib", "Model"), (), {"layers": 3, "name": "demo"}, newobj=True), 4)


@sample("malicious/stack_global_int_after_system.pkl", MALICIOUS, ("PKL001", "os.system"), ("PKL008", "-"),
        desc="os.system call, then STACK_GLOBAL whose module and name are integers fetched from the memo")
def stack_global_int_after_system() -> bytes:
    return ok(
        op.proto(4)
        + op.short_binunicode("os") + op.short_binunicode("system") + op.STACK_GLOBAL
        + op.short_binunicode(CMD) + op.TUPLE1 + op.REDUCE + op.POP
        + op.binint1(7) + op.MEMOIZE + op.POP + op.binint1(9) + op.MEMOIZE + op.POP
        + op.binget(0) + op.binget(1) + op.STACK_GLOBAL + op.EMPTY_TUPLE + op.REDUCE + op.STOP
    )


@sample("malicious/truncated_no_payload.pkl", SUSPICIOUS, ("PKL003", "-"),
        desc="a benign protocol 4 pickle cut off in the middle of an opcode")
def truncated_no_payload() -> bytes:
    whole = pickle.dumps({"weights": [0.5] * 16, "name": "demo"}, protocol=4)
    return broken(whole[: len(whole) // 2 + 1])


@sample("malicious/not_a_model.bin", SUSPICIOUS, ("FMT001", "-"),
        desc="256 pseudo-random bytes (SHA-256 chain) starting with a NUL: no format the scanner knows")
def not_a_model_bin() -> bytes:
    out, block = bytearray(b"\x00QRNTN\x00"), b"quarantine"
    while len(out) < 256:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:256])


# --- malicious: models and containers --------------------------------------------------------


def torch_payload_pkl() -> bytes:
    """data.pkl that runs posix.system, pops the result and returns the real state_dict."""
    return ok_dumps(Then(system(), state_dict(LINEAR)), 2)


@sample("malicious/torch_zip_payload.pt", MALICIOUS, ("PKL001", "posix.system"),
        desc="torch zip checkpoint whose archive/data.pkl calls posix.system before rebuilding the state_dict")
def torch_zip_payload() -> bytes:
    return torch_zip(torch_payload_pkl())


@sample("malicious/torch_zip_bad_crc.pt", MALICIOUS, ("ARC002", "-"), ("PKL001", "posix.system"),
        desc="the malicious torch checkpoint with a wrong CRC for archive/data.pkl (torch never checks it)")
def torch_zip_bad_crc() -> bytes:
    payload = torch_payload_pkl()
    return torch_zip(payload, crc=zlib.crc32(payload) ^ 0x5A5A5A5A)


@sample("malicious/torch_zip_encrypted_flag.pt", MALICIOUS, ("ARC009", "-"), ("PKL001", "posix.system"),
        desc="the malicious torch checkpoint with general-purpose flag bit 0 (encrypted) set on the "
             "unencrypted archive/data.pkl, local and central")
def torch_zip_encrypted_flag() -> bytes:
    return torch_zip(torch_payload_pkl(), flags=0x0809)


@sample("malicious/torch_zip_name_mismatch.pt", MALICIOUS, ("ARC003", "-"), ("PKL001", "posix.system"),
        desc="the malicious torch checkpoint whose local header calls data.pkl 'archive/data.txt' while the "
             "central directory (which torch reads) says 'archive/data.pkl'")
def torch_zip_name_mismatch() -> bytes:
    return torch_zip(torch_payload_pkl(), local_name="archive/data.txt")


@sample("malicious/polyglot_pickle_then_zip.pt", MALICIOUS, ("PKL001", "posix.system"),
        desc="a benign protocol 2 pickle followed by the malicious torch zip (absolute offsets, so zip readers "
             "find it from the end)")
def polyglot_pickle_then_zip() -> bytes:
    prefix = ok(pickle.dumps({"format": "demo", "version": 1}, protocol=2))
    return torch_zip(torch_payload_pkl(), prefix=prefix)


@sample("malicious/pickle_named_config_json.zip", MALICIOUS, ("PKL001", "posix.system"),
        desc="zip whose member 'config.json' is a posix.system pickle (found by content, not name)")
def pickle_named_config_json() -> bytes:
    return zip_of(("README.md", b"# model\n"), ("config.json", ok_dumps(system(), 4)))


@sample("malicious/pickle_named.safetensors", MALICIOUS, ("FMT002", ".safetensors"), ("PKL001", "posix.system"),
        desc="a posix.system pickle saved under a .safetensors name")
def pickle_named_safetensors() -> bytes:
    return ok_dumps(Then(system(), {"weight": [0.1, 0.2]}), 4)


@sample("malicious/safetensors_appended_pickle.safetensors", MALICIOUS, ("SFT003", "-"),
        ("PKL001", "posix.system"),
        desc="valid safetensors with a posix.system pickle appended after the last tensor")
def safetensors_appended_pickle() -> bytes:
    return linear_safetensors() + ok_dumps(Then(system(), {"weight": [0.1, 0.2]}), 2)


@sample("malicious/safetensors_overlapping.safetensors", SUSPICIOUS, ("SFT002", "-"),
        desc="safetensors whose two tensors claim overlapping byte ranges")
def safetensors_overlapping() -> bytes:
    header = ('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
              '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}')
    return safetensors_file(header, bytes(12))


@sample("malicious/safetensors_duplicate_name.safetensors", SUSPICIOUS, ("SFT002", "weight"),
        desc="safetensors naming the tensor `weight` twice (JSON readers keep one silently)")
def safetensors_duplicate_name() -> bytes:
    header = ('{"weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
              '"weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}')
    return safetensors_file(header, bytes(8))


@sample("malicious/safetensors_broken_header.safetensors", SUSPICIOUS, ("SFT001", "-"),
        desc="safetensors whose JSON header ends in the middle of a string")
def safetensors_broken_header() -> bytes:
    return safetensors_file('{"weight":{"dtype":"F3', bytes(8))


@sample("malicious/legacy_torch_payload.pt", MALICIOUS, ("PKL001", "posix.system"),
        desc="legacy torch file whose object pickle calls posix.system before the state_dict")
def legacy_torch_payload() -> bytes:
    return legacy_torch(ok_dumps(Then(system(), state_dict(LEGACY_TENSORS, legacy=True)), 2))


@sample("malicious/legacy_torch_trailing_junk.pt", SUSPICIOUS, ("TRC001", "-"),
        desc="benign legacy torch file with 24 extra bytes after the last storage")
def legacy_torch_trailing_junk() -> bytes:
    return legacy_torch(ok_dumps(state_dict(LEGACY_TENSORS, legacy=True), 2), tail=b"\xca\xfe\xba\xbe" * 2 + b"not a storage...")


@sample("malicious/object_array_os_system.npy", MALICIOUS, ("PKL001", "os.system"),
        desc="object .npy whose pickled array holds os.system('echo quarantine-sample') as an element")
def object_array_os_system() -> bytes:
    return npy_object([1, system("os"), None])


@sample("malicious/npz_object_payload.npz", MALICIOUS, ("PKL001", "posix.system"),
        desc="numpy.savez archive: a numeric weights.npy and an object meta.npy whose pickle calls posix.system")
def npz_object_payload() -> bytes:
    members = {"weights.npy": NPZ_MEMBERS["weights.npy"], "meta.npy": npy_object(["v1", system()])}
    return npz(members, zipfile.ZIP_STORED)


@sample("malicious/joblib_payload_after_array.joblib", MALICIOUS, ("PKL001", "posix.system"),
        desc="joblib dump whose dict continues after the inline array bytes with a posix.system call")
def joblib_payload_after_array() -> bytes:
    return joblib_model(payload=True)


for _method, _suffix in JOBLIB_SUFFIX.items():
    register(
        f"malicious/joblib_payload_after_array.joblib.{_suffix}", MALICIOUS, ("PKL001", "posix.system"),
        desc=f"the malicious joblib dump compressed like joblib's '{_method}' compressor",
        build=partial(joblib_compressed, _method, payload=True),
    )


@sample("malicious/pickle_in_tar.tar.gz", MALICIOUS, ("PKL001", "posix.system"),
        desc="tar.gz holding model/model.pkl, a posix.system pickle")
def pickle_in_tar() -> bytes:
    return gzip_bytes(build_tar(("model/model.pkl", ok_dumps(system(), 4))), 9)


@sample("malicious/zip_slip.zip", MALICIOUS, ("ARC006", "../../evil.pkl"),
        desc="zip with a member named '../../evil.pkl' (zip slip); its content is a benign pickle")
def zip_slip() -> bytes:
    return zip_of(("model.pkl", ok(pickle.dumps([1, 2, 3], protocol=4))),
                  ("../../evil.pkl", ok(pickle.dumps({"x": 1}, protocol=4))))


@sample("suspicious/zip_lookalike_slip.zip", SUSPICIOUS, ("ARC012", "\uff0e\uff0e\uff0f"),
        desc="zip whose member name climbs out with fullwidth dots and solidi (．．／．．／.bashrc), "
             "which NFKC normalisation and the Windows best-fit code page turn into ../../.bashrc")
def zip_lookalike_slip() -> bytes:
    name = "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0f.bashrc"
    # Flag bit 11: the name is UTF-8, as every current zip writer marks non-ASCII names.
    return build_zip([ZipEntry("model.pkl", ok(pickle.dumps([1, 2, 3], protocol=4))),
                      ZipEntry(name, b"echo quarantine-sample\n", flags=0x800)])


@sample("malicious/tar_symlink.tar", SUSPICIOUS, ("ARC007", "-"),
        desc="tar with a symbolic link member model.pkl -> /etc/passwd next to a README")
def tar_symlink() -> bytes:
    return build_tar(("README.md", b"# model\n"), ("model.pkl", None, "/etc/passwd"))


@sample("malicious/zip_duplicate_member.zip", MALICIOUS, ("ARC008", "-"), ("PKL001", "posix.system"),
        desc="zip with two members named model.pkl: the first benign, the second calls posix.system")
def zip_duplicate_member() -> bytes:
    return zip_of(("model.pkl", ok(pickle.dumps({"weights": [1.0]}, protocol=4))),
                  ("model.pkl", ok_dumps(system(), 4)))


@sample("malicious/zip_encrypted_member.zip", SUSPICIOUS, ("ARC004", "-"),
        desc="zip with a ZipCrypto-encrypted member (password 'quarantine'; content is plain text)")
def zip_encrypted_member() -> bytes:
    return build_zip([ZipEntry("README.md", b"# model\n"),
                      ZipEntry("secret.txt", b"nothing to see, just encrypted\n", password=b"quarantine")])


@sample("malicious/zip_no_central_directory.zip", MALICIOUS, ("ARC010", "-"), ("PKL001", "posix.system"),
        desc="zip with local headers (sizes filled in) but no central directory or end record; model.pkl "
             "calls posix.system")
def zip_no_central_directory() -> bytes:
    return zip_of(("README.md", b"# model\n"), ("model.pkl", ok_dumps(system(), 4)), central_directory=False)


@sample("malicious/zip_declares_10tb.zip", SUSPICIOUS, ("ARC005", "-"),
        desc="zip whose only member declares 10 TB uncompressed (zip64 extra) but holds 4 KiB of deflated zeros")
def zip_declares_10tb() -> bytes:
    return build_zip([ZipEntry("weights.bin", bytes(4096), declared_size=10 * 10**12, version_needed=45)])


@sample("malicious/gzip_bomb_1gib.gz", SUSPICIOUS, ("ARC005", "-"),
        desc="gzip of 1 GiB of zeros at level 9 (~1 MB on disk, ratio ~1000:1; the ratio limit is 200)")
def gzip_bomb_1gib() -> bytes:
    comp, chunk, crc, parts = zlib.compressobj(9, zlib.DEFLATED, -15), bytes(1 << 20), 0, []
    for _ in range(1024):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    data = gzip_frame(b"".join(parts), crc, 1 << 30, 9)
    assert len(data) < 1_100_000, len(data)
    return data


@sample("malicious/truncated_stream.pkl.gz", SUSPICIOUS, ("ARC001", "-"),
        desc="gzip of a benign pickle cut in half (no trailer)")
def truncated_stream_gz() -> bytes:
    whole = gzip_bytes(pickle.dumps(list(range(3000)), protocol=4), 6)
    return whole[: len(whole) // 2]


@sample("malicious/gzip_zero_padded_members.pkl.gz", MALICIOUS, ("PKL001", "posix.system"),
        desc="gzip: an empty member, eight zero bytes of padding, then the payload pickle in a second member; "
             "Python's gzip (pandas.read_pickle, joblib) skips zero padding between members")
def gzip_zero_padded_members() -> bytes:
    return gzip_bytes(b"") + b"\0" * 8 + gzip_bytes(ok_dumps(system(), 4))


def zstd_raw_frame(data: bytes) -> bytes:
    """One zstd frame holding `data` as a single raw (uncompressed) block: magic, a frame header
    with a one-byte content size, a last-block header."""
    assert len(data) < 256
    block = struct.pack("<I", (len(data) << 3) | 1)[:3]
    return b"\x28\xb5\x2f\xfd" + bytes([0x20, len(data)]) + block + data


@sample("malicious/zstd_skippable_frame.pkl.zst", MALICIOUS, ("PKL001", "posix.system"),
        desc="zstd: a skippable frame (magic 0x184D2A50, eight bytes) before the frame holding the payload "
             "pickle; libzstd, the zstandard package and pandas.read_pickle skip it")
def zstd_skippable_frame() -> bytes:
    return struct.pack("<II", 0x184D2A50, 8) + b"\0" * 8 + zstd_raw_frame(ok_dumps(system(), 4))


@sample("malicious/npy_short_data.npy", SUSPICIOUS, ("NPY001", "-"),
        desc=".npy header declaring shape (1000,) float64 followed by only 16 bytes of data")
def npy_short_data() -> bytes:
    return npy_header("<f8", (1000,)) + f64(1.0, 2.0)


@sample("malicious/npy_header_not_literal.npy", SUSPICIOUS, ("NPY001", "-"),
        desc=".npy header whose shape is a call expression, not a Python literal (ast.literal_eval refuses it)")
def npy_header_not_literal() -> bytes:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': tuple([4]), }"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + f64(1, 2, 3, 4)


sys.dont_write_bytecode = True  # no __pycache__ among the samples
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_onnx  # noqa: E402

gen_onnx.samples(register)

import gen_modelfolders  # noqa: E402

gen_modelfolders.samples(register)

import gen_probe  # noqa: E402

gen_probe.samples(register)
import gen_probe_torch  # noqa: E402

gen_probe_torch.samples(register, sys.modules[__name__])

import gen_signatures  # noqa: E402

RULES.update(gen_signatures.RULES)
gen_signatures.samples(register)

import gen_readings  # noqa: E402

RULES.update(gen_readings.RULES)
gen_readings.samples(register, sys.modules[__name__])
import gen_pickle_parity  # noqa: E402

gen_pickle_parity.samples(register, ok)
import gen_framework  # noqa: E402

RULES.update(gen_framework.RULES)
gen_framework.samples(register)
import gen_llm  # noqa: E402

RULES.update(gen_llm.RULES)
gen_llm.samples(register)
import gen_staged  # noqa: E402

RULES.update(gen_staged.RULES)
gen_staged.samples(register, sys.modules[__name__])
import gen_longtail  # noqa: E402

RULES.update(gen_longtail.RULES)
gen_longtail.samples(register, sys.modules[__name__])
import gen_frontdoor  # noqa: E402

RULES.update(gen_frontdoor.RULES)
gen_frontdoor.samples(register, sys.modules[__name__])
import gen_policy  # noqa: E402

gen_policy.samples(register, ok)
import gen_torchserve  # noqa: E402

RULES.update(gen_torchserve.RULES)
gen_torchserve.samples(register, sys.modules[__name__])
gen_torchserve.tail_samples(register, sys.modules[__name__])
import gen_executorch  # noqa: E402

RULES.update(gen_executorch.RULES)
gen_executorch.samples(register, sys.modules[__name__])
import gen_xmlmodels  # noqa: E402

RULES.update(gen_xmlmodels.RULES)
gen_xmlmodels.samples(register, sys.modules[__name__])
import gen_coreml  # noqa: E402

RULES.update(gen_coreml.RULES)
gen_coreml.samples(register, sys.modules[__name__])
import gen_gaps  # noqa: E402

RULES.update(gen_gaps.RULES)
gen_gaps.samples(register, sys.modules[__name__])
import gen_lt  # noqa: E402

RULES.update(gen_lt.RULES)
gen_lt.samples(register, sys.modules[__name__])


# ---------------------------------------------------------------------------------------------
# MANIFEST.tsv and README.md
# ---------------------------------------------------------------------------------------------


def manifest() -> str:
    lines = ["path\texpected\trule_id\tevidence\tdescription"]
    for s in SAMPLES:
        for rule, evidence in s.findings or (("-", "-"),):
            lines.append("\t".join((s.path, s.expected, rule, evidence, s.description)))
    return "\n".join(lines) + "\n"


def readme() -> str:
    def expectation(s: Sample) -> str:
        rules = ", ".join(f"{r} ({RULES[r][0]}" + (f", evidence `{e}`)" if e != "-" else ")") for r, e in s.findings)
        return f"**{s.expected}**" + (f": {rules}" if rules else "")

    out = [
        "# Sample corpus",
        "",
        "Small benign and malicious model artifacts for quarantine's integration tests. Everything here is",
        "written by `generate.py` (Python standard library only, nothing is ever unpickled) and is",
        "byte-for-byte reproducible:",
        "",
        "    python3 samples/generate.py          # rewrite benign/, malicious/, MANIFEST.tsv and this file",
        "    python3 samples/generate.py --check  # verify pickles with pickletools, containers, determinism",
        "",
        "The malicious samples carry harmless payloads: the shell command is always `echo quarantine-sample`",
        "and the Python code `print('quarantine-sample')`. Only their structure is that of a real attack.",
        "Still, never load them with pickle, torch.load, joblib.load or numpy.load(allow_pickle=True).",
        "",
        "`MANIFEST.tsv` has one row per expected finding: `path` (relative to this directory), `expected`",
        "(the artifact's verdict), `rule_id` (a rule the scanner must report, `-` for none), `evidence` (a",
        "fragment that must appear in that finding's evidence or message, `-` for none) and `description`.",
        "Do not edit this file or the manifest by hand; change the table in `generate.py`.",
        "",
    ]
    for directory in ("benign", "malicious"):
        out += [f"## {directory}/", ""]
        for s in SAMPLES:
            if s.path.startswith(directory + "/"):
                out.append(f"- `{s.path}`: {s.description.strip()}. Expect {expectation(s)}.")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Writing and checking
# ---------------------------------------------------------------------------------------------


def build_all() -> dict[str, tuple[bytes, list[bytes], list[bytes]]]:
    """path -> (content, pickles that must disassemble, pickles that must not)."""
    built = {}
    for s in SAMPLES:
        _VALID.clear()
        _BROKEN.clear()
        data = s.build()
        built[s.path] = (data, list(_VALID), list(_BROKEN))
    return built


def write(root: Path) -> None:
    built = build_all()
    for directory in ("benign", "malicious"):
        (root / directory).mkdir(parents=True, exist_ok=True)
        for stale in (root / directory).rglob("*"):
            if stale.is_file() and stale.relative_to(root).as_posix() not in built:
                stale.unlink()
    for path, (data, _, _) in built.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / "MANIFEST.tsv").write_text(manifest(), encoding="utf-8", newline="\n")
    (root / "README.md").write_text(readme(), encoding="utf-8", newline="\n")
    total = sum(len(d) for d, _, _ in built.values())
    print(f"wrote {len(built)} samples ({total} bytes) under {root}")


def disassembles(p: bytes) -> str | None:
    """None when pickletools.dis accepts the stream (it checks stack, marks and memo), else why not."""
    try:
        pickletools.dis(p, out=io.StringIO())
        return None
    except Exception as e:  # noqa: BLE001 - any rejection is the answer
        return f"{type(e).__name__}: {e}"


def encoder_fidelity_errors() -> list[str]:
    """The Encoder must write exactly what CPython's pickler writes for plain data."""
    cases = [
        TORCH_MAGIC, 1001, -5, 70000, -(2**40), LEGACY_SYS_INFO, ["0", "1"], (), (1,), (1, 2), (1, 2, 3, 4),
        {"a": [1, 2, 3], "b": (1, "two", 3.5), "c": None, "d": -7, "e": 2**40, "f": "x" * 300, "g": [],
         "h": {}, "i": False, "j": {"k": 1.25}, "l": "tab\tand\\back"},
        list(range(2500)), {"n%d" % i: i for i in range(1200)},
    ]
    errors = []
    for protocol in range(6):
        for case in cases + ([b"\x00\x01", b"y" * 300, {"b": b"\x00"}] if protocol >= 3 else []):
            if dumps(case, protocol) != pickle.dumps(case, protocol=protocol):
                errors.append(f"encoder differs from pickle.dumps at protocol {protocol} for {case!r:.60}")
    return errors


def container_errors(built: dict) -> list[str]:
    """Spot checks that containers are what their descriptions say."""
    errors = []

    def expect(cond: bool, what: str) -> None:
        if not cond:
            errors.append(what)

    def data(path: str) -> bytes:
        return built[path][0]

    for path in ("benign/torch_state_dict.pt", "benign/arrays.npz", "benign/arrays_compressed.npz",
                 "malicious/torch_zip_payload.pt", "malicious/polyglot_pickle_then_zip.pt"):
        with zipfile.ZipFile(io.BytesIO(data(path))) as zf:
            expect(zf.testzip() is None, f"{path}: zipfile.testzip failed")
    with zipfile.ZipFile(io.BytesIO(data("benign/torch_state_dict.pt"))) as zf:
        names = zf.namelist()
        expect(names == ["archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/data/1",
                         "archive/version", "archive/.data/serialization_id"], f"torch member order {names}")
        for info in zf.infolist():
            local = data("benign/torch_state_dict.pt")[info.header_offset:]
            start = info.header_offset + 30 + struct.unpack_from("<H", local, 26)[0] + struct.unpack_from("<H", local, 28)[0]
            expect(start % 64 == 0, f"torch member {info.filename} data at {start}, not 64-aligned")
    with zipfile.ZipFile(io.BytesIO(data("malicious/torch_zip_bad_crc.pt"))) as zf:
        expect(zf.testzip() == "archive/data.pkl", "bad-CRC sample: zipfile should reject data.pkl")
    with zipfile.ZipFile(io.BytesIO(data("malicious/zip_encrypted_member.zip"))) as zf:
        expect(zf.read("secret.txt", pwd=b"quarantine").startswith(b"nothing"), "ZipCrypto round trip")
    with zipfile.ZipFile(io.BytesIO(data("malicious/zip_declares_10tb.zip"))) as zf:
        expect(zf.infolist()[0].file_size == 10 * 10**12, "10 TB declared size")
    expect(not data("malicious/zip_no_central_directory.zip").count(b"PK\x05\x06"), "no end record expected")
    for path in ("benign/float64_matrix.npy", "benign/object_array.npy", "malicious/npy_short_data.npy"):
        raw = data(path)
        hlen = struct.unpack_from("<H", raw, 8)[0]
        expect((10 + hlen) % 64 == 0 and raw[9 + hlen] == 0x0A, f"{path}: header not 64-aligned")
        ast.literal_eval(raw[10 : 10 + hlen].decode("latin1"))
    for method, suffix in JOBLIB_SUFFIX.items():
        plain = joblib_model(allow_mmap=method not in ("gzip", "zlib"))
        packed = data(f"benign/joblib_model.joblib.{suffix}")
        unpacked = {"gzip": lambda b: zlib.decompress(b, 31), "zlib": zlib.decompress, "bz2": bz2.decompress,
                    "lzma": lzma.decompress, "xz": lzma.decompress}[method](packed)
        expect(unpacked == plain, f"joblib {method}: does not decompress to the joblib pickle")
    joblib_raw = data("benign/joblib_model.joblib")
    at = pad_at = joblib_raw.index(JOBLIB_COEF)
    while joblib_raw[pad_at - 1] == 0xFF:
        pad_at -= 1
    expect(at % 16 == 0 and joblib_raw[pad_at - 1] == at - pad_at, "joblib array alignment")
    expect(zlib.decompress(data("malicious/gzip_bomb_1gib.gz")[10:-8], -15, 1 << 20)[:16] == bytes(16), "bomb")
    with tarfile.open(fileobj=io.BytesIO(data("malicious/tar_symlink.tar"))) as tar:
        expect(tar.getmember("model.pkl").issym(), "tar symlink member")
    with tarfile.open(fileobj=io.BytesIO(data("benign/torch_checkpoint.tar.gz"))) as tar:
        expect(tar.extractfile("checkpoint/torch_state_dict.pt").read() == data("benign/torch_state_dict.pt"),
               "tar.gz holds the benign checkpoint")
    noise = data("malicious/not_a_model.bin")
    expect(noise[0] == 0 and b"PK\x05\x06" not in noise and noise[257:262] != b"ustar", "noise looks like a format")
    return errors


def manifest_errors() -> list[str]:
    errors, seen = [], set()
    for s in SAMPLES:
        if s.path in seen:
            errors.append(f"{s.path}: listed twice")
        seen.add(s.path)
        implied = [RULES[r][1] for r, _ in s.findings if r in RULES]
        if len(implied) != len(s.findings):
            errors.append(f"{s.path}: unknown rule in {s.findings}")
        worst = max(implied, key=VERDICT_RANK.__getitem__, default=CLEAN)
        if worst != s.expected:
            errors.append(f"{s.path}: expected {s.expected} but its rules imply {worst}")
        if any("\t" in x or "\n" in x for x in (s.description, *[e for _, e in s.findings])):
            errors.append(f"{s.path}: tab or newline in a manifest field")
    return errors


def check() -> int:
    errors = encoder_fidelity_errors() + manifest_errors()
    first, second = build_all(), build_all()
    valid = broken_count = 0
    for path, (data, valid_pickles, broken_pickles) in first.items():
        if data != second[path][0]:
            errors.append(f"{path}: two builds differ")
        for p in valid_pickles:
            valid += 1
            why = disassembles(p)
            if why:
                errors.append(f"{path}: pickletools rejects a pickle that should be valid: {why}")
        for p in broken_pickles:
            broken_count += 1
            if disassembles(p) is None:
                errors.append(f"{path}: pickletools accepts a pickle that should be broken")
    errors += container_errors(first)
    digest = hashlib.sha256(b"".join(hashlib.sha256(d).digest() for d, _, _ in first.values())).hexdigest()
    for e in errors:
        print("FAIL", e)
    print(f"{len(first)} samples, {valid} pickles disassembled, {broken_count} broken ones rejected, "
          f"corpus digest {digest[:16]}: {'FAILED' if errors else 'ok'}")
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output directory")
    args = parser.parse_args()
    if args.check:
        return check()
    write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
