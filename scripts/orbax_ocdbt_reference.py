#!/usr/bin/env python3
"""Writes tests/data/orbax_ocdbt/: an Orbax checkpoint whose arrays are large enough for
TensorStore to store them out of line, so that its OCDBT data files (`d/<id>`) hold zstd-compressed
zarr3 chunks followed by tree nodes rather than one self-framing node (issue 16). The real
writer is orbax-checkpoint's StandardCheckpointer (OCDBT is its default).

With `--uncompressed` (tests/data/orbax_ocdbt_raw/) the handler is told `use_compression=False`:
the zarr chunks are written as raw array bytes, so a data file is raw values and tree nodes back
to back, with nothing in the values to walk; the scanner covers such a file by the value and
node references of the tree the manifest leads to.

Pinned versions (install into a venv; needs PyPI, nothing else):
    python3 -m venv /tmp/venv-longtail
    /tmp/venv-longtail/bin/pip install jax==0.10.2 orbax-checkpoint==0.12.8 tensorstore==0.1.86
    /tmp/venv-longtail/bin/python scripts/orbax_ocdbt_reference.py tests/data/orbax_ocdbt
    /tmp/venv-longtail/bin/python scripts/orbax_ocdbt_reference.py --uncompressed \
        tests/data/orbax_ocdbt_raw

What the scanner must say (tests/longtail_formats.rs): every file clean with no finding above
`info`; each data file under a `d/` folder beside a `manifest.ocdbt` is FMT007 (walked whole as
zstd frames and OCDBT nodes, or covered by the tree's references), never FMT001.

The script only writes files; it never loads one back.
"""
import os
import shutil
import sys

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


def main(out: str, compressed: bool) -> None:
    assert ocp.__version__ == "0.12.8", ocp.__version__
    out = os.path.abspath(out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    rng = np.random.default_rng(0)
    state = {
        "dense": {"kernel": jnp.asarray(rng.standard_normal((48, 96)).astype(np.float32)),
                  "bias": jnp.zeros(96)},
        "embed": jnp.asarray(rng.standard_normal((64, 32)).astype(np.float32)),
        "step": jnp.asarray(7),
    }
    if compressed:
        ckptr = ocp.StandardCheckpointer()
    else:
        ckptr = ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_compression=False))
    ckptr.save(out, state)
    if compressed:
        ckptr.wait_until_finished()  # StandardCheckpointer saves asynchronously
    for root, _, files in os.walk(out):
        for name in sorted(files):
            print("wrote", os.path.join(root, name))


if __name__ == "__main__":
    args = sys.argv[1:]
    uncompressed = "--uncompressed" in args
    args = [a for a in args if a != "--uncompressed"]
    default = "tests/data/orbax_ocdbt_raw" if uncompressed else "tests/data/orbax_ocdbt"
    main(args[0] if args else default, not uncompressed)
