"""``checked(fn)``: a jit-compiled loss that validates values first, via checkify.

Inside ``jit`` a loss cannot raise on a value (an out-of-range label, a negative
probability): it returns NaN for that example. ``checked`` is the path that *explains* such a
NaN: it runs the same loss under :func:`jax.experimental.checkify.checkify` with value checks
in front, and raises naming the first bad index and its value.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from crossent_jax import _binary, _discrete, _softmax
from crossent_jax import _classes as c
from crossent_jax import _validation as v
from crossent_jax._errors import InputTypeError


def _first(bad: jax.Array, values: jax.Array):
    """(any bad?, index of the first bad element as an int array, its value)."""
    flat = jnp.ravel(bad)
    i = jnp.argmax(flat)
    idx = jnp.stack(jnp.unravel_index(i, bad.shape)) if bad.ndim else jnp.zeros((0,), int)
    return jnp.any(flat), idx, jnp.ravel(values)[i]


def _check(name: str, bad: jax.Array, values: jax.Array, what: str) -> None:
    any_bad, idx, val = _first(bad, jnp.broadcast_to(values, bad.shape))
    checkify.check(~any_bad, f"{name} at index {{idx}} is {{val}}: {what}", idx=idx, val=val)


def _tol(dtype) -> float:
    return {8: 1e-9, 4: 1e-5}.get(np.dtype(dtype).itemsize, 1e-2)


def _check_logits(logits):
    logits = jnp.asarray(logits)
    _check(
        "logits",
        jnp.isnan(logits) | jnp.isposinf(logits),
        logits,
        "logits must not be NaN or +inf (-inf masks a class)",
    )


def _check_distribution(name, p, axis):
    p = jnp.asarray(p)
    _check(name, ~(p >= 0), p, "probabilities must be non-negative (and not NaN)")
    axes = v.normalize_axes(axis, p.ndim, name, p.shape)
    total = jnp.sum(
        c.to_last(p, axes).astype(jnp.float32 if p.dtype != jnp.float64 else p.dtype), axis=-1
    )
    _check(
        f"sum of {name} along axis",
        jnp.abs(total - 1) > _tol(p.dtype) * p.shape[axes[0]],
        total,
        "probability vectors must sum to 1",
    )


def _check_unit(name, x):
    x = jnp.asarray(x)
    _check(name, ~((x >= 0) & (x <= 1)), x, "values must lie in [0, 1]")


def _softmax_checks(a):
    _check_logits(a["logits"])
    _check_distribution("labels", a["labels"], a["axis"])


def _integer_checks(a):
    logits, labels = jnp.asarray(a["logits"]), jnp.asarray(a["labels"])
    _check_logits(logits)
    axes = v.normalize_axes(a["axis"], logits.ndim, "logits", logits.shape)
    k = int(np.prod([logits.shape[i] for i in axes]))
    bad = (labels < 0) | (labels >= k)
    if a["ignore_index"] is not None:
        bad = bad & (labels != a["ignore_index"])
    _check("labels", bad, labels, f"class labels must lie in [0, {k})")
    if a.get("class_weights") is not None:
        w = jnp.asarray(a["class_weights"])
        _check("class_weights", ~(w >= 0), w, "class weights must be non-negative")


def _sigmoid_checks(a):
    _check("logits", jnp.isnan(jnp.asarray(a["logits"])), a["logits"], "logits must not be NaN")
    _check_unit("labels", a["labels"])


def _binary_checks(a):
    _check_unit("probs", a["probs"])
    _check_unit("labels", a["labels"])


def _pq_checks(a):
    _check_distribution("p", a["p"], a["axis"])
    if "q" in a:
        _check_distribution("q", a["q"], a["axis"])


# function -> (value checks, names of its array arguments: traced, everything else static)
_SPECS = {
    _softmax.softmax_cross_entropy: (_softmax_checks, ("logits", "labels", "where")),
    _softmax.softmax_cross_entropy_with_integer_labels: (
        _integer_checks,
        ("logits", "labels", "where", "class_weights"),
    ),
    _binary.sigmoid_binary_cross_entropy: (_sigmoid_checks, ("logits", "labels", "pos_weight")),
    _binary.binary_cross_entropy: (_binary_checks, ("probs", "labels")),
    _discrete.cross_entropy: (_pq_checks, ("p", "q", "where")),
    _discrete.kl_divergence: (_pq_checks, ("p", "q", "where")),
    _discrete.entropy: (_pq_checks, ("p", "where")),
}


@functools.lru_cache(maxsize=256)
def _compiled(fn, static: tuple):
    checks, _ = _SPECS[fn]
    static_kwargs = dict(static)

    def run(arrays):
        args = {**arrays, **static_kwargs}
        checks(args)
        return fn(**args)

    return jax.jit(checkify.checkify(run, errors=checkify.user_checks))


def checked(loss_fn):
    """Return a jit-compiled ``loss_fn`` that validates argument values first.

    Works for the kit's losses (also wrapped in :func:`functools.partial`). Before computing,
    it checks — with :mod:`jax.experimental.checkify`, so it works on values that only exist
    at run time — that integer labels lie in ``[0, K)`` (or equal ``ignore_index``), that
    probabilities are non-negative and sum to 1 along the class axis, that binary targets
    and probabilities lie in ``[0, 1]``, and that logits are not NaN or ``+inf``. On the
    first violation it raises :class:`jax.experimental.checkify.JaxRuntimeError` (a
    ``ValueError``) naming the argument, the first bad index and its value.

    Array arguments are traced; other options (``axis``, ``reduction``, Python numbers) are
    static, so each distinct combination compiles once.

    Args:
      loss_fn: one of the kit's public losses, or a ``functools.partial`` of one.

    Returns:
      A callable with the same signature as ``loss_fn``.

    Example:
      >>> import jax.numpy as jnp
      >>> from crossent_jax import checked, softmax_cross_entropy_with_integer_labels as ce
      >>> logits = jnp.zeros((3, 4))
      >>> print(ce(logits, jnp.array([0, 7, 1])))  # silent NaN under the plain loss
      [1.3862944     nan 1.3862944]
      >>> checked(ce)(logits, jnp.array([0, 7, 1]))
      Traceback (most recent call last):
      ...
      jax._src.checkify.JaxRuntimeError: labels at index [1] is 7: class labels ...
    """
    base, pre_args, pre_kwargs = loss_fn, (), {}
    if isinstance(loss_fn, functools.partial):
        base, pre_args, pre_kwargs = loss_fn.func, loss_fn.args, dict(loss_fn.keywords)
    if base not in _SPECS:
        names = sorted(f.__name__ for f in _SPECS)
        raise InputTypeError(f"checked() supports the kit's losses {names}, got {loss_fn!r}")
    _, array_names = _SPECS[base]
    signature = inspect.signature(base)

    @functools.wraps(base)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*pre_args, *args, **{**pre_kwargs, **kwargs})
        bound.apply_defaults()
        arrays, static = {}, []
        for name, value in bound.arguments.items():
            if name in array_names and value is not None:
                arrays[name] = jnp.asarray(value)
            else:
                static.append((name, tuple(value) if isinstance(value, list) else value))
        err, out = _compiled(base, tuple(static))(arrays)
        err.throw()
        return out

    return wrapper
