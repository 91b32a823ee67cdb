"""Every error path of crossent_jax.continuous, with the message it must show."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossent_jax import continuous as ct

BAD_PARAMS = [
    (lambda: ct.Normal(0.0, 0.0), "scale must be > 0, got 0.0"),
    (lambda: ct.Normal(0.0, -1.0), "scale must be > 0"),
    (lambda: ct.Normal(0.0, float("nan")), "scale must not be NaN, got nan"),
    (lambda: ct.Normal(float("nan"), 1.0), "loc must not be NaN, got nan"),
    (lambda: ct.StudentT(3.0, 0.0, np.array(np.nan)), "scale must not be NaN"),
    (lambda: ct.Uniform(0.0, float("nan")), "high must not be NaN"),
    (lambda: ct.MixtureOfNormals(np.array([0.5, 0.5]), np.array([0.0, np.nan]), np.ones(2)),
     "locs must not be NaN"),
    (lambda: ct.Laplace(0.0, -2.0), "scale must be > 0"),
    (lambda: ct.Logistic(0.0, 0.0), "scale must be > 0"),
    (lambda: ct.StudentT(0.0, 0.0, 1.0), "df must be > 0"),
    (lambda: ct.StudentT(1.0, 0.0, -1.0), "scale must be > 0"),
    (lambda: ct.Exponential(-1.0), "rate must be > 0"),
    (lambda: ct.Gamma(-1.0, 1.0), "concentration must be > 0"),
    (lambda: ct.Gamma(1.0, 0.0), "rate must be > 0"),
    (lambda: ct.Beta(0.0, 1.0), "alpha must be > 0"),
    (lambda: ct.Beta(1.0, -1.0), "beta must be > 0"),
    (lambda: ct.Uniform(1.0, 1.0), r"high - low must be > 0 \(low < high\)"),
    (lambda: ct.MixtureOfNormals(np.array([0.5, 0.6]), np.zeros(2), np.ones(2)),
     r"sum\(weights\) must be 1"),
    (lambda: ct.MixtureOfNormals(np.array([1.5, -0.5]), np.zeros(2), np.ones(2)),
     "weights must be >= 0"),
    (lambda: ct.MixtureOfNormals(np.array([0.5, 0.5]), np.zeros(2), np.array([1.0, 0.0])),
     "scales must be > 0"),
    (lambda: ct.MixtureOfNormals(np.array([0.5, 0.5]), np.zeros(3), np.ones(2)),
     "one shape"),
]


@pytest.mark.parametrize("make,match", BAD_PARAMS, ids=[m for _, m in BAD_PARAMS])
def test_bad_concrete_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("fn", [ct.cross_entropy, ct.kl_divergence], ids=["ce", "kl"])
@pytest.mark.parametrize("q", [ct.Normal(0.0, 1.0), ct.StudentT(3.0, 0.0, 1.0)], ids=["N", "T"])
def test_traced_nan_location_gives_nan(fn, q):
    # issue 10 item 5: a NaN loc passes "scale > 0" and used to give +inf
    f = jax.jit(lambda m: fn(ct.Normal(m, 1.0), q))
    assert math.isnan(float(f(jnp.nan)))
    g = jax.jit(lambda m: fn(q, ct.Normal(m, 1.0)))
    assert math.isnan(float(g(jnp.nan)))


@pytest.mark.parametrize("dt", [jnp.bfloat16, jnp.float16])
def test_half_precision_parameters_are_computed_in_float32(dt):
    # issue 10 item 7: bf16 / f16 are floating, accepted and computed in float32
    d = ct.Normal(jnp.asarray(0.5, dt), jnp.asarray(2.0, dt))
    assert d.loc.dtype == jnp.float32 and d.scale.dtype == jnp.float32
    q = ct.Normal(jnp.asarray(0.0, dt), jnp.asarray(1.0, dt))
    h = ct.cross_entropy(d, q)
    assert h.dtype == jnp.float32
    # 0.5 and 2.0 are exact in bf16: H = ½log(2π) + (4 + 0.25)/2
    np.testing.assert_allclose(float(h), 0.5 * math.log(2 * math.pi) + 4.25 / 2, rtol=1e-6)


def test_bad_traced_parameters_give_nan():
    f = jax.jit(lambda s: ct.cross_entropy(ct.Normal(0.0, s), ct.StudentT(3.0, 0.0, 1.0)))
    assert math.isnan(float(f(-1.0))) and np.isfinite(float(f(1.0)))
    g = jax.jit(lambda k: ct.cross_entropy(ct.Gamma(k, 1.0), ct.Normal(0.0, 1.0)))
    assert math.isnan(float(g(0.0)))
    h = jax.jit(lambda s: ct.Laplace(0.0, s).log_prob(0.3))
    assert math.isnan(float(h(-1.0)))
    e = jax.jit(lambda a: ct.Beta(a, 1.0).entropy())
    assert math.isnan(float(e(-0.5)))


@pytest.mark.parametrize("method", ["tanh_sinh", "closed_form"])
def test_invalid_member_has_nan_value_and_gradient_only_for_itself(method):
    """A batch member with scale −1 or loc NaN gets NaN value *and* NaN gradient (a 0
    gradient would look plausible to an optimiser); the valid members keep their exact
    gradient: for H(N(m, s), Logistic(0.4, 1)) by quadrature, equal to the eager one; for
    H(N(m, s), N(0.4, 1)) = log √(2π) + (s² + (m − 0.4)²)/2, d/dm = m − 0.4."""
    q = ct.Logistic(0.4, 1.0) if method == "tanh_sinh" else ct.Normal(0.4, 1.0)
    m, s = jnp.array([0.1, 0.2, jnp.nan, 0.7]), jnp.array([1.0, -1.0, 1.0, 2.0])

    def f(m, s):
        return ct.cross_entropy(ct.Normal(m, s), q, method=method)

    v = jax.jit(jax.vmap(f))(m, s)
    gm, gs = jax.jit(jax.vmap(jax.grad(f, argnums=(0, 1))))(m, s)
    bad = np.array([False, True, True, False])
    assert np.all(np.isnan(np.asarray(v)[bad])) and np.all(np.isfinite(np.asarray(v)[~bad]))
    assert np.all(np.isnan(np.asarray(gm)[bad])) and np.all(np.isnan(np.asarray(gs)[bad]))
    for i in (0, 3):
        if method == "closed_form":
            want = float(m[i]) - 0.4
        else:
            want = float(jax.grad(f)(float(m[i]), float(s[i])))
        assert math.isclose(float(gm[i]), want, rel_tol=1e-12), (i, float(gm[i]), want)


@pytest.mark.parametrize("value,match", [
    ("1.0", "loc must be a real number or floating array"),
    (True, "loc must be a real number or floating array"),
    (np.array([1, 2]), "loc must be a floating array, got dtype int64"),
], ids=["str", "bool", "int-array"])
def test_bad_parameter_types(value, match):
    with pytest.raises(TypeError, match=match):
        ct.Normal(value, 1.0)


P, Q = ct.Normal(0.0, 1.0), ct.StudentT(3.0, 0.0, 1.0)

CALL_ERRORS = [
    (lambda: ct.cross_entropy(P, Q, method="quad"), ValueError, "method must be one of"),
    (lambda: ct.cross_entropy(P, Q, method="closed_form"), ValueError,
     "no closed form registered for p=Normal, q=StudentT; registered pairs: "),
    (lambda: ct.cross_entropy(P, ct.Normal(0.0, 1.0), method="closed_form", num_points=5),
     ValueError, "num_points is not used by method='closed_form'"),
    (lambda: ct.cross_entropy(P, Q, method="monte_carlo"), ValueError,
     "needs key=jax.random.key"),
    (lambda: ct.cross_entropy(P, Q, key=jax.random.key(0)), ValueError,
     "key is only used by method='monte_carlo', got method='auto'"),
    (lambda: ct.cross_entropy(P, Q, method="tanh_sinh", num_points=128), ValueError,
     "num_points for tanh_sinh must be odd, got 128"),
    (lambda: ct.cross_entropy(P, Q, method="simpson", num_points=100), ValueError,
     "num_points for simpson must be odd, got 100"),
    (lambda: ct.cross_entropy(P, Q, method="gauss_legendre", num_points=0), ValueError,
     "num_points for gauss_legendre must be >= 1, got 0"),
    (lambda: ct.cross_entropy(P, Q, method="trapezoid", num_points=1), ValueError,
     "num_points for trapezoid must be >= 2, got 1"),
    (lambda: ct.cross_entropy(P, Q, method="trapezoid", num_points=10.0), TypeError,
     "num_points for trapezoid must be an int, got 10.0"),
    (lambda: ct.cross_entropy(P, Q, method="gauss_hermite", num_points=True), TypeError,
     "must be an int, got True"),
    (lambda: ct.cross_entropy(ct.Gamma(1.0, 1.0), Q, method="gauss_hermite"), ValueError,
     "method='gauss_hermite' needs a Normal or MixtureOfNormals p"),
    (lambda: ct.cross_entropy(P, Q, method="gauss_laguerre"), ValueError,
     r"method='gauss_laguerre' needs p with support \[0, inf\)"),
    (lambda: ct.cross_entropy(jnp.ones(3), Q), TypeError,
     "p must be a crossent_jax.continuous distribution, got ArrayImpl"),
    (lambda: ct.cross_entropy(P, "normal"), TypeError,
     "q must be a crossent_jax.continuous distribution, got str"),
    (lambda: ct.cross_entropy(ct.Normal(jnp.zeros(2), jnp.ones(2)), Q), ValueError,
     r"must have parameters of rank 0, got shape \(2,\); use jax.vmap"),
    (lambda: ct.entropy(ct.MixtureOfNormals(np.ones(1), np.zeros(1), np.ones(1)),
                        method="closed_form"), ValueError, "no closed-form entropy"),
    (lambda: ct.entropy(P, num_points=3), ValueError, "num_points and key are not used"),
    (lambda: ct.kl_divergence(P, Q, method="monte_carlo"), ValueError, "needs key="),
    (lambda: ct.cross_entropy(P, Q, rtol=0.0), ValueError, r"rtol must be in \(0.0, inf\]"),
    (lambda: ct.kl_divergence(P, Q, rtol="1e-8"), TypeError, "rtol must be a real number"),
    (lambda: ct.kl_divergence(P, Q, method="closed_form"), ValueError,
     "no closed form registered for p=Normal, q=StudentT"),
    (lambda: ct.grid_cross_entropy(P, Q, low=0.0, high=1.0, num=1), ValueError,
     "num must be >= 2, got 1"),
    (lambda: ct.grid_cross_entropy(P, Q, low=0.0, high=1.0, num=2.5), TypeError,
     "num must be an int"),
    (lambda: ct.grid_cross_entropy(P, Q, low=1.0, high=1.0, num=5), ValueError,
     "low must be < high, got low=1.0, high=1.0"),
]


@pytest.mark.parametrize("call,exc,match", CALL_ERRORS, ids=[m[:40] for _, _, m in CALL_ERRORS])
def test_call_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_entropy_of_distribution_without_closed_form_method():
    with pytest.raises(NotImplementedError, match="MixtureOfNormals has no closed-form entropy"):
        ct.MixtureOfNormals(np.ones(1), np.zeros(1), np.ones(1)).entropy()


def test_rtol_default_follows_dtype_and_drives_converged():
    with jax.enable_x64(False):
        p, q = ct.Normal(0.0, 1.0), ct.StudentT(3.0, 0.5, 0.7)
        _, info = ct.cross_entropy(p, q, return_info=True)
        assert info.rtol == 1e-5 and bool(info.converged)
    p, q = ct.Normal(0.0, 1.0), ct.StudentT(3.0, 0.5, 0.7)
    h, info = ct.cross_entropy(p, q, method="trapezoid", num_points=11, return_info=True)
    # 11 grid points per piece cannot reach 1e-10; the flag says so, and a loose rtol accepts
    assert info.rtol == 1e-10 and not bool(info.converged)
    _, loose = ct.cross_entropy(p, q, method="trapezoid", num_points=11, return_info=True,
                                rtol=1.0)
    assert bool(loose.converged)
