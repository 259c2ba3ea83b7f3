#!/usr/bin/env python3
"""Writes the XGBoost legacy binary models in tests/data/xgboost_binary/ with the real writer,
XGBoost 1.7.6 (the last release line whose `save_model` writes the binary format for a name
that does not end in `.json`/`.ubj`; issue 16).

Pinned versions (install into a venv; needs PyPI, nothing else):
    python3 -m venv /tmp/venv-lt-xgb
    /tmp/venv-lt-xgb/bin/pip install xgboost==1.7.6 "numpy<2"
    /tmp/venv-lt-xgb/bin/python scripts/xgboost_binary_reference.py tests/data/xgboost_binary

What is written, and what the scanner must say (tests/longtail_formats.rs): each file is
`clean` with no finding above `info` and named `xgboost-binary`:
- `gbtree_binary.model`: `binary:logistic`, gbtree, 3 rounds (`save_model`);
- `dart_multiclass.bin`: `multi:softprob` with 3 classes, dart, eval metrics kept;
- `gblinear_regression.bin`: `reg:squarederror`, gblinear;
- `raw_deprecated.bin`: `Booster.save_raw(raw_format="deprecated")` of a `reg:tweedie` model.

The script only writes files; it never loads one back.
"""
import os
import sys

import numpy as np
import xgboost as xgb


def main(out: str) -> None:
    assert xgb.__version__ == "1.7.6", xgb.__version__
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.random((60, 4)).astype(np.float32)
    binary = (x[:, 0] > 0.5).astype(int)
    classes = (x[:, 1] * 3).astype(int)
    target = x @ np.array([1.0, -2.0, 0.5, 3.0])

    def train(params, label, rounds=3):
        return xgb.train({**params, "nthread": 1, "seed": 0}, xgb.DMatrix(x, label=label), rounds)

    train({"objective": "binary:logistic", "max_depth": 2}, binary).save_model(
        os.path.join(out, "gbtree_binary.model"))
    train({"objective": "multi:softprob", "num_class": 3, "booster": "dart", "max_depth": 2,
           "rate_drop": 0.1, "eval_metric": "mlogloss"}, classes).save_model(
        os.path.join(out, "dart_multiclass.bin"))
    train({"objective": "reg:squarederror", "booster": "gblinear"}, target).save_model(
        os.path.join(out, "gblinear_regression.bin"))
    raw = train({"objective": "reg:tweedie", "max_depth": 2}, np.abs(target)).save_raw(
        raw_format="deprecated")
    with open(os.path.join(out, "raw_deprecated.bin"), "wb") as f:
        f.write(bytes(raw))
    for name in sorted(os.listdir(out)):
        print("wrote", os.path.join(out, name))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/xgboost_binary")
