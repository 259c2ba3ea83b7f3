#!/usr/bin/env python3
"""Writes the Core ML package references in tests/data/coreml_package/ with the real writer,
coremltools (issue 16): ML programs built with the MIL builder and converted with
`ct.convert(..., convert_to="mlprogram", skip_model_load=True)`, saved as `.mlpackage`
folders. Neither torch nor macOS is needed (only prediction needs macOS).

Pinned versions (install into a venv; needs PyPI, nothing else):
    python3 -m venv /tmp/venv-cml
    /tmp/venv-cml/bin/pip install coremltools==8.3.0 numpy==2.4.6
    /tmp/venv-cml/bin/python scripts/coreml_package_reference.py tests/data/coreml_package

What is written, and what the scanner must say (tests/longtail_formats.rs): every file of each
package is `clean` with no finding above `info`: `Manifest.json` (recognised by its keys,
every item inside the package), `Data/com.apple.CoreML/model.mlmodel` (`coreml`, blob file
names under `@model_path/`) and `Data/com.apple.CoreML/weights/weight.bin` (MIL blob storage,
FMT007 data):
- `linear.mlpackage`: one linear layer, float16 weights (the converter's default precision);
- `mlp_fp32.mlpackage`: two linear layers with a ReLU, float32 weights
  (`compute_precision=ct.precision.FLOAT32`).

The script only writes files; it never loads one back.
"""
import os
import shutil
import sys

import coremltools as ct
import numpy as np
from coremltools.converters.mil import Builder as mb


def linear():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 16))])
    def prog(x):
        return mb.linear(x=x, weight=w, bias=b, name="y")

    return prog


def mlp():
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((32, 16)).astype(np.float32)
    w2 = rng.standard_normal((4, 32)).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 16))])
    def prog(x):
        h = mb.relu(x=mb.linear(x=x, weight=w1, name="fc1"), name="act")
        return mb.linear(x=h, weight=w2, name="y")

    return prog


def main(out: str) -> None:
    assert ct.__version__ == "8.3.0", ct.__version__
    os.makedirs(out, exist_ok=True)
    runs = [
        ("linear.mlpackage", linear(), {}),
        ("mlp_fp32.mlpackage", mlp(), {"compute_precision": ct.precision.FLOAT32}),
    ]
    for name, prog, options in runs:
        path = os.path.join(out, name)
        shutil.rmtree(path, ignore_errors=True)
        model = ct.convert(prog, convert_to="mlprogram", skip_model_load=True, **options)
        model.save(path)
        print("wrote", path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/coreml_package")
