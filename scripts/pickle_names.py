#!/usr/bin/env python3
"""Generate signatures/pickle-names.tsv: the canonical home of every name the pickle analyser
may meet in the modules that real pickles reference.

`find_class(module, name)` imports `module` and walks `name` as an attribute chain, so what a
pickle gets is whatever object sits there, wherever it was defined. This script imports the
supported libraries (trusted library code, in a throw-away virtual environment; no artifact is
ever loaded) and records, for each name, the object's canonical `__module__.__qualname__` and
its kind. The analyser then judges a global by its home: a re-export of a denied function is
denied, a name that is a module object is that module, and a package wildcard of the allow list
only covers what the package itself defines.

    python3 -m venv /tmp/venv-pickle
    /tmp/venv-pickle/bin/pip install numpy==2.4.6 scipy==1.17.1 pandas==3.1.1 \\
        pyarrow==26.0.1 scikit-learn==1.9.1 joblib==1.6.0 transformers==5.24.0
    /tmp/venv-pickle/bin/python scripts/pickle_names.py

Regenerate after upgrading a library (bump the pins above and in scripts/real_pickles.py), then
run `cargo test --release --test real_pickles --test samples`. Of transformers, the modules
whose objects real pickles hold (training arguments, trainer enumerations, configurations) are
enumerated without torch (transformers imports torch lazily). xgboost, lightgbm, torch and
transformers' model modules are not enumerated (large installs); there a wildcard of the allow
list passes only names spelled like classes, and the usual imports of denied functions
(`[aliases]` in the policy) are judged as those functions.

Columns (tab-separated, sorted): module, name, kind, canonical. `kind` is class, function,
builtin, ufunc, module or method (a side-effect-free method that `getattr(<class>, name)` may
reach); `canonical` is `module:qualname` (a module: its name), empty when it is the written
path itself. Kept small: canonical definitions, re-exports inside the same package, and
re-exports of anything the deny list names or of module objects.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import inspect
import pkgutil
import sys
import tomllib
import types
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "signatures" / "pickle-names.tsv"
POLICY = ROOT / "signatures" / "pickle-imports.toml"

PINNED = ["numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "joblib", "transformers"]

STDLIB = [
    "builtins", "collections", "datetime", "decimal", "fractions", "uuid", "argparse", "types",
    "enum", "re", "copyreg", "functools", "operator", "pathlib", "zoneinfo", "codecs", "_codecs",
    "random", "typing", "logging",
]
NUMPY = [
    "numpy", "numpy._core.multiarray", "numpy._core.numeric", "numpy._core._multiarray_umath",
    "numpy.core.multiarray", "numpy.core.numeric", "numpy.random", "numpy.random._pickle",
    "numpy.random._generator", "numpy.random._mt19937", "numpy.random._pcg64",
    "numpy.random._philox", "numpy.random._sfc64", "numpy.random.bit_generator",
    "numpy.random.mtrand", "numpy.ma", "numpy.ma.core", "numpy.dtypes",
    "numpy.matrixlib.defmatrix", "numpy.rec",
]
OTHER = ["pyarrow", "pyarrow.lib", "joblib", "joblib.numpy_pickle", "joblib.numpy_pickle_compat",
         "joblib.numpy_pickle_utils", "pandas", "pandas.arrays", "scipy.sparse"]
# transformers: the modules whose objects real pickles hold (training_args.bin is a pickle of
# TrainingArguments, which holds the trainer enumerations).
TRANSFORMERS = [
    "transformers.trainer_utils", "transformers.training_args", "transformers.training_args_seq2seq",
    "transformers.trainer_callback", "transformers.debug_utils", "transformers.utils.generic",
    "transformers.configuration_utils", "transformers.generation.configuration_utils",
    "transformers.tokenization_utils_base",
]
# Packages walked whole (minus tests and what the deny list covers).
WALKED = ["sklearn", "pandas.core", "pandas._libs", "scipy.sparse", "scipy.interpolate"]
SKIP_PARTS = {"tests", "test", "testing", "conftest", "_testing", "datasets", "externals",
              "linalg", "csgraph", "io", "_build_utils", "__check_build", "_distributor_init",
              "computation", "experimental"}

# Classes whose methods `getattr(<class>, name)` may reach: every public method (they compute,
# they touch no file, process or network), plus the listed private ones.
SAFE_METHOD_CLASSES = {
    "builtins.str": [], "builtins.bytes": [], "builtins.bytearray": [], "builtins.int": [],
    "builtins.float": [], "builtins.complex": [], "builtins.dict": [], "builtins.list": [],
    "builtins.tuple": [], "builtins.set": [], "builtins.frozenset": [], "builtins.bool": [],
    "datetime.date": [], "datetime.datetime": [], "datetime.time": [], "datetime.timedelta": [],
    "datetime.timezone": [], "decimal.Decimal": [], "fractions.Fraction": [],
    "collections.OrderedDict": [], "zoneinfo.ZoneInfo": ["_unpickle"],
}
# Public methods that are left off anyway: they read files or the environment.
UNSAFE_METHODS = {"from_file", "no_cache", "clear_cache", "fromfd", "fromfile", "tofile", "dump",
                  "dumps", "load", "loads", "save", "open"}


def PICKLING_HELPER(name: str) -> bool:
    low = name.lower()
    return any(k in low for k in ("unpickle", "reconstruct", "rebuild", "restore", "ctor", "_new_"))


def load_policy():
    with POLICY.open("rb") as f:
        policy = tomllib.load(f)
    return set(policy["deny"]), set(policy["reexported"]["modules"])


DENY, REEXPORTED = load_policy()


def denied(path: str) -> bool:
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in DENY or (i < len(parts) and prefix + ".*" in DENY):
            return True
    return False


def kind_of(obj) -> str | None:
    if isinstance(obj, types.ModuleType):
        return "module"
    if type(obj).__name__ == "ufunc":
        return "ufunc"
    if isinstance(obj, type):
        return "class"
    if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return "builtin"
    if inspect.isfunction(obj) or callable(obj) and hasattr(obj, "__qualname__") and hasattr(obj, "__module__"):
        return "function"
    return None


def home(obj) -> tuple[str, str] | None:
    if isinstance(obj, types.ModuleType):
        return obj.__name__, ""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if type(obj).__name__ == "ufunc":
        return "numpy", obj.__name__
    return module, qualname


def walk(package: str) -> list[str]:
    try:
        pkg = importlib.import_module(package)
    except Exception:  # noqa: BLE001
        return []
    names = [package]
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), package + "."):
        if SKIP_PARTS & set(info.name.split(".")):
            continue
        names.append(info.name)
    return names


def rows_for(module_name: str, rows: dict):
    if denied(module_name):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - optional extension modules
        return
    top = module_name.split(".")[0]
    for name, obj in sorted(vars(module).items()):
        if name.startswith("__") and name.endswith("__"):
            continue
        kind = kind_of(obj)
        if kind is None:
            continue
        where = home(obj)
        if where is None:
            continue
        cmod, cqual = where
        canonical_path = f"{cmod}.{cqual}" if cqual else cmod
        written = f"{module_name}.{name}"
        dangerous_module = kind == "module" and (
            denied(cmod) or cmod in REEXPORTED or cmod.split(".")[0] in REEXPORTED
            or cmod == "builtins")
        if canonical_path == written:
            # Definitions; private functions only when they are pickling helpers.
            if kind == "module" and not dangerous_module:
                continue
            if kind == "function" and name.startswith("_") and not PICKLING_HELPER(name):
                continue
            rows[(module_name, name)] = (kind, "")
            continue
        public_path = not any(p.startswith("_") for p in module_name.split("."))
        private_home = any(p.startswith("_") for p in cmod.split("."))
        if dangerous_module:
            rows[(module_name, name)] = (kind, cmod)
        elif kind != "module" and denied(canonical_path):
            rows[(module_name, name)] = (kind, f"{cmod}:{cqual}")
        elif kind == "class" and cmod.split(".")[0] == top and public_path and private_home:
            # The public path of a class defined in a private module.
            rows[(module_name, name)] = (kind, f"{cmod}:{cqual}")
        elif kind == "ufunc" and top == "numpy":
            rows[(module_name, name)] = (kind, f"{cmod}:{cqual}")


def safe_methods(rows: dict):
    for cls_path, private in SAFE_METHOD_CLASSES.items():
        module_name, _, cls_name = cls_path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), cls_name)
        for name in sorted(set(dir(cls))):
            if name.startswith("_") and name not in private:
                continue
            if name in UNSAFE_METHODS or not callable(getattr(cls, name, None)):
                continue
            rows[(module_name, f"{cls_name}.{name}")] = ("method", "")


def main():
    versions = {p: md.version(p) for p in PINNED}
    modules = list(STDLIB) + NUMPY + OTHER + TRANSFORMERS
    for package in WALKED:
        modules += walk(package)
    rows: dict = {}
    for module_name in dict.fromkeys(modules):
        rows_for(module_name, rows)
    safe_methods(rows)
    header = [
        "# Generated by scripts/pickle_names.py; do not edit by hand.",
        f"# Python {sys.version.split()[0]}, " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "# module\tname\tkind\tcanonical",
    ]
    lines = [f"{m}\t{n}\t{k}\t{c}" for (m, n), (k, c) in sorted(rows.items())]
    OUT.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} names from {len(set(m for m, _ in rows))} modules -> {OUT}")


if __name__ == "__main__":
    main()
