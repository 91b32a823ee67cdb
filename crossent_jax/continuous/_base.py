"""The distribution base class: a frozen pytree of parameters plus validation helpers.

Each distribution is a dataclass whose fields are its parameters, registered as a JAX pytree
(see :func:`register`) so that it can be passed through ``jit``, ``vmap`` and
``grad`` like any array. Construction validates concrete parameters (``ValueError``); inside
``jit`` the parameters are tracers, cannot be checked, and an invalid value turns every result
computed from the distribution into NaN (see :meth:`Distribution.valid`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax._validation import compute_dtype, is_concrete


def as_param(value, name: str) -> jax.Array:
    """A parameter as a floating array: Python numbers become the default float dtype,
    arrays must already be floating (``TypeError`` naming the dtype otherwise). bfloat16 and
    float16 are accepted and stored as float32, the dtype everything is computed in (as for
    the discrete losses); a concrete NaN is a ``ValueError``."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise InputTypeError(f"{name} must be a real number or floating array, got {value!r}")
    if isinstance(value, (int, float)):
        value = jnp.asarray(float(value))
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=float)
    dtype = np.dtype(value.dtype) if hasattr(value, "dtype") else np.asarray(value).dtype
    # jnp.issubdtype, not np.issubdtype: numpy does not count bfloat16 as floating
    if not jnp.issubdtype(dtype, jnp.floating):
        raise InputTypeError(f"{name} must be a floating array, got dtype {dtype}")
    value = jnp.asarray(value, compute_dtype(dtype))
    if is_concrete(value) and np.any(np.isnan(np.asarray(value))):
        raise InputValueError(f"{name} must not be NaN, got nan")
    return value


def check_param(value: jax.Array, name: str, ok, requirement: str) -> None:
    """``ValueError`` when a concrete parameter fails ``ok`` (a numpy predicate)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    good = np.asarray(ok(arr)) & ~np.isnan(arr)
    if not np.all(good):
        bad = arr[~good] if arr.ndim else arr
        raise InputValueError(f"{name} must be {requirement}, got {float(bad.ravel()[0])!r}")


class Distribution:
    """Base class of the continuous distributions (see the subclasses for the parameters).

    Subclasses are frozen dataclasses registered as pytrees. They provide

    * ``log_prob(x)`` — log density, ``-inf`` outside the support;
    * ``sample(key, shape)`` — reparameterised samples (differentiable w.r.t. parameters);
    * ``mean()``, ``variance()`` (``inf`` / NaN where they do not exist), ``entropy()``;
    * ``support`` — ``(low, high)`` with ``±inf`` for unbounded sides;
    * ``valid()`` — bool, whether the parameters are in their domain.

    Parameters are scalars for the cross-entropy functions; batch with :func:`jax.vmap`.
    """

    #: names of the parameters that must be scalar (MixtureOfNormals overrides: vectors)
    _param_ndim = 0

    def params(self) -> tuple[jax.Array, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    @property
    def dtype(self):
        return jnp.result_type(*self.params())

    def valid(self) -> jax.Array:
        raise NotImplementedError

    @property
    def support(self) -> tuple[jax.Array, jax.Array]:
        inf = jnp.asarray(jnp.inf, self.dtype)
        return -inf, inf

    def entropy(self) -> jax.Array:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form entropy")

    # --- used by the quadrature machinery -------------------------------------------------
    def _center(self) -> jax.Array:
        """A point in the bulk of the distribution (split point of the real line)."""
        return self.mean()

    def _scale(self) -> jax.Array:
        """A length scale of the bulk (maps the tails to standard rules)."""
        return jnp.sqrt(self.variance())

    def _breakpoints(self) -> tuple[jax.Array, ...]:
        """Points where log_prob is not smooth (or changes fast): quadrature splits there."""
        return ()

    #: p's bulk is cut at centre ± this many scales, so that every piece next to the bulk and
    #: every half-line map is scaled to p itself, not to the distance to q's split points
    #: (Normal(1000, 1e-3) against Laplace(0, 1) would otherwise put its mass in 1e-6 of a
    #: piece [0, 1000])
    _BULK_CUTS = 8.0

    def _bulk_points(self) -> tuple[jax.Array, ...]:
        c, s = self._center(), self._scale()
        return (c - self._BULK_CUTS * s, c + self._BULK_CUTS * s)

    def _num_breakpoints(self) -> int:
        return len(self._breakpoints())

    def _log_prob_near(self, x, dlo, dhi) -> jax.Array:
        """log_prob(x) given also the distances ``dlo = x - low`` and ``dhi = high - x`` to the
        support edges, computed accurately by the caller; bounded distributions override it
        so that points 1e-300 away from an edge keep their accuracy."""
        del dlo, dhi
        return self.log_prob(x)

    def _edge_finite(self):
        """(at low, at high): whether the density is finite and positive on the support's
        edges, so that the grid rules' end nodes may be evaluated there."""
        return jnp.asarray(False), jnp.asarray(False)

    #: name of the location parameter(s) for a family closed under translation (see
    #: :meth:`_shifted`); None for the families with a fixed support edge
    _LOC_FIELD: str | None = None

    def _shifted(self, c):
        """The same distribution translated by −c (its location parameter minus c), or None
        if the family has no location parameter. Quadrature evaluates densities at offsets
        d = x − c from p's centre c, known to relative precision, instead of at x, rounded
        to ε|x|: for Normal(−358, 3.4e-6) the rounding alone moves a node by 2e-8 of p's
        scale (an 8e-10 error in H). Parameters are not re-validated (the offset of a valid
        location is valid)."""
        if self._LOC_FIELD is None:
            return None
        obj = object.__new__(type(self))
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            object.__setattr__(obj, f.name, v - c if f.name == self._LOC_FIELD else v)
        return obj

    def _nan_if_invalid(self, value):
        """NaN where the parameters are invalid: out of their domain or NaN (a traced NaN
        passes every comparison in ``valid`` as False or True depending on its direction).
        A product, not a ``where``: the gradient is NaN there too (``where`` would give 0, a
        plausible-looking gradient for an invalid member of a batch)."""
        ok = self.valid()
        for leaf in self.params():
            ok = ok & ~jnp.any(jnp.isnan(leaf))
        return value * jnp.where(ok, 1.0, jnp.nan).astype(jnp.result_type(value))

    def __repr__(self) -> str:
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({args})"


def register(cls):
    """Decorator: frozen dataclass + pytree registration (all fields are data leaves).

    Not ``jax.tree_util.register_dataclass``: it rebuilds instances by calling the class,
    i.e. the validating constructor, and JAX unflattens trees with placeholder leaves
    (``object()`` sentinels in ``vmap``'s axis handling, ``None``), which the constructor
    rightly refuses. Unflattening here bypasses ``__init__``."""
    cls = dataclasses.dataclass(frozen=True, repr=False, eq=False)(cls)
    names = [f.name for f in dataclasses.fields(cls)]

    def flatten(d):
        return [getattr(d, n) for n in names], None

    def unflatten(_, leaves):
        obj = object.__new__(cls)
        for n, v in zip(names, leaves, strict=True):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    return cls
