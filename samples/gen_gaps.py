"""Samples for detection gaps found by the second red-team round: readings of a file that a loader
takes and a one-reading scanner did not.

* pickle + zip polyglots whose zip offsets count from the file's start, with bytes between the
  central directory and the end record (a second end record, padding): miniz (PyTorch's reader)
  reads the members at the stated offsets, Python's zipfile refuses, and the pickle's trailing
  data read as a zip on its own shows neither.
* scipy.stats distributions: `rv_generic.__setstate__` runs `exec(self._parse_arg_template)`
  on the string the pickle's state carries.
* PyTorch legacy tar checkpoints (`torch.serialization._legacy_load`, tar branch): the `storages`
  member is a pickled count, then per storage a pickled `(key, location, storage_type)`, an int64
  element count and the raw elements, then a pickled list of storage views; `tensors` is a
  pickled count, then per tensor a pickled `(key, storage_id, tensor_type)`, an int32 ndim, 4
  bytes, sizes, strides and offset (int64). Every pickle is a full `pickle.load`, so a payload
  can sit after raw bytes the scanner must skip the way the loader does.

Payloads are harmless (`echo quarantine-sample`). Standard library only; helpers come from
generate.py (passed in as `g`).
"""

from __future__ import annotations

import io
from functools import partial
import struct
import tarfile
import zlib

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES: dict[str, tuple[str, str]] = {}


# --- PyTorch legacy tar checkpoints --------------------------------------------------------------


