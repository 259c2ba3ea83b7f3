#!/usr/bin/env python3
"""Write pickles with the real libraries, in ordinary use, for tests/real_pickles.rs.

Every file must scan clean (no finding above info). Needs PyPI, so CI does not run it; its
outputs are committed under tests/data/pickle-real/ (small files: tiny data sets).

    python3 -m venv /tmp/venv-pickle
    /tmp/venv-pickle/bin/pip install numpy==2.4.6 scipy==1.17.1 pandas==3.1.1 \\
        pyarrow==26.0.1 scikit-learn==1.9.1 joblib==1.6.0 omegaconf==2.4.0
    /tmp/venv-pickle/bin/python scripts/real_pickles.py

The Python 3.13 `pathlib._local.PosixPath` pickles are hand-built (this machine has CPython
3.11, whose PosixPath lives in `pathlib`): `PurePath.__reduce__` in 3.13 returns
`(self.__class__, tuple(self._raw_paths))`, and 3.13 names the class `pathlib._local.PosixPath`;
the bytes below are what `pickle.dumps` of 3.13 writes for that reduce value. Nothing here is
ever unpickled.
"""

import functools
import io
import pickle
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import Birch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.impute import IterativeImputer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.feature_selection import SelectKBest, f_classif, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import Isomap
from sklearn.neighbors import BallTree, KernelDensity, KNeighborsClassifier
from sklearn.metrics import make_scorer, f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, SplineTransformer, StandardScaler

# scikit-learn's HistGradientBoosting with categorical columns pickles
# functools.partial(sklearn.utils.validation.check_array, ...): judged as check_array.
PINNED = {
    "numpy": "2.4.6",
    "scipy": "1.17.1",
    "pandas": "3.1.1",
    "pyarrow": "26.0.1",
    "scikit-learn": "1.9.1",
    "joblib": "1.6.0",
    "omegaconf": "2.4.0",
}

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "pickle-real"

TEXTS = ["good movie", "bad movie", "great film", "awful film", "fine", "poor plot"] * 2
LABELS = [1, 0, 1, 0, 1, 0] * 2


def check_versions():
    import importlib.metadata as md

    for name, want in PINNED.items():
        have = md.version(name)
        if have != want:
            print(f"warning: {name} {have} installed, {want} pinned", file=sys.stderr)


