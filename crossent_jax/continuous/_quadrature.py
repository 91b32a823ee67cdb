"""Quadrature rules as node / weight tables.

The rules for pieces of p's support come in two shapes (see ``_expectation``):

* a **finite-interval table** ``(left, d, w)`` for [a, b]: node ``i`` lies at distance
  ``(b − a)·d[i]`` from ``a`` when ``left[i]`` and from ``b`` otherwise, with weight
  ``(b − a)·w[i]``. Storing the distance to the nearer end (not the node itself) keeps nodes
  1e-300 away from a singular end distinct from the end in float64;
* a **half-line table** ``(t, w)`` for ∫₀^∞ f(t) dt, mapped to [a, ∞) by x = a + s·t.

Every table also carries ``coarse``, the weights of a lower-order rule on (a subset of) the
same nodes, from which the error estimate of ``return_info=True`` is taken.

Tables whose nodes do not depend on parameters are computed once in float64 numpy and cached.
The generalized Gauss–Laguerre rule for a Gamma p depends on p's concentration, so it is
computed in JAX (Golub–Welsch with ``jnp.linalg.eigh``) and carries derivatives: numpy nodes
there would silently give a zero gradient w.r.t. the concentration.

References:
  Golub & Welsch, Calculation of Gauss quadrature rules
  <https://doi.org/10.1090/S0025-5718-69-99647-1>, 1969.
  Takahasi & Mori, Double exponential formulas for numerical integration
  <https://doi.org/10.2977/prims/1195192451>, 1974.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax._errors import InputTypeError, InputValueError

# τ ranges of the double-exponential rules: tanh–sinh reaches distances e^{−π sinh 6.0}
# ≈ 1e-275 from the ends (enough for x^{-0.9}-type singularities), exp–sinh spans
# t ∈ [e^{−70}, e^{70}] (enough for algebraic tails like StudentT(1.5) against a Laplace).
_TS_TAU = 6.0
_ES_TAU = 4.5
# half-line truncation of the grid rules, in units of p's scale
GRID_HALF_LINE_LENGTH = 40.0


class FiniteTable(NamedTuple):
    left: np.ndarray  # bool [n]
    d: np.ndarray  # distance to the nearer end, as a fraction of the width, [n]
    w: np.ndarray  # weights, as a fraction of the width, [n]
    coarse: np.ndarray  # weights of the lower-order rule on the same nodes (0 = unused)


class HalfLineTable(NamedTuple):
    t: np.ndarray
    w: np.ndarray
    coarse: np.ndarray


def _cast(table, dtype):
    """Cast a table to ``dtype``, dropping nodes whose weights underflow to 0 there (nodes on
    a support edge are masked later, by the caller, before any log_prob call)."""
    dtype = np.dtype(dtype)
    arrs = [np.asarray(a) for a in table]
    with np.errstate(over="ignore"):
        w, c = arrs[-2].astype(dtype), arrs[-1].astype(dtype)
        keep = np.isfinite(w) & np.isfinite(c) & ((w > 0) | (c > 0))
        if isinstance(table, HalfLineTable):
            keep &= np.isfinite(arrs[0].astype(dtype))
    out = [a[keep] if a.dtype == bool else a[keep].astype(dtype) for a in arrs]
    return type(table)(*out)


#: (minimum, must be odd) for num_points of each rule: the one table the checks read
POINTS_RULE = {
    "gauss_hermite": (1, False),
    "gauss_legendre": (1, False),
    "gauss_laguerre": (1, False),
    "tanh_sinh": (3, True),
    "trapezoid": (2, False),
    "simpson": (3, True),
    "monte_carlo": (2, False),
}


def check_points(n: int, name: str) -> int:
    """``num_points`` for rule ``name``: an int, at least the rule's minimum, odd if needed."""
    return _check_points(n, name, *POINTS_RULE[name])


def _check_points(n: int, name: str, minimum: int = 2, odd: bool = False) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise InputTypeError(f"num_points for {name} must be an int, got {n!r}")
    if n < minimum:
        raise InputValueError(f"num_points for {name} must be >= {minimum}, got {n}")
    if odd and n % 2 == 0:
        raise InputValueError(f"num_points for {name} must be odd, got {n}")
    return int(n)


