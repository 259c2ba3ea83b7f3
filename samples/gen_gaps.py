"""Samples for detection gaps found by the second red-team round: readings of a file that a loader
takes and a one-reading scanner did not.

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
import struct
import tarfile

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
