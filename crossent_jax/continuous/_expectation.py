"""E_p[−log q(X)] by quadrature: split p's support, map each piece to a standard rule.

The support (low, high) of p is cut at breakpoints: p's centre and the points where log p or
log q is not smooth (the loc of a Laplace, the components of a mixture, the loc of a StudentT
whose log density changes fastest there). Finite pieces get a finite-interval rule, the
unbounded end pieces a half-line rule mapped with p's scale. Without the cut at a Laplace's
loc the value converges slowly *and* its derivative w.r.t. that loc is wrong.

Nodes are strictly inside p's support by construction; the few that round onto an end in the
working dtype are replaced by a safe interior point *before* ``log_prob`` is called and get
weight 0 (masking after the call would leave NaN in the gradient). The integrand is
exp(log p)·(−log q), never p·(−log(q)) from densities: densities underflow ~38σ out in
float64 and ~14σ out in float32, their logs do not.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from crossent_jax.continuous import _quadrature as quad
from crossent_jax.continuous._base import Distribution
from crossent_jax.continuous._distributions import (
    Beta,
    Exponential,
    Gamma,
    MixtureOfNormals,
    Uniform,
)

_BOUNDED = (Beta, Uniform)
_HALF_LINE = (Gamma, Exponential)


def support_kind(p: Distribution) -> str:
    """'real', 'half' ([low, ∞)) or 'bounded' — static, from p's type."""
    if isinstance(p, _BOUNDED):
        return "bounded"
    if isinstance(p, _HALF_LINE):
        return "half"
    return "real"


def _edges(p: Distribution, q: Distribution):
    lo, hi = p.support
    bps = [p._center(), *p._breakpoints(), *q._breakpoints()]
    bps = jnp.sort(jnp.stack([jnp.clip(jnp.asarray(b, lo.dtype), lo, hi) for b in bps]))
    # stop_gradient is not applied: the split points move with the parameters, which is
    # what makes d/d(loc) of a kinked integrand right (Leibniz: the integrand is continuous).
    return lo, hi, [bps[i] for i in range(bps.shape[0])]


def _nodes(p, q, finite: quad.FiniteTable, half: quad.HalfLineTable):
    """Concatenated (x, dlo, dhi, w, coarse_w) over all pieces of p's support."""
    lo, hi, bps = _edges(p, q)
    kind = support_kind(p)
    dt = lo.dtype
    fin = quad._cast(finite, dt)
    hal = quad._cast(half, dt)
    scale = p._scale()
    xs, dlos, dhis, ws, cs = [], [], [], [], []
    edges = [lo, *bps, hi]
    for i in range(len(edges) - 1):
        a, b = edges[i], edges[i + 1]
        if i == 0 and kind == "real":  # (−∞, b]
            x = b - scale * hal.t
            xs.append(x)
            dlos.append(jnp.full_like(x, jnp.inf))
            dhis.append((hi - b) + scale * hal.t)
            ws.append(scale * hal.w)
            cs.append(scale * hal.coarse)
        elif i == len(edges) - 2 and kind in ("real", "half"):  # [a, ∞)
            x = a + scale * hal.t
            xs.append(x)
            dlos.append((a - lo) + scale * hal.t)
            dhis.append(jnp.full_like(x, jnp.inf))
            ws.append(scale * hal.w)
            cs.append(scale * hal.coarse)
        else:  # [a, b]
            width = b - a
            dist = width * fin.d
            x = jnp.where(fin.left, a + dist, b - dist)
            dlos.append(jnp.where(fin.left, (a - lo) + dist, x - lo))
            dhis.append(jnp.where(fin.left, hi - x, (hi - b) + dist))
            xs.append(x)
            ws.append(width * fin.w)
            cs.append(width * fin.coarse)
    cat = jnp.concatenate
    return cat(xs), cat(dlos), cat(dhis), cat(ws), cat(cs)


def _q_distances(p, q, x, dlo, dhi):
    """Distances of x to q's support edges, exact where q's edge is p's edge."""
    plo, phi = p.support
    qlo, qhi = q.support
    qdlo = jnp.where(qlo == plo, dlo, x - qlo)
    qdhi = jnp.where(qhi == phi, dhi, qhi - x)
    return qdlo, qdhi