# --- Gauss–Hermite --------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes u and weights w with Σ w f(u) ≈ ∫ e^{−u²} f(u) du (n-point Gauss–Hermite).

    Golub–Welsch: the nodes are the eigenvalues of the symmetric Jacobi matrix with
    off-diagonal √(k/2), the weights √π·v₀² from the first eigenvector components. Unlike
    ``numpy.polynomial.hermite.hermgauss`` (whose weights overflow to NaN from ~400 nodes)
    this stays finite for any n: extreme weights underflow to 0.

    >>> u, w = gauss_hermite(3)
    >>> [round(float(v), 6) for v in u]
    [-1.224745, 0.0, 1.224745]
    """
    n = check_points(n, "gauss_hermite")
    off = np.sqrt(np.arange(1, n) / 2.0)
    vals, vecs = np.linalg.eigh(np.diag(off, 1) + np.diag(off, -1))
    w = math.sqrt(math.pi) * vecs[0] ** 2
    u = (vals - vals[::-1]) / 2  # symmetrise away eigensolver rounding
    return u, (w + w[::-1]) / 2


# --- Gauss–Legendre -------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def gauss_legendre(n: int) -> FiniteTable:
    """n-point Gauss–Legendre on [0, 1] as a finite table (no coarse weights: Gauss nodes are
    not nested, so the error estimate uses the concatenation of ``_legendre_pair``).

    >>> tab = gauss_legendre(2)
    >>> round(float(tab.d[0]), 6), float(tab.w.sum())
    (0.211325, 1.0)
    """
    n = check_points(n, "gauss_legendre")
    u, w = np.polynomial.legendre.leggauss(n)
    left = u < 0
    return FiniteTable(left, (1 - np.abs(u)) / 2, w / 2, np.zeros(n))


@functools.lru_cache(maxsize=64)
def _legendre_pair(n: int) -> FiniteTable:
    """The n-point and ⌊n/2⌋-point Gauss–Legendre rules concatenated: the fine rule has
    zero coarse weight and vice versa (Gauss nodes are not nested)."""
    fine, coarse = gauss_legendre(n), gauss_legendre(max(n // 2, 1))
    return FiniteTable(
        np.concatenate([fine.left, coarse.left]),
        np.concatenate([fine.d, coarse.d]),
        np.concatenate([fine.w, np.zeros_like(coarse.w)]),
        np.concatenate([np.zeros_like(fine.w), coarse.w]),
    )


@functools.lru_cache(maxsize=64)
def legendre_half_line(n: int) -> HalfLineTable:
    """Gauss–Legendre mapped to [0, ∞) by t = (1 + u)/(1 − u), dt = 2/(1 − u)² du."""
    tab = _legendre_pair(n)
    u = np.where(tab.left, -1 + 2 * tab.d, 1 - 2 * tab.d)
    jac = 2 / (1 - u) ** 2
    w, c = 2 * tab.w * jac, 2 * tab.coarse * jac
    return HalfLineTable((1 + u) / (1 - u), w, c)


# --- double exponential (tanh–sinh, exp–sinh) -----------------------------------------------
def _tau(n: int, tau_max: float) -> tuple[np.ndarray, float, np.ndarray]:
    tau = np.linspace(-tau_max, tau_max, n)
    h = 2 * tau_max / (n - 1)
    coarse = (np.arange(n) % 2 == 0).astype(float) * 2  # step 2h on the even nodes
    return tau, h, coarse


@functools.lru_cache(maxsize=64)
def tanh_sinh(n: int) -> FiniteTable:
    """Tanh–sinh rule on [0, 1] with n (odd) nodes, τ ∈ [−6, 6], step h = 12/(n − 1).

    x = (1 + tanh(π/2·sinh τ))/2 = expit(π sinh τ); the distance to the nearer end is
    expit(−π|sinh τ|) and the weight h·π cosh τ · expit(u)·expit(−u), u = π sinh τ. The rule
    converges exponentially also for integrands with algebraic end singularities
    (Takahasi & Mori 1974). Coarse rule: step 2h on every other node.

    >>> tab = tanh_sinh(33)
    >>> round(float(tab.w.sum()), 12)
    1.0
    """
    n = check_points(n, "tanh_sinh")
    tau, h, coarse = _tau(n, _TS_TAU)
    u = math.pi * np.sinh(tau)
    d = 1 / (1 + np.exp(np.abs(u)))  # expit(−|u|), no cancellation
    w = h * math.pi * np.cosh(tau) * d * (1 - d)
    return FiniteTable(tau < 0, d, w, coarse * w)


@functools.lru_cache(maxsize=64)
def exp_sinh(n: int) -> HalfLineTable:
    """Exp–sinh rule for ∫₀^∞: t = exp(π/2·sinh τ), dt = π/2·cosh τ·t dτ, τ ∈ [−4.5, 4.5]."""
    n = check_points(n, "tanh_sinh")
    tau, h, coarse = _tau(n, _ES_TAU)
    t = np.exp(math.pi / 2 * np.sinh(tau))
    w = h * math.pi / 2 * np.cosh(tau) * t
    return HalfLineTable(t, w, coarse * w)


# --- grid rules -----------------------------------------------------------------------------
def _grid_weights(n: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights on n equispaced points of [0, 1] and the coarse rule on every other point."""

    def weights(m):
        h = 1.0 / (m - 1)
        if rule == "trapezoid" or m < 3:
            w = np.full(m, h)
            w[[0, -1]] = h / 2
        else:
            w = np.full(m, 2 * h / 3)
            w[1::2] = 4 * h / 3
            w[[0, -1]] = h / 3
        return w

    fine = weights(n)
    coarse = np.zeros(n)
    m = (n + 1) // 2
    if n % 2 == 1 and (rule == "trapezoid" or m % 2 == 1):
        coarse[::2] = weights(m)
    return fine, coarse


