"""sigmoid_binary_cross_entropy and binary_cross_entropy."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
import torch

import crossent_jax as cj

SBCE = cj.sigmoid_binary_cross_entropy
BCE = cj.binary_cross_entropy


def _data(shape=(6, 4), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * 3, rng.uniform(size=shape)


def test_sigmoid_bce_matches_reference_optax_and_torch():
    x, t = _data()
    chex.assert_trees_all_close(SBCE(x, t), ref.sigmoid_bce(x, t), rtol=1e-13)
    chex.assert_trees_all_close(SBCE(x, t), optax.sigmoid_binary_cross_entropy(x, t), rtol=1e-13)
    pw = np.array([0.5, 1.0, 2.0, 3.0])
    for reduction in ("none", "mean", "sum"):
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(x), torch.tensor(t), pos_weight=torch.tensor(pw), reduction=reduction
        ).numpy()
        got = SBCE(x, t, pos_weight=pw, reduction=reduction)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_sigmoid_bce_gradient_identity_and_smoothing():
    x, t = _data(seed=1)
    g = jax.jit(jax.grad(lambda x: SBCE(x, t).sum()))(jnp.asarray(x))
    np.testing.assert_allclose(g, 1 / (1 + np.exp(-x)) - t, rtol=1e-13, atol=1e-15)
    ts = 0.8 * t + 0.1
    chex.assert_trees_all_close(SBCE(x, t, label_smoothing=0.2), ref.sigmoid_bce(x, ts), rtol=1e-13)
    pw = np.array([0.5, 1.0, 2.0, 3.0])
    gw = jax.jit(jax.grad(lambda x: SBCE(x, t, pos_weight=pw).sum()))(jnp.asarray(x))
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(gw, s * (1 - t + pw * t) - pw * t, rtol=1e-12, atol=1e-15)


def test_sigmoid_bce_extreme_logits_are_finite():
    x = jnp.array([1e4, -1e4, 80.0, -80.0], jnp.float32)
    t = jnp.array([0.0, 1.0, 1.0, 0.0], jnp.float32)
    val, g = jax.value_and_grad(lambda x: SBCE(x, t).sum())(x)
    np.testing.assert_allclose(SBCE(x, t), [1e4, 1e4, 0.0, 0.0], rtol=1e-6, atol=1e-30)
    chex.assert_tree_all_finite((val, g))
    np.testing.assert_allclose(g, [1.0, -1.0, 0.0, 0.0], atol=1e-30)


def test_sigmoid_bce_bool_and_int_labels_and_low_precision():
    x, _ = _data((3, 2), seed=2)
    tb = np.array([[True, False], [False, True], [True, True]])
    chex.assert_trees_all_close(SBCE(x, tb), SBCE(x, tb.astype(np.float64)))
    chex.assert_trees_all_close(SBCE(x, tb.astype(np.int32)), SBCE(x, tb.astype(np.float64)))
    xb = jnp.asarray(x, jnp.bfloat16)
    val, g = jax.value_and_grad(lambda x: SBCE(x, tb, reduction="sum"))(xb)
    chex.assert_type(val, jnp.float32)
    chex.assert_type(g, jnp.bfloat16)


def test_seed_five_image_table():
    # Seed 001, 3rd formula: labels (1,0,1,1,0), predictions (0.8,0.2,0.6,0.9,0.3):
    # positive-term-only mean 0.168 (the article's number); the full BCE mean is 0.284.
    y = jnp.array([0.8, 0.2, 0.6, 0.9, 0.3])
    t = jnp.array([1, 0, 1, 1, 0])
    pos = -(np.log(0.8) + np.log(0.6) + np.log(0.9)) / 5
    full = pos - (np.log(0.8) + np.log(0.7)) / 5
    np.testing.assert_allclose(BCE(y, t, positive_only=True, reduction="mean"), pos, rtol=1e-15)
    np.testing.assert_allclose(BCE(y, t, reduction="mean"), full, rtol=1e-15)
    assert round(float(pos), 3) == 0.168 and round(float(full), 3) == 0.284
    np.testing.assert_allclose(BCE(y, t), ref.bce(y, t), rtol=1e-14)
    # torch's BCELoss is the full form
    expected = torch.nn.functional.binary_cross_entropy(
        torch.tensor(np.asarray(y)), torch.tensor(np.asarray(t, np.float64))
    )
    np.testing.assert_allclose(BCE(y, t, reduction="mean"), expected.item(), rtol=1e-12)


def test_bce_probability_edges():
    y = jnp.array([0.0, 1.0, 0.0, 1.0])
    t = jnp.array([0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(BCE(y, t), [0.0, 0.0, np.inf, np.inf])
    g = jax.grad(lambda y: BCE(y, t[:2]).sum())(y[:2])
    chex.assert_tree_all_finite(g)  # certain and correct: no 0·log 0 NaN
    bad = BCE(jnp.array([1.5, -0.1, 0.5]), jnp.array([1.0, 0.0, 2.0]))
    assert np.all(np.isnan(bad))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: SBCE(np.ones(3, int), np.ones(3)), TypeError, "logits must be a floating.*int64"),
        (lambda: SBCE(np.ones(3), np.ones(4)), ValueError, r"Shape mismatch.*\(3,\).*\(4,\)"),
        (lambda: SBCE(np.ones(3), np.ones(3), reduction="max"), ValueError, "reduction must be one of"),
        (lambda: SBCE(np.ones(3), np.ones(3), label_smoothing=2), ValueError, r"label_smoothing must be in \[0.0, 1.0\], got 2"),
        (lambda: SBCE(np.ones((2, 3)), np.ones((2, 3)), pos_weight=np.ones(4)), ValueError, r"pos_weight must be broadcastable.*\(2, 3\).*\(4,\)"),
        (lambda: SBCE(np.ones(3), np.array(["a", "b", "c"])), TypeError, "labels must be a real-valued"),
        (lambda: BCE(np.ones(3), np.ones(3), positive_only="yes"), TypeError, "positive_only must be a bool"),
        (lambda: BCE(np.ones(3, int), np.ones(3)), TypeError, "probs must be a floating"),
        (lambda: BCE(np.ones(3), np.ones(2)), ValueError, r"probs has shape \(3,\) but labels"),
    ],
    ids=["int-logits", "shape", "reduction", "smoothing", "pos_weight", "str-labels", "positive_only", "int-probs", "bce-shape"],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bce_gradient_wrt_labels_at_zero_and_one():
    # Regression (issue 3): ∂ℓ/∂t = −log y + log(1 − y) for every t in [0, 1]; guarding
    # 0·log 0 on t made the t = 0 and t = 1 entries wrong.
    y = jnp.array([0.3, 0.6, 0.8])
    t = jnp.array([0.0, 1.0, 0.5])
    want = -np.log(np.array([0.3, 0.6, 0.8])) + np.log(np.array([0.7, 0.4, 0.2]))
    np.testing.assert_allclose(jax.grad(lambda t: BCE(y, t).sum())(t), want, rtol=1e-14)
    # positive_only: ∂/∂t (−t log y) = −log y
    np.testing.assert_allclose(
        jax.grad(lambda t: BCE(y, t, positive_only=True).sum())(t), -np.log(np.array([0.3, 0.6, 0.8])), rtol=1e-14
    )
    _, tan = jax.jvp(lambda t: BCE(y, t), (t,), (jnp.ones(3),))
    np.testing.assert_allclose(tan, want, rtol=1e-14)
