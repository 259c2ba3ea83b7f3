#!/usr/bin/env python3
"""Writers of tests/data/scipy-stats/: scipy.stats distributions pickled the ordinary way.

A pickled scipy.stats distribution carries its argument-parser source (`_parse_arg_template`),
which `rv_generic.__setstate__` executes on load; scipy writes its own template filled in with
the distribution's shape names. These files are what scipy, pickle and joblib write for frozen
and unfrozen continuous and discrete distributions, a histogram distribution and a discrete
distribution given by its values (`rv_sample`). Nothing is loaded.

    python3 -m venv /tmp/venv-scipy && /tmp/venv-scipy/bin/pip install scipy==1.16.3 joblib==1.5.2 numpy==2.4.6
    /tmp/venv-scipy/bin/python scripts/scipy_stats_reference.py
"""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
from scipy import stats

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "scipy-stats"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    objects = {
        "frozen_norm": stats.norm(0, 1),
        "frozen_gamma": stats.gamma(2.0, loc=0.5, scale=3.0),
        "frozen_beta": stats.beta(2.0, 5.0),
        "frozen_poisson": stats.poisson(3.0),
        "frozen_binom": stats.binom(10, 0.3),
        "frozen_levy_stable": stats.levy_stable(1.5, 0.0),
        "histogram": stats.rv_histogram(np.histogram(rng.normal(size=200), bins=10)),
        "rv_sample": stats.rv_discrete(name="die", values=([1, 2, 3, 4, 5, 6], [1 / 6] * 6)),
        "unfrozen_t": stats.t,
        "fitted_params": {"dist": stats.lognorm, "params": stats.lognorm.fit(rng.lognormal(size=100))},
    }
    for name, obj in objects.items():
        (OUT / f"{name}.pkl").write_bytes(pickle.dumps(obj, protocol=4))
    for name in ("frozen_norm", "frozen_poisson", "histogram"):
        joblib.dump(objects[name], OUT / f"{name}.joblib")


if __name__ == "__main__":
    main()
