"""The nine continuous distributions: parameters, log densities, samplers, moments, entropies.

Constructor order is the contract of DESIGN.md. Every log density is written in log space
(``log_prob`` never takes the log of a density that may have underflowed), and densities with
restricted support evaluate their formula at a safe point before masking with ``-inf``, so that
gradients stay finite (the "double where" pattern).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln

from crossent_jax._errors import InputValueError
from crossent_jax.continuous._base import Distribution, as_param, check_param, register

_LOG_2PI = math.log(2.0 * math.pi)


def betaln(a, b):
    """log B(a, b) = lgamma(a) + lgamma(b) − lgamma(a + b).

    Not ``jax.scipy.special.betaln``: in jax 0.10.2 it is off by 3.3e-9 at (5, 50) (scipy's
    value; this sum is within 4e-15 there), enough to miss a 1e-10 relative target.
    """
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def _positive(self, *names):
    for n in names:
        check_param(getattr(self, n), n, lambda a: a > 0, "> 0")


def _init(self, **values):
    for name, v in values.items():
        object.__setattr__(self, name, as_param(v, name))


@register
class Normal(Distribution):
    """Normal(loc, scale): density exp(−(x−loc)²/(2 scale²)) / (√(2π) scale) on ℝ.

    >>> from crossent_jax.continuous import Normal
    >>> round(float(Normal(35.0, 5.0).entropy()), 4)
    3.0284
    """

    _LOC_FIELD = "loc"

    loc: jax.Array
    scale: jax.Array

    def __init__(self, loc, scale):
        _init(self, loc=loc, scale=scale)
        _positive(self, "scale")

    def valid(self):
        return self.scale > 0

    def log_prob(self, x):
        z = (x - self.loc) / self.scale
        return self._nan_if_invalid(-0.5 * z * z - jnp.log(self.scale) - 0.5 * _LOG_2PI)

    def sample(self, key, shape=()):
        return self.loc + self.scale * jax.random.normal(key, shape, self.dtype)

    def mean(self):
        return self._nan_if_invalid(self.loc)

    def variance(self):
        return self._nan_if_invalid(self.scale**2)

    def entropy(self):
        return self._nan_if_invalid(0.5 * (_LOG_2PI + 1.0) + jnp.log(self.scale))

    def _breakpoints(self):
        return ()


@register
class Laplace(Distribution):
    """Laplace(loc, scale): density exp(−|x−loc|/scale) / (2 scale); log density kinks at loc."""

    _LOC_FIELD = "loc"

    loc: jax.Array
    scale: jax.Array

    def __init__(self, loc, scale):
        _init(self, loc=loc, scale=scale)
        _positive(self, "scale")

    def valid(self):
        return self.scale > 0

    def log_prob(self, x):
        return self._nan_if_invalid(-jnp.abs(x - self.loc) / self.scale - jnp.log(2 * self.scale))

    def sample(self, key, shape=()):
        return self.loc + self.scale * jax.random.laplace(key, shape, self.dtype)

    def mean(self):
        return self._nan_if_invalid(self.loc)

    def variance(self):
        return self._nan_if_invalid(2 * self.scale**2)

    def entropy(self):
        return self._nan_if_invalid(1.0 + jnp.log(2 * self.scale))

    def _breakpoints(self):
        return (self.loc,)


@register
class Logistic(Distribution):
    """Logistic(loc, scale): density e^{−z} / (scale (1+e^{−z})²), z = (x−loc)/scale."""

    _LOC_FIELD = "loc"

    loc: jax.Array
    scale: jax.Array

    def __init__(self, loc, scale):
        _init(self, loc=loc, scale=scale)
        _positive(self, "scale")

    def valid(self):
        return self.scale > 0

    def log_prob(self, x):
        z = (x - self.loc) / self.scale
        # −z − 2 log(1 + e^{−z}) written symmetric in z: −|z| − 2 log1p(e^{−|z|})
        a = jnp.abs(z)
        return self._nan_if_invalid(-a - 2 * jnp.log1p(jnp.exp(-a)) - jnp.log(self.scale))

    def sample(self, key, shape=()):
        return self.loc + self.scale * jax.random.logistic(key, shape, self.dtype)

    def _breakpoints(self):
        # log density = −|z| − 2 log1p(e^{−|z|}): a kink smoothed over ~scale, sharp when scale
        # is small, whose correction decays like e^{−|z|} (3e-4 at 8 scales, 1e-14 at 32).
        # Cut at 2, 8 and 32 scales: on a piece reaching from the kink to a p 1e5 of q's
        # scales wide that boundary layer put Gauss–Legendre 4e-12 off with an estimate of
        # 2e-14 (Normal(−2, 186) against Logistic(−165, 0.001))
        return tuple(self.loc + k * self.scale for k in (-32, -8, -2, 0, 2, 8, 32))

    def mean(self):
        return self._nan_if_invalid(self.loc)

    def variance(self):
        return self._nan_if_invalid(self.scale**2 * math.pi**2 / 3)

    def entropy(self):
        return self._nan_if_invalid(jnp.log(self.scale) + 2.0)


@register
class StudentT(Distribution):
    """StudentT(df, loc, scale): Γ((ν+1)/2)/(Γ(ν/2)√(νπ) s) (1 + z²/ν)^{−(ν+1)/2}.

    The mean exists for ν > 1 (NaN otherwise), the variance is s²ν/(ν−2) for ν > 2 and
    ``inf`` for 1 < ν ≤ 2.
    """

    df: jax.Array
    _LOC_FIELD = "loc"

    loc: jax.Array
    scale: jax.Array

    def __init__(self, df, loc, scale):
        _init(self, df=df, loc=loc, scale=scale)
        _positive(self, "df", "scale")

    def valid(self):
        return (self.df > 0) & (self.scale > 0)

    def log_prob(self, x):
        nu = self.df
        z = (x - self.loc) / self.scale
        c = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * jnp.log(nu * math.pi)
        lp = c - jnp.log(self.scale) - (nu + 1) / 2 * jnp.log1p(z * z / nu)
        return self._nan_if_invalid(lp)

    def sample(self, key, shape=()):
        k1, k2 = jax.random.split(key)
        z = jax.random.normal(k1, shape, self.dtype)
        g = jax.random.gamma(k2, self.df / 2, shape, self.dtype)  # χ²_ν / 2
        return self.loc + self.scale * z * jnp.sqrt(self.df / (2 * g))

    def mean(self):
        return self._nan_if_invalid(jnp.where(self.df > 1, self.loc, jnp.nan))

    def variance(self):
        nu = self.df
        v = jnp.where(nu > 2, self.scale**2 * nu / jnp.where(nu > 2, nu - 2, 1.0), jnp.inf)
        return self._nan_if_invalid(jnp.where(nu > 1, v, jnp.nan))

    def entropy(self):
        nu = self.df
        h = (nu + 1) / 2 * (digamma((nu + 1) / 2) - digamma(nu / 2))
        h = h + 0.5 * jnp.log(nu) + betaln(nu / 2, 0.5) + jnp.log(self.scale)
        return self._nan_if_invalid(h)

    def _center(self):
        return self.loc

    def _scale(self):
        return self.scale

    def _breakpoints(self):
        # log density −(ν+1)/2 log(1 + z²/ν) bends from quadratic to −(ν+1) log|z| at its
        # knee |z| = √ν: narrow q's need cuts there (at 2 scales for ν < 4) as well as at loc.
        # At ±2 scales for every ν, a ν = 26 q against a mixture p with a component 4 of q's
        # scales away left tanh–sinh 2.4e-11 off with an estimate of 1e-13, and 27 of 1000
        # ordinary Normal–StudentT pairs (ν ≤ 10) had a first-level estimate above 1e-10
        # (1 with the cuts at the knee)
        k = self.scale * jnp.maximum(2.0, jnp.sqrt(self.df))
        return (self.loc - k, self.loc, self.loc + k)


def _gamma_log_prob(x, k, rate, log_x):
    return k * jnp.log(rate) - gammaln(k) + (k - 1) * log_x - rate * x


@register
class Gamma(Distribution):
    """Gamma(concentration, rate): density r^k x^{k−1} e^{−r x} / Γ(k) on (0, ∞)."""

    concentration: jax.Array
    rate: jax.Array

    def __init__(self, concentration, rate):
        _init(self, concentration=concentration, rate=rate)
        _positive(self, "concentration", "rate")

    def valid(self):
        return (self.concentration > 0) & (self.rate > 0)

    @property
    def support(self):
        return jnp.zeros((), self.dtype), jnp.asarray(jnp.inf, self.dtype)

    def log_prob(self, x):
        inside = x > 0
        xs = jnp.where(inside, x, 1.0)  # safe point before the log: finite gradients
        lp = _gamma_log_prob(xs, self.concentration, self.rate, jnp.log(xs))
        k = self.concentration
        # at x = 0 the density is 0 (k > 1), r (k = 1) or unbounded (k < 1)
        at0 = jnp.where(k == 1, jnp.log(self.rate), jnp.where(k > 1, -jnp.inf, jnp.inf))
        lp = jnp.where(inside, lp, jnp.where(x == 0, at0, -jnp.inf))
        return self._nan_if_invalid(lp)

    def _edge_finite(self):
        return self.concentration == 1, jnp.asarray(False)

    def _log_prob_logdist(self, x, log_dlo, log_dhi):
        """log_prob from log x given directly (x inside the support): a node 1e-400 from 0,
        whose x underflows to 0, still has log x (see quadrature's power map)."""
        del log_dhi
        return self._nan_if_invalid(_gamma_log_prob(x, self.concentration, self.rate, log_dlo))

    def _scale(self):
        # the tail decays like e^{−r x}: for k < 1 the standard deviation √k / r is shorter
        # than that decay length 1/r, and a grid truncated at 40 of them would cut mass off
        k = self.concentration
        return jnp.sqrt(jnp.maximum(k, 1.0)) / self.rate

    def sample(self, key, shape=()):
        # jax.random.gamma is differentiable w.r.t. the concentration (implicit reparam.)
        return jax.random.gamma(key, self.concentration, shape, self.dtype) / self.rate

    def mean(self):
        return self._nan_if_invalid(self.concentration / self.rate)

    def variance(self):
        return self._nan_if_invalid(self.concentration / self.rate**2)

    def entropy(self):
        k = self.concentration
        h = k - jnp.log(self.rate) + gammaln(k) + (1 - k) * digamma(k)
        return self._nan_if_invalid(h)


@register
class Exponential(Distribution):
    """Exponential(rate): density r e^{−r x} on (0, ∞); the Gamma(1, rate) special case."""

    rate: jax.Array

    def __init__(self, rate):
        _init(self, rate=rate)
        _positive(self, "rate")

    def valid(self):
        return self.rate > 0

    @property
    def support(self):
        return jnp.zeros((), self.dtype), jnp.asarray(jnp.inf, self.dtype)

    def log_prob(self, x):
        lp = jnp.log(self.rate) - self.rate * x
        return self._nan_if_invalid(jnp.where(x >= 0, lp, -jnp.inf))

    def _edge_finite(self):
        return jnp.asarray(True), jnp.asarray(False)

    def sample(self, key, shape=()):
        return jax.random.exponential(key, shape, self.dtype) / self.rate

    def mean(self):
        return self._nan_if_invalid(1 / self.rate)

    def variance(self):
        return self._nan_if_invalid(1 / self.rate**2)

    def entropy(self):
        return self._nan_if_invalid(1 - jnp.log(self.rate))


@register
class Beta(Distribution):
    """Beta(alpha, beta): density x^{α−1} (1−x)^{β−1} / B(α, β) on (0, 1).

    With α < 1 or β < 1 the density is unbounded at an edge; quadrature then uses
    tanh–sinh, which evaluates ``log(1 − x)`` from the accurately known distance to the edge.
    """

    alpha: jax.Array
    beta: jax.Array

    def __init__(self, alpha, beta):
        _init(self, alpha=alpha, beta=beta)
        _positive(self, "alpha", "beta")

    def valid(self):
        return (self.alpha > 0) & (self.beta > 0)

    @property
    def support(self):
        return jnp.zeros((), self.dtype), jnp.ones((), self.dtype)

    def _log_prob_near(self, x, dlo, dhi):
        inside = (dlo > 0) & (dhi > 0)
        lo = jnp.where(inside, dlo, 0.5)
        hi = jnp.where(inside, dhi, 0.5)
        lp = (self.alpha - 1) * jnp.log(lo) + (self.beta - 1) * jnp.log(hi)
        lp = lp - betaln(self.alpha, self.beta)
        return self._nan_if_invalid(jnp.where(inside, lp, -jnp.inf))

    def _edge_finite(self):
        return self.alpha == 1, self.beta == 1

    def _log_prob_logdist(self, x, log_dlo, log_dhi):
        """log_prob from log x and log(1 − x) given directly (x inside the support)."""
        del x
        lp = (self.alpha - 1) * log_dlo + (self.beta - 1) * log_dhi
        return self._nan_if_invalid(lp - betaln(self.alpha, self.beta))

    def log_prob(self, x):
        return self._log_prob_near(x, x, 1 - x)

    def sample(self, key, shape=()):
        k1, k2 = jax.random.split(key)
        la = jax.random.loggamma(k1, self.alpha, shape, self.dtype)
        lb = jax.random.loggamma(k2, self.beta, shape, self.dtype)
        return jax.nn.sigmoid(la - lb)

    def mean(self):
        return self._nan_if_invalid(self.alpha / (self.alpha + self.beta))

    def variance(self):
        a, b = self.alpha, self.beta
        return self._nan_if_invalid(a * b / ((a + b) ** 2 * (a + b + 1)))

    def entropy(self):
        a, b = self.alpha, self.beta
        h = betaln(a, b) - (a - 1) * digamma(a) - (b - 1) * digamma(b)
        h = h + (a + b - 2) * digamma(a + b)
        return self._nan_if_invalid(h)

    def _breakpoints(self):
        # the mean as well as the centre 0.5: a concentrated Beta(5, 50) needs a split in its
        # bulk, a U-shaped Beta(0.5, 0.5) one away from both edges
        return (self.mean(),)

    def _center(self):
        return jnp.full((), 0.5, self.dtype)


@register
class Uniform(Distribution):
    """Uniform(low, high): density 1/(high − low) on [low, high]."""

    low: jax.Array
    high: jax.Array

    def __init__(self, low, high):
        _init(self, low=low, high=high)
        if not (isinstance(self.low, jax.core.Tracer) or isinstance(self.high, jax.core.Tracer)):
            diff = self.high - self.low
            check_param(diff, "high - low", lambda a: a > 0, "> 0 (low < high)")

    def valid(self):
        return self.high > self.low

    @property
    def support(self):
        return self.low, self.high

    def log_prob(self, x):
        inside = (x >= self.low) & (x <= self.high)
        lp = -jnp.log(self.high - self.low)
        return self._nan_if_invalid(jnp.where(inside, lp, -jnp.inf))

    def _bulk_points(self):
        return ()  # flat density: nothing to resolve

    def _edge_finite(self):
        return jnp.asarray(True), jnp.asarray(True)

    def sample(self, key, shape=()):
        u = jax.random.uniform(key, shape, self.dtype)
        return self.low + (self.high - self.low) * u

    def mean(self):
        return self._nan_if_invalid((self.low + self.high) / 2)

    def variance(self):
        return self._nan_if_invalid((self.high - self.low) ** 2 / 12)

    def entropy(self):
        return self._nan_if_invalid(jnp.log(self.high - self.low))


@register
class MixtureOfNormals(Distribution):
    """MixtureOfNormals(weights, locs, scales): Σ_k w_k N(x; μ_k, σ_k), parameters of shape [K].

    ``weights`` must be non-negative and sum to 1 (checked to 1e-6 when concrete; the log
    density divides by their sum, so gradients are those of the normalised weights). No closed
    form entropy: :func:`crossent_jax.continuous.entropy` integrates it. Sampling picks the
    component with ``jax.random.categorical`` (not differentiable w.r.t. the weights).
    """

    weights: jax.Array
    locs: jax.Array
    scales: jax.Array

    _LOC_FIELD = "locs"
    _param_ndim = 1

    def __init__(self, weights, locs, scales):
        _init(self, weights=weights, locs=locs, scales=scales)
        shapes = {jnp.shape(self.weights), jnp.shape(self.locs), jnp.shape(self.scales)}
        if len(shapes) != 1 or jnp.ndim(self.weights) < 1 or jnp.shape(self.weights)[-1] == 0:
            raise InputValueError(
                "MixtureOfNormals needs weights, locs and scales of one shape [K] (K >= 1), got "
                f"{jnp.shape(self.weights)}, {jnp.shape(self.locs)}, {jnp.shape(self.scales)}"
            )
        _positive(self, "scales")
        check_param(self.weights, "weights", lambda a: a >= 0, ">= 0")
        check_param(
            jnp.sum(self.weights, -1) if not isinstance(self.weights, jax.core.Tracer) else
            self.weights, "sum(weights)", lambda a: abs(a - 1) <= 1e-6, "1 (to 1e-6)",
        )

    def valid(self):
        return jnp.all(self.scales > 0) & jnp.all(self.weights >= 0)

    def _log_w(self):
        return jnp.log(self.weights) - jnp.log(jnp.sum(self.weights))

    def log_prob(self, x):
        x = jnp.asarray(x)
        lead = (1,) * x.ndim
        locs, scales = self.locs.reshape(lead + (-1,)), self.scales.reshape(lead + (-1,))
        z = (x[..., None] - locs) / scales
        comp = -0.5 * z * z - jnp.log(scales) - 0.5 * _LOG_2PI + self._log_w().reshape(locs.shape)
        return self._nan_if_invalid(jax.nn.logsumexp(comp, axis=-1))

    def sample(self, key, shape=()):
        k1, k2 = jax.random.split(key)
        idx = jax.random.categorical(k1, self._log_w(), shape=shape)
        z = jax.random.normal(k2, shape, self.dtype)
        return self.locs[idx] + self.scales[idx] * z

    def _w(self):
        return self.weights / jnp.sum(self.weights)

    def mean(self):
        return self._nan_if_invalid(jnp.sum(self._w() * self.locs))

    def variance(self):
        m = jnp.sum(self._w() * self.locs)
        second = jnp.sum(self._w() * (self.scales**2 + self.locs**2))
        return self._nan_if_invalid(second - m**2)

    #: each component is cut at loc, loc ± 4 scale and loc ± 8 scale (beyond 8 scales its
    #: density is e^-32 of its peak), so narrow components far apart are resolved
    _COMPONENT_CUTS = (-8.0, -4.0, 0.0, 4.0, 8.0)

    #: cuts around each crossing of two components, in widths of its boundary layer
    _LAYER_CUTS = (-32.0, -8.0, 8.0, 32.0)

    def _bulk_points(self):
        return ()  # each component is cut at ±4 and ±8 of its own scales (_breakpoints)

    def _breakpoints(self):
        k = self.locs.shape[-1]
        cuts = [self.locs[i] + c * self.scales[i] for i in range(k) for c in self._COMPONENT_CUTS]
        return tuple(cuts) + self._crossovers()

    def _num_breakpoints(self):
        k = self.locs.shape[-1]
        return len(self._COMPONENT_CUTS) * k + 2 * (1 + len(self._LAYER_CUTS)) * max(k - 1, 0)

    def _crossovers(self):
        """Where the dominant component switches between loc-adjacent components.

        −log q of a mixture is close to min_k of the components' quadratics, with a
        near-kink where two of them are equal; for components sorted by loc, the crossing
        of k and k+1 is the root in [loc_k, loc_k+1] of
        a_k(x) − a_k+1(x) = 0, a_k(x) = log w_k − log s_k − (x − loc_k)² / (2 s_k²).
        Both roots are returned (the midpoint for a missing one): the second lies outside
        [loc_k, loc_k+1] when the scales differ, where the narrower component hands over to
        the wider one again.
        """
        k = self.locs.shape[-1]
        if k < 2:
            return ()
        order = jnp.argsort(self.locs)
        m, sd = self.locs[order], self.scales[order]
        c = (self._log_w() - jnp.log(self.scales))[order]
        out = []
        for i in range(k - 1):
            m1, m2, s1, s2 = m[i], m[i + 1], sd[i], sd[i + 1]
            a = 0.5 / s2**2 - 0.5 / s1**2
            b = m1 / s1**2 - m2 / s2**2
            cc = 0.5 * m2**2 / s2**2 - 0.5 * m1**2 / s1**2 + c[i] - c[i + 1]
            mid = 0.5 * (m1 + m2)
            disc = b * b - 4 * a * cc
            sq = jnp.sqrt(jnp.maximum(disc, 0.0))
            # stable roots of a x² + b x + cc: q = −(b + sign(b)·√disc)/2, x = q/a and cc/q
            qq = -0.5 * (b + jnp.where(b >= 0, sq, -sq))
            safe_q = jnp.where(qq == 0, 1.0, qq)
            safe_a = jnp.where(a == 0, 1.0, a)
            r1 = jnp.where(a == 0, -cc / jnp.where(b == 0, 1.0, b), qq / safe_a)
            r2 = cc / safe_q
            ok1 = (disc >= 0) & jnp.isfinite(r1)
            ok2 = (disc >= 0) & jnp.isfinite(r2)
            # both roots: with unequal scales the narrower component also loses to the wider
            # one outside [loc_k, loc_k+1] (a near-kink of −log q far out on that side)
            for r in (jnp.where(ok1, r1, mid), jnp.where(ok2, r2, mid)):
                out.append(r)
                # −log q ≈ min of the two quadratics + log1p(e^{−|Δa|}): a boundary layer of
                # width 1/|Δa'(r)| on each side of the crossing, cut at 8 and 32 widths
                # (the correction is 3e-4 and 1e-14 there) like a Logistic's kink
                slope = jnp.abs((r - m1) / s1**2 - (r - m2) / s2**2)
                width = jnp.minimum(1 / jnp.where(slope > 0, slope, 1.0), jnp.maximum(s1, s2))
                width = jnp.where((slope > 0) & jnp.isfinite(width), width, 0.0)
                out += [r + k * width for k in self._LAYER_CUTS]
        return tuple(out)

