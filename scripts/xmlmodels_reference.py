#!/usr/bin/env python3
"""Writes the OpenVINO IR and PMML reference models in tests/data/openvino/ and tests/data/pmml/
with the real writers (issue 16).

Pinned versions (install into a venv; needs PyPI and a Java runtime for sklearn2pmml):
    python3 -m venv /tmp/venv-xml
    /tmp/venv-xml/bin/pip install openvino==2025.3.0 sklearn2pmml==0.133.1 scikit-learn==1.9.0 numpy==2.2.6
    /tmp/venv-xml/bin/python scripts/xmlmodels_reference.py tests/data

What is written, and what the scanner must say (tests/longtail_formats.rs): ordinary models, each
`clean` with no finding above `info`:
- `openvino/*.xml` + `.bin`: small graphs built from `openvino.opset13` operations and saved with
  `openvino.save_model` (FP32, and compressed to FP16, the default), named `openvino`; their
  `.bin` weights are known as such (OVN005, info);
- `pmml/*.pmml`: scikit-learn pipelines exported by sklearn2pmml (decision tree, logistic
  regression with scaling, gradient boosting), named `pmml`; sklearn2pmml records the pipeline's
  repr in an `<Extension>` (PML004, info).

The script only writes files; it never loads one back.
"""
import os
import sys

import numpy as np


def openvino_models(out: str) -> None:
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([1, 8], np.float32, name="x")
    w1 = ops.constant(rng.standard_normal((16, 8)).astype(np.float32))
    b1 = ops.constant(rng.standard_normal((1, 16)).astype(np.float32))
    h = ops.relu(ops.add(ops.matmul(x, w1, False, True), b1))
    w2 = ops.constant(rng.standard_normal((4, 16)).astype(np.float32))
    y = ops.softmax(ops.matmul(h, w2, False, True), 1)
    model = ov.Model([y], [x], "tiny_mlp")
    ov.save_model(model, os.path.join(out, "mlp_fp32.xml"), compress_to_fp16=False)
    ov.save_model(model, os.path.join(out, "mlp_fp16.xml"))

    img = ops.parameter([1, 3, 8, 8], np.float32, name="image")
    k = ops.constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    c = ops.convolution(img, k, [1, 1], [1, 1], [1, 1], [1, 1])
    p = ops.max_pool(c, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2])
    r = ops.reshape(p.output(0), ops.constant(np.array([1, -1], dtype=np.int64)), False)
    conv = ov.Model([r], [img], "tiny_conv")
    ov.save_model(conv, os.path.join(out, "conv.xml"))


def pmml_models(out: str) -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier
    from sklearn2pmml import sklearn2pmml
    from sklearn2pmml.pipeline import PMMLPipeline

    X, y = load_iris(return_X_y=True, as_frame=True)
    runs = [
        ("decision_tree", PMMLPipeline([("classifier", DecisionTreeClassifier(max_depth=3, random_state=0))])),
        ("logistic_scaled", PMMLPipeline([("scaler", StandardScaler()),
                                          ("classifier", LogisticRegression(max_iter=500))])),
        ("gradient_boosting", PMMLPipeline([("classifier", GradientBoostingClassifier(n_estimators=5,
                                                                                      max_depth=2,
                                                                                      random_state=0))])),
    ]
    for name, pipeline in runs:
        pipeline.fit(X, y)
        sklearn2pmml(pipeline, os.path.join(out, name + ".pmml"))


def main(root: str) -> None:
    for sub, make in (("openvino", openvino_models), ("pmml", pmml_models)):
        out = os.path.join(root, sub)
        os.makedirs(out, exist_ok=True)
        make(out)
        print("wrote", out, sorted(os.listdir(out)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data")
