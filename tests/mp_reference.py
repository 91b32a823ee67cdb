"""High-precision references for H(p, q) and KL(p ‖ q) by mpmath (30 digits), independent of
the kit: log densities are written out here in mpmath, and every piece of p's support is
integrated in a variable in which the integrand decays fast:

* algebraic tails (StudentT p): x = μ ± s·e^u, so the integrand decays like e^{−ν u};
* edge singularities (Gamma/Beta shapes < 1, mass piled 1e-300 from an edge): x = edge ±
  e^{u/k} with k the shape at that edge, so the integrand decays like e^u for any k; mpmath
  represents x for any u (its exponent range is unbounded);
* bulk pieces: split at p's centre ± 1, 8 and 40 scales and at q's kinks (the loc of a
  Laplace, Logistic or StudentT, a mixture's component locs).

Used by the sweep test (a few pairs) and experiments/continuous_sweep.py (many).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

from crossent_jax import continuous as ct

mp.mp.dps = 30
M = mp.mpf


def _f(v):
    return M(float(np.asarray(v)))


def _exp(t):
    """e^t, 0 below t = −10⁴ (< 1e-4000, beyond 30 digits of anything it is added to): mpmath
    takes minutes for the exp of −1e200, which far tail nodes ask for (the Logistic's
    log1p(e^{−|z|}), a far mixture component); 39 of 200 sweep references timed out."""
    return mp.exp(t) if t > -10000 else M(0)


def logpdf(d):
    """(log density as a function of x, log density as a function of (edge, sign, u) with
    x = edge + sign·e^u for the distance-aware bounded families, or None)."""
    if isinstance(d, ct.Normal):
        m, s = _f(d.loc), _f(d.scale)
        return lambda x: -((x - m) / s) ** 2 / 2 - mp.log(s) - mp.log(2 * mp.pi) / 2
    if isinstance(d, ct.Laplace):
        m, b = _f(d.loc), _f(d.scale)
        return lambda x: -abs(x - m) / b - mp.log(2 * b)
    if isinstance(d, ct.Logistic):
        m, s = _f(d.loc), _f(d.scale)
        return lambda x: -abs(x - m) / s - 2 * mp.log1p(_exp(-abs(x - m) / s)) - mp.log(s)
    if isinstance(d, ct.StudentT):
        nu, m, s = _f(d.df), _f(d.loc), _f(d.scale)
        c = mp.loggamma((nu + 1) / 2) - mp.loggamma(nu / 2) - mp.log(nu * mp.pi) / 2 - mp.log(s)
        return lambda x: c - (nu + 1) / 2 * mp.log1p(((x - m) / s) ** 2 / nu)
    if isinstance(d, (ct.Gamma, ct.Exponential)):
        k = _f(d.concentration) if isinstance(d, ct.Gamma) else M(1)
        r = _f(d.rate)
        c = k * mp.log(r) - mp.loggamma(k)
        return lambda x: c + (k - 1) * mp.log(x) - r * x if x > 0 else -mp.inf
    if isinstance(d, ct.Beta):
        a, b = _f(d.alpha), _f(d.beta)
        c = mp.loggamma(a + b) - mp.loggamma(a) - mp.loggamma(b)

        def beta_lp(x, dhi=None):
            # dhi = 1 − x given by the caller near the upper edge: 1 − 1e-100 rounds to 1
            # in 30 digits, the distance itself does not
            dhi = 1 - x if dhi is None else dhi
            return c + (a - 1) * mp.log(x) + (b - 1) * mp.log(dhi) if x > 0 and dhi > 0 else -mp.inf

        return beta_lp
    if isinstance(d, ct.Uniform):
        lo, hi = _f(d.low), _f(d.high)
        return lambda x: -mp.log(hi - lo) if lo <= x <= hi else -mp.inf
    if isinstance(d, ct.MixtureOfNormals):
        w = [M(float(v)) for v in np.asarray(d.weights)]
        m = [M(float(v)) for v in np.asarray(d.locs)]
        s = [M(float(v)) for v in np.asarray(d.scales)]
        tot = sum(w)

        def lp(x):
            terms = [mp.log(wi / tot) - ((x - mi) / si) ** 2 / 2 - mp.log(si)
                     - mp.log(2 * mp.pi) / 2 for wi, mi, si in zip(w, m, s, strict=True)]
            top = max(terms)
            return top + mp.log(sum(_exp(t - top) for t in terms))

        return lp
    raise TypeError(type(d).__name__)


def _support(d):
    if isinstance(d, (ct.Gamma, ct.Exponential)):
        return M(0), mp.inf
    if isinstance(d, ct.Beta):
        return M(0), M(1)
    if isinstance(d, ct.Uniform):
        return _f(d.low), _f(d.high)
    return -mp.inf, mp.inf


def _center_scale(d):
    if isinstance(d, ct.Normal | ct.Laplace | ct.Logistic | ct.StudentT):
        return _f(d.loc), _f(d.scale)
    if isinstance(d, ct.Gamma):
        k, r = _f(d.concentration), _f(d.rate)
        return k / r, mp.sqrt(k) / r
    if isinstance(d, ct.Exponential):
        return 1 / _f(d.rate), 1 / _f(d.rate)
    if isinstance(d, ct.Beta):
        a, b = _f(d.alpha), _f(d.beta)
        return a / (a + b), mp.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    if isinstance(d, ct.Uniform):
        lo, hi = _f(d.low), _f(d.high)
        return (lo + hi) / 2, (hi - lo) / 2
    w = np.asarray(d.weights) / np.sum(np.asarray(d.weights))
    mean = float(np.sum(w * np.asarray(d.locs)))
    sd = float(np.sqrt(np.sum(w * (np.asarray(d.scales) ** 2 + np.asarray(d.locs) ** 2)) - mean**2))
    return M(mean), M(sd)


def _real_roots(a, b, c):
    """Real roots of a x² + b x + c in closed form (stable: q = −(b + sign(b)√disc)/2, roots
    q/a and c/q); mpmath's polyroots did not converge for scales 1e4 apart."""
    if a == 0:
        return [-c / b] if b != 0 else []
    disc = b * b - 4 * a * c
    if disc < 0:
        return []
    q = -(b + (1 if b >= 0 else -1) * mp.sqrt(disc)) / 2
    return [q / a] + ([c / q] if q != 0 else [])