def pax_tar(*members: tuple[str, bytes]) -> bytes:
    """A tar as torch's legacy `_save` wrote it (`tarfile.PAX_FORMAT`), mtime 0, root-owned."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid, info.gid, info.uname, info.gname = 0, 0, "", ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def storage_record(g, key: int, values: list[float]) -> bytes:
    args = g.ok_dumps((key, "cpu", g.G("torch", "FloatStorage")), 2)
    return args + struct.pack("<q", len(values)) + struct.pack(f"<{len(values)}f", *values)


def tensor_record(g, key: int, storage: int, shape: list[int]) -> bytes:
    args = g.ok_dumps((key, storage, g.G("torch", "FloatTensor")), 2)
    strides, step = [], 1
    for dim in reversed(shape):
        strides.insert(0, step)
        step *= dim
    ndim = len(shape)
    return (args + struct.pack("<i", ndim) + b"\0" * 4 + struct.pack(f"<{ndim}q", *shape)
            + struct.pack(f"<{ndim}q", *strides) + struct.pack("<q", 0))


def legacy_tar(g, storages: bytes, tensors: bytes) -> bytes:
    sys_info = g.ok_dumps({"protocol_version": 1001, "little_endian": True,
                           "type_sizes": {"short": 2, "int": 4, "long": 8}}, 2)
    # The object: a dict whose tensors are persistent ids the tensors member defines.
    main = g.ok_dumps({"weight": g.PersId("10"), "bias": g.PersId("11")}, 2)
    return pax_tar(("sys_info", sys_info), ("pickle", main), ("storages", storages), ("tensors", tensors))


def legacy_storages(g, views: bytes | None = None) -> bytes:
    views = g.ok_dumps([], 2) if views is None else views
    return (g.ok_dumps(2, 2) + storage_record(g, 1, [0.5, -0.25, 1.0, 2.0, 0.0, 1.5])
            + storage_record(g, 2, [0.1, 0.2]) + views)


def legacy_tensors(g, second_args: bytes | None = None) -> bytes:
    first = tensor_record(g, 10, 1, [2, 3])
    second = tensor_record(g, 11, 2, [2])
    if second_args is not None:
        second = second_args
    return g.ok_dumps(2, 2) + first + second


def payload(g) -> bytes:
    return g.ok_dumps(g.system(), 2)


def samples(register, g) -> None:
    register("benign/scipy_frozen_norm.pkl", CLEAN,
             desc="scipy.stats.norm(0, 1) pickled (rv_continuous_frozen around norm_gen, whose state "
                  "carries scipy's own argument-parser template)",
             build=lambda: frozen_norm(g, scipy_template()))
    register("malicious/scipy_frozen_norm_exec.pkl", MALICIOUS, ("PKL011", "exec("),
             desc="scipy.stats.norm(0, 1) pickled with `import os; os.system(...)` in front of the "
                  "argument-parser template: rv_generic.__setstate__ runs exec(self._parse_arg_template) on load",
             build=lambda: frozen_norm(g, "\nimport os\nos.system('echo quarantine-sample')" + scipy_template()))
    register("malicious/scipy_norm_reconstructor_exec.pkl", MALICIOUS, ("PKL011", "exec("),
             desc="a scipy.stats norm_gen pickled at protocol 0 (copy_reg._reconstructor(norm_gen, object, None), "
                  "then BUILD) whose _parse_arg_template runs os.system: __setstate__ execs it on load",
             build=lambda: g.ok_dumps(g.Call(
                 g.G("copy_reg", "_reconstructor"),
                 (g.G("scipy.stats._continuous_distns", "norm_gen"), g.G("__builtin__", "object"), None),
                 {"_parse_arg_template": "\nimport os\nos.system('echo quarantine-sample')" + scipy_template()}), 0))
    register("malicious/scipy_frozen_norm_shapes_default.pkl", MALICIOUS, ("PKL011", "__import__"),
             desc="scipy.stats.norm(0, 1) pickled with an extra `_parse_args` parameter whose default is "
                  "`__import__('os').system(...)`: the default is evaluated when exec defines the function, on load",
             build=lambda: frozen_norm(g, scipy_template().replace(
                 "def _parse_args(self,  loc=0,",
                 "def _parse_args(self, x=__import__('os').system('echo quarantine-sample'), loc=0,", 1)))
    for tail, how in [("zip64_second_end", "ZIP64 end record and locator, then the end record written twice"),
                      ("padding", "NUL bytes (more than the pickle's length) between the directory and the end record")]:
        register(f"malicious/pickle_zip_absolute_offsets_{tail}.pt", MALICIOUS, ("PKL001", "posix.system"),
                 desc="plain pickle followed by a torch-style zip whose offsets count from the file's start, "
                      f"{how}: miniz (torch.jit.load, PyTorchFileReader) reads archive/data.pkl through the "
                      "directory and runs posix.system; zipfile refuses; its local header declares only the "
                      "bytes before the payload",
                 build=partial(absolute_offset_polyglot, g, tail))
    register("benign/torch_legacy_tar.tar", CLEAN,
             desc="legacy tar torch checkpoint (sys_info, pickle, storages, tensors): two FloatStorages "
                  "with their raw elements, an empty storage-view list, two tensor records "
                  "(ndim, sizes, strides, offset), a dict naming the tensors by persistent id",
             build=lambda: legacy_tar(g, legacy_storages(g), legacy_tensors(g)))
    register("malicious/torch_legacy_tar_views_payload.tar", MALICIOUS, ("PKL001", "posix.system"),
             desc="legacy tar torch checkpoint whose storage-view pickle (read by torch.load after the "
                  "raw elements of both storages) calls posix.system",
             build=lambda: legacy_tar(g, legacy_storages(g, payload(g)), legacy_tensors(g)))
    register("malicious/torch_legacy_tar_tensor_payload.tar", MALICIOUS, ("PKL001", "posix.system"),
             desc="legacy tar torch checkpoint whose second tensor record's argument pickle (read after "
                  "the first tensor's raw ndim, sizes, strides and offset) calls posix.system",
             build=lambda: legacy_tar(g, legacy_storages(g), legacy_tensors(g, payload(g))))


# --- pickle + zip polyglots whose zip offsets count from the file's start ------------------------
#
# PyTorch's reader (caffe2 `PyTorchStreamReader` over miniz: `torch.jit.load`,
# `torch._C.PyTorchFileReader`) hands miniz the whole file, and miniz reads the central directory
# and every local header at the offsets the records state, from the file's start; Python's
# `zipfile` computes the directory's place back from the end record (`concat`), so bytes between
# the directory and the end record it reads (a second end record, padding) make it look for the
# directory that many bytes later and refuse the file. A scanner that reads the zip only as the
# pickle's trailing data sees neither reading: counted from the slice, the stated offsets point
# nowhere, and the local headers' own sizes can say less than the directory does.


def zip_local(name: bytes, data: bytes, size: int, crc: int) -> bytes:
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, size, size,
                       len(name), 0) + name + data


def zip_central(name: bytes, data: bytes, offset: int) -> bytes:
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, 0, 0, 0, 0x21,
                       zlib.crc32(data), len(data), len(data), len(name), 0, 0, 0, 0, 0o644 << 16,
                       offset) + name


def zip_end(count: int, size: int, offset: int) -> bytes:
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, offset, 0)


def absolute_offset_polyglot(g, tail: str) -> bytes:
    """A plain pickle, then a torch-style zip whose offsets count from the file's start; the
    local header of `archive/data.pkl` declares only the part before the payload. `tail` is what
    sits between the directory and the end record miniz reads: `zip64_second_end` (the ZIP64
    records and the end record written twice) or `padding` (NUL bytes). Either is longer than
    the pickle, so the archive start `zipfile` computes lies past the pickle's end."""
    prefix = g.ok_dumps({"format": "demo", "version": 1}, 2)
    pickle = g.ok_dumps(g.Then({"note": "plain checkpoint metadata " * 4}, g.system()), 2)
    shown = pickle.index(b"cposix")  # what the local header declares: no payload, no STOP
    members = [
        (b"archive/data.pkl", pickle, shown),
        (b"archive/byteorder", b"little", 6),
        (b"archive/data/0", struct.pack("<4f", 0.1, -0.2, 0.3, 0.4), 16),
        (b"archive/version", b"3\n", 2),
    ]
    out, cd = bytearray(prefix), bytearray()
    for name, data, size in members:
        cd += zip_central(name, data, len(out))
        out += zip_local(name, data, size, zlib.crc32(data[:size]))
    cd_at = len(out)
    out += cd
    end = zip_end(len(members), len(cd), cd_at)
    if tail == "zip64_second_end":
        # As PyTorch's writer ends an archive (ZIP64 end record and locator, end record), then
        # the end record again: 98 bytes zipfile takes for data prepended to the archive.
        record64_at = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, len(members),
                           len(members), len(cd), cd_at)
        out += struct.pack("<IIQI", 0x07064B50, 0, record64_at, 1)
        out += end + end
    else:
        # More padding than the pickle in front is long, so zipfile's archive start lies past it.
        out += b"\0" * (len(prefix) + 16) + end
    return bytes(out)


