"""Closed-form cross-entropies H(p, q) = −E_p[log q], registered by pair of types.

Each function computes H(p, q) (p the "true" distribution, the expectation is under p) from
moments of p that are known exactly: E[X], Var X, E[log X], E[log(1 − X)], E|X − m|.
``lookup(p, q)`` tries the exact pair first, then "any p" against q's type. Support
containment (p's support inside q's, else H = +inf) is handled by the caller.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy.special import digamma, erf, gammaln

from crossent_jax.continuous._base import Distribution
from crossent_jax.continuous._distributions import (
    Beta,
    Exponential,
    Gamma,
    Laplace,
    Normal,
    Uniform,
    betaln,
)

_REGISTRY: dict[tuple[type, type], object] = {}


def register(p_type, q_type):
    def deco(fn):
        _REGISTRY[(p_type, q_type)] = fn
        return fn

    return deco


def lookup(p: Distribution, q: Distribution):
    """The closed-form function for (type(p), type(q)), or None."""
    fn = _REGISTRY.get((type(p), type(q)))
    return fn if fn is not None else _REGISTRY.get((Distribution, type(q)))


def registered_pairs() -> list[tuple[str, str]]:
    """Names of the registered pairs ("Distribution" means any p)."""
    return sorted((a.__name__, b.__name__) for a, b in _REGISTRY)


def _as_gamma(p):
    if isinstance(p, Exponential):
        return jnp.ones_like(p.rate), p.rate
    return p.concentration, p.rate


def _xlogx(x):
    safe = jnp.where(x > 0, x, 1.0)
    return jnp.where(x > 0, x * jnp.log(safe), 0.0)


def _uniform_mean_log(lo, hi):
    """E[log X] for X ~ U[lo, hi], lo ≥ 0: (h log h − h − l log l + l)/(h − l)."""
    return (_xlogx(hi) - hi - _xlogx(lo) + lo) / (hi - lo)


def _mean_log(p):
    """E_p[log X] and E_p[log(1 − X)] (the latter only for bounded p)."""
    if isinstance(p, Beta):
        s = digamma(p.alpha + p.beta)
        return digamma(p.alpha) - s, digamma(p.beta) - s
    if isinstance(p, Uniform):
        return _uniform_mean_log(p.low, p.high), _uniform_mean_log(1 - p.high, 1 - p.low)
    k, r = _as_gamma(p)
    return digamma(k) - jnp.log(r), jnp.nan


@register(Distribution, Normal)
def _any_normal(p, q):
    """H(p, N(m, s)) = ½ log(2π s²) + (Var_p X + (E_p X − m)²)/(2 s²); +inf when p has no
    finite second moment (StudentT with df ≤ 2)."""
    mean, var = p.mean(), p.variance()
    finite = jnp.isfinite(mean) & jnp.isfinite(var)
    m2 = jnp.where(finite, var + (mean - q.loc) ** 2, 0.0)
    h = 0.5 * jnp.log(2 * math.pi * q.scale**2) + m2 / (2 * q.scale**2)
    return jnp.where(finite | ~p.valid(), h, jnp.inf)


@register(Distribution, Uniform)
def _any_uniform(p, q):
    """H(p, U[l, h]) = log(h − l) when p's support lies in [l, h] (else +inf, by the caller)."""
    return jnp.log(q.high - q.low) + 0.0 * p.mean()


@register(Distribution, Exponential)
def _any_exponential(p, q):
    """H(p, Exp(λ)) = −log λ + λ E_p X for p on [0, ∞)."""
    return -jnp.log(q.rate) + q.rate * p.mean()


def _gamma_q(p, q):
    """H(p, Gamma(k, r)) = −k log r + log Γ(k) − (k − 1) E_p[log X] + r E_p X."""
    k, r = q.concentration, q.rate
    return -k * jnp.log(r) + gammaln(k) - (k - 1) * _mean_log(p)[0] + r * p.mean()


for _p in (Gamma, Exponential, Beta, Uniform):
    register(_p, Gamma)(_gamma_q)


def _beta_q(p, q):
    """H(p, Beta(a, b)) = log B(a, b) − (a − 1) E_p[log X] − (b − 1) E_p[log(1 − X)]."""
    ml, ml1 = _mean_log(p)
    return betaln(q.alpha, q.beta) - (q.alpha - 1) * ml - (q.beta - 1) * ml1


for _p in (Beta, Uniform):
    register(_p, Beta)(_beta_q)


def _laplace_q(mean_abs):
    def fn(p, q):
        """H(p, Laplace(m, b)) = log(2b) + E_p|X − m| / b."""
        return jnp.log(2 * q.scale) + mean_abs(p, q.loc) / q.scale

    return fn


@register(Laplace, Laplace)
def _laplace_laplace(p, q):
    """E|X − m| = |d| + b_p e^{−|d|/b_p}, d = μ_p − m, X ~ Laplace(μ_p, b_p)."""
    return _laplace_q(lambda p, m: jnp.abs(p.loc - m) + p.scale * jnp.exp(
        -jnp.abs(p.loc - m) / p.scale))(p, q)


@register(Normal, Laplace)
def _normal_laplace(p, q):
    """E|X − m| = d erf(d/(σ√2)) + σ √(2/π) e^{−d²/(2σ²)}, d = μ − m, X ~ N(μ, σ)."""

    def mean_abs(p, m):
        d, s = p.loc - m, p.scale
        return d * erf(d / (s * math.sqrt(2))) + s * math.sqrt(2 / math.pi) * jnp.exp(
            -(d**2) / (2 * s**2))

    return _laplace_q(mean_abs)(p, q)


@register(Uniform, Laplace)
def _uniform_laplace(p, q):
    """E|X − m| for X ~ U[l, h]: ((m − l)² + (h − m)²)/(2(h − l)) if l ≤ m ≤ h, else |E X − m|."""

    def mean_abs(p, m):
        lo, hi = p.low, p.high
        inside = ((m - lo) ** 2 + (hi - m) ** 2) / (2 * (hi - lo))
        return jnp.where((m >= lo) & (m <= hi), inside, jnp.abs((lo + hi) / 2 - m))

    return _laplace_q(mean_abs)(p, q)
