#!/usr/bin/env python3
"""Writes the Core ML reference models in tests/data/coreml/ with the real writer, coremltools
(issue 16). Saving a `.mlmodel` spec needs no macOS (only prediction does).

Pinned versions (install into a venv; needs PyPI, nothing else):
    python3 -m venv /tmp/venv-cml
    /tmp/venv-cml/bin/pip install coremltools==8.3.0 numpy==2.4.6
    /tmp/venv-cml/bin/python scripts/coreml_reference.py tests/data/coreml

What is written, and what the scanner must say (tests/longtail_formats.rs): ordinary
neural-network models (`NeuralNetworkBuilder`: inner product, activation, softmax; a classifier
with class labels), each `clean` with no finding above `info` and named `coreml`.

The script only writes files; it never loads one back.
"""
import os
import sys

import numpy as np
import coremltools as ct
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder


def mlp(out: str) -> None:
    rng = np.random.default_rng(0)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", datatypes.Array(3))])
    builder.add_inner_product("fc1", rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal(8).astype(np.float32),
                              4, 8, True, "x", "h")
    builder.add_activation("relu", "RELU", "h", "h_relu")
    builder.add_inner_product("fc2", rng.standard_normal((3, 8)).astype(np.float32), None, 8, 3, False, "h_relu", "logits")
    builder.add_softmax("softmax", "logits", "y")
    ct.models.MLModel(builder.spec).save(os.path.join(out, "mlp.mlmodel"))


def classifier(out: str) -> None:
    rng = np.random.default_rng(1)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("probs", datatypes.Dictionary(datatypes.String()))],
                                   mode="classifier")
    builder.add_inner_product("fc", rng.standard_normal((3, 4)).astype(np.float32), None, 4, 3, False, "x", "logits")
    builder.add_softmax("softmax", "logits", "probs_out")
    builder.set_class_labels(["setosa", "versicolor", "virginica"], predicted_feature_name="label",
                             prediction_blob="probs_out")
    ct.models.MLModel(builder.spec).save(os.path.join(out, "iris_classifier.mlmodel"))


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    mlp(out)
    classifier(out)
    print("wrote", sorted(os.listdir(out)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/coreml")
