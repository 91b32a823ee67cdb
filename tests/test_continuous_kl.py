"""kl_divergence as its own quantity (issue 10 item 6): closed-form KLs against mpmath,
KL ≥ 0, KL(p ‖ p) = 0, and H(p, q) = H(p) + KL(p ‖ q)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from crossent_jax import continuous as ct

mp.mp.dps = 40
M = mp.mpf


def _lb(a, b):
    return mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)


# (p, q, KL by its textbook formula evaluated in 40-digit arithmetic)
def _kl_normal(m1, s1, m2, s2):
    m1, s1, m2, s2 = map(M, (m1, s1, m2, s2))
    return mp.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - M(1) / 2


def _kl_laplace(m1, b1, m2, b2):
    m1, b1, m2, b2 = map(M, (m1, b1, m2, b2))
    d = abs(m1 - m2)
    return mp.log(b2 / b1) + (d + b1 * mp.exp(-d / b1)) / b2 - 1


def _kl_gamma(k1, r1, k2, r2):
    k1, r1, k2, r2 = map(M, (k1, r1, k2, r2))
    return ((k1 - k2) * mp.digamma(k1) - mp.loggamma(k1) + mp.loggamma(k2)
            + k2 * (mp.log(r1) - mp.log(r2)) + k1 * (r2 - r1) / r1)


def _kl_beta(a1, b1, a2, b2):
    a1, b1, a2, b2 = map(M, (a1, b1, a2, b2))
    return (_lb(a2, b2) - _lb(a1, b1) + (a1 - a2) * mp.digamma(a1) + (b1 - b2) * mp.digamma(b1)
            + (a2 - a1 + b2 - b1) * mp.digamma(a1 + b1))


CLOSED = [
    ("normal 1e-8", ct.Normal(0.0, 1.0), ct.Normal(1e-8, 1.0), _kl_normal(0, 1, 1e-8, 1)),
    ("normal scale", ct.Normal(0.3, 1.0), ct.Normal(0.3, 1.0 + 1e-9),
     _kl_normal(0.3, 1, 0.3, 1 + 1e-9)),
    ("normal far", ct.Normal(-3.0, 0.2), ct.Normal(5.0, 7.0), _kl_normal(-3, 0.2, 5, 7)),
    ("laplace", ct.Laplace(0.0, 1.0), ct.Laplace(1e-3, 1.0), _kl_laplace(0, 1, 1e-3, 1)),
    ("laplace scale", ct.Laplace(0.5, 2.0), ct.Laplace(-1.0, 0.3), _kl_laplace(0.5, 2, -1, 0.3)),
    ("gamma near", ct.Gamma(2.0, 1.0), ct.Gamma(2.000001, 1.0), _kl_gamma(2, 1, 2.000001, 1)),
    ("gamma small", ct.Gamma(0.01, 1.0), ct.Gamma(0.02, 3.0), _kl_gamma(0.01, 1, 0.02, 3)),
    ("exp-gamma", ct.Exponential(2.0), ct.Gamma(3.0, 0.5), _kl_gamma(1, 2, 3, 0.5)),
    ("exp-exp", ct.Exponential(2.0), ct.Exponential(2.0 + 1e-7), _kl_gamma(1, 2, 1, 2 + 1e-7)),
    ("beta near", ct.Beta(2.0, 3.0), ct.Beta(2.0001, 3.0), _kl_beta(2, 3, 2.0001, 3)),
    ("beta small", ct.Beta(0.01, 0.01), ct.Beta(0.5, 0.5), _kl_beta(0.01, 0.01, 0.5, 0.5)),
    ("uniform", ct.Uniform(0.0, 1.0), ct.Uniform(-1.0, 3.0), mp.log(4)),
]


@pytest.mark.parametrize("p,q,want", [c[1:] for c in CLOSED], ids=[c[0] for c in CLOSED])
def test_closed_form_kl_against_mpmath(p, q, want):
    kl, info = ct.kl_divergence(p, q, return_info=True)
    assert info.method == "closed_form"
    assert float(kl) == pytest.approx(float(want), rel=1e-10, abs=0.0)
    assert float(kl) >= 0.0


def test_kl_of_a_tiny_offset_is_not_lost_to_cancellation():
    # the examples: 5e-17 exactly in float64, and float32 at an offset of 1e-3
    assert float(ct.kl_divergence(ct.Normal(0.0, 1.0), ct.Normal(1e-8, 1.0))) == pytest.approx(
        5e-17, rel=1e-12)
    with jax.enable_x64(False):
        kl = ct.kl_divergence(ct.Normal(0.0, 1.0), ct.Normal(1e-3, 1.0))
        assert kl.dtype == jnp.float32
        assert float(kl) == pytest.approx(float(np.float32(1e-3)) ** 2 / 2, rel=1e-6)


# pairs without a closed-form KL: the integrand p (log p − log q) by quadrature
def _mp_kl(logp, logq, pieces):
    f = lambda x: mp.exp(logp(x)) * (logp(x) - logq(x))  # noqa: E731
    return mp.quad(f, pieces)


def _t_logpdf(nu, m, s):
    nu, m, s = M(nu), M(m), M(s)
    c = mp.loggamma((nu + 1) / 2) - mp.loggamma(nu / 2) - mp.log(nu * mp.pi) / 2 - mp.log(s)
    return lambda x: c - (nu + 1) / 2 * mp.log(1 + ((x - m) / s) ** 2 / nu)


def _mix_logpdf(w, m, s):
    return lambda x: mp.log(sum(M(wi) * mp.npdf(x, mi, si) for wi, mi, si in zip(w, m, s,
                                                                                   strict=True)))


def test_integrand_kl_against_mpmath():
    p, q = ct.StudentT(3.0, 0.0, 1.0), ct.StudentT(3.0, 1e-4, 1.0)
    want = _mp_kl(_t_logpdf(3, 0, 1), _t_logpdf(3, 1e-4, 1), [-mp.inf, 0, 1e-4, mp.inf])
    kl, info = ct.kl_divergence(p, q, return_info=True)
    assert info.method == "tanh_sinh"
    # ~3.3e-9: by H(p, q) − H(p) this would keep only ~7 digits
    assert float(kl) == pytest.approx(float(want), rel=1e-9)
    w, m, s = [0.3, 0.7], [-1.0, 2.0], [0.5, 1.5]
    mix = ct.MixtureOfNormals(np.array(w), np.array(m), np.array(s))
    want = _mp_kl(_mix_logpdf(w, m, s), _t_logpdf(4, 0.5, 2), [-mp.inf, -1, 0.5, 2, mp.inf])
    assert float(ct.kl_divergence(mix, ct.StudentT(4.0, 0.5, 2.0))) == pytest.approx(
        float(want), rel=1e-10)


SELF = [ct.Normal(0.3, 2.0), ct.StudentT(1.5, 0.0, 1.0), ct.Gamma(0.3, 2.0), ct.Beta(0.5, 3.0),
        ct.Laplace(1.0, 0.1), ct.Logistic(-2.0, 3.0), ct.Uniform(-1.0, 2.0), ct.Exponential(3.0),
        ct.MixtureOfNormals(np.array([0.2, 0.8]), np.array([0.0, 3.0]), np.array([1.0, 0.5]))]


@pytest.mark.parametrize("p", SELF, ids=[type(d).__name__ for d in SELF])
def test_kl_of_p_with_itself_is_exactly_zero(p):
    assert float(ct.kl_divergence(p, p)) == 0.0


H_PLUS_KL = [
    (ct.Normal(0.3, 1.2), ct.Normal(-0.5, 2.0)),
    (ct.Gamma(2.5, 1.5), ct.Gamma(0.7, 0.4)),
    (ct.Beta(0.5, 2.0), ct.Beta(3.0, 1.5)),
    (ct.Laplace(0.2, 0.8), ct.Laplace(1.0, 1.5)),
    (ct.Normal(0.0, 1.0), ct.Laplace(0.5, 1.0)),
]


@pytest.mark.parametrize("p,q", H_PLUS_KL, ids=[f"{type(a).__name__}-{type(b).__name__}"
                                               for a, b in H_PLUS_KL])
def test_cross_entropy_is_entropy_plus_kl(p, q):
    h, hp, kl = (float(v) for v in (ct.cross_entropy(p, q), ct.entropy(p),
                                    ct.kl_divergence(p, q)))
    assert kl > 0
    assert h == pytest.approx(hp + kl, rel=1e-13, abs=1e-14)


def test_kl_under_jit_vmap_and_grad():
    f = jax.jit(jax.vmap(lambda m: ct.kl_divergence(ct.Normal(m, 1.0), ct.Normal(0.0, 1.0))))
    m = jnp.array([0.0, 1e-8, 0.5])
    np.testing.assert_allclose(f(m), m**2 / 2, rtol=1e-13, atol=0)
    # d/dm m²/2 = m; d/ds of KL(N(0, s) ‖ N(0, 1)) = s − 1/s
    g = jax.grad(lambda s: ct.kl_divergence(ct.Normal(0.0, s), ct.Normal(0.0, 1.0)))(2.0)
    assert float(g) == pytest.approx(2.0 - 0.5, rel=1e-13)


def test_kl_monte_carlo_within_standard_errors():
    p, q = ct.Normal(0.0, 1.0), ct.StudentT(4.0, 0.5, 2.0)
    kl_mc, info = ct.kl_divergence(p, q, method="monte_carlo", key=jax.random.key(0),
                                   num_points=20000, return_info=True)
    kl = float(ct.kl_divergence(p, q))
    assert abs(float(kl_mc) - kl) < 5 * float(info.error_estimate)
