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


# --- KL(p ‖ q) as its own quantity ------------------------------------------------------------
# H(p, q) − H(p) loses everything when p ≈ q (KL(N(0,1) ‖ N(1e-8,1)) = 5e-17 is below the
# rounding of H ≈ 1.42). The closed forms below are written as sums of non-negative terms,
# each computed without cancellation: KL(p ‖ p) is exactly 0 and KL ≥ 0 term by term.
_KL_REGISTRY: dict[tuple[type, type], object] = {}


def register_kl(p_type, q_type):
    def deco(fn):
        _KL_REGISTRY[(p_type, q_type)] = fn
        return fn

    return deco


def lookup_kl(p: Distribution, q: Distribution):
    """The closed-form KL function for (type(p), type(q)), or None."""
    return _KL_REGISTRY.get((type(p), type(q)))


def expm1mx(t):
    """e^t − 1 − t ≥ 0 without cancellation (Taylor series for |t| < 1/2)."""
    small = jnp.abs(t) < 0.5
    ts = jnp.where(small, t, 0.0)
    term, series = ts * ts / 2, jnp.zeros_like(ts)
    for k in range(3, 20):
        series = series + term
        term = term * ts / k
    return jnp.where(small, series, jnp.expm1(jnp.where(small, 0.0, t)) - t)


def _log_ratio(a, b):
    """log(a / b) accurate when a ≈ b (the difference a − b is exact there)."""
    return jnp.log1p((a - b) / b)


_DG_TERMS = 9


def lgamma_excess(k, delta):
    """D(k, δ) = log Γ(k + δ) − log Γ(k) − δ ψ(k) ≥ 0 (log Γ is convex).

    For |δ| ≤ k/50 the Taylor series Σ_{n≥2} ψ^{(n−1)}(k) δⁿ/n! (radius k: the pole of Γ at
    0), truncated after 8 terms (remainder < (1/50)^8 relative); beyond, the direct difference,
    whose cancellation is then at most ~ε log Γ(k)/(ψ'(k) δ²/2)."""
    from jax.scipy.special import polygamma  # noqa: PLC0415

    small = jnp.abs(delta) <= k / 50
    ds = jnp.where(small, delta, 0.0)
    series = jnp.zeros_like(ds)
    fact = 1.0
    for n in range(2, _DG_TERMS + 1):
        fact *= n
        series = series + polygamma(n - 1, k) * ds**n / fact
    dd = jnp.where(small, 1.0, delta)
    direct = gammaln(k + dd) - gammaln(k) - dd * digamma(k)
    return jnp.maximum(jnp.where(small, series, direct), 0.0)


@register_kl(Normal, Normal)
def _kl_normal(p, q):
    """½ (r² − 1 − log r²) + d²/(2 s_q²), r = s_p/s_q, d = μ_p − μ_q."""
    t = 2 * _log_ratio(p.scale, q.scale)
    return 0.5 * expm1mx(t) + 0.5 * ((p.loc - q.loc) / q.scale) ** 2


@register_kl(Laplace, Laplace)
def _kl_laplace(p, q):
    """(r − 1 − log r) + r (e^{−y} − 1 + y), r = b_p/b_q, y = |μ_p − μ_q|/b_p."""
    t = _log_ratio(p.scale, q.scale)
    y = jnp.abs(p.loc - q.loc) / p.scale
    return expm1mx(t) + jnp.exp(t) * expm1mx(-y)


def _kl_gamma(p, q):
    """D(k_p, k_q − k_p) + k_p (ρ − 1 − log ρ) − (k_q − k_p) log ρ, ρ = r_q/r_p
    (Exponential is Gamma(1, rate))."""
    kp, rp = _as_gamma(p)
    kq, rq = _as_gamma(q)
    lr = _log_ratio(rq, rp)
    return lgamma_excess(kp, kq - kp) + kp * expm1mx(lr) - (kq - kp) * lr


for _p in (Gamma, Exponential):
    for _q in (Gamma, Exponential):
        register_kl(_p, _q)(_kl_gamma)


@register_kl(Beta, Beta)
def _kl_beta(p, q):
    """D(α_p, Δα) + D(β_p, Δβ) − D(α_p + β_p, Δα + Δβ), Δ = q's parameter − p's."""
    da, db = q.alpha - p.alpha, q.beta - p.beta
    s = p.alpha + p.beta
    kl = lgamma_excess(p.alpha, da) + lgamma_excess(p.beta, db) - lgamma_excess(s, da + db)
    return jnp.maximum(kl, 0.0)


@register_kl(Uniform, Uniform)
def _kl_uniform(p, q):
    """log((h_q − l_q)/(h_p − l_p)) when [l_p, h_p] ⊆ [l_q, h_q] (else +inf, by the caller)."""
    return _log_ratio(q.high - q.low, p.high - p.low)
