r"""Finite differences with Richardson extrapolation, a step chosen per direction and output
from several candidates by an error estimate, and one-sided formulas at the edge of a
function's domain; batched with ``vmap``.

For a function ``f``, a point ``x`` and directions ``U`` (``[m, *x]``), every candidate step
``h`` gives

* **central** (the default): :math:`D(h) = (f(x + h u) - f(x - h u)) / 2h` and the
  extrapolations :math:`R(h) = (4 D(h/2) - D(h)) / 3` (error :math:`O(h^4)`); the estimate is
  :math:`R(h/2)` with error estimate :math:`|R(h) - R(h/2)|`;
* **forward** one-sided, where a point on the minus side leaves the domain (``f`` is not
  finite there although it is at ``x``): :math:`F(h) = (f(x + h u) - f(x)) / h`,
  :math:`r(h) = 2F(h/2) - F(h)`, estimate :math:`(4 r(h/2) - r(h)) / 3` (error
  :math:`O(h^3)`) with error estimate :math:`|(4r(h/2) - r(h))/3 - r(h/2)|`; **backward**
  the same with :math:`-h`.

To each error estimate a model of the rounding noise, :math:`10\,\epsilon\,|f|/h`, is added.
Candidate steps are ``h₀·10⁻ᵏ`` (k = 0…3, ``h₀`` = 1e-3 in float64) and, along coordinate
``j``, ``h₀·min(1, |x_j|)·10⁻ᵏ`` (k = 0, 1); per direction and output entry the candidate with
the smallest estimated error wins. So a linear function of a tiny probability is differenced
with a large step (accurate, little noise), ``log q`` at ``q = 5e-4`` with a step below q (a
fixed 1e-3 leaves the domain), and ``−log(1 − y)`` at ``y = 0.99`` with a step below 0.01.
The estimated error is returned with the value, so a comparison can allow exactly the
uncertainty of the differences — no more (a blanket noise floor could excuse a sign flip).

All evaluations of ``f`` run as one ``vmap``-ed call.

References:
  Griewank and Walther, `Evaluating Derivatives <https://doi.org/10.1137/1.9780898717761>`_,
  2008; Richardson, `The deferred approach to the limit
  <https://doi.org/10.1098/rsta.1927.0008>`_, 1927; Press et al, `Numerical Recipes
  <https://numerical.recipes/>`_, 2007, §5.7 (choosing the step)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: inputs up to this size are differenced along every coordinate (the full Jacobian)
MAX_COORDINATES = 64
#: otherwise, this many random directions
NUM_RANDOM_DIRECTIONS = 8
#: scheme codes, per direction and output entry
SCHEMES = ("central", "forward", "backward", "undefined")
#: offsets (in units of the candidate step) at which ``f`` is evaluated
OFFSETS = (1.0, -1.0, 0.5, -0.5, 0.25, -0.25)
#: candidate steps: base·10^-k, and base·min(1, |x_j|)·10^-k along coordinate j
ABSOLUTE_DECADES = (0, 1, 2, 3)
RELATIVE_DECADES = (0, 1)


def entry_scale(x: np.ndarray) -> np.ndarray:
    """``min(1, |x|)`` entry-wise, 1 where ``x = 0`` (or not finite).

    >>> entry_scale(np.array([5e-4, 0.0, 3.0])).tolist()
    [0.0005, 1.0, 1.0]
    """
    a = np.abs(np.asarray(x, np.float64))
    return np.where((a == 0) | ~np.isfinite(a), 1.0, np.minimum(1.0, a))


def directions(
    shape, seed: int = 0, *, x=None, max_coordinates: int = MAX_COORDINATES
) -> tuple[np.ndarray, np.ndarray]:
    """``(U [m, *shape], scale [m])``: the coordinate basis with each coordinate's entry
    scale, or random unit directions (scale 1) whose entries are scaled by
    :func:`entry_scale` (no entry is pushed out of its domain) and are non-negative where
    ``x`` is 0 (so a probability of 0 can be differenced one-sidedly).

    >>> u, s = directions((2,), x=np.array([0.5, 4.0]))
    >>> u.tolist(), s.tolist()
    ([[1.0, 0.0], [0.0, 1.0]], [0.5, 1.0])
    >>> directions((100,))[0].shape
    (8, 100)
    """
    n = int(np.prod(shape, dtype=np.int64))
    flat_x = None if x is None else np.reshape(np.asarray(x, np.float64), -1)
    scale = np.ones(n) if flat_x is None else entry_scale(flat_x)
    if n <= max_coordinates:
        return np.eye(n, dtype=np.float64).reshape((n, *shape)), scale
    u = np.random.default_rng(seed).standard_normal((NUM_RANDOM_DIRECTIONS, n))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    u = u * scale[None]
    if flat_x is not None:
        u = np.where((flat_x == 0)[None], np.abs(u), u)
    return u.reshape((NUM_RANDOM_DIRECTIONS, *shape)), np.ones(NUM_RANDOM_DIRECTIONS)


def candidate_steps(base: float, scale: np.ndarray) -> np.ndarray:
    """``[m, C]`` candidate steps for directions with entry scales ``scale`` (``[m]``).

    >>> candidate_steps(1e-3, np.array([1.0, 5e-4]))[1].tolist()
    [0.001, 0.0001, 1e-05, 1e-06, 5e-07, 5e-08]
    """
    scale = np.asarray(scale, np.float64)
    cols = [np.full(scale.shape, base * 10.0**-k) for k in ABSOLUTE_DECADES]
    cols += [base * scale * 10.0**-k for k in RELATIVE_DECADES]
    return np.stack(cols, axis=1)


def evaluate(f, x: jax.Array, u: jax.Array, steps: jax.Array):
    """``(f(x) [*out], values [m, C, 6, *out])``: ``f`` at ``x + OFFSETS·h·u`` for every
    direction ``u_m`` and candidate step ``h = steps[m, c]``, in one vmap."""
    offs = jnp.asarray(OFFSETS, x.dtype)
    hs = steps.astype(x.dtype)[:, :, None] * offs[None, None]  # [m, C, 6]
    pts = x[None, None, None] + hs.reshape(hs.shape + (1,) * x.ndim) * u[:, None, None]
    vals = jax.vmap(f)(pts.reshape((-1, *x.shape)))
    return f(x), vals.reshape((*hs.shape, *vals.shape[1:]))


def domain_schemes(f0: jax.Array, vals: jax.Array) -> jax.Array:
    """``[m, C]`` scheme per direction and candidate (index into :data:`SCHEMES`), decided on
    ``f`` itself: central where every output that is finite at ``x`` stays finite at the
    central points, else forward, else backward, else undefined. The differences of ``f``'s
    gradient (Hessian checks) use the same stencils, so they respect ``f``'s domain too."""
    base = jnp.isfinite(f0)

    def side_ok(*idx):
        ok = jnp.ones(vals.shape[:2] + f0.shape, bool)
        for i in idx:
            ok = ok & (jnp.isfinite(vals[:, :, i]) | ~base[None, None])
        return jnp.all(ok.reshape(vals.shape[:2] + (-1,)), axis=-1)

    ok_c, ok_f, ok_b = side_ok(0, 1, 2, 3, 4, 5), side_ok(0, 2, 4), side_ok(1, 3, 5)
    return jnp.where(ok_c, 0, jnp.where(ok_f, 1, jnp.where(ok_b, 2, 3)))