def _kinks(d):
    if isinstance(d, ct.Normal | ct.Laplace | ct.Logistic | ct.StudentT):
        return [_f(d.loc)]
    if isinstance(d, ct.MixtureOfNormals):
        out = []
        w = [M(float(v)) for v in np.asarray(d.weights)]
        ms = [M(float(v)) for v in np.asarray(d.locs)]
        ss = [M(float(v)) for v in np.asarray(d.scales)]
        for m, s in zip(ms, ss, strict=True):
            out += [m + k * s for k in (-8, -1, 0, 1, 8)]
        # where two components' weighted log densities are equal, −log q switches between
        # their quadratics (a near-kink): the real roots of a quadratic, for every pair
        for i in range(len(ms)):
            for j in range(i + 1, len(ms)):
                a = 1 / (2 * ss[j] ** 2) - 1 / (2 * ss[i] ** 2)
                b = ms[i] / ss[i] ** 2 - ms[j] / ss[j] ** 2
                c = (ms[j] ** 2 / (2 * ss[j] ** 2) - ms[i] ** 2 / (2 * ss[i] ** 2)
                     + mp.log(w[i] / ss[i]) - mp.log(w[j] / ss[j]))
                out += _real_roots(a, b, c)
        return out
    if isinstance(d, ct.Uniform):
        return [_f(d.low), _f(d.high)]
    return []


# u = log(distance / scale) for the unbounded tails: an algebraic tail x^{−ν−1} becomes e^{−ν u},
# which needs u up to ~50/ν (ν ≥ 0.1 in the sweep)
_U_TAIL = [-mp.inf, 0, 5, 20, 50, 150, 500, mp.inf]


