"""Reductions and example masks: PyTorch's weighted mean, 0 (not NaN) when nothing counts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax._reduction import reduce_loss


def test_reductions_by_hand():
    loss = jnp.array([1.0, 2.0, 3.0, 4.0])
    counted = jnp.array([True, False, True, True])
    w = jnp.array([0.5, 9.0, 1.0, 2.0])
    np.testing.assert_array_equal(reduce_loss(loss, counted=counted), [1.0, 0.0, 3.0, 4.0])
    assert reduce_loss(loss, counted=counted, reduction="sum") == 8.0
    assert reduce_loss(loss, counted=counted, reduction="mean") == 8.0 / 3
    # weighted mean: Σ wᵢlᵢ / Σ wᵢ with the weights already applied to the losses
    wl = w * loss
    expected = (0.5 * 1 + 1.0 * 3 + 2.0 * 4) / (0.5 + 1.0 + 2.0)
    got = reduce_loss(wl, counted=counted, weight=w, reduction="mean")
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    assert reduce_loss(loss, reduction="mean") == 2.5


def test_nothing_counted_gives_zero_and_zero_gradient():
    loss = jnp.array([jnp.nan, jnp.inf])
    counted = jnp.array([False, False])
    for r in ("mean", "sum"):
        assert reduce_loss(loss, counted=counted, reduction=r) == 0.0
    g = jax.grad(lambda l: reduce_loss(l, counted=counted, reduction="mean"))(loss)
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_nan_in_a_counted_example_propagates():
    loss = jnp.array([1.0, jnp.nan])
    assert np.isnan(reduce_loss(loss, reduction="mean"))
    assert reduce_loss(loss, counted=jnp.array([True, False]), reduction="mean") == 1.0