def objects():
    X = np.arange(24, dtype=np.float64).reshape(12, 2) % 7
    y = np.array(LABELS)
    out = {}

    out["sklearn_text_pipeline"] = Pipeline([
        ("vec", CountVectorizer(preprocessor=str.lower, ngram_range=(1, 2))),
        ("clf", LogisticRegression(max_iter=50)),
    ]).fit(TEXTS, y)
    out["sklearn_tfidf"] = TfidfVectorizer(lowercase=True, sublinear_tf=True).fit(TEXTS)
    out["sklearn_grid_search"] = GridSearchCV(
        LogisticRegression(max_iter=50), {"C": [0.1, 1.0]}, cv=2,
        scoring={"acc": "accuracy", "f1": make_scorer(f1_score)}, refit="acc",
    ).fit(X, y)
    out["sklearn_select_k_best"] = make_pipeline(
        SelectKBest(functools.partial(mutual_info_classif, random_state=0), k=1),
        StandardScaler(),
    ).fit(X, y)
    out["sklearn_select_f_classif"] = SelectKBest(f_classif, k=1).fit(X, y)
    out["sklearn_function_transformer"] = FunctionTransformer(np.log1p, np.expm1).fit(X)

    frame = pd.DataFrame({
        "when": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris"),
        "utc": pd.date_range("2024-01-01", periods=3, tz="UTC"),
        "kind": pd.Categorical(["a", "b", "a"]),
        "name": pd.array(["x", "y", None], dtype="string[pyarrow]"),
        "text": pd.Series(["p", "q", "r"], dtype="str"),
        "value": [1.5, 2.5, np.nan],
    })
    out["pandas_frame"] = frame
    out["pandas_series_period"] = pd.Series(pd.period_range("2024-01", periods=3, freq="M"))
    out["pandas_interval_index"] = pd.interval_range(0, 3)

    out["scipy_csr"] = sp.csr_matrix(np.eye(3))
    out["scipy_csc_array"] = sp.csc_array(np.eye(3))
    out["scipy_coo"] = sp.coo_matrix(np.eye(2))

    out["numpy_masked"] = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    out["numpy_ufuncs"] = [np.add, np.log1p, np.sqrt]
    out["numpy_generator"] = np.random.default_rng(7)
    out["numpy_random_state"] = np.random.RandomState(7)
    out["numpy_structured"] = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])

    # Estimators whose fitted state holds private classes of their packages, and
    # HistGradientBoosting's functools.partial(check_array, ...) for categorical frames.
    cat = pd.DataFrame({"c": pd.Categorical(["a", "b", "c"] * 10), "x": np.arange(30.0)})
    out["sklearn_hgb_categorical"] = HistGradientBoostingClassifier(
        max_iter=2, max_bins=4, categorical_features="from_dtype").fit(cat, np.arange(30) % 2)
    out["sklearn_hgb_numeric"] = HistGradientBoostingClassifier(max_iter=2, max_bins=4).fit(X, y)
    out["sklearn_calibrated_cv"] = CalibratedClassifierCV(LogisticRegression(max_iter=50), cv=2).fit(X, y)
    out["sklearn_gp_classifier"] = GaussianProcessClassifier(random_state=0).fit(X[:6], y[:6])
    out["sklearn_spline_transformer"] = SplineTransformer(n_knots=3, degree=2).fit(X)
    out["sklearn_birch"] = Birch(n_clusters=2, threshold=2.0).fit(X[:6])
    gaps = X.copy()
    gaps[1, 0] = gaps[4, 1] = np.nan
    out["sklearn_iterative_imputer"] = IterativeImputer(max_iter=2, random_state=0).fit(gaps)
    out["numpy_recarray"] = np.rec.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")])
    out["numpy_stringdtype"] = np.array(["a", "bb"], dtype=np.dtypes.StringDType())
    # Neighbour estimators: their trees and distance metrics are rebuilt through the Cython
    # helpers `newObj` of sklearn.neighbors._kd_tree/_ball_tree and sklearn.metrics._dist_metrics.
    out["sklearn_knn"] = KNeighborsClassifier(n_neighbors=2, algorithm="kd_tree").fit(X, y)
    out["sklearn_ball_tree"] = BallTree(X)
    out["sklearn_kernel_density"] = KernelDensity().fit(X)
    out["sklearn_isomap"] = Isomap(n_neighbors=3, n_components=1).fit(X)
    # Lightning and NeMo checkpoints keep `hyper_parameters` as OmegaConf containers.
    from omegaconf import OmegaConf
    out["omegaconf_hyper_parameters"] = {
        "hyper_parameters": OmegaConf.create({"lr": 0.1, "layers": [8, 8], "name": "mlp", "any": None}),
        "callbacks": OmegaConf.create([{"monitor": "val_loss"}]),
    }
    return out


# Python 3.13: pickle.dumps(pathlib.PosixPath('/srv/models/model.bin'), protocol) and of a
# PurePosixPath, written by hand from Lib/pathlib/_local.py (see the module docstring).
def posix_path_313(protocol: int, cls: str, parts) -> bytes:
    def ustr(text: str) -> bytes:
        raw = text.encode()
        return b"\x8c" + bytes([len(raw)]) + raw + b"\x94"

    body = ustr("pathlib._local") + ustr(cls) + b"\x93\x94"
    for part in parts:
        body += ustr(part)
    body += {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(parts)] + b"\x94R\x94."
    framed = b"\x95" + len(body).to_bytes(8, "little") + body
    return bytes([0x80, protocol]) + framed


def main():
    check_versions()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    written = []
    for name, obj in objects().items():
        path = OUT / f"{name}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=5))
        written.append(path)
        if name in ("pandas_frame", "sklearn_text_pipeline"):
            p2 = OUT / f"{name}.p2.pkl"
            p2.write_bytes(pickle.dumps(obj, protocol=2))
            written.append(p2)
    for compress in ["zlib", "gzip", "bz2", "lzma", "xz", None]:
        for name in ("sklearn_grid_search", "pandas_frame", "scipy_csr", "numpy_masked",
                     "sklearn_hgb_categorical"):
            obj = objects()[name]
            suffix = compress or "raw"
            path = OUT / f"{name}.{suffix}.joblib"
            joblib.dump(obj, path, compress=(compress, 3) if compress else 0)
            written.append(path)
    for protocol in (4, 5):
        path = OUT / f"py313_posix_path.p{protocol}.pkl"
        path.write_bytes(posix_path_313(protocol, "PosixPath", ["/srv", "models", "model.bin"]))
        written.append(path)
    path = OUT / "py313_pure_posix_path.p5.pkl"
    path.write_bytes(posix_path_313(5, "PurePosixPath", ["data"]))
    written.append(path)
    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} files, {total} bytes, sklearn {sklearn.__version__}")


if __name__ == "__main__":
    main()
