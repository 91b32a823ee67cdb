"""Finite-difference steps and comparison tolerances, per dtype.

Two dtypes matter in a check, as in ``jax.test_util.check_grads``:

* the dtype ``d`` in which autodiff runs (the inputs' dtype): it sets how close an
  autodiff derivative can be to the exact one (:data:`TOLERANCES`);
* the dtype in which the finite differences are *evaluated*: float64 whenever the function
  keeps float64 inputs in float64, else whatever it computes in. It sets the step
  (:data:`FD_STEPS`) and adds the finite-difference error to the tolerance.

A comparison of an autodiff value ``a`` with a reference ``b`` (array of the same shape)
passes when, entry by entry,

.. math::
    |a - b| \\le \\mathrm{atol}\\cdot\\|b\\|_\\infty + \\mathrm{rtol}\\cdot s

where ``s`` is ``|b|`` for an element-wise comparison, ``Σ|terms|`` for the dot product of a
direction with an analytic gradient, and ``(Σ terms²)^½`` for the reverse-mode ⟨u, vᵀJ⟩
against finite differences (rounding errors of many entries add like a random walk; the
1-norm would grow like √n and hide a 1% bug in a large float32 input). ``atol`` is
*relative to the largest reference entry*, so the same numbers work for a gradient of size
1e-3 or 1e3.

Why these numbers:

* float64: autodiff and the analytic formula agree to ~1e-15; central differences with one
  Richardson step (error O(h⁴), h = 1e-3) to ~1e-10. ``rtol = 1e-7`` leaves three orders
  of margin and still flags a 1e-6 relative bug.
* float32: unit roundoff 6e-8, a softmax gradient carries a few ulps (~1e-6 relative).
  ``rtol = 1e-4`` is 100× above that and 100× below a 1 % bug.
* bfloat16 / float16: the kit computes 16-bit inputs in float32 and rounds the gradient
  once, so each entry is within half an ulp (2⁻⁸ for bf16, 2⁻¹¹ for f16). ``rtol`` is one
  ulp (2⁻⁷ = 0.78 % for bf16, 2⁻¹⁰ for f16): a 1 % error is at the edge of what bf16 can
  represent, so the 1 % guarantee is made in float32 and float64. A function that computes
  *in* 16 bits throughout needs a looser ``rtol`` (pass it).

References:
  `jax.test_util.check_grads
  <https://docs.jax.dev/en/latest/_autosummary/jax.test_util.check_grads.html>`_;
  Griewank and Walther, `Evaluating Derivatives <https://doi.org/10.1137/1.9780898717761>`_,
  2008, ch. 3 (forward and reverse mode) and §8 (finite-difference checks)
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from crossent_jax._errors import InputValueError


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """``rtol`` (relative to the entry's scale) and ``atol`` (relative to max |reference|)."""

    rtol: float
    atol: float


#: autodiff in this dtype vs an exact (float64) reference
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-7, atol=1e-9),
    "float32": Tolerance(rtol=1e-4, atol=1e-6),
    "float16": Tolerance(rtol=2.0**-10, atol=1e-4),
    "bfloat16": Tolerance(rtol=2.0**-7, atol=1e-4),
}

#: central-difference step (before Richardson halving) by the dtype the differences are
#: evaluated in; rounding error ~ unit_roundoff / h, truncation ~ h⁴ after extrapolation.
FD_STEPS: dict[str, float] = {"float64": 1e-3, "float32": 3e-2, "float16": 1e-1, "bfloat16": 1e-1}

#: extra error of the finite differences themselves, by the evaluation dtype
FD_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-8, atol=1e-9),
    "float32": Tolerance(rtol=1e-3, atol=1e-4),
    "float16": Tolerance(rtol=3e-2, atol=1e-2),
    "bfloat16": Tolerance(rtol=1e-1, atol=3e-2),
}

FLOAT_DTYPES = tuple(TOLERANCES)


def dtype_name(dtype) -> str:
    """Canonical name (``"float32"``, ``"bfloat16"``...) of a floating dtype; ValueError else."""
    try:
        name = jnp.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in TOLERANCES:
        raise InputValueError(
            f"dtype must be one of {', '.join(FLOAT_DTYPES)}, got {dtype!r}"
        )
    return name


