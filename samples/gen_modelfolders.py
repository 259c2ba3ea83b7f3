"""Files of model folders that frame themselves or are owned by a model beside them (red-team
round 3): TensorFlow checkpoint shards and their tensor bundle index. (Zip archives back to back are
tested in tests/model_folders.rs from the real DCP shard and samples/malicious/torch_zip_payload.pt:
an archive sample here would change the seeded mutation set of tests/oracles.rs.)

The tensor bundle index is a LevelDB-format table written by hand the way TensorFlow's
`BundleWriter` writes it (uncompressed blocks, one data block, an index block, the 48-byte footer
with the table magic), its entries `BundleHeaderProto` and `BundleEntryProto` messages. Standard
library only; nothing here is ever loaded by TensorFlow or torch.
"""

from __future__ import annotations

import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
TABLE_MAGIC = bytes([0x57, 0xFB, 0x80, 0x8B, 0x24, 0x75, 0x47, 0xDB])


def varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def block(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A table block: entries with no shared key prefix, one restart point, then the trailer
    (type 0: uncompressed, and a CRC TensorFlow's reader does not check for bundle tables
    written uncompressed; written as zero here)."""
    out = bytearray()
    for key, value in entries:
        out += varint(0) + varint(len(key)) + varint(len(value)) + key + value
    out += struct.pack("<II", 0, 1)
    return bytes(out)


def bundle_index(tensors: list[tuple[bytes, int, int]]) -> bytes:
    """A tensor bundle of one shard: the header (num_shards 1, version {producer 1}) under the
    empty key, then each tensor (name, offset, size) as float32 of shape [size / 4]."""
    entries = [(b"", b"\x08\x01\x1a\x02\x08\x01")]
    for name, offset, size in sorted(tensors):
        shape = b"\x12" + varint(len(dim := b"\x12" + varint(2) + b"\x08" + varint(size // 4))) + dim
        entries.append((name, b"\x08\x01" + shape + b"\x20" + varint(offset) + b"\x28" + varint(size)))
    data = block(entries)
    out = bytearray(data) + b"\0" * 5
    handle = varint(0) + varint(len(data))
    index_at = len(out)
    index = block([(b"\xff", handle)])
    out += index + b"\0" * 5
    footer = varint(0) + varint(0) + varint(index_at) + varint(len(index))
    out += footer + b"\0" * (40 - len(footer)) + TABLE_MAGIC
    return bytes(out)


SHARD = struct.pack("<6f", 0.5, -0.25, 0.125, 1.0, 2.0, -1.0)
TENSORS = [(b"dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", 0, 16), (b"dense/bias/.ATTRIBUTES/VARIABLE_VALUE", 16, 8)]


def samples(register) -> None:
    register("benign/tf_checkpoint/ckpt-1.index", CLEAN,
             desc="a TensorFlow checkpoint's tensor bundle index (LevelDB table): two float32 tensors in shard 0",
             build=lambda: bundle_index(TENSORS))
    register("benign/tf_checkpoint/ckpt-1.data-00000-of-00001", CLEAN, ("TFG006", "ckpt-1.index"),
             desc="the checkpoint's data shard: raw float32 bytes that the index beside it places whole",
             build=lambda: SHARD)
    register("suspicious/tf_checkpoint_trailing/ckpt-1.index", CLEAN,
             desc="the same tensor bundle index, beside a shard with bytes appended",
             build=lambda: bundle_index(TENSORS))
    register("suspicious/tf_checkpoint_trailing/ckpt-1.data-00000-of-00001", SUSPICIOUS,
             ("TFG007", "bytes 24..48 are in no tensor the index describes"),
             desc="a checkpoint shard with 24 bytes (a pickle) after the last tensor its index describes",
             build=lambda: SHARD + b"\x80\x04\x95\x0d" + b"\0" * 20)
