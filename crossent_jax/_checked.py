"""``checked(fn)``: a jit-compiled loss that validates values first, via checkify.

Inside ``jit`` a loss cannot raise on a value (an out-of-range label, a negative
probability): it returns NaN for that example. ``checked`` is the path that *explains* such a
NaN: it runs the same loss under :func:`jax.experimental.checkify.checkify` with value checks
in front, and raises naming the first bad index and its value.

It inspects exactly what the loss uses: rows excluded by an example ``where`` mask or by
``ignore_index``, and classes sliced out by a class ``where`` mask, are never inspected (the
loss ignores them, so a NaN or a ``-1`` there is not an error).
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
from crossent_jax._errors import InputTypeError, InputValueError


def _first(bad: jax.Array, values: jax.Array):
    """(any bad?, index of the first bad element as an int array, its value)."""
    flat = jnp.ravel(bad)
    i = jnp.argmax(flat)
    idx = jnp.stack(jnp.unravel_index(i, bad.shape)) if bad.ndim else jnp.zeros((0,), int)
    return jnp.any(flat), idx, jnp.ravel(values)[i]


def _check(name: str, bad: jax.Array, values, what: str) -> None:
    values = jnp.asarray(values)
    bad = jnp.broadcast_to(bad, jnp.broadcast_shapes(bad.shape, values.shape))
    any_bad, idx, val = _first(bad, jnp.broadcast_to(values, bad.shape))
    checkify.check(~any_bad, f"{name} at index {{idx}} is {{val}}: {what}", idx=idx, val=val)


def _tol(dtype) -> float:
    """Per-class tolerance of a "sums to 1" check: a few ulps of float32 even for float64
    labels (labels are often a float32 softmax stored in float64), and 1e-2 for 16 bits."""
    return {8: 1e-6, 4: 1e-5}.get(np.dtype(dtype).itemsize, 1e-2)


class _Scope:
    """Which entries the loss uses: ``rows`` (batch-shaped, or None = all) and ``classes``
    (a mask of the full shape, or None = all), resolved as the loss resolves ``where``."""

    def __init__(self, shape, axis, where, name, rows=None):
        self.shape = tuple(shape)
        self.axes = v.normalize_axes(axis, len(self.shape), name, self.shape)
        self.k = int(np.prod([self.shape[i] for i in self.axes]))
        class_mask, example_rows = c.split_where(where, self.shape, self.axes)
        self.rows = _and(example_rows, rows)
        self.classes = None
        if class_mask is not None:
            self.classes = jnp.broadcast_to(jnp.asarray(where), self.shape)
            # a row with every class sliced out gives 0 and is not counted: not inspected
            self.rows = _and(self.rows, jnp.any(class_mask, axis=-1))

    def full(self, rows):
        """A batch-shaped mask broadcast to the full shape (class axes inserted)."""
        return None if rows is None else jnp.broadcast_to(
            jnp.expand_dims(rows, self.axes), self.shape)

    def entries(self):
        """Entries of the full shape the loss uses (None = all)."""
        return _and(self.classes, self.full(self.rows))

    def row_sum(self, x, where=None):
        """Sum over the class axes (of the entries in ``where``), in float32 at least."""
        dt = jnp.float64 if x.dtype == jnp.float64 else jnp.float32
        if where is not None:
            x = jnp.where(where, x, 0)
        return jnp.sum(c.to_last(x, self.axes).astype(dt), axis=-1)


def _and(a, b):
    return b if a is None else (a if b is None else a & b)


def _check_logits(logits, used, softcap):
    # +inf is a bad logit unless a soft-cap maps it to the finite c
    bad = jnp.isnan(logits) if softcap is not None else jnp.isnan(logits) | jnp.isposinf(logits)
    what = "logits must not be NaN" + ("" if softcap is not None else
                                       " or +inf (-inf is a class of probability 0)")
    _check("logits", _and(bad, used), logits, what)


def _check_distribution(name, p, scope: _Scope):
    """Entries the loss uses are finite and non-negative; each counted row sums to 1 — over
    all classes, or (with a class mask) over the kept classes: either way of giving labels
    for a sliced-out problem is accepted."""
    used = scope.entries()
    _check(name, _and(~(p >= 0) | jnp.isinf(p), used), p,
           "probabilities must be finite and non-negative (and not NaN)")
    tol = _tol(p.dtype) * scope.k
    total = scope.row_sum(p)
    ok = jnp.abs(total - 1) <= tol
    if scope.classes is not None:
        kept_total = scope.row_sum(p, scope.classes)
        ok = ok | (jnp.abs(kept_total - 1) <= tol)
        total = jnp.where(jnp.isfinite(total), total, kept_total)
    _check(f"sum of {name} along axis", _and(~ok, scope.rows), total,
           "probability vectors must sum to 1 (over all classes, or over the kept ones)")


def _check_weights(name, w):
    _check(name, ~((w >= 0) & jnp.isfinite(w)), w, f"{name} must be finite and non-negative")


def _check_options(a):
    """Traced option values the loss would turn into NaN."""
    for name, ok, what in (
        ("label_smoothing", lambda x: (x >= 0) & (x <= 1), "must lie in [0, 1]"),
        ("z_loss", lambda x: (x >= 0) & jnp.isfinite(x), "must be finite and non-negative"),
        ("logit_softcap", lambda x: (x > 0) & jnp.isfinite(x), "must be finite and positive"),
    ):
        value = a.get(name)
        if isinstance(value, jax.Array):
            _check(name, ~ok(value), value, what)


def _softmax_checks(a):
    logits, labels = a["logits"], a["labels"]
    scope = _Scope(logits.shape, a["axis"], a.get("where"), "logits")
    _check_logits(logits, scope.entries(), a.get("logit_softcap"))
    _check_distribution("labels", labels, scope)
    _check_options(a)


def _integer_checks(a):
    logits, labels = a["logits"], a["labels"]
    counted = None if a["ignore_index"] is None else labels != a["ignore_index"]
    scope = _Scope(logits.shape, a["axis"], a.get("where"), "logits", rows=counted)
    _check_logits(logits, scope.entries(), a.get("logit_softcap"))
    bad = (labels < 0) | (labels >= scope.k)
    _check("labels", _and(bad, scope.rows), labels, f"class labels must lie in [0, {scope.k})")
    if a.get("class_weights") is not None:
        _check_weights("class_weights", a["class_weights"])
    _check_options(a)


def _sigmoid_checks(a):
    _check("logits", jnp.isnan(a["logits"]), a["logits"], "logits must not be NaN")
    _check_unit("labels", a["labels"])
    if a.get("pos_weight") is not None:
        _check_weights("pos_weight", a["pos_weight"])
    _check_options(a)


def _check_unit(name, x):
    _check(name, ~((x >= 0) & (x <= 1)), x, "values must lie in [0, 1]")


def _binary_checks(a):
    _check_unit("probs", a["probs"])
    _check_unit("labels", a["labels"])


def _pq_checks(a):
    p = a["p"]
    scope = _Scope(p.shape, a["axis"], a.get("where"), "p")
    for name in ("p", "q"):
        if name in a:
            _check_distribution(name, a[name], scope)


# function -> value checks
_SPECS = {
    _softmax.softmax_cross_entropy: _softmax_checks,
    _softmax.softmax_cross_entropy_with_integer_labels: _integer_checks,
    _binary.sigmoid_binary_cross_entropy: _sigmoid_checks,
    _binary.binary_cross_entropy: _binary_checks,
    _discrete.cross_entropy: _pq_checks,
    _discrete.kl_divergence: _pq_checks,
    _discrete.entropy: _pq_checks,
}


#: options that decide shapes or code paths: always static
_STATIC = frozenset({"axis", "reduction", "ignore_index", "positive_only"})
#: array arguments: always traced (a Python scalar or tuple given for them becomes an array)
_ARRAYS = frozenset({"logits", "labels", "where", "class_weights", "pos_weight", "p", "q",
                     "probs"})


def _has_value(a) -> bool:
    """False for an abstract tracer (inside jit, vmap, scan); True for concrete arrays and
    for the tracers of eager grad / jvp, which carry their values."""
    return not isinstance(a, jax.core.Tracer) or a.to_concrete_value() is not None


def _is_array(name, value) -> bool:
    """Arrays are traced arguments; Python scalars, strings, tuples and None are static —
    except for the array arguments, which are always traced."""
    if name in _STATIC or value is None:
        return False
    if name in _ARRAYS:
        return True
    return isinstance(value, (jax.Array, np.ndarray, np.generic)) or (
        isinstance(value, list) and value and not isinstance(value[0], str)
    )


@functools.lru_cache(maxsize=256)
def _compiled(fn, static: tuple):
    checks = _SPECS[fn]
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
    probabilities and soft labels are non-negative and sum to 1 along the class axis, that
    binary targets and probabilities lie in ``[0, 1]``, that logits are not NaN or
    ``+inf``, that class weights and ``pos_weight`` are non-negative, and that array-valued
    options lie in their ranges (``label_smoothing`` in [0, 1], ``z_loss`` ≥ 0,
    ``logit_softcap`` > 0). On the first violation it raises
    :class:`jax.experimental.checkify.JaxRuntimeError` (a ``ValueError``) naming the
    argument, the first bad index and its value.

    Only what the loss uses is inspected: examples excluded by an example ``where`` mask or
    by ``ignore_index`` and classes sliced out by a class ``where`` mask are skipped.

    Array arguments (including array-valued options) are traced; other options (``axis``,
    ``reduction``, Python numbers) are static, so each distinct combination compiles once.

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
    signature = inspect.signature(base)

    @functools.wraps(base)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*pre_args, *args, **{**pre_kwargs, **kwargs})
        bound.apply_defaults()
        arrays, static = {}, []
        for name, value in bound.arguments.items():
            if _is_array(name, value):
                arrays[name] = jnp.asarray(value)
            else:
                if isinstance(value, list):
                    value = tuple(value)
                elif isinstance(value, np.generic):
                    value = value.item()
                static.append((name, value))
        if not all(map(_has_value, arrays.values())):
            raise InputValueError(
                "checked(fn) raises on bad values, so it cannot run inside jax.jit, vmap, "
                "scan, ...: it is jit-compiled already — call it outside them (eager grad "
                "and jvp work), or use the plain loss there (bad values give NaN)"
            )
        err, out = _compiled(base, tuple(static))(arrays)
        err.throw()
        return out

    return wrapper
