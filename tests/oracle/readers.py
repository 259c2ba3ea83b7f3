#!/usr/bin/env python3
"""Differential oracle for tests/oracles.rs: what real readers read out of archives. Reading only,
never loading: nothing read here is unpickled or executed.

    readers.py read FILE...            one JSON line per (file, reader): the members it reads
    readers.py mutate SEED N OUT FILE...  write N seeded mutations of the given archives to OUT

Readers:
* `zipfile`: CPython's zipfile (every member `ZipFile.read` returns without an error).
* `miniz`: a port of miniz's central-directory rule as PyTorch vendors it
  (`mz_zip_reader_locate_header_sig` + `mz_zip_reader_read_central_dir`: the last end record
  with 22 bytes after it, the directory at its stated offset, exactly `count` entries, slack
  accepted; data after the local header the entry points at; stored and deflated members).
* `tarfile`: CPython's tarfile (`extractfile` of every regular member).
* `npy`: numpy's header reader (`numpy.lib.format.read_array_header_*`), only if numpy imports.
Standard library only otherwise.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import sys
import tarfile
import zipfile
import zlib

LIMIT = 8 << 20  # members larger than this are past the scanner's default limits; not compared


def clean(name: str) -> str:
    """Names as JSON can carry them (tarfile keeps undecodable bytes as lone surrogates)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def digest(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def read_zipfile(data: bytes) -> list[dict]:
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.file_size > LIMIT:
                continue
            try:
                member = zf.read(info)
            except Exception:  # noqa: BLE001 - a member zipfile refuses is not read
                continue
            out.append({"name": clean(info.filename), **digest(member)})
    return out


def read_miniz(data: bytes) -> list[dict]:
    size = len(data)
    end = -1
    for at in range(size - 4, max(size - 0xFFFF - 22 - 4, -1), -1):
        if data[at:at + 4] == b"PK\x05\x06" and size - at >= 22:
            end = at
            break
    if end < 0:
        raise ValueError("no end record")
    _, this_disk, dir_disk, on_disk, total, cdir_size, cdir_ofs, _ = struct.unpack_from("<IHHHHIIH", data, end)
    if end >= 76 and data[end - 20:end - 16] == b"PK\x06\x07":
        stated = struct.unpack_from("<Q", data, end - 12)[0]
        if stated > size - 56:
            raise ValueError("zip64 locator past the end")
        if data[stated:stated + 4] == b"PK\x06\x06":
            this_disk, dir_disk, on_disk, total, cdir_size, cdir_ofs = struct.unpack_from("<IIQQQQ", data, stated + 16)
    if total != on_disk or ((this_disk | dir_disk) and (this_disk != 1 or dir_disk != 1)):
        raise ValueError("multi-disk")
    if cdir_size < total * 46 or cdir_ofs + cdir_size > size:
        raise ValueError("bad directory")
    out, pos, left = [], cdir_ofs, cdir_size
    for _ in range(total):
        if left < 46 or data[pos:pos + 4] != b"PK\x01\x02":
            raise ValueError("bad central header")
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen, _, _, _, lofs) = struct.unpack_from(
            "<IHHHHHHIIIHHHHHII", data, pos)
        name = data[pos + 46:pos + 46 + nlen]
        extra = data[pos + 46 + nlen:pos + 46 + nlen + xlen]
        if 0xFFFFFFFF in (csize, usize, lofs):
            fields = zip64(extra, usize == 0xFFFFFFFF, csize == 0xFFFFFFFF, lofs == 0xFFFFFFFF)
            usize, csize, lofs = fields[0] or usize, fields[1] or csize, fields[2] or lofs
        elif (method == 0 and usize != csize) or (usize and not csize):
            raise ValueError("bad sizes")
        total_header = 46 + nlen + xlen + clen
        if total_header > left or flags & 0x2000:
            raise ValueError("bad entry")
        left -= total_header
        pos += total_header
        if lofs + 30 > size or data[lofs:lofs + 4] != b"PK\x03\x04":
            continue
        lnlen, lxlen = struct.unpack_from("<HH", data, lofs + 26)
        start = lofs + 30 + lnlen + lxlen
        raw = data[start:start + csize]
        if len(raw) != csize or usize > LIMIT:
            continue
        try:
            member = raw if method == 0 else zlib.decompress(raw, -15) if method == 8 else None
        except zlib.error:
            member = None
        if member is not None:
            out.append({"name": name.decode("utf-8", "replace"), **digest(member)})
    return out


def zip64(extra: bytes, *wanted: bool) -> list:
    pos = 0
    while pos + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            body, at, out = extra[pos + 4:pos + 4 + ln], 0, []
            for want in wanted:
                if want and at + 8 <= len(body):
                    out.append(struct.unpack_from("<Q", body, at)[0])
                    at += 8
                else:
                    out.append(None)
            return out
        pos += 4 + ln
    return [None] * len(wanted)


