"""Samples for reader differentials (issue 13): files that two loaders read differently, with the
payload in the reading a one-reader scanner would not take.

* zip: the central directory located by miniz's rule (stated offset, what torch.load uses) and by
  Python zipfile's rule (computed back from the end record) disagree; an end-record signature cut
  short in the comment (zipfile refuses, miniz reads); a complete second end record; a ZIP64
  locator without its record; slack after the last central entry; a local header after the
  directory.
* PyTorch layout: a `data/` folder only holds opaque storages the data.pkl names.
* npy headers numpy reads with `ast.literal_eval` (`'object'`, implicit concatenation, spacing,
  comments, repeated keys).
* joblib: a NumpyArrayWrapper whose pickled item size lies (numpy sizes items by dtype).
* tar: a directory entry with a size (tarfile reads its "data" as more headers), and a NeMo-like
  benign tar whose last member is a torch zip.
* polyglots: a pickle whose bytes are also a tar holding a payload; a zip bomb member whose
  payload comes before the ratio limit; LZ4 frames (joblib's lz4 compressor).

Payloads are harmless (`echo quarantine-sample`). Standard library only; helpers come from
generate.py (passed in as `g`).
"""

from __future__ import annotations

import io
import struct
import tarfile
import zlib

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES = {"ARC011": ("archive-readers-disagree", SUSPICIOUS)}


# --- zip building blocks -----------------------------------------------------------------------


def local(name: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(data) if crc is None else crc
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                       len(name), 0) + name + data


def central(name: bytes, data: bytes, offset: int) -> bytes:
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, 0, 0, 0, 0x21, zlib.crc32(data),
                       len(data), len(data), len(name), 0, 0, 0, 0, 0o644 << 16, offset) + name


def end(count: int, size: int, offset: int, comment: bytes = b"") -> bytes:
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, offset, len(comment)) + comment


def stored_zip(members: list[tuple[bytes, bytes]], comment: bytes = b"") -> tuple[bytes, bytes, int]:
    """Local headers, then the directory bytes and its offset (the end record is the caller's)."""
    out, cd = bytearray(), bytearray()
    for name, data in members:
        cd += central(name, data, len(out))
        out += local(name, data)
    return bytes(out), bytes(cd), len(out)