def combine(f0, vals, steps, schemes, eps: float):
    """``(J u [m, *out], error estimate [m, *out], scheme [m, *out])``.

    For each direction and output entry, the candidate step (with its domain scheme) whose
    estimated error — extrapolation disagreement plus ``10·eps·|f|/h`` — is smallest.
    Outputs not finite at ``x``, and directions with no scheme, give NaN (``"undefined"``).
    """
    extra = (1,) * (vals.ndim - 3)
    h = steps.astype(vals.dtype).reshape(steps.shape + extra)  # [m, C, 1...]
    f0b = f0[None, None]  # [1, 1, *out]
    p1, m1, p2, m2, p4, m4 = (vals[:, :, i] for i in range(len(OFFSETS)))

    def central():
        d1, d2, d4 = (p1 - m1) / (2 * h), (p2 - m2) / h, (p4 - m4) / (h / 2)
        r1, r2 = (4 * d2 - d1) / 3, (4 * d4 - d2) / 3
        return r2, jnp.abs(r1 - r2)

    def one_sided(a1, a2, a4, sign):
        f1, f2, f4 = (sign * (a - f0b) / (h * c) for a, c in ((a1, 1.0), (a2, 0.5), (a4, 0.25)))
        r1, r2 = 2 * f2 - f1, 2 * f4 - f2
        value = (4 * r2 - r1) / 3
        return value, jnp.abs(value - r2)

    sch = schemes.reshape(schemes.shape + extra)
    (vc, ec), (vf, ef), (vb, eb) = central(), one_sided(p1, p2, p4, 1.0), one_sided(
        m1, m2, m4, -1.0)
    value = jnp.where(sch == 0, vc, jnp.where(sch == 1, vf, vb))
    trunc = jnp.where(sch == 0, ec, jnp.where(sch == 1, ef, eb))
    fmax = jnp.max(jnp.abs(jnp.where(jnp.isfinite(vals), vals, 0)), axis=2)
    fmax = jnp.maximum(fmax, jnp.abs(jnp.where(jnp.isfinite(f0b), f0b, 0)))
    err = trunc + 10 * eps * fmax / h
    defined = (sch < 3) & jnp.isfinite(value) & jnp.isfinite(err)
    err = jnp.where(defined, err, jnp.inf)
    best = jnp.argmin(err, axis=1)  # [m, *out]
    pick = lambda a: jnp.take_along_axis(a, best[:, None], axis=1)[:, 0]  # noqa: E731
    value, err = pick(value), pick(err)
    scheme = pick(jnp.broadcast_to(sch, value.shape[:1] + sch.shape[1:2] + value.shape[1:]))
    ok = jnp.isfinite(err) & jnp.isfinite(f0)[None]
    return (jnp.where(ok, value, jnp.nan), jnp.where(ok, err, jnp.nan),
            jnp.where(ok, scheme, 3))


