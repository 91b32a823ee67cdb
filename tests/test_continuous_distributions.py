"""Distributions: log densities, moments and entropies against scipy.stats; pytrees; sampling."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy_reference import logpdf_fn, to_scipy

from crossent_jax import continuous as ct

DISTS = [
    ("normal", lambda: ct.Normal(0.3, 1.7)),
    ("laplace", lambda: ct.Laplace(-0.5, 0.8)),
    ("logistic", lambda: ct.Logistic(1.0, 0.6)),
    ("studentt", lambda: ct.StudentT(3.5, 0.2, 1.3)),
    ("exponential", lambda: ct.Exponential(1.7)),
    ("gamma", lambda: ct.Gamma(2.2, 0.7)),
    ("beta", lambda: ct.Beta(0.5, 2.5)),
    ("uniform", lambda: ct.Uniform(-1.0, 2.5)),
    ("mixture", lambda: ct.MixtureOfNormals(np.array([0.2, 0.5, 0.3]),
                                            np.array([-1.0, 0.5, 2.0]),
                                            np.array([0.4, 1.0, 0.7]))),
]
IDS = [d[0] for d in DISTS]


@pytest.mark.parametrize("make", [d[1] for d in DISTS], ids=IDS)
def test_log_prob_mean_variance_against_scipy(make):
    d = make()
    ref = to_scipy(d)
    x = np.array([-3.0, -0.7, 0.05, 0.4, 0.93, 1.8, 7.0])
    got = np.asarray(d.log_prob(jnp.asarray(x)))
    want = np.array([float(ref.logpdf(v)) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert math.isclose(float(d.mean()), float(ref.mean()), rel_tol=1e-12, abs_tol=1e-14)
    assert math.isclose(float(d.variance()), float(ref.std()) ** 2, rel_tol=1e-12)
    lo, hi = (float(v) for v in d.support)
    assert (lo, hi) == tuple(float(v) for v in ref.support())
    # the QUADPACK oracle's hand-written scalar log density is scipy.stats' too
    fast = logpdf_fn(d)
    np.testing.assert_allclose([fast(float(v)) for v in x], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [d[1] for d in DISTS], ids=IDS)
def test_sample_moments(make):
    d = make()
    x = jax.jit(lambda d: d.sample(jax.random.key(0), (4000,)))(d)
    assert x.shape == (4000,)
    se = math.sqrt(float(d.variance()) / 4000)
    assert abs(float(jnp.mean(x)) - float(d.mean())) < 5 * se
    lo, hi = (float(v) for v in d.support)
    assert float(x.min()) >= lo and float(x.max()) <= hi


# gradient of the sample mean (same key) ≈ gradient of the mean: the samplers are
# reparameterised. Gamma/Beta/StudentT go through jax.random.gamma's implicit gradient; one
# representative (Gamma) keeps the compile time of the suite down.
@pytest.mark.parametrize("make", [DISTS[0][1], DISTS[2][1], DISTS[5][1], DISTS[7][1]],
                         ids=["normal", "logistic", "gamma", "uniform"])
def test_sample_is_reparameterised(make):
    d = make()
    g = jax.jit(jax.grad(lambda d: jnp.mean(d.sample(jax.random.key(0), (4000,)))))(d)
    gm = jax.grad(lambda d: d.mean())(d)
    for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(gm), strict=True):
        np.testing.assert_allclose(a, b, atol=0.1)


def test_studentt_moments_that_do_not_exist():
    assert math.isnan(float(ct.StudentT(1.0, 0.0, 1.0).mean()))
    assert float(ct.StudentT(1.5, 0.0, 1.0).variance()) == math.inf
    assert math.isclose(float(ct.StudentT(1.5, 0.0, 2.0).entropy()),
                        float(stats.t(1.5, 0.0, 2.0).entropy()), rel_tol=1e-12)


def test_pytree_roundtrip_and_vmap_over_parameters():
    d = ct.Gamma(jnp.array([1.0, 2.0, 3.0]), jnp.array([0.5, 1.0, 2.0]))
    leaves, tree = jax.tree_util.tree_flatten(d)
    assert len(leaves) == 2
    back = jax.tree_util.tree_unflatten(tree, leaves)
    assert isinstance(back, ct.Gamma)
    ent = jax.vmap(lambda d: d.entropy())(d)
    want = [stats.gamma(k, scale=1 / r).entropy() for k, r in [(1, 0.5), (2, 1), (3, 2)]]
    np.testing.assert_allclose(ent, want, rtol=1e-12)
    assert "Gamma(concentration=" in repr(ct.Gamma(1.0, 2.0))


def test_log_prob_far_tail_float32_stays_finite():
    with jax.enable_x64(False):
        for d in [ct.Normal(0.0, 1.0), ct.Logistic(0.0, 1.0), ct.StudentT(3.0, 0.0, 1.0)]:
            lp = d.log_prob(jnp.float32(60.0))
            assert lp.dtype == jnp.float32 and np.isfinite(float(lp)), d
            assert float(jnp.exp(lp)) == 0.0 or type(d) is not ct.Normal


def test_beta_log_prob_near_edge_uses_the_distance():
    b = ct.Beta(2.0, 0.5)
    d = 1e-300
    lp = b._log_prob_near(1.0 - d, 1.0, d)  # x rounds to 1.0, the distance does not
    want = -0.5 * math.log(d) - float(np.log(1 / stats.beta(2.0, 0.5).pdf(0.5) * 0.5 * 0.5**-0.5))
    assert np.isfinite(float(lp)) and math.isclose(float(lp), want, rel_tol=1e-12)
    assert float(b.log_prob(1.0)) == -math.inf


def test_betaln_accurate_where_jax_scipy_is_not():
    from scipy import special  # noqa: PLC0415

    from crossent_jax.continuous._distributions import betaln  # noqa: PLC0415

    for a, b in [(5.0, 50.0), (0.5, 0.7), (200.0, 300.0), (0.1, 0.2)]:
        assert math.isclose(float(betaln(a, b)), special.betaln(a, b), rel_tol=1e-14, abs_tol=1e-14)
