#!/usr/bin/env python3
"""Writes tests/data/orbax_ocdbt/: an Orbax checkpoint whose arrays are large enough for
TensorStore to store them out of line, so that its OCDBT data files (`d/<id>`) hold zstd-compressed
zarr3 chunks followed by tree nodes rather than one self-framing node (issue 16). The real
writer is orbax-checkpoint's StandardCheckpointer (OCDBT is its default).

Pinned versions (install into a venv; needs PyPI, nothing else):
    python3 -m venv /tmp/venv-longtail
    /tmp/venv-longtail/bin/pip install jax==0.10.2 orbax-checkpoint==0.12.8 tensorstore==0.1.86
    /tmp/venv-longtail/bin/python scripts/orbax_ocdbt_reference.py tests/data/orbax_ocdbt

What the scanner must say (tests/longtail_formats.rs): every file clean with no finding above
`info`; each data file under a `d/` folder beside a `manifest.ocdbt` is FMT007 (walked whole as
zstd frames and OCDBT nodes), never FMT001.

The script only writes files; it never loads one back.
"""
import os
import shutil
import sys

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


def main(out: str) -> None:
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
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(out, state)
    ckptr.wait_until_finished()
    for root, _, files in os.walk(out):
        for name in sorted(files):
            print("wrote", os.path.join(root, name))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/orbax_ocdbt")