def _edge_shapes(d):
    """The exponent k with density ∝ (distance to the edge)^{k−1} at (low, high)."""
    if isinstance(d, ct.Gamma):
        return _f(d.concentration), None
    if isinstance(d, ct.Beta):
        return _f(d.alpha), _f(d.beta)
    return M(1), M(1)


def _edge_piece(f, edge, sign, width, k):
    """∫ f over the piece between a support edge and edge + sign·width, in u = k log(distance):
    x = edge + sign·e^{u/k}, dx = e^{u/k}/k du. A density ∝ distance^{k−1} makes the
    integrand ∝ e^u whatever k is (for Gamma(0.01) in x itself the mass reaches down to
    1e-300 and beyond; in u it decays like e^u)."""
    top = k * mp.log(width)

    def g(u):
        y = mp.exp(u / k)
        if sign < 0:  # the upper edge: pass the distance, 1 − y may round to 1
            return f(edge - y, y) * y / k
        return f(edge + y) * y / k

    return mp.quad(g, [-mp.inf, top - 60, top - 20, top - 5, top])


def _quadratic_split(p, q):
    """For a StudentT p with ν < 3 against a Normal or mixture q (ν < 2 against a Laplace or
    Logistic: :func:`_abs_split`): (exact part, remainder g)
    with H = exact + E_p[g]. −log q grows like x², and ∫ x² x^{−ν−1} beyond R falls like
    R^{2−ν}: for ν = 2.01 no quadrature reaches the mass (the plain reference was 4.6e-5 low
    for StudentT(2.01, ·, 749) against a mixture). E(X − m)² = s² ν/(ν − 2) + (μ − m)² is
    exact; for a mixture the widest component k carries the quadratic and the remainder
    −log Σ_j exp(a_j − a_k) (a_j the log of component j's weighted density) is ≤ 0 and grows
    at most linearly: its integral converges like R^{1−ν}."""
    if not isinstance(p, ct.StudentT):
        return None
    nu, mu, sp = _f(p.df), _f(p.loc), _f(p.scale)
    if isinstance(q, ct.Laplace | ct.Logistic):
        return _abs_split(p, q)
    if not isinstance(q, ct.Normal | ct.MixtureOfNormals) or nu >= 3:
        return None
    if nu <= 2:  # E X² diverges (the plain integral returned 3e57 for ν = 1.876)
        return mp.inf, None
    var = sp**2 * nu / (nu - 2)
    if isinstance(q, ct.Normal):
        m, sq = _f(q.loc), _f(q.scale)
        return mp.log(sq) + mp.log(2 * mp.pi) / 2 + (var + (mu - m) ** 2) / (2 * sq**2), None
    if not isinstance(q, ct.MixtureOfNormals):
        return None
    w = [_f(v) for v in np.asarray(q.weights) / np.sum(np.asarray(q.weights))]
    locs = [_f(v) for v in np.asarray(q.locs)]
    scs = [_f(v) for v in np.asarray(q.scales)]
    k = max(range(len(w)), key=lambda j: (scs[j], w[j]))

    def a(j, x):
        return mp.log(w[j]) - mp.log(scs[j]) - ((x - locs[j]) / scs[j]) ** 2 / 2

    exact = (mp.log(scs[k]) + mp.log(2 * mp.pi) / 2 - mp.log(w[k])
             + (var + (mu - locs[k]) ** 2) / (2 * scs[k] ** 2))
    return exact, lambda x: -mp.log(mp.fsum(_exp(a(j, x) - a(k, x)) for j in range(len(w))))


def _t_pdf(nu, t):
    return mp.gamma((nu + 1) / 2) / (mp.sqrt(nu * mp.pi) * mp.gamma(nu / 2)) * (
        1 + t * t / nu) ** (-(nu + 1) / 2)


def _t_cdf(nu, t):
    tail = mp.betainc(nu / 2, M(1) / 2, 0, nu / (nu + t * t), regularized=True) / 2
    return 1 - tail if t > 0 else tail


