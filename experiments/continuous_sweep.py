"""Sweep: random pairs of the nine families with extreme parameters, every method against an
independent 30-digit mpmath reference (tests/mp_reference.py).

Hypothesis: ``method="auto"`` is within 1e-10 (relative, float64) of the exact H(p, q) on every
pair with a finite cross-entropy, and every method's ``Info`` is honest: no method is off by
more than 10× its ``error_estimate``, and ``converged=True`` only where the error is below
its tolerance.

Command:   PYTHONPATH=. python experiments/continuous_sweep.py   [--pairs 200 --seed 0]
Runtime:   ~6 s per pair on 2 CPU cores (200 pairs, --ref-seconds 20: 19 minutes).
Output:    experiments/results/continuous_sweep.json (per-method summary and the worst pairs)
Method:    scales log-uniform in [1e-6, 1e3], locations mostly O(1) and sometimes 1e2–1e3 apart,
           StudentT ν log-uniform in [0.1, 30] or just above a divergence threshold
           (1 + 1e-2, 2 + 1e-2), shapes log-uniform in [1e-2, 1e2]. Relative error
           |H − ref| / max(|ref|, 1).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from mp_reference import reference  # noqa: E402

from crossent_jax import _outputs  # noqa: E402
from crossent_jax import continuous as ct  # noqa: E402

FAMILIES = ("Normal", "Laplace", "Logistic", "StudentT", "Gamma", "Exponential", "Beta",
            "Uniform", "MixtureOfNormals")
OUT = os.path.join(os.path.dirname(__file__), "results", "continuous_sweep.json")


def _logu(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _loc(rng):
    return float(rng.uniform(-3, 3) if rng.random() < 0.75 else rng.choice([-1, 1]) *
                 _logu(rng, 1e2, 1e3))


def draw(rng, family):
    """One distribution of ``family`` with possibly extreme parameters."""
    if family in ("Normal", "Laplace", "Logistic"):
        return getattr(ct, family)(_loc(rng), _logu(rng, 1e-6, 1e3))
    if family == "StudentT":
        r = rng.random()
        df = 1.0 + 1e-2 if r < 0.15 else 2.0 + 1e-2 if r < 0.3 else _logu(rng, 0.1, 30)
        return ct.StudentT(df, _loc(rng), _logu(rng, 1e-6, 1e3))
    if family == "Gamma":
        return ct.Gamma(_logu(rng, 1e-2, 1e2), _logu(rng, 1e-2, 1e2))
    if family == "Exponential":
        return ct.Exponential(_logu(rng, 1e-2, 1e2))
    if family == "Beta":
        return ct.Beta(_logu(rng, 1e-2, 1e2), _logu(rng, 1e-2, 1e2))
    if family == "Uniform":
        lo = float(rng.uniform(-5, 5)) if rng.random() < 0.5 else float(rng.uniform(0, 0.5))
        return ct.Uniform(lo, lo + _logu(rng, 1e-3, 1e2))
    w = rng.uniform(0.1, 1.0, 2)
    return ct.MixtureOfNormals(w / w.sum(), np.array([_loc(rng), _loc(rng)]),
                               np.array([_logu(rng, 1e-3, 1e2), _logu(rng, 1e-3, 1e2)]))


def draw_pair(rng):
    p = draw(rng, FAMILIES[rng.integers(len(FAMILIES))])
    q = draw(rng, FAMILIES[rng.integers(len(FAMILIES))])
    return p, q


def methods_for(p):
    out = ["auto", "tanh_sinh", "gauss_legendre", "simpson", "trapezoid"]
    if isinstance(p, (ct.Normal, ct.MixtureOfNormals)):
        out.append("gauss_hermite")
    if isinstance(p, (ct.Gamma, ct.Exponential)):
        out.append("gauss_laguerre")
    return out


def evaluate(p, q, ref, method):
    """(relative error, relative estimate, converged, honest) of one method on one pair."""
    h, info = ct.cross_entropy(p, q, method=method, return_info=True)
    h, est, conv = float(h), float(info.error_estimate), bool(info.converged)
    if math.isinf(ref):
        ok = h == ref
        return {"err": 0.0 if ok else math.inf, "est": est, "converged": conv,
                "honest": ok, "value": h}
    scale = max(abs(ref), 1.0)
    err = abs(h - ref) / scale if math.isfinite(h) else math.inf
    rel_est = est / scale if math.isfinite(est) else math.inf
    # honest: off by at most 10× the estimate (plus rounding), and converged means accurate
    honest = err <= 10 * rel_est + 1e-12 and (not conv or err <= 10 * info.rtol)
    return {"err": err, "est": rel_est, "converged": conv, "honest": honest, "value": h}


def pair_name(d):
    vals = ", ".join(f"{float(np.asarray(v).ravel()[0]):.4g}" if np.ndim(v) == 0 else
                     "[" + ", ".join(f"{x:.4g}" for x in np.asarray(v)) + "]"
                     for v in d.params())
    return f"{type(d).__name__}({vals})"


class _Timeout(Exception):
    pass


def _reference_or_none(p, q, seconds=60):
    """The mpmath reference, or None when it takes longer than ``seconds`` (reported)."""
    def alarm(*_):
        raise _Timeout

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return float(reference(p, q))
    except _Timeout:
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def main(n_pairs, seed, out, ref_seconds=60):
    rng = np.random.default_rng(seed)
    rows, skipped = [], []
    t0 = time.perf_counter()
    for i in range(n_pairs):
        p, q = draw_pair(rng)
        ref = _reference_or_none(p, q, ref_seconds)
        if ref is None:
            skipped.append({"p": pair_name(p), "q": pair_name(q)})
            continue
        row = {"p": pair_name(p), "q": pair_name(q), "ref": ref, "methods": {}}
        for m in methods_for(p):
            row["methods"][m] = evaluate(p, q, ref, m)
        rows.append(row)
        a = row["methods"]["auto"]
        print(f"[{i + 1}/{n_pairs}] {row['p']} vs {row['q']}: ref {ref:.12g} auto err "
              f"{a['err']:.1e} est {a['est']:.1e} conv {a['converged']}", file=sys.stderr)
    summary = {}
    for m in ("auto", "tanh_sinh", "gauss_legendre", "simpson", "trapezoid", "gauss_hermite",
              "gauss_laguerre"):
        rs = [r["methods"][m] for r in rows if m in r["methods"]]
        if not rs:
            continue
        errs = [r["err"] for r in rs]
        summary[m] = {
            "pairs": len(rs),
            "median_rel_err": float(np.median(errs)),
            "max_rel_err": float(np.max(errs)),
            "share_within_1e-10": float(np.mean([e <= 1e-10 for e in errs])),
            "share_converged": float(np.mean([r["converged"] for r in rs])),
            "converged_and_within_1e-10": float(np.mean(
                [r["err"] <= 1e-10 for r in rs if r["converged"]] or [1.0])),
            "dishonest": int(sum(not r["honest"] for r in rs)),
        }
    worst = sorted(rows, key=lambda r: -r["methods"]["auto"]["err"])[:15]
    res = {"config": {"pairs": n_pairs, "seed": seed, "ref_seconds": ref_seconds},
           "summary": summary, "worst_auto": worst,
           "reference_timeouts": skipped,
           "dishonest": [{"p": r["p"], "q": r["q"], "ref": r["ref"], "method": m, **v}
                         for r in rows for m, v in r["methods"].items() if not v["honest"]],
           "seconds": time.perf_counter() - t0}
    _outputs.write_json(out, res)
    for m, s in summary.items():
        print(m, s)
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--ref-seconds", type=int, default=60,
                    help="skip (and list) pairs whose mpmath reference takes longer")
    a = ap.parse_args()
    main(a.pairs, a.seed, a.out, a.ref_seconds)