@functools.lru_cache(maxsize=64)
def grid(n: int, rule: str) -> FiniteTable:
    """Trapezoid or composite Simpson on n equispaced points of [0, 1] (ends included)."""
    n = check_points(n, rule)
    x = np.linspace(0.0, 1.0, n)
    w, c = _grid_weights(n, rule)
    return FiniteTable(x <= 0.5, np.minimum(x, 1 - x), w, c)


@functools.lru_cache(maxsize=64)
def grid_half_line(n: int, rule: str) -> HalfLineTable:
    """The grid rule on [0, L], L = 40 scales (the tail beyond is dropped)."""
    tab = grid(n, rule)
    t = np.where(tab.left, tab.d, 1 - tab.d) * GRID_HALF_LINE_LENGTH
    return HalfLineTable(t, tab.w * GRID_HALF_LINE_LENGTH, tab.coarse * GRID_HALF_LINE_LENGTH)


# --- generalized Gauss–Laguerre (differentiable in alpha) -----------------------------------
def gauss_laguerre(n: int, alpha) -> tuple[jax.Array, jax.Array]:
    """Nodes and *normalised* weights for ∫₀^∞ u^α e^{−u} f(u) du / Γ(α + 1).

    Golub–Welsch in JAX: the Jacobi matrix has diagonal 2k + α + 1 and off-diagonal
    √(k (k + α)); ``jnp.linalg.eigh`` is differentiable, so nodes and weights carry
    derivatives w.r.t. ``alpha`` (a Gamma p's concentration − 1).

    >>> import jax.numpy as jnp
    >>> u, w = gauss_laguerre(2, jnp.asarray(0.0))
    >>> [round(float(v), 6) for v in u], round(float(w.sum()), 12)
    ([0.585786, 3.414214], 1.0)
    """
    n = check_points(n, "gauss_laguerre")
    alpha = jnp.asarray(alpha)
    k = jnp.arange(n, dtype=alpha.dtype)
    diag = 2 * k + alpha + 1
    kk = jnp.arange(1, n, dtype=alpha.dtype)
    off = jnp.sqrt(kk * (kk + alpha))
    jac = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
    vals, vecs = jnp.linalg.eigh(jac, symmetrize_input=False)
    return vals, vecs[0] ** 2
