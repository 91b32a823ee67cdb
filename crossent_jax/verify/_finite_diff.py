"""Central finite differences in float64 with one Richardson step, batched with ``vmap``.

For a function ``f: R^n → R^{out}``, a point ``x`` and directions ``U`` (``[m, n]``), the
directional derivatives ``J(x) u_m`` are estimated by

.. math::
    D(h) = \\frac{f(x + h u) - f(x - h u)}{2h}, \\qquad
    J u \\approx \\frac{4 D(h/2) - D(h)}{3} \\quad (\\text{error } O(h^4))

All ``4m`` evaluations run as one ``vmap``-ed call. When ``n`` is small the directions are
the coordinate basis, so ``U`` recovers the full Jacobian and every entry of a gradient is
compared on its own; for larger inputs they are random unit vectors (a check of ``<v, J u>``
as in ``jax.test_util.check_grads``).

References:
  Griewank and Walther, `Evaluating Derivatives <https://doi.org/10.1137/1.9780898717761>`_,
  2008; Richardson, `The deferred approach to the limit
  <https://doi.org/10.1098/rsta.1927.0008>`_, 1927
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: inputs up to this size are differenced along every coordinate (the full Jacobian)
MAX_COORDINATES = 64
#: otherwise, this many random directions
NUM_RANDOM_DIRECTIONS = 8


def directions(shape, seed: int = 0, *, max_coordinates: int = MAX_COORDINATES) -> np.ndarray:
    """``[m, *shape]`` float64 directions: the coordinate basis, or random unit vectors.

    >>> directions((2,)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> directions((100,)).shape
    (8, 100)
    """
    n = int(np.prod(shape, dtype=np.int64))
    if n <= max_coordinates:
        return np.eye(n, dtype=np.float64).reshape((n, *shape))
    u = np.random.default_rng(seed).standard_normal((NUM_RANDOM_DIRECTIONS, n))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u.reshape((NUM_RANDOM_DIRECTIONS, *shape))


def directional_derivatives(f, x: jax.Array, u: jax.Array, step: float) -> jax.Array:
    """``[m, *out]``: Richardson-extrapolated central differences of ``f`` at ``x`` along
    each ``u[i]`` (``u``: ``[m, *x.shape]``), computed in the dtype of ``x``.

    >>> import jax.numpy as jnp
    >>> d = directional_derivatives(jnp.sin, jnp.zeros(1), jnp.ones((1, 1)), 1e-2)
    >>> print(abs(float(d[0, 0]) - 1.0) < 1e-10)  # cos(0), error ~ h⁴/5!
    True
    """
    hs = jnp.asarray([step, -step, step / 2, -step / 2], x.dtype)
    pts = x[None, None] + hs.reshape((1, 4) + (1,) * x.ndim) * u[:, None]  # [m, 4, *x]
    flat = pts.reshape((-1, *x.shape))
    vals = jax.vmap(f)(flat)
    vals = vals.reshape((u.shape[0], 4, *vals.shape[1:]))
    d_h = (vals[:, 0] - vals[:, 1]) / (2 * step)
    d_h2 = (vals[:, 2] - vals[:, 3]) / step
    return (4 * d_h2 - d_h) / 3