# --- scipy.stats distributions: rv_generic.__setstate__ executes `_parse_arg_template` ----------

SCIPY_TEMPLATE = """
def _parse_args(self, %(shapes)s %(lin)s):
    return (%(shapes)s), %(lout)s

def _parse_args_rvs(self, %(shapes)s %(lin)s, size=None):
    return self._argcheck_rvs(%(shapes)s %(lout)s, size=size)

def _parse_args_stats(self, %(shapes)s %(lin)s, moments='mv'):
    return (%(shapes)s), %(lout)s, moments
"""


def scipy_template(shapes: str = "") -> str:
    return SCIPY_TEMPLATE % {"shapes": shapes, "lin": "loc=0, scale=1", "lout": "loc, scale"}


def frozen_norm(g, template: str) -> bytes:
    """`pickle.dumps(scipy.stats.norm(0, 1))` as scipy 1.16 writes it (the distribution's state
    trimmed to the fields its methods need), with `template` as its `_parse_arg_template`."""
    G = g.G
    dist_state = {
        "_stats_has_moments": False,
        "_random_state": None,
        "_ctor_param": {"momtype": 1, "a": None, "b": None, "xtol": 1e-14, "badvalue": None,
                        "name": "norm", "longname": None, "shapes": None, "seed": None},
        "momtype": 1, "badvalue": float("nan"), "name": "norm", "a": float("-inf"),
        "b": float("inf"), "xtol": 1e-14, "moment_type": 1, "shapes": None,
        "_parse_arg_template": template, "numargs": 0, "vecentropy": None,
    }
    dist = g.Call(G("scipy.stats._continuous_distns", "norm_gen"), (), dist_state, newobj=True)
    frozen = g.Call(G("scipy.stats._distn_infrastructure", "rv_continuous_frozen"), (),
                    {"args": (0, 1), "kwds": {}, "dist": dist}, newobj=True)
    return g.ok_dumps(frozen, 4)
