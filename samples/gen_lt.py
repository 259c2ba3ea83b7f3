"""Long-tail leftovers of issue 16: XGBoost's legacy binary model (spec-built from
`src/learner.cc` `LoadModel`/`SaveModel` of XGBoost 1.7: optional `binf`, the 136-byte
`LearnerModelParamLegacy`, objective and booster names as u64-length strings, the gbtree
booster, the attributes) and Core ML `.mlpackage` folders (`Manifest.json` with
`itemInfoEntries`, an ML program `model.mlmodel` whose constants are `BlobFileValue`s into
`weights/weight.bin`, MIL blob storage as coremltools' `MILBlob/Blob/StorageFormat.hpp` lays it
out).

Standard library only; helpers come from generate.py (passed in as `g`).
"""

from __future__ import annotations

import json
import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES = {
    "GBM001": ("gbm-malformed", SUSPICIOUS),
    "CML004": ("coreml-package-path-outside", MALICIOUS),
    "CML005": ("coreml-package-malformed", SUSPICIOUS),
}


def dmlc_string(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def xgboost_binary(objective: bytes = b"binary:logistic", trees: int = 2, binf: bool = True,
                   version: tuple[int, int] = (1, 7), attrs: dict | None = None) -> bytes:
    """A gbtree model of `trees` stumps (a split and two leaves) as XGBoost writes it."""
    out = b"binf" if binf else b""
    extra = attrs is not None
    if version[0] >= 1:
        words = (4, 0, int(extra), 0, *version, 1, 1)
    else:  # before 1.0: five fields, then 29 reserved words
        words = (4, 0, int(extra), 0, 0, 0, 0, 0)
    out += struct.pack("<f", 0.5) + struct.pack("<8i", *words) + bytes(100)
    out += dmlc_string(objective) + dmlc_string(b"gbtree")
    out += struct.pack("<iiiiqii", trees, 1, 4, 0, 0, 1, 0) + bytes(128)
    for t in range(trees):
        out += struct.pack("<6i", 1, 3, 0, 1, 4, 0) + bytes(124)
        # nodes: parent, left, right, split index (feature t), split condition / leaf value
        out += struct.pack("<IiiIf", 0xFFFFFFFF, 1, 2, t % 4, 0.5)
        out += struct.pack("<IiiIf", 1 << 31, -1, -1, 0, -0.3)
        out += struct.pack("<IiiIf", 0, -1, -1, 0, 0.3)
        out += struct.pack("<fffi", 1.5, 12.0, 0.0, 0) * 3
    out += struct.pack(f"<{trees}i", *([0] * trees))
    if extra:
        out += struct.pack("<Q", len(attrs))
        for k, v in sorted(attrs.items()):
            out += dmlc_string(k.encode()) + dmlc_string(v.encode())
    return out


OBJECTIVE_JSON = '{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}'


def blob_storage(*blobs: bytes) -> bytes:
    """MIL blob storage: header (count, version 2), then per blob a 64-byte record (sentinel,
    dtype 2 = float32, size, data offset) and the data, 64-byte aligned (the last blob unpadded,
    as coremltools leaves it)."""
    out = struct.pack("<II", len(blobs), 2) + bytes(56)
    for i, blob in enumerate(blobs):
        at = len(out)
        out += struct.pack("<IIQQQ", 0xDEADBEEF, 2, len(blob), at + 64, 0) + bytes(32) + blob
        if i + 1 < len(blobs):
            out += bytes(-len(out) % 64)
    return out


def ml_program(weights_file: str) -> bytes:
    """Model { specificationVersion 7, description, mlProgram 502: Program { version 1,
    functions 2: {"main": Function { opset 2, block_specializations 3: {"CoreML6": Block {
    operations 3: [const (attributes 5: {"val": Value { blobFileValue 5 { fileName 1, offset 2 }}}),
    linear] }}}}}}."""
    from gen_coreml import description, field

    def entry(key: str, value: bytes) -> bytes:
        return field(1, key) + field(2, value)

    blob = field(5, field(1, weights_file) + field(2, 64))
    const = field(1, "const") + field(5, entry("val", blob)) + field(3, field(1, "w"))
    binding = field(1, field(1, "x"))
    linear = field(1, "linear") + field(2, entry("x", binding)) + field(2, entry("weight", field(1, field(1, "w"))))
    block = field(2, "y") + field(3, const) + field(3, linear)
    function = field(2, "CoreML6") + field(3, entry("CoreML6", block))
    program = field(1, 1) + field(2, entry("main", function))
    return field(1, 7) + field(2, description([("x", [4])], [("y", [3])])) + field(502, program)


def package_manifest(weights_path: str = "com.apple.CoreML/weights", root: str = "ROOT") -> bytes:
    entries = {
        "ROOT": {"author": "com.apple.CoreML", "description": "CoreML Model Specification",
                 "name": "model.mlmodel", "path": "com.apple.CoreML/model.mlmodel"},
        "WEIGHTS": {"author": "com.apple.CoreML", "description": "CoreML Model Weights",
                    "name": "weights", "path": weights_path},
    }
    return json.dumps({"fileFormatVersion": "1.0.0", "itemInfoEntries": entries,
                       "rootModelIdentifier": root}, indent=4).encode()


WEIGHTS = struct.pack("<12f", *[i / 8 for i in range(12)])


def package(register, path: str, expected: dict, desc: str, manifest: bytes, program: bytes) -> None:
    files = {
        "Manifest.json": manifest,
        "Data/com.apple.CoreML/model.mlmodel": program,
        "Data/com.apple.CoreML/weights/weight.bin": blob_storage(WEIGHTS, WEIGHTS[:16]),
    }
    for name, data in files.items():
        verdict, findings = expected.get(name, (CLEAN, ()))
        register(f"{path}/{name}", verdict, *findings, desc=f"{desc}: {name}",
                 build=lambda d=data: d)


def samples(register, g) -> None:
    package(register, "benign/coreml_package.mlpackage", {},
            "a Core ML package of an ML program (const weights in weights/weight.bin, one linear op)",
            package_manifest(), ml_program("@model_path/weights/weight.bin"))
    package(register, "malicious/coreml_package_outside.mlpackage",
            {"Manifest.json": (MALICIOUS, (("CML004", "../../../quarantine-sample/weights"),)),
             "Data/com.apple.CoreML/model.mlmodel": (MALICIOUS, (("CML004", "/etc/quarantine-sample.bin"),))},
            "a Core ML package whose manifest puts the weights item outside the package and whose "
            "ML program reads its weights from an absolute path",
            package_manifest("../../../quarantine-sample/weights"), ml_program("/etc/quarantine-sample.bin"))
    package(register, "malicious/coreml_package_no_root.mlpackage",
            {"Manifest.json": (SUSPICIOUS, (("CML005", "not one of its"),))},
            "a Core ML package whose rootModelIdentifier names no entry",
            package_manifest(root="MISSING"), ml_program("@model_path/weights/weight.bin"))
    register("benign/xgboost_binary.model", CLEAN,
             desc="an XGBoost legacy binary model as save_model wrote it in 1.x: binf, parameters "
                  "(4 features, version 1.7), binary:logistic, gbtree of two stumps, the objective's "
                  "JSON as an attribute",
             build=lambda: xgboost_binary(attrs={"objective": OBJECTIVE_JSON}))
    register("benign/xgboost_binary_0x.model", CLEAN,
             desc="an XGBoost legacy binary model as releases before 1.0 wrote it: no binf, "
                  "version 0.0, reg:linear, no attributes",
             build=lambda: xgboost_binary(b"reg:linear", trees=3, binf=False, version=(0, 0)))
    register("malicious/xgboost_binary_trailing_pickle.model", SUSPICIOUS,
             ("GBM001", "bytes follow the XGBoost binary model"),
             desc="an XGBoost binary model with a pickle calling posix.system appended: XGBoost "
                  "stops at the model's end, a second reader of the file would not",
             build=lambda: xgboost_binary(attrs={"objective": OBJECTIVE_JSON}) + g.torch_payload_pkl())
    register("malicious/xgboost_binary_unknown_objective.model", SUSPICIOUS,
             ("GBM001", "objective quarantine:sample"),
             desc="an XGBoost binary model naming an objective no XGBoost release registers",
             build=lambda: xgboost_binary(b"quarantine:sample"))
    register("malicious/xgboost_binary_tree_count.model", SUSPICIOUS,
             ("GBM001", "trees are declared"),
             desc="an XGBoost binary model whose gbtree parameters declare 2^31-1 trees in a 1 KB file",
             build=lambda: xgboost_binary_tree_count())


def xgboost_binary_tree_count() -> bytes:
    model = bytearray(xgboost_binary())
    at = 4 + 136 + 8 + len(b"binary:logistic") + 8 + len(b"gbtree")
    model[at:at + 4] = struct.pack("<i", 0x7FFFFFFF)
    return bytes(model)
