"""Long-tail leftovers of issue 16: XGBoost's legacy binary model (spec-built from
`src/learner.cc` `LoadModel`/`SaveModel` of XGBoost 1.7: optional `binf`, the 136-byte
`LearnerModelParamLegacy`, objective and booster names as u64-length strings, the gbtree
booster, the attributes).

Standard library only; helpers come from generate.py (passed in as `g`).
"""

from __future__ import annotations

import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES = {
    "GBM001": ("gbm-malformed", SUSPICIOUS),
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


def samples(register, g) -> None:
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