def tolerance(dtype, fd_dtype=None, *, rtol=None, atol=None) -> Tolerance:
    """The tolerance for autodiff in ``dtype`` (plus finite differences in ``fd_dtype``).

    Explicit ``rtol`` / ``atol`` replace the defaults.

    >>> tolerance("float32")
    Tolerance(rtol=0.0001, atol=1e-06)
    >>> tolerance("float64", "float32").rtol  # differences evaluated in float32 dominate
    0.001
    """
    base = TOLERANCES[dtype_name(dtype)]
    if fd_dtype is not None:
        fd = FD_TOLERANCES[dtype_name(fd_dtype)]
        base = Tolerance(max(base.rtol, fd.rtol), max(base.atol, fd.atol))
    return Tolerance(
        base.rtol if rtol is None else float(rtol), base.atol if atol is None else float(atol)
    )


class Comparison(NamedTuple):
    """The outcome of :func:`error_ratio`: largest absolute error, largest error / allowed
    error (``≤ 1`` passes), and a note saying why it failed when the numbers alone do not."""

    max_error: float
    ratio: float
    note: str = ""


def error_ratio(
    a, b, tol: Tolerance, scale=None, floor=0.0, *, ref_axes=None, ref_scale=None,
    allow_nonfinite: bool = False, names: tuple[str, str] = ("autodiff", "reference"),
) -> Comparison:
    """Compare ``a`` with the reference ``b`` entry by entry: the comparison passes when the
    returned ratio ≤ 1 (and the note is empty).

    ``allowed = atol·max|b| + rtol·scale`` per entry, at least ``floor`` (the rounding noise
    of finite differences; an array broadcasting against ``a``). ``max|b|`` is taken over
    ``ref_axes`` (None: the whole array), so an output of size 1e8 does not set the scale of
    its neighbours; ``ref_scale`` (broadcasting against ``a``) replaces it when given.
    ``scale`` defaults to ``|b|``.

    **NaN is never a match.** An entry where ``a`` or ``b`` is not finite fails, with a note
    naming the first one — unless ``allow_nonfinite`` is True, and then equal infinities (or
    two NaNs) match.

    >>> error_ratio(np.array([1.0, 2.02]), np.array([1.0, 2.0]), Tolerance(1e-2, 0.0))
    Comparison(max_error=0.02..., ratio=1.0..., note='')
    >>> error_ratio(np.array([np.nan]), np.array([np.nan]), Tolerance(1e-2, 0.0)).note
    'autodiff is nan where the reference is nan (index (0,))'
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = np.broadcast_arrays(a, b)
    if a.size == 0:
        return Comparison(0.0, 0.0)
    nonfinite = ~(np.isfinite(a) & np.isfinite(b))
    if allow_nonfinite:
        nonfinite &= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    note = ""
    if np.any(nonfinite):
        idx = tuple(int(i) for i in np.argwhere(nonfinite)[0])
        note = f"{names[0]} is {a[idx]:g} where the {names[1]} is {b[idx]:g} (index {idx})"
    both = np.isfinite(a) & np.isfinite(b)
    diff = np.where(both, np.abs(np.where(both, a, 0) - np.where(both, b, 0)), 0.0)
    bb = np.where(np.isfinite(b), np.abs(b), 0.0)
    if ref_scale is not None:
        ref = np.asarray(ref_scale, np.float64)
    else:
        ref = bb.max(axis=ref_axes, keepdims=True) if ref_axes is not None else bb.max()
    s = np.abs(b) if scale is None else np.broadcast_to(np.asarray(scale, np.float64), b.shape)
    allowed = tol.atol * ref + tol.rtol * np.where(np.isfinite(s), s, 0.0)
    allowed = np.maximum(allowed, np.maximum(floor, np.finfo(np.float64).tiny))
    ratio = float((diff / allowed).max())
    if note:
        ratio = float("inf")
    return Comparison(float(diff.max()), ratio, note)
