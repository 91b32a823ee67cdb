"""Pairs from the seeded sweep (experiments/continuous_sweep.py, seed 1) with extreme
parameters, against 30-digit mpmath references (tests/mp_reference.py): ``auto`` converged
and within 1e-10, and every method's ``Info`` honest (off by at most 10× its estimate).
The references of these pairs take seconds; the full sweep runs in the experiment."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "experiments"))

from continuous_sweep import draw_pair, evaluate, methods_for, pair_name  # noqa: E402
from mp_reference import reference  # noqa: E402

from crossent_jax import continuous as ct  # noqa: E402

PAIRS = {
    "uniform-studentt1.01-far": (ct.Uniform(0.2046, 0.7643), ct.StudentT(1.01, 213.7, 12.47)),
    "uniform-narrow-mixture": (
        ct.Uniform(0.2547, 0.6132),
        ct.MixtureOfNormals(np.array([0.2177, 0.7823]), np.array([1.723, 1.814]),
                            np.array([0.009049, 0.002557]))),
    "uniform-mixture-crossover-outside-locs": (
        ct.Uniform(0.36, 15.42),
        ct.MixtureOfNormals(np.array([0.3031, 0.6969]), np.array([-919.8, -0.1067]),
                            np.array([29.76, 0.1299]))),
    "narrow-studentt-narrow-laplace": (ct.StudentT(6.303, -0.3096, 0.002038),
                                       ct.Laplace(-1.297, 0.0006717)),
    "beta-narrow-studentt1.01": (ct.Beta(46.86, 5.735), ct.StudentT(1.01, -1.723, 1.564e-05)),
    "narrow-laplace-exponential (inf)": (ct.Laplace(1.148, 4.047e-05), ct.Exponential(0.01055)),
}


def _check(p, q):
    ref = float(reference(p, q))
    res = {m: evaluate(p, q, ref, m) for m in methods_for(p)}
    auto = res["auto"]
    if math.isinf(ref):
        assert auto["value"] == ref
    else:
        assert auto["converged"] and auto["err"] <= 1e-10, (ref, auto)
    bad = {m: r for m, r in res.items() if not r["honest"]}
    assert not bad, (ref, bad)


@pytest.mark.parametrize("pid", sorted(PAIRS))
def test_sweep_pair(pid):
    _check(*PAIRS[pid])


#: a fresh seeded draw of the experiment's pair generator (all nine families, scales 1e-6–1e3,
#: locations up to 1e3 apart, ν near the thresholds, shapes down to 0.01), not hand-picked:
#: the first RANDOM_PAIRS pairs of seed 11 (the experiment's seeds 2–5 found the bugs fixed so far)
RANDOM_SEED, RANDOM_PAIRS = 11, 6


def _random_pairs():
    rng = np.random.default_rng(RANDOM_SEED)
    return [draw_pair(rng) for _ in range(RANDOM_PAIRS)]


@pytest.mark.parametrize("i", range(RANDOM_PAIRS))
def test_random_pair(i):
    p, q = _random_pairs()[i]
    print(pair_name(p), pair_name(q))
    _check(p, q)
