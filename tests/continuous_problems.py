"""Registry of continuous cross-entropy problems with independent exact values.

Each problem has a readable id, (p, q) constructors and a reference H(p, q) in nats from one of
* ``"formula"`` — a textbook closed form written out here with ``math``/``scipy.special``
  (not the kit's closed-form code),
* ``"quad"`` — ``scipy.integrate.quad`` with epsrel 1e-13 on scipy.stats densities,
* ``"mpmath"`` — mpmath at 30 digits, where QUADPACK fails (algebraic tails, edge singularities).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy_reference import reference as quad_reference

from crossent_jax import continuous as ct

MIX_W, MIX_M, MIX_S = np.array([0.3, 0.7]), np.array([-2.0, 1.0]), np.array([0.5, 1.5])


def mixture():
    return ct.MixtureOfNormals(MIX_W, MIX_M, MIX_S)


@dataclass(frozen=True)
class Problem:
    id: str
    p: object  # () -> Distribution
    q: object
    ref: str  # "formula" | "quad" | "mpmath"
    formula: object = None  # () -> float, when ref == "formula"


def _normal_normal():
    m1, s1, m2, s2 = 0.3, 1.2, -0.5, 2.0
    return 0.5 * math.log(2 * math.pi * s2**2) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2)


def _gamma_gamma():
    k, r, k2, r2 = 2.5, 1.5, 0.7, 0.4
    e_log = special.digamma(k) - math.log(r)
    return -k2 * math.log(r2) + special.gammaln(k2) - (k2 - 1) * e_log + r2 * k / r


def _beta_beta():
    a, b, a2, b2 = 0.5, 0.7, 2.0, 3.0
    s = special.digamma(a + b)
    return (special.betaln(a2, b2) - (a2 - 1) * (special.digamma(a) - s)
            - (b2 - 1) * (special.digamma(b) - s))


def _laplace_laplace():
    m1, b1, m2, b2 = 0.2, 0.8, 1.0, 1.5
    d = abs(m1 - m2)
    return math.log(2 * b2) + (d + b1 * math.exp(-d / b1)) / b2


def _normal_laplace():
    mu, s, m, b = 0.0, 1.0, 0.7, 1.3
    d = mu - m
    e_abs = d * math.erf(d / (s * math.sqrt(2))) + s * math.sqrt(2 / math.pi) * math.exp(
        -(d**2) / (2 * s**2))
    return math.log(2 * b) + e_abs / b


def _exp_exp():
    lam, lam2 = 2.0, 0.5
    return -math.log(lam2) + lam2 / lam


def _gamma_normal():
    k, r, m, s = 3.0, 2.0, 1.0, 0.8
    mean, var = k / r, k / r**2
    return 0.5 * math.log(2 * math.pi * s**2) + (var + (mean - m) ** 2) / (2 * s**2)


PROBLEMS = [
    Problem("normal-normal", lambda: ct.Normal(0.3, 1.2), lambda: ct.Normal(-0.5, 2.0),
            "formula", _normal_normal),
    Problem("laplace-laplace", lambda: ct.Laplace(0.2, 0.8), lambda: ct.Laplace(1.0, 1.5),
            "formula", _laplace_laplace),
    Problem("normal-laplace", lambda: ct.Normal(0.0, 1.0), lambda: ct.Laplace(0.7, 1.3),
            "formula", _normal_laplace),
    Problem("exponential-exponential", lambda: ct.Exponential(2.0),
            lambda: ct.Exponential(0.5), "formula", _exp_exp),
    Problem("gamma-gamma", lambda: ct.Gamma(2.5, 1.5), lambda: ct.Gamma(0.7, 0.4), "formula",
            _gamma_gamma),
    Problem("beta0.5-beta", lambda: ct.Beta(0.5, 0.7), lambda: ct.Beta(2.0, 3.0), "formula",
            _beta_beta),
    Problem("gamma-normal", lambda: ct.Gamma(3.0, 2.0), lambda: ct.Normal(1.0, 0.8), "formula",
            _gamma_normal),
    # pairs without a closed form: "auto" falls back to tanh–sinh
    Problem("normal-studentt", lambda: ct.Normal(0.0, 1.0), lambda: ct.StudentT(3.0, 0.5, 0.7),
            "quad"),
    Problem("normal-studentt-narrow", lambda: ct.Normal(0.0, 3.0),
            lambda: ct.StudentT(2.0, 0.5, 0.1), "quad"),
    Problem("normal-mixture", lambda: ct.Normal(0.0, 2.0), mixture, "quad"),
    Problem("mixture-laplace", mixture, lambda: ct.Laplace(0.0, 1.0), "quad"),
    Problem("logistic-studentt", lambda: ct.Logistic(1.0, 2.0),
            lambda: ct.StudentT(5.0, 0.0, 3.0), "quad"),
    Problem("gamma0.3-studentt", lambda: ct.Gamma(0.3, 2.0), lambda: ct.StudentT(4.0, 1.0, 2.0),
            "quad"),
    Problem("exponential-laplace", lambda: ct.Exponential(2.0), lambda: ct.Laplace(1.0, 1.0),
            "quad"),
    Problem("uniform-studentt", lambda: ct.Uniform(-1.0, 3.0),
            lambda: ct.StudentT(3.0, 0.0, 1.0), "quad"),
    Problem("beta-normal-moments", lambda: ct.Beta(2.0, 5.0), lambda: ct.Normal(0.5, 0.3),
            "quad"),
    # concentrated Beta: needs an accurate log B(5, 50) (jax.scipy.special.betaln is 3e-9 off)
    Problem("beta5-50-laplace", lambda: ct.Beta(5.0, 50.0), lambda: ct.Laplace(0.1, 0.05),
            "quad"),
    Problem("normal-laplace-far-kink", lambda: ct.Normal(0.0, 1.0),
            lambda: ct.Laplace(30.0, 1.0), "quad"),
    Problem("studentt1.5-laplace", lambda: ct.StudentT(1.5, 0.0, 1.0),
            lambda: ct.Laplace(0.7, 1.3), "mpmath"),
    Problem("beta0.5-logistic", lambda: ct.Beta(0.5, 0.3), lambda: ct.Logistic(0.2, 0.3),
            "mpmath"),
    Problem("beta0.2-gamma", lambda: ct.Beta(0.2, 2.0), lambda: ct.Gamma(2.0, 3.0), "mpmath"),
]
BY_ID = {pr.id: pr for pr in PROBLEMS}


def _mp_logpdf(d, mp):
    """mpmath log density of a kit distribution (parameters read as Python floats)."""
    f = lambda v: mp.mpf(float(v))  # noqa: E731
    if isinstance(d, ct.StudentT):
        nu, m, s = f(d.df), f(d.loc), f(d.scale)
        c = mp.loggamma((nu + 1) / 2) - mp.loggamma(nu / 2) - mp.log(nu * mp.pi) / 2 - mp.log(s)
        return lambda x: c - (nu + 1) / 2 * mp.log(1 + ((x - m) / s) ** 2 / nu)
    if isinstance(d, ct.Laplace):
        m, b = f(d.loc), f(d.scale)
        return lambda x: -abs(x - m) / b - mp.log(2 * b)
    if isinstance(d, ct.Logistic):
        m, s = f(d.loc), f(d.scale)
        return lambda x: -(x - m) / s - 2 * mp.log(1 + mp.exp(-(x - m) / s)) - mp.log(s)
    if isinstance(d, ct.Beta):
        a, b = f(d.alpha), f(d.beta)
        c = mp.log(mp.beta(a, b))
        return lambda x: (a - 1) * mp.log(x) + (b - 1) * mp.log(1 - x) - c
    if isinstance(d, ct.Gamma):
        k, r = f(d.concentration), f(d.rate)
        return lambda x: k * mp.log(r) - mp.loggamma(k) + (k - 1) * mp.log(x) - r * x
    raise TypeError(type(d).__name__)


@functools.cache
def exact(problem_id: str) -> float:
    pr = BY_ID[problem_id]
    if pr.ref == "formula":
        return float(pr.formula())
    if pr.ref == "quad":
        return quad_reference(pr.p(), pr.q())
    import mpmath as mp  # noqa: PLC0415

    mp.mp.dps = 30
    p, q = pr.p(), pr.q()
    lp, lq = _mp_logpdf(p, mp), _mp_logpdf(q, mp)
    g = lambda x: -mp.exp(lp(x)) * lq(x)  # noqa: E731
    if isinstance(p, ct.Beta):
        # x = u^{1/a} near 0 and 1 − x = v^{1/b} near 1 absorb the algebraic edge factors of
        # the density (plain mp.quad is only ~1e-6 accurate for x^{-0.8})
        a, b = mp.mpf(float(p.alpha)), mp.mpf(float(p.beta))
        c = 1 / mp.beta(a, b)
        left = mp.quad(lambda u: c / a * (1 - u ** (1 / a)) ** (b - 1) * -lq(u ** (1 / a)),
                       [0, mp.mpf(0.5) ** a])
        right = mp.quad(lambda v: c / b * (1 - v ** (1 / b)) ** (a - 1) * -lq(1 - v ** (1 / b)),
                        [0, mp.mpf(0.5) ** b])
        return float(left + right)
    pts = sorted({float(p.loc), float(getattr(q, "loc", p.loc))})
    return float(mp.quad(g, [-mp.inf, *pts, mp.inf]))
