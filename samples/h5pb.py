"""A tiny HDF5 writer (standard library only) for the framework samples.

Writes superblock version 0 files (no checksums) whose objects use version-1 object headers and
new-style (link message) groups, as the HDF5 library itself writes with `libver="earliest"` when a
group holds external links. Enough for: root/group attributes (fixed-length strings), hard links,
external links, datasets with contiguous data or external raw storage, and a user block.
Every file written here opens with h5py 3.x (checked by scripts/framework_reference.py --check-samples).
"""

from __future__ import annotations

import struct

UNDEF = b"\xff" * 8


def pad8(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 8)


def message(kind: int, body: bytes, flags: int = 0) -> bytes:
    body = pad8(body)
    return struct.pack("<HHB3x", kind, len(body), flags) + body


def object_header(messages: list[bytes]) -> bytes:
    body = b"".join(messages)
    if not messages:
        body = message(0, b"")  # a NIL message: headers are never empty
        messages = [body]
    return struct.pack("<BBHII", 1, 0, len(messages), 1, len(body)) + b"\0" * 4 + body


def string_type(size: int) -> bytes:
    # class 3 (string) version 1, null-terminated ASCII, fixed size
    return struct.pack("<B3sI", 0x13, b"\0\0\0", size)


FLOAT32 = struct.pack("<B3sIHHBBBBI", 0x11, b"\x20\x1f\x00", 4, 0, 32, 23, 8, 0, 23, 127)


def scalar_space() -> bytes:
    return struct.pack("<BBB5x", 1, 0, 0)


def simple_space(n: int) -> bytes:
    return struct.pack("<BBB5xQ", 1, 1, 0, n)


def attribute(name: str, value: bytes) -> bytes:
    nm = name.encode() + b"\0"
    dt = string_type(max(len(value), 1))
    ds = scalar_space()
    body = struct.pack("<BBHHH", 1, 0, len(nm), len(dt), len(ds)) + pad8(nm) + pad8(dt) + pad8(ds) + value
    return message(0x0C, body)


def link_info() -> bytes:
    return message(0x02, struct.pack("<BB", 0, 0) + UNDEF + UNDEF)


def group_info() -> bytes:
    return message(0x0A, struct.pack("<BB", 0, 0))


def hard_link(name: str, address: int) -> bytes:
    nm = name.encode()
    return message(0x06, struct.pack("<BBB", 1, 0, len(nm)) + nm + struct.pack("<Q", address))


def external_link(name: str, filename: str, obj: str) -> bytes:
    nm = name.encode()
    value = b"\0" + filename.encode() + b"\0" + obj.encode() + b"\0"
    return message(0x06, struct.pack("<BBBB", 1, 0x08, 64, len(nm)) + nm + struct.pack("<H", len(value)) + value)


class File:
    """Objects are appended after the superblock; the root group is written last."""

    def __init__(self, userblock: bytes = b"") -> None:
        self.userblock = userblock
        self.base = 0 if not userblock else max(512, 1 << (len(userblock) - 1).bit_length())
        self.body = bytearray(b"\0" * 96)  # superblock placeholder (relative address 0)

    def alloc(self, data: bytes) -> int:
        while len(self.body) % 8:
            self.body.append(0)
        at = len(self.body)
        self.body += data
        return at

    def local_heap(self, names: list[str]) -> tuple[int, list[int]]:
        seg = bytearray(b"\0" * 8)
        offsets = []
        for n in names:
            offsets.append(len(seg))
            seg += pad8(n.encode() + b"\0")
        seg_at = self.alloc(bytes(seg))
        head = b"HEAP" + struct.pack("<B3xQQQ", 0, len(seg), 1, seg_at)  # 1: no free block
        return self.alloc(head), offsets

    def dataset(self, values: list[float], attrs: dict[str, bytes] | None = None) -> int:
        data_at = self.alloc(struct.pack(f"<{len(values)}f", *values))
        msgs = [
            message(0x01, simple_space(len(values))),
            message(0x03, FLOAT32),
            message(0x05, struct.pack("<BBBB", 2, 1, 0, 0)),
            message(0x08, struct.pack("<BBQQ", 3, 1, data_at, 4 * len(values))),
        ]
        msgs += [attribute(k, v) for k, v in (attrs or {}).items()]
        return self.alloc(object_header(msgs))

    def external_dataset(self, n: int, filename: str) -> int:
        heap, (off,) = self.local_heap([filename])
        efl = struct.pack("<B3xHHQ", 1, 1, 1, heap) + struct.pack("<QQQ", off, 0, 4 * n)
        msgs = [
            message(0x01, simple_space(n)),
            message(0x03, FLOAT32),
            message(0x05, struct.pack("<BBBB", 2, 2, 0, 0)),
            message(0x07, efl),
            message(0x08, struct.pack("<BB", 3, 1) + UNDEF + struct.pack("<Q", 4 * n)),
        ]
        return self.alloc(object_header(msgs))

    def group(self, links: list[bytes], attrs: dict[str, bytes] | None = None) -> int:
        msgs = [link_info(), group_info()] + links + [attribute(k, v) for k, v in (attrs or {}).items()]
        return self.alloc(object_header(msgs))

    def finish(self, root: int) -> bytes:
        eof = len(self.body)
        sb = b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HHI", 4, 16, 0)
        sb += struct.pack("<Q", 0) + UNDEF + struct.pack("<Q", eof) + UNDEF
        # root symbol table entry: name offset 0, object header, cache type 0
        sb += struct.pack("<QQII", 0, root, 0, 0) + b"\0" * 16
        assert len(sb) == 96
        self.body[:96] = sb
        if not self.userblock:
            return bytes(self.body)
        return self.userblock + b"\0" * (self.base - len(self.userblock)) + bytes(self.body)
