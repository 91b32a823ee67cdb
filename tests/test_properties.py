"""Hypothesis property tests of the information-theoretic invariants.

Shapes are fixed per strategy so that each jitted function compiles once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crossent_jax as cj

K = 5
SETTINGS = settings(max_examples=60, deadline=None)

positive = st.floats(1e-6, 1.0, allow_nan=False)
logit = st.floats(-30.0, 30.0, allow_nan=False)


def _normalise(x):
    return x / x.sum(-1, keepdims=True)


probs = arrays(np.float64, (3, K), elements=positive).map(_normalise)
probs_with_zeros = arrays(np.float64, (3, K), elements=st.one_of(st.just(0.0), positive)).filter(
    lambda x: np.all(x.sum(-1) > 0)
).map(_normalise)
logits = arrays(np.float64, (3, K), elements=logit)

_h = jax.jit(cj.cross_entropy)
_e = jax.jit(cj.entropy)
_kl = jax.jit(cj.kl_divergence)
_ce_int = jax.jit(cj.softmax_cross_entropy_with_integer_labels)
_ce = jax.jit(cj.softmax_cross_entropy)
_grad = jax.jit(jax.grad(lambda z, t: cj.softmax_cross_entropy(z, t, label_smoothing=0.1).sum()))


@SETTINGS
@given(p=probs_with_zeros, q=probs)
def test_cross_entropy_is_entropy_plus_kl_and_at_least_entropy(p, q):
    h, e, kl = _h(p, q), _e(p), _kl(p, q)
    np.testing.assert_allclose(h, e + kl, rtol=1e-10, atol=1e-10)
    assert np.all(kl >= -1e-12)
    assert np.all(h >= e - 1e-12)


@SETTINGS
@given(p=probs_with_zeros)
def test_kl_of_a_distribution_with_itself_is_zero(p):
    np.testing.assert_allclose(_kl(p, p), 0.0, atol=1e-15)


@SETTINGS
@given(z=logits, y=arrays(np.int32, (3,), elements=st.integers(0, K - 1)),
       c=st.floats(-1e3, 1e3, allow_nan=False))
def test_shift_invariance_of_logits(z, y, c):
    a = _ce_int(z, y)
    b = _ce_int(z + c, y)
    # lse(z + c) − (z + c)_y = lse(z) − z_y; the rounding of z + c costs |c|·eps per entry
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=4 * (abs(c) + 30) * np.finfo(float).eps)


@SETTINGS
@given(z=logits, t=probs)
def test_gradient_sums_to_zero_over_classes(z, t):
    g = _grad(z, t)
    np.testing.assert_allclose(g.sum(-1), 0.0, atol=1e-12)
    # and the loss of the soft labels is never below their entropy (Gibbs' inequality)
    assert np.all(_ce(z, t) >= _e(t) - 1e-10)


@SETTINGS
@given(z=logits, y=arrays(np.int32, (3,), elements=st.integers(0, K - 1)))
def test_integer_labels_equal_one_hot_soft_labels(z, y):
    np.testing.assert_allclose(_ce_int(z, y), _ce(z, jax.nn.one_hot(jnp.asarray(y), K)),
                               rtol=1e-12, atol=1e-12)
