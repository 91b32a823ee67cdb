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

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from crossent_jax.continuous import _quadrature as quad
from crossent_jax.continuous._base import Distribution
from crossent_jax.continuous._distributions import (
    _LOG_2PI,
    Beta,
    Exponential,
    Gamma,
    Laplace,
    Logistic,
    MixtureOfNormals,
    StudentT,
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


def _edges(p: Distribution, q: Distribution, extra=()):
    lo, hi = p.support
    bps = [p._center(), *p._bulk_points(), *p._breakpoints(), *q._breakpoints(), *extra]
    bps = jnp.sort(jnp.stack([jnp.clip(jnp.asarray(b, lo.dtype), lo, hi) for b in bps]))
    # stop_gradient is not applied: the split points move with the parameters, which is
    # what makes d/d(loc) of a kinked integrand right (Leibniz: the integrand is continuous).
    return lo, hi, [bps[i] for i in range(bps.shape[0])]


def _nodes(p, q, finite: quad.FiniteTable, half: quad.HalfLineTable, extra=()):
    """Concatenated (x, dlo, dhi, w, coarse_w) over all pieces of p's support."""
    lo, hi, bps = _edges(p, q, extra)
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


def _estimate(v, vc, absum, fast=True):
    """Error estimate from the distance d = |v − v_coarse| to the coarse rule, plus a rounding
    floor 64 ε Σ|w f|.

    ``fast`` rules (tanh–sinh, Gauss) converge exponentially: halving the step (doubling the
    points) squares the relative error, so the fine rule's error is ≈ d·(d/|v|) — used once
    d/|v| < 1e-2 (in the asymptotic regime), d itself otherwise. Grid rules converge
    algebraically: d (which bounds the fine error when the coarse error is the larger)."""
    eps = jnp.finfo(jnp.result_type(v)).eps
    d = jnp.abs(v - vc)
    if fast:
        rel = d / jnp.maximum(jnp.abs(v), jnp.finfo(jnp.result_type(v)).tiny)
        d = jnp.where(rel < 1e-2, d * rel, d)
    return d + 64 * eps * absum


def _weighted_sum(p, q, x, dlo, dhi, w, c, kl=False, g_fn=None, fast=True):
    """Σ w·exp(log p)·(−log q) (or ·(log p − log q) for the KL) and its error estimate.

    Nodes on a support edge (the grid rules' end nodes) are kept where the integrand is finite
    there (a Uniform or Exponential p): dropping them makes Simpson first order."""
    lo_ok, hi_ok = p._edge_finite()
    inside = ((dlo > 0) | ((dlo == 0) & lo_ok)) & ((dhi > 0) | ((dhi == 0) & hi_ok))
    inside = inside & jnp.isfinite(x)
    safe = p._center() if support_kind(p) != "bounded" else (p.support[0] + p.support[1]) / 2
    x = jnp.where(inside, x, safe)
    dlo = jnp.where(inside, dlo, x - p.support[0])
    dhi = jnp.where(inside, dhi, p.support[1] - x)
    lp = p._log_prob_near(x, dlo, dhi)
    qdlo, qdhi = _q_distances(p, q, x, dlo, dhi)
    lq = q._log_prob_near(x, qdlo, qdhi)
    dens = jnp.exp(lp)
    g = (lp - lq) if kl else -lq
    if g_fn is not None:  # a remainder replaces −log q (see heavy_tail_split)
        g = g_fn(x)
    keep = inside & (dens > 0) & jnp.isfinite(g)
    f = jnp.where(keep, jnp.where(keep, dens, 0.0) * jnp.where(keep, g, 0.0), 0.0)
    v, vc = jnp.sum(w * f), jnp.sum(c * f)
    absum = jnp.sum(jnp.abs(w * f))
    # nodes are rounded to ε|x|, which moves them by ε|x|/scale in p's own units
    eps = jnp.finfo(x.dtype).eps
    shift = eps * jnp.abs(p._center()) / p._scale()
    return v, _estimate(v, vc, absum, fast) + jnp.where(jnp.isfinite(shift), shift, 0.0) * absum


def piecewise(p, q, finite: quad.FiniteTable, half: quad.HalfLineTable, kl=False, fast=True):
    """(value, error estimate, number of nodes) of a piecewise rule.

    For a StudentT p against a q whose −log q grows like |x| or x² (Laplace, Logistic,
    mixture of Normals) the growing part is taken out in closed form first
    (:func:`heavy_tail_split`) and only a remainder that does not grow is integrated: the
    algebraic tails of p put mass beyond any finite node (for an x^-1.01 integrand the part
    beyond 1e100 is still ~10)."""
    split = heavy_tail_split(p, q)
    if split is not None:
        exact, g_fn, extra = split
        x, dlo, dhi, w, c = _nodes(p, q, finite, half, extra)
        v, err = _weighted_sum(p, q, x, dlo, dhi, w, c, False, g_fn, fast)
        v = exact + v
        if kl:
            v = v - p.entropy()
        err = err + 64 * jnp.finfo(x.dtype).eps * jnp.abs(exact)
        return v, err + _tail_bound(p, q, x, g_fn), int(x.shape[0])
    x, dlo, dhi, w, c = _nodes(p, q, finite, half)
    v, err = _weighted_sum(p, q, x, dlo, dhi, w, c, kl, None, fast)
    g_fn = None
    if kl:
        g_fn = lambda x: p.log_prob(x) - q.log_prob(x)  # noqa: E731
    err = err + _edge_bound(p, q, x, dlo, dhi, kl)
    return v, err + _tail_bound(p, q, x, g_fn), int(x.shape[0])


def _edge_bound(p, q, x, dlo, dhi, kl):
    """For a Gamma or Beta p with a shape < 1: the mass the rule misses between a support
    edge and its nearest node x0 (P0, e.g. 2e-3 for Gamma(0.01) at x0 = 1e-275) times the
    integrand there, P0 |g(x0)| (1 + 1/(k |log d0|)) — ∫ x^{k−1}(A + B|log x|) over (0, d0).
    Added to the error estimate (not the value), with stop_gradient: an honesty term."""
    from jax.scipy.special import betainc, gammainc  # noqa: PLC0415

    if not isinstance(p, (Gamma, Beta)):
        return jnp.zeros((), x.dtype)
    sg = jax.lax.stop_gradient
    out = jnp.zeros((), x.dtype)
    sides = [(dlo, "lo")] + ([(dhi, "hi")] if isinstance(p, Beta) else [])
    for d, side in sides:
        d = sg(d)
        pos = d > 0
        d0 = jnp.min(jnp.where(pos, d, jnp.inf))
        i0 = jnp.argmin(jnp.where(pos, d, jnp.inf))
        x0 = sg(x)[i0]
        if isinstance(p, Gamma):
            k, mass = sg(p.concentration), gammainc(sg(p.concentration), sg(p.rate) * d0)
        elif side == "lo":
            k, mass = sg(p.alpha), betainc(sg(p.alpha), sg(p.beta), d0)
        else:
            k, mass = sg(p.beta), betainc(sg(p.beta), sg(p.alpha), d0)
        g = -q.log_prob(x0) + (p.log_prob(x0) if kl else 0.0)
        g = sg(jnp.abs(g))
        t = mass * g * (1 + 1 / (k * jnp.abs(jnp.log(d0))))
        out = out + jnp.where(jnp.isfinite(t), t, 0.0)
    return out


def _tail_bound(p, q, x, g_fn):
    """For a StudentT p: the part of the integral beyond the outermost nodes R (both sides),
    from the leading asymptotics p(x) ≈ c |z|^{−ν−1}: 2 ∫_R^∞ p |g| ≈ 2 p(R) |R − μ|/ν ·
    (|g(R)| + (ν_q + 1)/ν), the last term for a −log q growing like (ν_q + 1) log|x|. Added to
    the error estimate (not to the value): the truncation the coarse rule cannot see."""
    if not isinstance(p, StudentT):
        return jnp.zeros((), x.dtype)
    out = jnp.zeros((), x.dtype)
    for far in (jnp.max(jnp.where(jnp.isfinite(x), x, -jnp.inf)),
                jnp.min(jnp.where(jnp.isfinite(x), x, jnp.inf))):
        g = g_fn(far) if g_fn is not None else -q.log_prob(far)
        growth = q.df + 1 if isinstance(q, StudentT) else 1.0
        r = jnp.abs(far - p.loc)
        t = jnp.exp(p.log_prob(far)) * r / p.df * (jnp.abs(g) + growth / p.df)
        out = out + jnp.where(jnp.isfinite(t), t, 0.0)
    return out


def _student_mean_abs_dev(p):
    """E|X − μ| for X ~ StudentT(ν, μ, s), ν > 1: 2 s √ν Γ((ν+1)/2) / (√π (ν − 1) Γ(ν/2))."""
    nu = p.df
    nu1 = jnp.where(nu > 1, nu - 1, 1.0)
    lg = jnp.log(2.0) + 0.5 * jnp.log(nu) + gammaln((nu + 1) / 2) - gammaln(nu / 2)
    return p.scale * jnp.exp(lg - 0.5 * jnp.log(jnp.pi) - jnp.log(nu1))


def _abs_shift(p, m):
    """(E|X − μ| in closed form, r(x)) with E|X − m| = E|X − μ| + E[r(X)] for a p symmetric
    about μ: r(x) = |x − m| − |x − μ| − (μ − m) sign(x − μ), which vanishes for |x − μ| >
    |m − μ| (and E[sign(X − μ)] = 0), so r has compact support [μ − a, μ + a], a = |m − μ|."""
    mu = p.loc

    def r(x):
        return jnp.abs(x - m) - jnp.abs(x - mu) - (mu - m) * jnp.sign(x - mu)

    return _student_mean_abs_dev(p), r, (2 * mu - m,)


def heavy_tail_split(p, q):
    """(exact part, remainder g(x), extra split points) with H(p, q) = exact + E_p[g(X)], for a
    StudentT p against q = Laplace, Logistic or MixtureOfNormals; None otherwise.

    * Laplace(m, b): −log q = log 2b + |x − m|/b, E|X − m| by :func:`_abs_shift`;
    * Logistic(m, s): −log q = log s + |z| + 2 log1p(e^{−|z|}), z = (x − m)/s: the last term
      is bounded and decays like e^{−|z|};
    * mixture: −log q = c_k + (x − m_k)²/(2σ_k²) − log Σ_j exp(a_j − a_k), a_j the log of
      component j's weighted density, k the widest component (its quadratic dominates in
      both tails; the remainder is ≤ 0 and at most linear in |x|), E(X − m_k)² = Var X +
      (μ − m_k)²."""
    if not isinstance(p, StudentT):
        return None
    if isinstance(q, (Laplace, Logistic)):
        m, b = q.loc, q.scale
        mad, r, extra = _abs_shift(p, m)
        if isinstance(q, Laplace):
            return jnp.log(2 * b) + mad / b, lambda x: r(x) / b, extra

        def g(x):
            return r(x) / b + 2 * jnp.log1p(jnp.exp(-jnp.abs(x - m) / b))

        return jnp.log(b) + mad / b, g, extra
    if isinstance(q, MixtureOfNormals):
        logw = q._log_w()
        # widest component; among equally wide ones the heaviest (any choice is exact)
        k = jnp.argmax(q.scales + 1e-300 * logw)
        mk, sk, lwk = q.locs[k], q.scales[k], logw[k]
        c = 0.5 * _LOG_2PI + jnp.log(sk) - lwk
        var = p.variance()
        finite = jnp.isfinite(var)
        m2 = jnp.where(finite, var, 0.0) + (p.loc - mk) ** 2
        exact = c + m2 / (2 * sk**2)

        def g(x):
            x = jnp.asarray(x)
            lead = (1,) * x.ndim
            lw, ls = logw.reshape(lead + (-1,)), q.scales.reshape(lead + (-1,))
            a = lw - jnp.log(ls) - 0.5 * ((x[..., None] - q.locs.reshape(ls.shape)) / ls) ** 2
            ak = lwk - jnp.log(sk) - 0.5 * ((x - mk) / sk) ** 2
            return -jax.nn.logsumexp(a - ak[..., None], axis=-1)

        return exact, g, ()
    return None



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


