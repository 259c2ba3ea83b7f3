#!/usr/bin/env python3
"""Write ordinary files with the real writers for tests/readings_reference.rs: joblib dumps with
every compressor including compress='lz4', numpy object arrays (.npy) and .npz archives, and a
torch-free nested case (an .npz stored in a tar). All must scan clean.

Needs PyPI, so CI does not run it; its outputs are committed under tests/data/readings/:

    python3 -m venv /tmp/readref && /tmp/readref/bin/pip install joblib==1.5.2 numpy==2.3.4 lz4==4.4.4
    /tmp/readref/bin/python scripts/readings_reference.py

Nothing is loaded back; the files are only written.
"""

import io
import tarfile
from pathlib import Path

import joblib
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "readings"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    model = {
        "coef": rng.standard_normal((4, 3)),
        "ints": np.arange(10, dtype=np.int32),
        "strings": np.array(["cat", "dog"]),
        "objects": np.array([1, "two", None], dtype=object),
        "fortran": np.asfortranarray(rng.standard_normal((3, 2)).astype(np.float32)),
        "record": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
        "classes": ["cat", "dog"],
    }
    for compress in [0, "zlib", "gzip", "bz2", "lzma", "xz", "lz4", ("lz4", 9)]:
        suffix = compress if isinstance(compress, str) else ("none" if compress == 0 else f"{compress[0]}{compress[1]}")
        joblib.dump(model, OUT / f"model-{suffix}.joblib", compress=compress)
    np.save(OUT / "objects.npy", model["objects"], allow_pickle=True)
    np.save(OUT / "record.npy", model["record"])
    np.save(OUT / "fortran.npy", model["fortran"])
    np.savez(OUT / "arrays.npz", coef=model["coef"], ints=model["ints"])
    np.savez_compressed(OUT / "arrays-compressed.npz", coef=model["coef"], objects=model["objects"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = (OUT / "arrays.npz").read_bytes()
        info = tarfile.TarInfo("bundle/arrays.npz")
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("bundle")
        info.type, info.mtime = tarfile.DIRTYPE, 0
        tar.addfile(info)
    (OUT / "bundle.tar").write_bytes(buf.getvalue())
    print(f"wrote {len(list(OUT.iterdir()))} files under {OUT}")


if __name__ == "__main__":
    main()
