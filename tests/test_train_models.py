"""Models: shapes, float32 parameters, deterministic initialisation, hand-checked maths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossent_jax.train import make_model


@pytest.mark.parametrize(
    "name, hidden", [("linear", ()), ("mlp", (16, 8)), ("cnn1d", (4, 6))], ids=str
)
def test_shapes_dtype_and_determinism(name, hidden):
    init, apply = make_model(name, hidden)
    init = jax.jit(init, static_argnums=(1, 2))  # one compilation instead of many eager ops
    apply = jax.jit(apply)
    p = init(jax.random.key(3), 40, 10)
    leaves = jax.tree.leaves(p)
    assert all(leaf.dtype == jnp.float32 for leaf in leaves)  # even with x64 enabled
    out = apply(p, jnp.ones((5, 40), jnp.float32))
    assert out.shape == (5, 10) and out.dtype == jnp.float32
    again = init(jax.random.key(3), 40, 10)
    for a, b in zip(leaves, jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    other = init(jax.random.key(4), 40, 10)
    assert not all(
        np.array_equal(a, b) for a, b in zip(leaves, jax.tree.leaves(other), strict=True)
    )


def test_linear_is_affine():
    init, apply = make_model("linear", ())
    p = init(jax.random.key(0), 3, 2)
    p = {"hidden": [], "out": {"w": jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]),
                               "b": jnp.array([0.5, -0.5])}}
    out = apply(p, jnp.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(out, [[1 + 3 + 0.5, 4 + 3 - 0.5]])


def test_mlp_relu_layer():
    _, apply = make_model("mlp", (2,))
    p = {
        "hidden": [{"w": jnp.array([[1.0, -1.0]]), "b": jnp.zeros(2)}],
        "out": {"w": jnp.array([[1.0], [1.0]]), "b": jnp.zeros(1)},
    }
    # x = 2: hidden relu([2, -2]) = [2, 0] -> 2;  x = -3: relu([-3, 3]) = [0, 3] -> 3
    np.testing.assert_allclose(apply(p, jnp.array([[2.0], [-3.0]])), [[2.0], [3.0]])


def test_cnn1d_layout_and_init_scale():
    init = make_model("cnn1d", (4, 6))[0]
    p = jax.eval_shape(lambda k: init(k, 40, 10), jax.random.key(0))
    assert p["conv"][0]["w"].shape == (5, 1, 4)  # (kernel, in, out)
    assert p["conv"][1]["w"].shape == (5, 4, 6)
    assert p["out"]["w"].shape == (10 * 6, 10)  # 40 -> 20 -> 10 positions, 6 channels
    # He init of the convolutions: std sqrt(2 / fan_in), fan_in = kernel 5 x input channels;
    # LeCun for the read-out: std sqrt(1 / fan_in). 4096 output channels: ~1% sampling error
    big = jax.jit(make_model("cnn1d", (4, 4096))[0], static_argnums=(1, 2))(jax.random.key(1), 8, 2)
    np.testing.assert_allclose(np.std(big["conv"][0]["w"]), np.sqrt(2 / (5 * 1)), rtol=0.35)  # 20 values
    np.testing.assert_allclose(np.std(big["conv"][1]["w"]), np.sqrt(2 / (5 * 4)), rtol=0.02)
    assert abs(float(np.mean(big["conv"][1]["w"]))) < 0.01 and not np.any(big["conv"][1]["b"])
    np.testing.assert_allclose(np.std(big["out"]["w"]), np.sqrt(1 / (2 * 4096)), rtol=0.02)
    # the MLP's hidden layer: He with fan_in = features
    mlp = jax.jit(make_model("mlp", (4096,))[0], static_argnums=(1, 2))(jax.random.key(1), 100, 2)
    np.testing.assert_allclose(np.std(mlp["hidden"][0]["w"]), np.sqrt(2 / 100), rtol=0.02)


def test_cnn1d_odd_length():
    init, apply = make_model("cnn1d", (3, 3))
    p = jax.jit(init, static_argnums=(1, 2))(jax.random.key(0), 7, 2)
    assert p["out"]["w"].shape == (2 * 3, 2)  # 7 -> 4 -> 2 (SAME, stride 2)
    assert apply(p, jnp.ones((1, 7), jnp.float32)).shape == (1, 2)


def test_unknown_model():
    with pytest.raises(ValueError, match=r"unknown model 'rnn'; known: cnn1d, linear, mlp"):
        make_model("rnn", ())
