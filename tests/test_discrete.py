"""cross_entropy / entropy / kl_divergence on probability vectors."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
import scipy.special
import scipy.stats

import crossent_jax as cj


def _pq(shape=(5, 6), seed=0, concentration=1.0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(concentration * np.ones(shape[-1]), size=shape[:-1])
    q = rng.dirichlet(concentration * np.ones(shape[-1]), size=shape[:-1])
    return p, q


def test_match_scipy_and_naive_reference():
    p, q = _pq()
    # scipy.stats.entropy(p) = H(p); entropy(p, q) = KL(p || q)
    chex.assert_trees_all_close(cj.entropy(p), scipy.stats.entropy(p, axis=-1), rtol=1e-13)
    chex.assert_trees_all_close(cj.kl_divergence(p, q), scipy.stats.entropy(p, q, axis=-1), rtol=1e-12)
    chex.assert_trees_all_close(cj.cross_entropy(p, q), ref.cross_entropy(p, q), rtol=1e-13)
    chex.assert_trees_all_close(
        cj.kl_divergence(p, q), scipy.special.rel_entr(p, q).sum(-1), rtol=1e-12
    )


def test_seed_dog_cat_example_sign():
    # Seed 001 computes H = −(1·log 0.8 + 0·log 0.2) and prints −0.223: the sign is lost.
    h = cj.cross_entropy(jnp.array([1.0, 0.0]), jnp.array([0.8, 0.2]))
    np.testing.assert_allclose(h, -np.log(0.8), rtol=1e-15)
    assert h > 0


def test_zero_log_zero_and_impossible_events():
    p = jnp.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])
    q = jnp.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    h = cj.cross_entropy(p, q)
    np.testing.assert_allclose(h[0], np.log(2), rtol=1e-15)
    assert h[1] == np.inf  # p > 0 where q = 0
    assert cj.kl_divergence(p, q)[1] == np.inf
    assert cj.kl_divergence(p, q)[0] == 0.0
    np.testing.assert_allclose(cj.entropy(p), [np.log(2), np.log(2)], rtol=1e-15)
    # gradients stay finite where p = 0 (no 0·log 0 NaN), both modes
    g = jax.jit(jax.grad(lambda p: cj.entropy(p).sum()))(p)
    chex.assert_tree_all_finite(g)
    gq = jax.jit(jax.grad(lambda q: cj.cross_entropy(p[:1], q[:1]).sum()))(q)
    chex.assert_tree_all_finite(gq)
    _, tan = jax.jvp(lambda q: cj.cross_entropy(p[:1], q[:1]), (q,), (jnp.ones_like(q),))
    chex.assert_tree_all_finite(tan)


def test_gradients_analytic():
    # concentration 5 keeps entries away from 0, where finite differences are unreliable
    p, q = _pq((3, 4), seed=1, concentration=5.0)
    p, q = jnp.asarray(p), jnp.asarray(q)
    gp, gq = jax.jit(jax.grad(lambda p, q: cj.cross_entropy(p, q).sum(), argnums=(0, 1)))(p, q)
    np.testing.assert_allclose(gp, -np.log(q), rtol=1e-14)
    np.testing.assert_allclose(gq, -p / q, rtol=1e-14)
    ge = jax.jit(jax.grad(lambda p: cj.entropy(p).sum()))(p)
    np.testing.assert_allclose(ge, -np.log(p) - 1, rtol=1e-14)
    gk = jax.jit(jax.grad(lambda p: cj.kl_divergence(p, q).sum()))(p)
    np.testing.assert_allclose(gk, np.log(p) + 1 - np.log(q), rtol=1e-13, atol=1e-15)
    jax.test_util.check_grads(jax.jit(lambda p, q: cj.kl_divergence(p, q).sum()), (p, q), order=2)


def test_masks_and_axes():
    p, q = _pq((4, 5), seed=2)
    keep = np.array([True, False, True, True, True])
    got = cj.cross_entropy(p, q, where=keep[None])
    chex.assert_trees_all_close(got, ref.cross_entropy(p[:, keep], q[:, keep]), rtol=1e-13)
    ex = np.array([True, False, True, False])
    np.testing.assert_array_equal(cj.entropy(p, where=ex), np.where(ex, cj.entropy(p), 0.0))
    chex.assert_trees_all_close(cj.entropy(p.T, axis=0), cj.entropy(p))
    p3 = p.reshape(4, 1, 5)
    chex.assert_trees_all_close(cj.entropy(p3, axis=(1, 2)), cj.entropy(p), rtol=1e-14)


def test_negative_probabilities_give_nan():
    p = jnp.array([[1.2, -0.2], [0.5, 0.5]])
    q = jnp.array([[0.5, 0.5], [0.5, 0.5]])
    for value in (cj.cross_entropy(p, q), cj.entropy(p), cj.kl_divergence(p, q),
                  cj.cross_entropy(q, p)):
        assert np.isnan(value[0]) and np.isfinite(value[1])


def test_low_precision_and_transforms():
    p, q = _pq((4, 3), seed=3)
    pb, qb = jnp.asarray(p, jnp.bfloat16), jnp.asarray(q, jnp.bfloat16)
    h = cj.cross_entropy(pb, qb)
    chex.assert_type(h, jnp.float32)
    g = jax.grad(lambda q: cj.cross_entropy(pb, q).sum())(qb)
    chex.assert_type(g, jnp.bfloat16)
    chex.assert_trees_all_close(jax.vmap(cj.kl_divergence)(p, q), cj.kl_divergence(p, q))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: cj.cross_entropy(np.ones(3), np.ones(4)), ValueError, r"Shape mismatch.*\(3,\).*\(4,\)"),
        (lambda: cj.entropy(np.ones(3, int)), TypeError, "p must be a floating-point array, got dtype int64"),
        (lambda: cj.kl_divergence(np.ones(3), np.ones(3, int)), TypeError, "q must be a floating.*int64"),
        (lambda: cj.entropy(np.ones((2, 3)), axis=-3), ValueError, "axis -3 is out of bounds for p"),
        (lambda: cj.entropy(np.ones((2, 3)), where=np.ones((4,), bool)), ValueError, "where must be"),
    ],
    ids=["shape", "int-p", "int-q", "axis", "where"],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_gradient_wrt_p_at_p_zero():
    # Regression (issue 3): ∂/∂p_i of −Σ p log q is −log q_i for every p, including p_i = 0;
    # guarding 0·log 0 on p made it 0 there. Math: H(p, q) is linear in p.
    p = jnp.array([0.0, 0.25, 0.75])
    q = jnp.array([0.3, 0.2, 0.5])
    g = jax.grad(lambda p: cj.cross_entropy(p, q))(p)
    np.testing.assert_allclose(g, -np.log(q), rtol=1e-14)
    _, tan = jax.jvp(lambda p: cj.cross_entropy(p, q), (p,), (jnp.array([1.0, 0.0, 0.0]),))
    np.testing.assert_allclose(tan, -np.log(0.3), rtol=1e-14)
    # KL(p‖q) = Σ p log p − p log q: the p log p part has the documented derivative 0 at
    # p = 0 (as in `entropy`), the cross term −log q.
    gk = jax.grad(lambda p: cj.kl_divergence(p, q))(p)
    want = np.array([-np.log(0.3), np.log(0.25) + 1 - np.log(0.2), np.log(0.75) + 1 - np.log(0.5)])
    np.testing.assert_allclose(gk, want, rtol=1e-14)
    # p = q = 0 stays finite with derivative 0; p > 0 where q = 0 is still +inf
    assert cj.cross_entropy([0.0, 1.0], [0.0, 1.0]) == 0.0
    chex.assert_tree_all_finite(jax.grad(lambda q: cj.cross_entropy(jnp.array([0.0, 1.0]), q))(jnp.array([0.0, 1.0])))
    assert cj.cross_entropy([0.5, 0.5], [0.0, 1.0]) == np.inf