def t_mean_abs(nu, mu, s, m):
    """E|X − m| for X ~ StudentT(ν, μ, s), via the CDF:
    s (2(ν + z²)/(ν − 1) f(z) + z (2F(z) − 1)), z = (m − μ)/s, F by the regularized
    incomplete beta function."""
    nu, mu, s, m = map(M, (nu, mu, s, m))
    z = (m - mu) / s
    return s * (2 * (nu + z * z) / (nu - 1) * _t_pdf(nu, z) + z * (2 * _t_cdf(nu, z) - 1))


def _abs_split(p, q):
    """StudentT(ν < 2) p against a Laplace or Logistic q(m, b): −log q = log(2b) + |x − m|/b
    (Laplace) or log b + |z| + 2 log1p(e^{−|z|}) (Logistic). ∫ |x| x^{−ν−1} converges like
    R^{1−ν}: 1.4e-8 low for ν = 1.01 with the plain integral. E|X − m| is taken from the t
    distribution's CDF (:func:`t_mean_abs`), the Logistic's bounded rest is integrated."""
    nu = _f(p.df)
    if nu >= 2:
        return None
    if nu <= 1:
        return mp.inf, None
    m, b = _f(q.loc), _f(q.scale)
    mad = t_mean_abs(nu, _f(p.loc), _f(p.scale), m)
    if isinstance(q, ct.Laplace):
        return mp.log(2 * b) + mad / b, None
    return mp.log(b) + mad / b, lambda x: 2 * mp.log1p(_exp(-abs(x - m) / b))


def reference(p, q, kl=False):
    """H(p, q) (or KL(p ‖ q)) in 30-digit arithmetic; +inf when p's support leaks out of q's
    or the expectation diverges through p's tails."""
    split = None if kl else _quadratic_split(p, q)
    if split is not None and split[1] is None:
        return split[0]
    lp, lq = logpdf(p), logpdf(q)
    lo, hi = _support(p)
    qlo, qhi = _support(q)
    if qlo > lo or qhi < hi:
        return mp.inf

    def dist_aware(d, lpd):
        # a Beta whose upper edge is p's (1) takes the distance to it from the caller
        if isinstance(d, ct.Beta) and hi == 1:
            return lpd
        return lambda x, dhi=None: lpd(x)

    lp, lq = dist_aware(p, lp), dist_aware(q, lq)

    def f(x, dhi=None):
        a = lp(x, dhi)
        # e^{−3000}·|g| is far below 30 digits for any g these families have (|g| ≲ x² with
        # |x| ≲ e^{510}); mpmath's exp of −1e200 would instead take minutes (ln 2 to 1e200
        # bits), which the exponential tails of a Gamma at u = 500 ask for
        if a == -mp.inf or a < -3000:
            return M(0)
        g = split[1](x) if split is not None else -lq(x, dhi) + (a if kl else 0)
        return mp.exp(a) * g

    c, s = _center_scale(p)
    pts = {c + k * s for k in (-40, -8, -1, 0, 1, 8, 40)}
    pts |= set(_kinks(q)) | set(_kinks(p))
    pts = sorted(v for v in pts if lo < v < hi)
    # inner pieces in x; the outermost pieces through x = edge ± e^u (exact far tails and
    # edge singularities); for a finite edge the first piece starts at the edge itself
    total = M(0)
    inner = pts if pts else [(lo + hi) / 2 if mp.isfinite(lo + hi) else M(0)]
    for a, b in zip(inner[:-1], inner[1:], strict=True):
        total += mp.quad(f, [a, b])
    first, last = inner[0], inner[-1]
    klo, khi = _edge_shapes(p)
    if mp.isfinite(lo):  # [lo, first]: x = lo + e^{u/k}, u ∈ (−∞, k log(first − lo)]
        total += _edge_piece(f, lo, 1, first - lo, klo)
    else:  # (−∞, first]: x = first − e^u·s
        total += mp.quad(lambda u: f(first - s * mp.exp(u)) * s * mp.exp(u),
                         _U_TAIL)
    if mp.isfinite(hi):
        total += _edge_piece(f, hi, -1, hi - last, khi)
    else:
        total += mp.quad(lambda u: f(last + s * mp.exp(u)) * s * mp.exp(u), _U_TAIL)
    return total if split is None else split[0] + total