def directional_derivatives(f, x: jax.Array, u: jax.Array, step, scale=None):
    """``[m, *out]``: extrapolated finite differences of ``f`` at ``x`` along each ``u[i]``,
    computed in the dtype of ``x`` (see the module docstring).

    >>> import jax.numpy as jnp
    >>> d = directional_derivatives(jnp.sin, jnp.zeros(1), jnp.ones((1, 1)), 1e-2)
    >>> print(abs(float(d[0, 0]) - 1.0) < 1e-10)  # cos(0)
    True
    >>> # sqrt(x)² + x is 2x on [0, ∞) and NaN below: at 0 only the forward side exists
    >>> f = lambda x: jnp.sqrt(x) ** 2 + x
    >>> d = directional_derivatives(f, jnp.zeros(1), jnp.ones((1, 1)), 1e-3)
    >>> print(round(float(d[0, 0]), 9))
    2.0
    """
    m = u.shape[0]
    steps = jnp.asarray(candidate_steps(step, np.ones(m) if scale is None else scale), x.dtype)
    f0, vals = evaluate(f, x, u, steps)
    eps = float(jnp.finfo(x.dtype).eps)
    return combine(f0, vals, steps, domain_schemes(f0, vals), eps)[0]


def scheme_counts(scheme: np.ndarray) -> dict[str, int]:
    """Per direction, the least regular scheme any of its outputs needed (undefined >
    backward > forward > central), counted: ``{"central": n, ...}``."""
    scheme = np.asarray(scheme)
    if scheme.ndim > 1:
        scheme = scheme.reshape(scheme.shape[0], -1).max(axis=1)
    return {name: int(np.sum(scheme == i)) for i, name in enumerate(SCHEMES) if np.any(scheme == i)}
