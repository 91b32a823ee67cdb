"""Static input checks: dtypes, shapes, axes and option values.

Every check raises at trace time with a message that names what was expected and what was
received. Value-dependent faults (an out-of-range label inside ``jit``) cannot raise here:
the losses turn them into NaN and :func:`crossent_jax.checked` reports them.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from crossent_jax._errors import InputTypeError, InputValueError

REDUCTIONS = ("none", "mean", "sum")


def _dtype_of(x) -> np.dtype:
    if hasattr(x, "dtype"):
        return np.dtype(x.dtype)
    if isinstance(x, (list, tuple)):
        return np.asarray(x).dtype  # nested Python numbers
    return jnp.result_type(x)


def float_array(x, name: str) -> jax.Array:
    """``x`` as a floating-point array; ``TypeError`` naming the dtype otherwise."""
    if isinstance(x, (str, bytes)) or x is None:
        raise InputTypeError(f"{name} must be a floating-point array, got {type(x).__name__}")
    dtype = _dtype_of(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise InputTypeError(f"{name} must be a floating-point array, got dtype {dtype}")
    return jnp.asarray(x)


def int_array(x, name: str) -> jax.Array:
    """``x`` as an integer array (not bool); ``TypeError`` naming the dtype otherwise."""
    if isinstance(x, (str, bytes)) or x is None:
        raise InputTypeError(f"{name} must be an integer array, got {type(x).__name__}")
    dtype = _dtype_of(x)
    if not jnp.issubdtype(dtype, jnp.integer) or dtype == np.bool_:
        hint = ""
        if jnp.issubdtype(dtype, jnp.floating):
            hint = " (for probability labels use softmax_cross_entropy)"
        raise InputTypeError(
            f"{name} must be an integer array of class indices, got dtype {dtype}{hint}"
        )
    return jnp.asarray(x)


def real_array(x, name: str) -> jax.Array:
    """``x`` as a bool / integer / floating array (binary labels); ``TypeError`` otherwise."""
    if isinstance(x, (str, bytes)) or x is None:
        raise InputTypeError(f"{name} must be a real-valued array, got {type(x).__name__}")
    dtype = _dtype_of(x)
    if not (
        jnp.issubdtype(dtype, jnp.floating)
        or jnp.issubdtype(dtype, jnp.integer)
        or dtype == np.bool_
    ):
        raise InputTypeError(
            f"{name} must be a real-valued (float, int or bool) array, got dtype {dtype}"
        )
    return jnp.asarray(x)


def bool_array(x, name: str) -> jax.Array:
    """A mask: bool array; ``TypeError`` for other dtypes (a float mask is a common bug)."""
    dtype = _dtype_of(x)
    if dtype != np.bool_:
        raise InputTypeError(f"{name} must be a boolean mask, got dtype {dtype}")
    return jnp.asarray(x)


def compute_dtype(*dtypes) -> np.dtype:
    """float64 stays float64; everything narrower (bf16, f16, f32) is computed in float32."""
    dt = jnp.result_type(*dtypes)
    return np.dtype(jnp.float64) if dt == np.dtype(jnp.float64) else np.dtype(jnp.float32)


def normalize_axes(axis, ndim: int, name: str = "logits", shape=None) -> tuple[int, ...]:
    """Canonical non-negative axes, in the order given (NumPy's ``normalize_axis_tuple``),
    with the kit's errors: ``InputTypeError`` for a non-integer axis, ``InputValueError``
    naming the array's shape for one out of bounds, a repeated or an empty one."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (numbers.Integral, Sequence)):
        raise InputTypeError(
            f"axis must be an int or a tuple of ints, got {type(axis).__name__} {axis!r}"
        )
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if not axes:
        raise InputValueError("axis must name at least one axis, got an empty tuple")
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral):
            raise InputTypeError(f"axis entries must be ints, got {a!r} in axis={axis!r}")
    try:
        return tuple(int(a) for a in normalize_axis_tuple(axes, ndim))
    except np.exceptions.AxisError:
        bad = next(a for a in axes if not -ndim <= a < ndim)
        raise InputValueError(
            f"axis {bad} is out of bounds for {name} with {ndim} dimensions (shape {shape})"
        ) from None
    except ValueError:  # repeated axes
        raise InputValueError(f"axis contains repeated axes: got axis={axis!r}") from None


def check_reduction(reduction) -> str:
    if reduction not in REDUCTIONS:
        raise InputValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def is_concrete(x) -> bool:
    """True when ``x`` has a value now (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def check_number(value, name: str, *, low=None, high=None, low_open=False, finite=False,
                 hint: str = "") -> None:
    """Range check for scalar options when the value is concrete (tracers are checked at run
    time by the loss itself, which returns NaN for an invalid value). ``finite`` also
    refuses ``±inf`` (an infinite weight only makes ``inf·0 = NaN``)."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise InputTypeError(f"{name} must be a real number, got {value!r}")
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    if arr.shape != ():
        raise InputValueError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    # jnp.issubdtype, not np.issubdtype: numpy does not count bfloat16 (an ml_dtypes
    # extension type) as np.floating, so a bf16 scalar option was wrongly rejected.
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise InputTypeError(f"{name} must be a real number, got dtype {arr.dtype}")
    v = float(arr)
    ok = not np.isnan(v)
    if finite and np.isinf(v):
        raise InputValueError(f"{name} must be finite, got {value!r}{hint}")
    if low is not None:
        ok &= v > low if low_open else v >= low
    if high is not None:
        ok &= v <= high
    if not ok:
        lo = "(" if low_open else "["
        rng = f"{lo}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise InputValueError(f"{name} must be in {rng}, got {value!r}")


def static_zero(value) -> bool:
    """True when an option is a concrete zero, so its computation can be skipped statically."""
    return is_concrete(value) and np.all(np.asarray(value) == 0)


def check_same_shape(a_shape, b_shape, a_name: str, b_name: str) -> None:
    if tuple(a_shape) != tuple(b_shape):
        raise InputValueError(
            f"Shape mismatch: {a_name} has shape {tuple(a_shape)} but {b_name} has shape "
            f"{tuple(b_shape)}; they must be equal"
        )