def _estimate(v, vc, absum):
    """Error estimate: the distance to the coarse rule plus a rounding floor (64 ε Σ|w f|)."""
    eps = jnp.finfo(jnp.result_type(v)).eps
    return jnp.abs(v - vc) + 64 * eps * absum


def _weighted_sum(p, q, x, dlo, dhi, w, c, kl=False):
    """Σ w·exp(log p)·(−log q) (or ·(log p − log q) for the KL) and its error estimate."""
    inside = (dlo > 0) & (dhi > 0) & jnp.isfinite(x)
    safe = p._center() if support_kind(p) != "bounded" else (p.support[0] + p.support[1]) / 2
    x = jnp.where(inside, x, safe)
    dlo = jnp.where(inside, dlo, x - p.support[0])
    dhi = jnp.where(inside, dhi, p.support[1] - x)
    lp = p._log_prob_near(x, dlo, dhi)
    qdlo, qdhi = _q_distances(p, q, x, dlo, dhi)
    lq = q._log_prob_near(x, qdlo, qdhi)
    dens = jnp.exp(lp)
    keep = inside & (dens > 0)
    g = (lp - lq) if kl else -lq
    f = jnp.where(keep, dens * jnp.where(keep, g, 0.0), 0.0)
    v, vc = jnp.sum(w * f), jnp.sum(c * f)
    return v, _estimate(v, vc, jnp.sum(jnp.abs(w * f)))


def piecewise(p, q, finite: quad.FiniteTable, half: quad.HalfLineTable, kl=False):
    """(value, error estimate, number of nodes) of a piecewise rule."""
    x, dlo, dhi, w, c = _nodes(p, q, finite, half)
    v, err = _weighted_sum(p, q, x, dlo, dhi, w, c, kl)
    return v, err, int(x.shape[0])


def hermite(p, q, n: int, kl=False):
    """Gauss–Hermite for a Normal p: x = μ + √2 σ u, E_p[f] ≈ Σ (w_u/√π) f(x). A mixture of
    Normals is the weighted sum of its components' rules (still exact weighting)."""
    if isinstance(p, MixtureOfNormals):
        locs, scales, wts = p.locs, p.scales, p._w()
    else:
        locs, scales, wts = p.loc[None], p.scale[None], jnp.ones((1,), p.dtype)

    def one(m):
        u, wu = quad.gauss_hermite(m)
        u = jnp.asarray(u, p.dtype)
        wu = jnp.asarray(wu / np.sqrt(np.pi), p.dtype)
        x = locs[:, None] + np.sqrt(2.0) * scales[:, None] * u[None, :]
        g = -q.log_prob(x.reshape(-1)).reshape(x.shape)
        if kl:
            g = g + p.log_prob(x.reshape(-1)).reshape(x.shape)
        terms = wts[:, None] * wu[None, :] * g
        return jnp.sum(terms), jnp.sum(jnp.abs(terms))

    k = locs.shape[0]
    (v, absum), (vc, _) = one(n), one(max(n // 2, 1))
    return v, _estimate(v, vc, absum), k * (n + max(n // 2, 1))


def laguerre(p, q, n: int, kl=False):
    """Generalized Gauss–Laguerre for a Gamma / Exponential p: x = u / rate, α = k − 1."""
    k = p.concentration if isinstance(p, Gamma) else jnp.ones_like(p.rate)
    rate = p.rate

    def one(m):
        u, w = quad.gauss_laguerre(m, k - 1)
        x = u / rate
        inside = x > 0
        xs = jnp.where(inside, x, 1.0)
        g = -q.log_prob(xs) + (p.log_prob(xs) if kl else 0.0)
        terms = jnp.where(inside, w * g, 0.0)
        return jnp.sum(terms), jnp.sum(jnp.abs(terms))

    (v, absum), (vc, _) = one(n), one(max(n // 2, 1))
    return v, _estimate(v, vc, absum), n + max(n // 2, 1)


def monte_carlo(p, q, n: int, key, kl=False):
    """Reparameterised Monte Carlo: mean of −log q(x) (or log p(x) − log q(x)),
    x = p.sample(key, (n,)); the error estimate is the standard error."""
    x = p.sample(key, (n,))
    f = -q.log_prob(x) + (p.log_prob(x) if kl else 0.0)
    v = jnp.mean(f)
    se = jnp.std(f) / np.sqrt(n)
    return v, se, n


