"""Models as pure-JAX pytrees: ``init(key, ...) -> params`` and ``apply(params, x) -> logits``.

Parameters are nested dicts of float32 arrays; initialisation is deterministic given the
key. Weights use He (Kaiming) normal initialisation ``N(0, 2 / fan_in)`` for layers
followed by a ReLU and LeCun normal ``N(0, 1 / fan_in)`` for the read-out; biases are 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from crossent_jax._errors import InputValueError

Params = dict
F32 = jnp.float32


def _dense(key, fan_in: int, fan_out: int, gain: float) -> dict:
    w = jax.random.normal(key, (fan_in, fan_out), F32) * jnp.sqrt(F32(gain / fan_in))
    return {"w": w, "b": jnp.zeros((fan_out,), F32)}


def _apply_dense(p: dict, x: jax.Array) -> jax.Array:
    return x @ p["w"] + p["b"][None, :]


def init_mlp(key, num_features: int, num_classes: int, hidden_sizes: Sequence[int]) -> Params:
    """MLP ``features -> hidden_sizes... -> classes`` with ReLU; ``()`` is a linear model."""
    sizes = [num_features, *hidden_sizes]
    keys = jax.random.split(key, len(sizes))
    layers = [_dense(keys[i], sizes[i], sizes[i + 1], 2.0) for i in range(len(sizes) - 1)]
    return {"hidden": layers, "out": _dense(keys[-1], sizes[-1], num_classes, 1.0)}


def apply_mlp(params: Params, x: jax.Array) -> jax.Array:
    """``x [batch, features] -> logits [batch, classes]``."""
    h = x
    for layer in params["hidden"]:
        h = jax.nn.relu(_apply_dense(layer, h))
    return _apply_dense(params["out"], h)


_KERNEL = 5  # kernel width of every convolution
_STRIDE = 2  # each convolution halves the length ("SAME" padding)


def init_cnn1d(key, num_features: int, num_classes: int, channels: Sequence[int]) -> Params:
    """1-D CNN: ``len(channels)`` convolutions (kernel 5, stride 2, SAME, ReLU), then linear.

    The signal ``[batch, features]`` is read as ``[batch, length=features, channels=1]``;
    after ``n`` stride-2 convolutions the length is ``ceil(features / 2**n)``, flattened into
    the linear read-out. Close to the small CNN of the MNIST-1D paper (Greydanus 2020).
    """
    keys = jax.random.split(key, len(channels) + 1)
    convs = []
    c_in, length = 1, num_features
    for i, c_out in enumerate(channels):
        fan_in = _KERNEL * c_in
        w = jax.random.normal(keys[i], (_KERNEL, c_in, c_out), F32) * jnp.sqrt(F32(2.0 / fan_in))
        convs.append({"w": w, "b": jnp.zeros((c_out,), F32)})
        c_in, length = c_out, -(-length // _STRIDE)
    return {"conv": convs, "out": _dense(keys[-1], length * c_in, num_classes, 1.0)}


def apply_cnn1d(params: Params, x: jax.Array) -> jax.Array:
    """``x [batch, features] -> logits [batch, classes]``."""
    h = x[:, :, None]
    for layer in params["conv"]:
        h = jax.lax.conv_general_dilated(
            h, layer["w"], (_STRIDE,), "SAME", dimension_numbers=("NWC", "WIO", "NWC")
        )
        h = jax.nn.relu(h + layer["b"][None, None, :])
    return _apply_dense(params["out"], h.reshape(h.shape[0], -1))


def make_model(
    name: str, hidden_sizes: Sequence[int]
) -> tuple[Callable[..., Params], Callable[[Params, jax.Array], jax.Array]]:
    """``(init(key, num_features, num_classes), apply(params, x))`` for a model name.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from crossent_jax.train import make_model
      >>> init, apply = make_model("mlp", (16,))
      >>> params = init(jax.random.key(0), 40, 10)
      >>> apply(params, jnp.zeros((3, 40), jnp.float32)).shape
      (3, 10)
    """
    hidden = tuple(hidden_sizes)
    if name in ("linear", "mlp"):
        sizes = () if name == "linear" else hidden
        return (lambda key, f, k: init_mlp(key, f, k, sizes)), apply_mlp
    if name == "cnn1d":
        return (lambda key, f, k: init_cnn1d(key, f, k, hidden)), apply_cnn1d
    raise InputValueError(f"unknown model {name!r}; known: cnn1d, linear, mlp")
