"""Reference values by ``scipy.integrate.quad`` (QUADPACK, epsrel 1e-13), for tests and the
speed benchmark; a test oracle, not library code.

Independent of the JAX code. :func:`to_scipy` gives the ``scipy.stats`` distribution of each
family; :func:`reference` integrates hand-written scalar log densities (:func:`logpdf_fn`:
``math`` + ``scipy.special``, because a ``scipy.stats`` frozen object costs ~50 µs per
QUADPACK callback), each checked against ``scipy.stats``' ``logpdf`` in
``tests/test_continuous_distributions.py``."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, special, stats

from crossent_jax.continuous import _distributions as D


def to_scipy(d):
    """The ``scipy.stats`` frozen distribution (or a small shim for the mixture)."""
    f = lambda v: np.asarray(v, dtype=float)  # noqa: E731
    if isinstance(d, D.Normal):
        return stats.norm(f(d.loc), f(d.scale))
    if isinstance(d, D.Laplace):
        return stats.laplace(f(d.loc), f(d.scale))
    if isinstance(d, D.Logistic):
        return stats.logistic(f(d.loc), f(d.scale))
    if isinstance(d, D.StudentT):
        return stats.t(f(d.df), f(d.loc), f(d.scale))
    if isinstance(d, D.Exponential):
        return stats.expon(scale=1 / f(d.rate))
    if isinstance(d, D.Gamma):
        return stats.gamma(f(d.concentration), scale=1 / f(d.rate))
    if isinstance(d, D.Beta):
        return stats.beta(f(d.alpha), f(d.beta))
    if isinstance(d, D.Uniform):
        return stats.uniform(f(d.low), f(d.high) - f(d.low))
    if isinstance(d, D.MixtureOfNormals):
        return _Mixture(f(d.weights), f(d.locs), f(d.scales))
    raise TypeError(f"no scipy reference for {type(d).__name__}")


class _Mixture:
    def __init__(self, w, m, s):
        self.w, self.m, self.s = w / w.sum(), m, s

    def logpdf(self, x):
        comp = stats.norm.logpdf(np.asarray(x)[..., None], self.m, self.s) + np.log(self.w)
        return np.logaddexp.reduce(comp, axis=-1)

    def support(self):
        return -np.inf, np.inf

    def mean(self):
        return float(np.sum(self.w * self.m))

    def std(self):
        return float(np.sqrt(np.sum(self.w * (self.s**2 + self.m**2)) - self.mean() ** 2))


def logpdf_fn(d):
    """A fast scalar log density (``math`` + ``scipy.special``) for QUADPACK's callback;
    ``scipy.stats`` frozen objects cost ~50 µs per call."""
    f = lambda v: float(np.asarray(v))  # noqa: E731
    lg = special.gammaln
    if isinstance(d, D.Normal):
        m, s = f(d.loc), f(d.scale)
        c = -math.log(s) - 0.5 * math.log(2 * math.pi)
        return lambda x: c - 0.5 * ((x - m) / s) ** 2
    if isinstance(d, D.Laplace):
        m, b = f(d.loc), f(d.scale)
        return lambda x: -abs(x - m) / b - math.log(2 * b)
    if isinstance(d, D.Logistic):
        m, s = f(d.loc), f(d.scale)
        return lambda x: -abs(x - m) / s - 2 * math.log1p(math.exp(-abs(x - m) / s)) - math.log(s)
    if isinstance(d, D.StudentT):
        nu, m, s = f(d.df), f(d.loc), f(d.scale)
        c = lg((nu + 1) / 2) - lg(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(s)
        return lambda x: c - (nu + 1) / 2 * math.log1p(((x - m) / s) ** 2 / nu)
    if isinstance(d, (D.Gamma, D.Exponential)):
        k = f(d.concentration) if isinstance(d, D.Gamma) else 1.0
        r = f(d.rate)
        c = k * math.log(r) - lg(k)
        return lambda x: c + (k - 1) * math.log(x) - r * x if x > 0 else -math.inf
    if isinstance(d, D.Beta):
        a, b = f(d.alpha), f(d.beta)
        c = -special.betaln(a, b)
        return lambda x: (c + (a - 1) * math.log(x) + (b - 1) * math.log1p(-x)
                          if 0 < x < 1 else -math.inf)
    if isinstance(d, D.Uniform):
        lo, hi = f(d.low), f(d.high)
        return lambda x: -math.log(hi - lo) if lo <= x <= hi else -math.inf
    mix = to_scipy(d)
    return lambda x: float(mix.logpdf(x))


def _points(d):
    f = lambda v: float(np.asarray(v))  # noqa: E731
    if isinstance(d, (D.Laplace, D.StudentT, D.Logistic, D.Normal)):
        return [f(d.loc)]
    if isinstance(d, D.MixtureOfNormals):
        return [float(v) for v in np.asarray(d.locs)]
    return []


def reference(p, q, *, epsrel: float = 1e-13) -> float:
    """H(p, q) = −∫ p log q by QUADPACK on pieces of p's support split at the loc-type points
    of p and q (so kinks are piece ends); +inf when p's support is not inside q's."""
    sp, sq = to_scipy(p), to_scipy(q)
    lo, hi = (float(v) for v in sp.support())
    qlo, qhi = (float(v) for v in sq.support())
    if qlo > lo or qhi < hi:
        return math.inf

    lp, lq = logpdf_fn(p), logpdf_fn(q)

    def f(x):
        dens = math.exp(lp(x))
        if dens == 0.0:  # 0·log q is 0 even where log q overflows to −inf far out
            return 0.0
        return -dens * lq(x)

    center = float(sp.mean()) if math.isfinite(float(sp.mean())) else float(
        np.median([lo if math.isfinite(lo) else -1.0, hi if math.isfinite(hi) else 1.0]))
    if isinstance(p, D.StudentT):
        center = float(np.asarray(p.loc))
    pts = sorted({min(max(v, lo), hi) for v in [center, *_points(p), *_points(q)]})
    edges = [lo, *pts, hi]
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            if a == b:
                continue
            total += integrate.quad(f, a, b, epsabs=0.0, epsrel=epsrel, limit=500)[0]
    return total
