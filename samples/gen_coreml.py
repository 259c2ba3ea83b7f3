"""Core ML `.mlmodel` samples (issue 16): `CoreML.Specification.Model` protobufs hand-encoded from
coremltools' Model.proto, FeatureTypes.proto, GLMRegressor.proto and NeuralNetwork.proto
(specificationVersion, description with typed inputs and outputs, one model type).

Attacks: a custom layer and a custom model (classes the application implements, native code
outside the file) and a linked model loaded from outside the model's folder. Standard library
only.
"""

from __future__ import annotations

import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES = {
    "CML001": ("coreml-custom-code", SUSPICIOUS),
    "CML002": ("coreml-linked-model-outside", MALICIOUS),
    "CML003": ("coreml-malformed", SUSPICIOUS),
}


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number: int, value) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def floats(values) -> bytes:
    return struct.pack("<%df" % len(values), *values)


def feature(name: str, shape: list[int]) -> bytes:
    # FeatureDescription: name (1), type (3: FeatureType.multiArrayType = 5 {shape 1, dataType 2 = FLOAT32 65568})
    array = b"".join(field(1, d) for d in shape) + field(2, 65568)
    return field(1, name) + field(3, field(5, array))


def description(inputs, outputs) -> bytes:
    return b"".join(field(1, feature(n, s)) for n, s in inputs) + b"".join(field(10, feature(n, s)) for n, s in outputs)


DESC = description([("x", [2])], [("y", [2])])


def model(body_field: int, body: bytes, version: int = 4, desc: bytes = DESC) -> bytes:
    return field(1, version) + field(2, desc) + field(body_field, body)


def glm() -> bytes:
    # GLMRegressor: weights (1: DoubleArray{value 1 packed doubles}), offset (2 packed doubles)
    weights = field(1, struct.pack("<2d", 0.5, -0.25))
    return model(300, field(1, weights) + field(2, struct.pack("<d", 0.1)))


def inner_product(name: str) -> bytes:
    # NeuralNetworkLayer: name 1, input 2, output 3, innerProduct 140 {inputChannels 1, outputChannels 2,
    # hasBias 10, weights 20 {floatValue 1}, bias 21}
    params = field(1, 2) + field(2, 2) + field(10, 1) + field(20, field(1, floats([0.5, -0.25, 1.0, 0.125])))
    params += field(21, field(1, floats([0.1, -0.1])))
    return field(1, name) + field(2, "x") + field(3, "y") + field(140, params)


def custom_layer(name: str, cls: str) -> bytes:
    # CustomLayerParams: className 10, description 40
    params = field(10, cls) + field(40, "post-processing")
    return field(1, name) + field(2, "x") + field(3, "y") + field(500, params)


def neural_network(*layers: bytes) -> bytes:
    return model(500, b"".join(field(1, layer) for layer in layers))


def linked(name: str, search: str) -> bytes:
    # LinkedModel { linkedModelFile 1: LinkedModelFile { linkedModelFileName 1, linkedModelSearchPath 2 } },
    # each a StringParameter { defaultValue 1 }
    return model(556, field(1, field(1, field(1, name)) + field(2, field(1, search))), version=4)


def samples(register, g) -> None:
    register("benign/coreml_glm.mlmodel", CLEAN,
             desc="a Core ML GLM regressor (specificationVersion 4, multi-array input and output)",
             build=glm)
    register("benign/coreml_neural_network.mlmodel", CLEAN,
             desc="a Core ML neural network with one inner-product layer",
             build=lambda: neural_network(inner_product("fc")))
    register("benign/coreml_linked_model.mlmodel", CLEAN,
             desc="a Core ML linked model naming a compiled model in its own folder",
             build=lambda: linked("encoder.mlmodelc", "$BUNDLE_MAIN"))
    register("malicious/coreml_custom_layer.mlmodel", SUSPICIOUS, ("CML001", "QSampleShellLayer"),
             desc="a Core ML neural network with a custom layer (an MLCustomLayer class of the application)",
             build=lambda: neural_network(inner_product("fc"), custom_layer("post", "QSampleShellLayer")))
    register("malicious/coreml_custom_model.mlmodel", SUSPICIOUS, ("CML001", "QSampleCustomModel"),
             desc="a Core ML customModel (an MLCustomModel class of the application runs the whole model)",
             build=lambda: model(555, field(10, "QSampleCustomModel") + field(40, "quarantine-sample")))
    register("malicious/coreml_linked_outside.mlmodel", MALICIOUS, ("CML002", "../../"),
             desc="a Core ML linked model whose file name climbs out of the model's folder",
             build=lambda: linked("../../tmp/quarantine-sample.mlmodelc", ""))
