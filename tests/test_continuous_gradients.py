"""Gradients of continuous.cross_entropy w.r.t. every parameter of p and q, and the hazards
of differentiating a quadrature (kinks, parameter-dependent nodes, edges of the support)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossent_jax import continuous as ct
from crossent_jax.continuous._quadrature import gauss_laguerre


def _grads(p, q, **kw):
    # jit: one compiled program for forward + backward instead of op-by-op dispatch
    fn = jax.jit(jax.grad(lambda p, q: ct.cross_entropy(p, q, **kw), argnums=(0, 1)))
    gp, gq = fn(p, q)
    return np.concatenate([np.ravel(g) for g in jax.tree_util.tree_leaves((gp, gq))])


def _central(p, q, **kw):
    """Central differences of the value w.r.t. every parameter entry (step 1e-5·max(1, |θ|))."""
    leaves, tree = jax.tree_util.tree_flatten((p, q))
    out = []
    for i, leaf in enumerate(leaves):
        arr = np.asarray(leaf, dtype=float)
        for j in np.ndindex(arr.shape or ()):
            h = 1e-5 * max(1.0, abs(float(arr[j])))
            vals = []
            for sgn in (1, -1):
                pert = arr.copy()
                pert[j] += sgn * h
                new = [*leaves[:i], jnp.asarray(pert), *leaves[i + 1:]]
                pp, qq = jax.tree_util.tree_unflatten(tree, new)
                vals.append(float(ct.cross_entropy(pp, qq, **kw)))
            out.append((vals[0] - vals[1]) / (2 * h))
    return np.array(out)


def test_normal_normal_gradient_by_hand():
    mp, sp, mq, sq = 0.3, 1.2, -0.5, 2.0
    d = mp - mq
    expected = [d / sq**2, sp / sq**2, -d / sq**2, 1 / sq - (sp**2 + d**2) / sq**3]
    for method in ("closed_form", "gauss_hermite"):
        g = _grads(ct.Normal(mp, sp), ct.Normal(mq, sq), method=method)
        np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12, err_msg=method)


GRAD_CASES = [
    ("normal-studentt", lambda: ct.Normal(0.0, 1.0), lambda: ct.StudentT(3.0, 0.5, 0.7)),
    ("beta0.5-logistic", lambda: ct.Beta(0.5, 0.7), lambda: ct.Logistic(0.3, 0.4)),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_auto_gradients_match_central_differences(case):
    _, pf, qf = case
    p, q = pf(), qf()
    g, fd = _grads(p, q), _central(p, q)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, fd, rtol=1e-8, atol=1e-8)


CLOSED = [
    ("normal-laplace", lambda: ct.Normal(0.0, 1.0), lambda: ct.Laplace(0.7, 1.3)),
    ("beta0.5-beta", lambda: ct.Beta(0.5, 0.7), lambda: ct.Beta(2.0, 3.0)),
    ("gamma-gamma", lambda: ct.Gamma(2.5, 1.5), lambda: ct.Gamma(0.7, 0.4)),
    ("mixture-normal", lambda: ct.MixtureOfNormals(np.array([0.3, 0.7]), np.array([-2.0, 1.0]),
                                                   np.array([0.5, 1.5])),
     lambda: ct.Normal(0.2, 1.5)),
]


@pytest.mark.parametrize("case", CLOSED, ids=[c[0] for c in CLOSED])
def test_quadrature_gradient_equals_closed_form_gradient(case):
    """Includes the kink of a Laplace q (d/d loc) and the edge singularity of Beta(0.5, ·):
    split points that move with the parameters and nodes kept off the support's edges."""
    _, pf, qf = case
    p, q = pf(), qf()
    exact = _grads(p, q, method="closed_form")
    # the closed forms themselves against central differences
    np.testing.assert_allclose(exact, _central(p, q, method="closed_form"), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(_grads(p, q, method="tanh_sinh"), exact, rtol=1e-9, atol=1e-11)


def test_hazard_unsplit_kink_gives_wrong_loc_gradient():
    """Gauss–Hermite cannot split at the Laplace kink: its value is fine to ~1e-3 but the
    derivative w.r.t. the kink location is off; the split tanh–sinh rule is right."""
    p, q = ct.Normal(0.0, 1.0), ct.Laplace(0.7, 1.3)
    exact = _grads(p, q, method="closed_form")[2]
    gh = _grads(p, q, method="gauss_hermite", num_points=20)[2]
    ts = _grads(p, q, method="tanh_sinh")[2]
    assert abs(gh - exact) > 1e-4
    assert abs(ts - exact) < 1e-11


def test_hazard_numpy_nodes_give_zero_gradient():
    """Generalized Gauss–Laguerre for a Gamma p: nodes and weights depend on the concentration.
    Our JAX Golub–Welsch carries the derivative; numpy/scipy nodes would not."""
    q = ct.Normal(1.0, 0.8)

    def with_constant_nodes(k):
        # what numpy/scipy nodes amount to: constants as far as JAX can see
        u, w = jax.lax.stop_gradient(gauss_laguerre(16, k - 1))
        return jnp.sum(w * -q.log_prob(u / 2.0))

    k = 2.5
    exact = jax.grad(lambda k: ct.cross_entropy(ct.Gamma(k, 2.0), q, method="closed_form"))(k)
    ours = jax.grad(lambda k: ct.cross_entropy(ct.Gamma(k, 2.0), q, method="gauss_laguerre"))(k)
    assert abs(float(ours) - float(exact)) < 1e-9 * abs(float(exact))
    assert float(jax.grad(with_constant_nodes)(k)) == 0.0 and abs(float(exact)) > 0.1


def test_hazard_mask_after_log_prob_gives_nan_gradient():
    """Evaluating a log density at a point on the support's edge and masking afterwards leaves
    NaN in the gradient; the kit replaces such points before calling log_prob."""
    x = jnp.array([0.0, 0.5])

    def naive(a):
        lp = (a - 1) * jnp.log(x) + jnp.log(a)  # log x = −inf at the edge
        return jnp.sum(jnp.where(x > 0, lp, 0.0))

    assert np.isnan(float(jax.grad(naive)(0.5)))
    g = jax.grad(lambda a: jnp.sum(jnp.where(x > 0, ct.Beta(a, 2.0).log_prob(x), 0.0)))(0.5)
    assert np.isfinite(float(g))
    g = jax.grad(lambda a: ct.cross_entropy(ct.Beta(a, 0.7), ct.Logistic(0.3, 0.4)))(0.5)
    assert np.isfinite(float(g))


def test_vmap_of_grad_equals_loop():
    locs = jnp.array([-1.0, 0.0, 2.0])
    f = jax.grad(lambda m: ct.cross_entropy(ct.Normal(m, 1.0), ct.StudentT(3.0, 0.5, 0.7)))
    batched = jax.jit(jax.vmap(f))(locs)
    np.testing.assert_allclose(batched, jnp.stack([f(m) for m in locs]), rtol=1e-12)
