r"""Finite differences with Richardson extrapolation, steps scaled to the entry, and
one-sided fallbacks at the edge of a function's domain; batched with ``vmap``.

For a function ``f``, a point ``x``, directions ``U`` (``[m, *x]``) and steps ``h_m``:

* **central** (the default): :math:`D(h) = (f(x + h u) - f(x - h u)) / 2h`,
  :math:`J u \approx (4 D(h/2) - D(h)) / 3` (error :math:`O(h^4)`);
* **forward** one-sided, where a point on the minus side leaves the domain (``f`` is not
  finite there although it is at ``x``): :math:`F(h) = (f(x + h u) - f(x)) / h`,
  :math:`R(h) = 2F(h/2) - F(h)`, :math:`J u \approx (4 R(h/2) - R(h)) / 3` (error
  :math:`O(h^3)`); **backward** the same with :math:`-h`.

The scheme is chosen per direction (from where ``f`` is finite) and reported. All ``6m + 1``
evaluations run as one ``vmap``-ed call.

**Steps scaled to the entry.** Along a coordinate direction ``e_j`` the step is
``h·min(1, |x_j|)`` (``h`` when ``x_j = 0``): a fixed step of ``1e-3`` is far too coarse for a
probability of ``5e-4`` (the difference leaves the domain or is dominated by truncation
error), while logits of size ≥ 1 keep the absolute step. Random directions (large inputs) are
scaled entry-wise the same way (``u ⊙ min(1, |x|)``), so no entry is pushed out of its
domain.

References:
  Griewank and Walther, `Evaluating Derivatives <https://doi.org/10.1137/1.9780898717761>`_,
  2008; Richardson, `The deferred approach to the limit
  <https://doi.org/10.1098/rsta.1927.0008>`_, 1927; Fornberg, `Generation of finite
  difference formulas on arbitrarily spaced grids
  <https://doi.org/10.1090/S0025-5718-1988-0935077-0>`_, 1988
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
#: offsets (in units of the direction's step) at which ``f`` is evaluated
OFFSETS = (1.0, -1.0, 0.5, -0.5, 0.25, -0.25)


def entry_scale(x: np.ndarray) -> np.ndarray:
    """``min(1, |x|)`` entry-wise, 1 where ``x = 0`` (or not finite): the step's scale.

    >>> entry_scale(np.array([5e-4, 0.0, 3.0])).tolist()
    [0.0005, 1.0, 1.0]
    """
    a = np.abs(np.asarray(x, np.float64))
    return np.where((a == 0) | ~np.isfinite(a), 1.0, np.minimum(1.0, a))


def directions(
    shape, seed: int = 0, *, x=None, max_coordinates: int = MAX_COORDINATES
) -> tuple[np.ndarray, np.ndarray]:
    """``(U [m, *shape], step_scale [m])``: the coordinate basis with per-entry step scales,
    or random directions scaled entry-wise by :func:`entry_scale` (step scale 1).

    >>> u, s = directions((2,), x=np.array([0.5, 4.0]))
    >>> u.tolist(), s.tolist()
    ([[1.0, 0.0], [0.0, 1.0]], [0.5, 1.0])
    >>> directions((100,))[0].shape
    (8, 100)
    """
    n = int(np.prod(shape, dtype=np.int64))
    scale = np.ones(n) if x is None else entry_scale(np.reshape(x, -1))
    if n <= max_coordinates:
        return np.eye(n, dtype=np.float64).reshape((n, *shape)), scale
    u = np.random.default_rng(seed).standard_normal((NUM_RANDOM_DIRECTIONS, n))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    u = u * scale[None]
    return u.reshape((NUM_RANDOM_DIRECTIONS, *shape)), np.ones(NUM_RANDOM_DIRECTIONS)


def evaluate(f, x: jax.Array, u: jax.Array, steps: jax.Array):
    """``(f(x) [*out], values [m, 6, *out])``: ``f`` at ``x + OFFSETS·h_m·u_m``, one vmap."""
    offs = jnp.asarray(OFFSETS, x.dtype)
    hs = steps.astype(x.dtype)[:, None] * offs[None]  # [m, 6]
    pts = x[None, None] + hs.reshape(hs.shape + (1,) * x.ndim) * u[:, None]  # [m, 6, *x]
    vals = jax.vmap(f)(pts.reshape((-1, *x.shape)))
    return f(x), vals.reshape((u.shape[0], len(OFFSETS), *vals.shape[1:]))


def choose(f0: jax.Array, vals: jax.Array) -> jax.Array:
    """``[m]`` scheme per direction (index into :data:`SCHEMES`) from ``f``'s values: central
    where every output that is finite at ``x`` stays finite at the four central points, else
    forward, else backward, else undefined. Decided on ``f`` itself, so the differences of
    its gradient (Hessian checks) use the same, domain-respecting stencil."""
    base = jnp.isfinite(f0)

    def side_ok(*idx):
        ok = base[None]
        for i in idx:
            ok = ok & jnp.isfinite(vals[:, i])
        return jnp.all((ok | ~base[None]).reshape(vals.shape[0], -1), axis=1)

    ok_c, ok_f, ok_b = side_ok(0, 1, 2, 3), side_ok(0, 2, 4), side_ok(1, 3, 5)
    return jnp.where(ok_c, 0, jnp.where(ok_f, 1, jnp.where(ok_b, 2, 3)))


def combine(f0: jax.Array, vals: jax.Array, steps: jax.Array, scheme: jax.Array) -> jax.Array:
    """``J u [m, *out]`` from :func:`evaluate`'s values with the per-direction ``scheme`` of
    :func:`choose` (NaN where it is undefined)."""
    shape = (-1,) + (1,) * (vals.ndim - 2)
    h = steps.reshape(shape).astype(vals.dtype)
    p1, m1, p2, m2, p4, m4 = (vals[:, i] for i in range(len(OFFSETS)))
    central = (4 * (p2 - m2) / h - (p1 - m1) / (2 * h)) / 3

    def one_sided(a1, a2, a4, sign):
        f1, f2, f4 = (
            sign * (a - f0[None]) / (h * c) for a, c in ((a1, 1.0), (a2, 0.5), (a4, 0.25))
        )
        r1, r2 = 2 * f2 - f1, 2 * f4 - f2
        return (4 * r2 - r1) / 3

    sch = scheme.reshape(shape)
    return jnp.where(
        sch == 0, central,
        jnp.where(sch == 1, one_sided(p1, p2, p4, 1.0),
                  jnp.where(sch == 2, one_sided(m1, m2, m4, -1.0), jnp.nan)),
    )


def directional_derivatives(f, x: jax.Array, u: jax.Array, steps) -> jax.Array:
    """``[m, *out]``: extrapolated finite differences of ``f`` at ``x`` along each ``u[i]``
    with step ``steps[i]`` (a scalar applies to all), computed in the dtype of ``x``.

    >>> import jax.numpy as jnp
    >>> d = directional_derivatives(jnp.sin, jnp.zeros(1), jnp.ones((1, 1)), 1e-2)
    >>> print(abs(float(d[0, 0]) - 1.0) < 1e-10)  # cos(0), error ~ h⁴/5!
    True
    >>> # sqrt(x)² + x is 2x on [0, ∞) and NaN below: at 0 only the forward side exists
    >>> f = lambda x: jnp.sqrt(x) ** 2 + x
    >>> d = directional_derivatives(f, jnp.zeros(1), jnp.ones((1, 1)), 1e-3)
    >>> print(round(float(d[0, 0]), 9))
    2.0
    """
    steps = jnp.broadcast_to(jnp.asarray(steps, x.dtype), (u.shape[0],))
    f0, vals = evaluate(f, x, u, steps)
    return combine(f0, vals, steps, choose(f0, vals))


def scheme_counts(scheme: np.ndarray) -> dict[str, int]:
    """``{"central": n, ...}`` for the schemes that occur."""
    scheme = np.asarray(scheme)
    return {name: int(np.sum(scheme == i)) for i, name in enumerate(SCHEMES) if np.any(scheme == i)}