def samples(register, g) -> None:
    evil = g.ok_dumps(g.system(), 2)
    benign = g.ok_dumps({"weights": [0.5, -0.5]}, 2)

    def zip_python_vs_miniz() -> bytes:
        # miniz reads the directory at the end record's stated offset (evil data.pkl); Python
        # computes it back from the end record (the second, benign directory right before it) and
        # shifts every stated offset by the difference. Same name, so both directories are the
        # same size.
        name = b"archive/data.pkl"
        body = local(name, evil)
        benign_at = len(body)
        body += local(name, benign)
        cd_miniz = central(name, evil, 0)
        stated = len(body)
        cd_python = central(name, benign, benign_at - len(cd_miniz))
        return body + cd_miniz + cd_python + end(1, len(cd_python), stated)

    register("malicious/zip_python_vs_miniz.pt", MALICIOUS, ("ARC011", "Python zipfile vs miniz (PyTorch)"),
             ("PKL001", "posix.system"),
             desc="zip with two central directories: miniz (torch.load) reads the one at the end record's stated "
                  "offset, whose data.pkl calls posix.system; Python's zipfile computes the directory back from "
                  "the end record and sees a benign data.pkl",
             build=zip_python_vs_miniz)

    def zip_cut_end_signature() -> bytes:
        # The comment ends with an end-record signature that has fewer than 22 bytes after it:
        # zipfile's rfind takes it and gives up (not a zip); miniz skips it and reads the archive.
        body, cd, at = stored_zip([(b"model.pkl", evil)])
        return body + cd + end(1, len(cd), at, b"build 7 PK\x05\x06end")

    register("malicious/zip_cut_end_signature.zip", MALICIOUS, ("ARC011", "Python zipfile vs miniz (PyTorch)"),
             ("PKL001", "posix.system"),
             desc="zip whose comment ends with a cut-short end-record signature: Python's zipfile refuses the file "
                  "(scanners built on it see nothing), miniz reads model.pkl, which calls posix.system",
             build=zip_cut_end_signature)

    def zip_second_end_record() -> bytes:
        # The first end record describes the evil member; its comment holds a benign directory and
        # a complete end record for it, which both loaders take (it is the last one).
        body, cd_evil, _ = stored_zip([(b"model.pkl", evil)])
        benign_at = len(body)
        body += local(b"model.pkl", benign)
        cd_evil_at = len(body)
        cd_benign = central(b"model.pkl", benign, benign_at)
        cd_benign_at = cd_evil_at + len(cd_evil) + 22
        comment = cd_benign + end(1, len(cd_benign), cd_benign_at)
        return body + cd_evil + end(1, len(cd_evil), cd_evil_at, comment)

    register("malicious/zip_second_end_record.zip", MALICIOUS, ("ARC011", "end record at offset"),
             ("PKL001", "posix.system"),
             desc="zip whose comment holds a second, complete end record describing a benign directory (the one "
                  "loaders take, being last); the first end record's directory holds model.pkl calling posix.system",
             build=zip_second_end_record)

    def zip64_locator_without_record() -> bytes:
        body, cd, at = stored_zip([(b"archive/data.pkl", evil), (b"archive/version", b"3\n")])
        locator = struct.pack("<IIQI", 0x07064B50, 0, 0, 1)  # points at offset 0: no ZIP64 record there
        return body + cd + locator + end(2, len(cd), at)

    register("malicious/zip64_locator_without_record.pt", MALICIOUS, ("PKL001", "posix.system"),
             desc="torch-style zip with a ZIP64 end-of-directory locator but no ZIP64 record: miniz ignores the "
                  "locator and loads archive/data.pkl (posix.system); zipfile counts the locator in the "
                  "directory's position and refuses the archive",
             build=zip64_locator_without_record)

    def zip_directory_slack() -> bytes:
        body, cd, at = stored_zip([(b"archive/data.pkl", evil), (b"archive/version", b"3\n")])
        slack = b"\x00" * 16
        return body + cd + slack + end(2, len(cd) + len(slack), at)

    register("malicious/zip_directory_slack.pt", MALICIOUS, ("ARC011", "Python zipfile vs miniz (PyTorch)"),
             ("PKL001", "posix.system"),
             desc="torch-style zip whose directory size counts 16 bytes of slack after the last entry: miniz "
                  "accepts it and loads archive/data.pkl (posix.system), Python's zipfile refuses the archive",
             build=zip_directory_slack)

    def zip_member_after_directory() -> bytes:
        body, cd, at = stored_zip([(b"README.md", b"# model\n")])
        hidden = local(b"model.pkl", evil)
        return body + cd + end(1, len(cd), at, hidden)

    register("malicious/zip_member_after_directory.zip", MALICIOUS, ("ARC003", "model.pkl"),
             ("PKL001", "posix.system"),
             desc="zip whose comment holds a complete local header and data for model.pkl (posix.system): not in "
                  "the directory, found by walking local headers past it",
             build=zip_member_after_directory)

    # --- PyTorch layout -------------------------------------------------------------------

    def torch_dummy_data_pkl() -> bytes:
        return g.zip_of(("archive/data.pkl", g.ok(g.pickle.dumps({}, protocol=2))),
                        ("archive/data/payload.npy", g.npy_object(["v1", g.system()])))

    register("malicious/torch_dummy_data_pkl.pt", MALICIOUS, ("PKL001", "posix.system"),
             desc="zip with a dummy archive/data.pkl that references no storage and an object .npy under "
                  "archive/data/ whose pickle calls posix.system (not a tensor storage: it is analysed)",
             build=torch_dummy_data_pkl)

    def torch_storage_npy() -> bytes:
        tensors = [("weight", "0", (2, 2), g.npy_object([g.system()]))]
        return g.torch_zip(g.ok_dumps(g.state_dict([("weight", "0", (2, 2), g.f32(1, 2, 3, 4))]), 2), tensors)

    register("malicious/torch_storage_is_object_npy.pt", MALICIOUS, ("PKL001", "posix.system"),
             desc="torch zip whose storage archive/data/0 is an object .npy carrying a posix.system pickle "
                  "(.npy members are always analysed, even as storages)",
             build=torch_storage_npy)

    # --- npy headers ------------------------------------------------------------------------

    def npy_with_header(header: str) -> bytes:
        payload = g.ok_dumps(g.np_ndarray(g.np_object_dtype(), (1,), [g.system()]), 3)
        header += " " * (-(10 + len(header) + 1) % 64) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + payload

    for path, header, what in [
        ("npy_object_spelled_out", "{'descr': 'object', 'fortran_order': False, 'shape': (1,), }",
         "descr 'object' spelled out"),
        ("npy_implicit_concatenation", "{'descr': '|' 'O', 'fortran_order': False, 'shape': (1,), }",
         "descr written as the implicit concatenation '|' 'O'"),
        ("npy_odd_spacing", "{ \"shape\" :( 1 , ) ,# rows\n 'fortran_order':False ,'descr' :\"|O\",}",
         "double quotes, odd spacing, a comment and a newline inside the dict"),
        ("npy_repeated_key", "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'descr': '|O'}",
         "descr given twice (Python keeps the last: '|O')"),
    ]:
        register(f"malicious/{path}.npy", MALICIOUS, ("PKL001", "posix.system"),
                 desc=f"object .npy whose header numpy reads with ast.literal_eval: {what}; the array pickle calls "
                      "posix.system",
                 build=lambda h=header: npy_with_header(h))

    # --- joblib -------------------------------------------------------------------------------

    def joblib_lying_itemsize() -> bytes:
        lying = g.Call(g.G("numpy", "dtype"), ("f8", False, True), (3, "<", None, None, None, 1, 1, 0))
        model = {"coef": g.JoblibArray(lying, (4,), g.JOBLIB_COEF), "hook": g.system()}
        return g.ok_dumps(model, 4)

    register("malicious/joblib_lying_itemsize.joblib", MALICIOUS, ("PKL001", "posix.system"),
             desc="joblib dump whose NumpyArrayWrapper dtype 'f8' pickles an element size of 1: numpy reads "
                  "4 x 8 bytes of array data (the type code decides), then the pickle goes on with posix.system",
             build=joblib_lying_itemsize)

    def lz4_frame(data: bytes) -> bytes:
        """An LZ4 frame with uncompressed blocks (valid for every LZ4 reader), as lz4.frame frames it."""
        flg, bd = 0x60, 0x70  # version 01, independent blocks; 4 MiB maximum block size
        out = bytearray(b"\x04\x22\x4d\x18") + bytes([flg, bd, (xxh32(bytes([flg, bd])) >> 8) & 0xFF])
        for i in range(0, len(data), 4 << 20):
            block = data[i:i + (4 << 20)]
            out += struct.pack("<I", len(block) | 0x80000000) + block
        return bytes(out + b"\x00\x00\x00\x00")

    register("benign/joblib_model.joblib.lz4", CLEAN,
             desc="the joblib model dumped with compress='lz4' (an LZ4 frame, as joblib writes through lz4.frame)",
             build=lambda: lz4_frame(g.joblib_model()))
    register("malicious/joblib_payload_after_array.joblib.lz4", MALICIOUS, ("PKL001", "posix.system"),
             desc="the malicious joblib dump in an LZ4 frame (joblib's lz4 compressor)",
             build=lambda: lz4_frame(g.joblib_model(payload=True)))

    # --- tar --------------------------------------------------------------------------------------

    def tar_directory_with_size() -> bytes:
        # Its header and data, without the end-of-archive blocks.
        hidden = g.build_tar(("model/model.pkl", evil))[: 512 + -(-len(evil) // 512) * 512]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            info = tarfile.TarInfo("model")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
            readme = tarfile.TarInfo("model/README.md")
            readme.size, readme.mtime = 8, 0
            tar.addfile(readme, io.BytesIO(b"# model\n"))
        out = bytearray(buf.getvalue())
        # Give the directory entry a size covering the hidden member: the tar crate skips it as
        # data, tarfile reads the next header right after the directory's.
        header = bytearray(out[:512])
        header[124:136] = b"%011o\x00" % len(hidden)
        header[148:156] = b"        "
        header[148:156] = b"%06o\x00 " % sum(header)
        return bytes(header) + hidden + bytes(out[512:])

    register("malicious/tar_directory_with_size.tar", MALICIOUS, ("ARC011", "Python tarfile vs tar crate"),
             ("PKL001", "posix.system"),
             desc="tar whose directory entry declares a size covering a second member model/model.pkl (posix.system): "
                  "the tar crate skips it as the directory's data, Python's tarfile reads it as the next member",
             build=tar_directory_with_size)

    register("benign/nemo_like.tar", CLEAN,
             desc="a NeMo-style tar: model_config.yaml and model_weights.ckpt, a torch zip checkpoint stored as the "
                  "last member (its end record is near the end of the tar, yet it is a member, not a polyglot)",
             build=lambda: g.build_tar(("model_config.yaml", b"hidden: 16\n"),
                                       ("model_weights.ckpt", g.torch_zip(g.ok_dumps(g.state_dict(g.LINEAR), 2)))))

    # --- polyglots and limits ---------------------------------------------------------------------

    def pickle_tar_polyglot() -> bytes:
        # The first tar header is also the start of a benign pickle: PROTO 2, BINBYTES over the rest
        # of the header, POP, EMPTY_DICT, STOP (the first member's 3 bytes of data). torch.load
        # tries tarfile first; its second member `pickle` calls posix.system.
        header = bytearray(512)
        header[0:7] = b"\x80\x03B" + struct.pack("<I", 512 - 7)
        header[100:108] = b"0000644\x00"
        header[108:116] = b"0000000\x00"
        header[116:124] = b"0000000\x00"
        header[124:136] = b"00000000003\x00"
        header[136:148] = b"00000000000\x00"
        header[156:157] = b"0"
        header[257:265] = b"ustar\x0000"
        header[148:156] = b"        "
        header[148:156] = b"%06o\x00 " % sum(header)
        first = bytes(header) + b"0}." + bytes(509)
        g.ok(bytes(header) + b"0}.")
        rest = g.build_tar(("pickle", evil))
        return first + rest

    register("malicious/polyglot_pickle_tar.pt", MALICIOUS, ("FMT003", "pickle vs tar"), ("PKL001", "posix.system"),
             desc="a benign pickle whose first bytes are also a valid tar header; read as a tar (torch.load tries "
                  "tarfile first) its member `pickle` calls posix.system",
             build=pickle_tar_polyglot)

    def zip_bomb_payload_first() -> bytes:
        data = evil + bytes(64 << 20)
        return g.build_zip([g.ZipEntry("model.pkl", data, level=9)])

    register("malicious/zip_bomb_payload_first.zip", MALICIOUS, ("ARC005", "-"), ("PKL001", "posix.system"),
             desc="zip whose deflated model.pkl is a posix.system pickle followed by 64 MiB of zeros: unpacking stops "
                  "at the ratio limit, and what was inflated before it is analysed",
             build=zip_bomb_payload_first)


def xxh32(data: bytes, seed: int = 0) -> int:
    """xxHash32 (the LZ4 frame header checksum)."""
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    mask = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    n, i = len(data), 0
    if n >= 16:
        v = [(seed + p1 + p2) & mask, (seed + p2) & mask, seed & mask, (seed - p1) & mask]
        while i + 16 <= n:
            for k in range(4):
                lane = struct.unpack_from("<I", data, i + 4 * k)[0]
                v[k] = (rotl((v[k] + lane * p2) & mask, 13) * p1) & mask
            i += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & mask
    else:
        h = (seed + p5) & mask
    h = (h + n) & mask
    while i + 4 <= n:
        h = (rotl((h + struct.unpack_from("<I", data, i)[0] * p3) & mask, 17) * p4) & mask
        i += 4
    while i < n:
        h = (rotl((h + data[i] * p5) & mask, 11) * p1) & mask
        i += 1
    h ^= h >> 15
    h = (h * p2) & mask
    h ^= h >> 13
    h = (h * p3) & mask
    h ^= h >> 16
    return h