def read_tarfile(data: bytes) -> list[dict]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar.getmembers():
            if not m.isreg() or m.size > LIMIT:
                continue
            try:
                f = tar.extractfile(m)
                member = f.read() if f else None
            except Exception:  # noqa: BLE001
                member = None
            if member is not None:
                out.append({"name": clean(m.name), **digest(member)})
    return out


def read_npy(data: bytes) -> list[dict]:
    try:  # numpy 2 keeps the header reader here
        import numpy.lib._format_impl as fmt  # noqa: PLC0415 - optional
    except ImportError:
        import numpy.lib.format as fmt  # noqa: PLC0415

    f = io.BytesIO(data)
    version = fmt.read_magic(f)
    shape, fortran, dtype = fmt._read_array_header(f, version, max_header_size=1 << 20)  # noqa: SLF001
    return [{"name": "(array)", "object": bool(dtype.hasobject), "itemsize": dtype.itemsize,
             "shape": list(shape), "data_offset": f.tell()}]


def read(paths: list[str]) -> None:
    readers = [("zipfile", read_zipfile), ("miniz", read_miniz), ("tarfile", read_tarfile)]
    try:
        import numpy  # noqa: F401, PLC0415

        readers.append(("npy", read_npy))
    except ImportError:
        pass
    for path in paths:
        with open(path, "rb") as fh:
            data = fh.read()
        for name, reader in readers:
            if name == "npy" and not data.startswith(b"\x93NUMPY"):
                continue
            try:
                members = reader(data)
            except Exception as e:  # noqa: BLE001 - the reader refuses the file
                members, error = [], f"{type(e).__name__}: {e}"[:200]
            else:
                error = None
            if members or error is None:
                print(json.dumps({"path": path, "reader": name, "members": members, "error": error}))


def mutate(seed: int, count: int, out_dir: str, paths: list[str]) -> None:
    """Mutations aimed at the structures readers locate things by: signatures' neighbourhoods,
    size and offset fields, end records, tar header fields; plus cuts and appended copies."""
    rng = random.Random(seed)
    sources = []
    for p in paths:
        with open(p, "rb") as fh:
            data = fh.read()
        if 0 < len(data) <= 4 << 20 and (data.find(b"PK\x05\x06") >= 0 or data[257:262] == b"ustar"):
            sources.append((p, data))
    os.makedirs(out_dir, exist_ok=True)
    for i in range(count):
        path, data = rng.choice(sources)
        data = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            data = bytearray(one_mutation(rng, bytes(data)))
        name = f"{i:04d}-{os.path.basename(path)}"
        with open(os.path.join(out_dir, name), "wb") as fh:
            fh.write(data)


def one_mutation(rng: random.Random, data: bytes) -> bytes:
    sigs = [m for sig in (b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")
            for m in find_all(data, sig)]
    kind = rng.randrange(8)
    out = bytearray(data)
    if kind <= 2 and sigs:
        at = rng.choice(sigs) + rng.randrange(4, 46)
        if at + 4 <= len(out):
            delta = rng.choice([1, -1, 16, -16, 20, -20, 46, 0x10000, 1 << 31])
            (v,) = struct.unpack_from("<I", out, at)
            struct.pack_into("<I", out, at, (v + delta) & 0xFFFFFFFF)
    elif kind == 3 and data[257:262] == b"ustar":
        blocks = [b for b in range(0, len(out) - 512, 512) if out[b + 257:b + 262] == b"ustar"]
        b = rng.choice(blocks)
        field = rng.choice([(124, 136), (156, 157), (345, 360)])
        if field == (156, 157):
            out[b + 156] = rng.choice(b"05\x00x7LS1")
        elif field == (124, 136):
            out[b + 124:b + 136] = b"%011o\x00" % rng.choice([0, 512, 1024, len(out)])
        else:
            out[b + 345:b + 350] = b"dir\x00\x00"
        out[b + 148:b + 156] = b"        "
        out[b + 148:b + 156] = b"%06o\x00 " % sum(out[b:b + 512])
    elif kind == 4:
        cut = rng.randrange(max(1, len(out) // 2), len(out))
        out = out[:cut]
    elif kind == 5:
        end = data.rfind(b"PK\x05\x06")
        if end >= 0:
            out += data[end:end + 22]  # a second end record after the first
    elif kind == 6:
        out = bytearray(rng.randbytes(rng.randrange(1, 200))) + out  # prepended bytes
    else:
        at = rng.randrange(len(out))
        out[at] = rng.randrange(256)
    return bytes(out)


def find_all(data: bytes, sig: bytes) -> list[int]:
    out, at = [], data.find(sig)
    while at >= 0 and len(out) < 64:
        out.append(at)
        at = data.find(sig, at + 1)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "read":
        read(sys.argv[2:])
    elif sys.argv[1] == "mutate":
        mutate(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:])
    else:
        sys.exit(__doc__)
