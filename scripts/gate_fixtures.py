#!/usr/bin/env python3
"""Fixtures for tests/gate.rs: ordinary files that must not raise an alarm (no finding above info).

Real files from pinned PyPI wheels (nothing is ever imported, loaded or run: wheels are read
with zipfile) plus files written by the real writers:

- ONNX models from `onnx==1.23.2`'s backend test data (tiny test graphs, some with Clip) and
  `openwakeword==0.4.0`'s shipped models (`melspectrogram.onnx`: an audio front-end whose Clip
  bounds are +-inf; `hey_mycroft_v0.1.onnx`: a wake-word classifier, brittle under PGD like
  almost every model not trained adversarially);
- openwakeword's wheel METADATA (documentation that mentions shell commands);
- a feature array with NaN (missing values) written by `numpy==2.4.6`'s `np.save`;
- a model card README.md whose install instructions pipe curl into sh (as many real ones do).

Needs PyPI, so CI does not run it; its outputs are committed under tests/data/gate/:

    python3 -m venv /tmp/venv-gate && /tmp/venv-gate/bin/pip install numpy==2.4.6
    /tmp/venv-gate/bin/python scripts/gate_fixtures.py
"""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "gate"

WHEELS = {
    "onnx==1.23.2": [
        # (member in the wheel, name under tests/data/gate/)
        ("onnx/backend/test/data/pytorch-operator/test_operator_clip/model.onnx", "onnx-test_operator_clip.onnx"),
        ("onnx/backend/test/data/simple/test_single_relu_model/model.onnx", "onnx-test_single_relu_model.onnx"),
        ("onnx/backend/test/data/simple/test_sign_model/model.onnx", "onnx-test_sign_model.onnx"),
        ("onnx/backend/test/data/pytorch-converted/test_Linear/model.onnx", "onnx-test_Linear.onnx"),
        ("onnx/backend/test/data/pytorch-converted/test_Softmax/model.onnx", "onnx-test_Softmax.onnx"),
        ("onnx/backend/test/data/pytorch-operator/test_operator_mm/model.onnx", "onnx-test_operator_mm.onnx"),
    ],
    "openwakeword==0.4.0": [
        ("openwakeword/resources/models/melspectrogram.onnx", "openwakeword-melspectrogram.onnx"),
        ("openwakeword/resources/models/hey_mycroft_v0.1.onnx", "openwakeword-hey_mycroft_v0.1.onnx"),
        ("openwakeword-0.4.0.dist-info/METADATA", "openwakeword-0.4.0.dist-info/METADATA"),
    ],
}

MODEL_CARD = """---
license: apache-2.0
tags:
- audio
- wake-word
---

# Wake word model

A small ONNX classifier for a custom wake word.

## Install the runtime

```sh
curl -fsSL https://example.com/install.sh | sh
```

or, on Windows:

```powershell
iwr -useb https://example.com/install.ps1 | iex
```

## Use

```python
import onnxruntime as ort
session = ort.InferenceSession("model.onnx")
```
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for pin, members in WHEELS.items():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", pin, "-d", tmp],
                check=True,
            )
            name = pin.split("==")[0].replace("-", "_")
            wheel = next(Path(tmp).glob(f"{name}-{pin.split('==')[1]}-*.whl"))
            with zipfile.ZipFile(wheel) as z:
                for member, target in members:
                    path = OUT / target
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(z.read(member))
    features = np.linspace(-1.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    features[2, 3] = np.nan
    features[5, :] = np.nan
    np.save(OUT / "features-with-missing-values.npy", features)
    (OUT / "model-card" ).mkdir(exist_ok=True)
    (OUT / "model-card" / "README.md").write_text(MODEL_CARD)


if __name__ == "__main__":
    main()
