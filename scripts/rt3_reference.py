#!/usr/bin/env python3
"""Writers of tests/data/rt3/: ordinary files from the red team's round 3 (false alarms).

The committed files were written by the red team with the real libraries, in throw-away
virtual environments, at these versions (nothing untrusted was loaded):

    torch==2.15.0 fastai==2.8.12 gensim==4.4.0 scikit-learn==1.9.1 scipy==1.17.1
    numpy==2.4.6 dill==0.4.0 joblib==1.6.0 lightning==2.6.6 omegaconf==2.3.1 nbformat==5.11.1
    datasets==5.2.0 transformers==5.24.0 ultralytics==8.4.190

They were not regenerated on the machine that added them (torch and fastai do not fit its
disk); this script is what wrote them, to rerun where they fit:

    python3 -m venv /tmp/venv-rt3 && /tmp/venv-rt3/bin/pip install <the pins above>
    /tmp/venv-rt3/bin/python scripts/rt3_reference.py

Python sources (datasets `load.py`, ultralytics `utils/downloads.py` and `utils/checks.py`,
transformers `tokenization_t5.py`) are copies of the installed library files, as repositories
that vendor them ship them. `README_fstring.md` and the notebook's cell text are typed by hand
(the notebook is written with nbformat).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "rt3"
BENIGN = ROOT / "benign"
SUSPICIOUS = ROOT / "suspicious"


def fastai() -> None:
    import numpy as np
    import pandas as pd
    from fastai.tabular.all import (Categorify, FillMissing, Normalize, TabularDataLoaders,
                                    accuracy, tabular_learner)

    df = pd.DataFrame({"a": np.random.randn(64), "b": np.random.choice(["x", "y"], 64),
                       "y": np.random.choice(["p", "n"], 64)})
    dls = TabularDataLoaders.from_df(df, y_names="y", cat_names=["b"], cont_names=["a"],
                                     procs=[Categorify, FillMissing, Normalize], bs=16)
    learn = tabular_learner(dls, layers=[8], metrics=accuracy)
    learn.fit(1)
    with tempfile.TemporaryDirectory() as d:
        learn.path = Path(d)
        learn.export("export.pkl")  # the whole Learner: suspicious (PKL002), never malicious
        learn.save("model_weights")
        shutil.copy(Path(d) / "export.pkl", SUSPICIOUS / "export.pkl")
        shutil.copy(Path(d) / "models" / "model_weights.pth", BENIGN / "fastai_model_weights.pth")


def gensim() -> None:
    from gensim.corpora import Dictionary
    from gensim.models import FastText, Word2Vec

    sents = [["hello", "world", "foo"], ["machine", "learning", "world"]] * 20
    w = Word2Vec(sents, vector_size=8, min_count=1, epochs=1)
    w.save(str(BENIGN / "w2v.model"))
    w.wv.save(str(BENIGN / "w2v.kv"))
    FastText(sents, vector_size=8, min_count=1, epochs=1, bucket=1000).save(str(BENIGN / "ft.model"))
    Dictionary(sents).save(str(BENIGN / "dict.gensim"))


def scipy_and_dill() -> None:
    import dill
    import joblib
    import numpy as np
    from scipy import stats
    from scipy.interpolate import interp1d
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    X = rng.randn(100, 4)
    y = (X[:, 0] > 0).astype(int)
    joblib.dump(interp1d(X[:, 0], X[:, 1]), BENIGN / "interp1d.joblib")
    # Its __setstate__ runs exec(self._parse_arg_template): suspicious on purpose.
    joblib.dump(stats.norm(0, 1), BENIGN / "frozen_norm.joblib")
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    (BENIGN / "pipe.dill.pkl").write_bytes(dill.dumps(pipe))


def torchscript() -> None:
    import torch

    m = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    torch.jit.script(q).save(str(BENIGN / "dynamic_quant_scripted.pt"))
    torch.jit.trace(q, torch.randn(1, 8)).save(str(BENIGN / "dynamic_quant_traced.pt"))


def sources() -> None:
    import datasets.load
    import transformers.models.t5.tokenization_t5 as t5
    import ultralytics.utils.checks
    import ultralytics.utils.downloads

    shutil.copy(datasets.load.__file__, BENIGN / "datasets_load.py")
    shutil.copy(t5.__file__, BENIGN / "tokenization_t5.py")
    shutil.copy(ultralytics.utils.checks.__file__, BENIGN / "ultralytics_utils_checks.py")
    shutil.copy(ultralytics.utils.downloads.__file__, BENIGN / "ultralytics_utils_downloads.py")


def notebook_and_config() -> None:
    import nbformat
    from omegaconf import OmegaConf

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Fine-tune, then serve with Ollama"),
                nbformat.v4.new_code_cell("!pip install -q unsloth"),
                nbformat.v4.new_code_cell("!curl -fsSL https://ollama.com/install.sh | sh")]
    nbformat.write(nb, str(BENIGN / "finetune_colab.ipynb"))
    cfg = OmegaConf.create({
        "model": {"_target_": "transformers.AutoModelForCausalLM.from_pretrained",
                  "pretrained_model_name_or_path": "org/model"},
        "data": {"_target_": "my_project.data.DataModule", "root": "${oc.env:DATA_ROOT,/data}",
                 "batch_size": 8},
    })
    OmegaConf.save(cfg, BENIGN / "hydra_config.yaml")


def tarballs() -> None:
    with tempfile.TemporaryDirectory() as d:
        pkg = Path(d) / "pkg"
        (pkg / "sub").mkdir(parents=True)
        (pkg / "sub" / "f.txt").write_text("hello\n")
        os.symlink("sub/f.txt", pkg / "link.txt")
        with tarfile.open(BENIGN / "internal_symlink.tar.gz", "w:gz") as t:
            t.add(pkg, arcname="pkg")
    # lightning_ckpts.tar.gz: a Lightning 2.6.6 `ModelCheckpoint(save_last="link")` run folder
    # (checkpoints/last.ckpt -> epoch=1-step=4.ckpt) tarred the same way.


if __name__ == "__main__":
    for d in (BENIGN, SUSPICIOUS):
        d.mkdir(parents=True, exist_ok=True)
    for writer in (fastai, gensim, scipy_and_dill, torchscript, sources, notebook_and_config,
                   tarballs):
        writer()
