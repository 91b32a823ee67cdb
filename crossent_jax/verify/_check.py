"""``check_gradient``: autodiff against finite differences, an analytic gradient and float64."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax._errors import InputValueError
from crossent_jax.verify import _finite_diff as fd
from crossent_jax.verify import _tolerance as tl

MODES = ("fwd", "rev")


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One comparison: ``what`` (``"finite_differences"``, ``"analytic"``,
    ``"float64_reference"``), ``mode`` (``"fwd"``, ``"rev"``, ``"hvp"``), the dtype autodiff
    ran in, the largest absolute error, the tolerance used and the error/tolerance ratio."""

    what: str
    mode: str
    dtype: str
    max_error: float
    ratio: float
    rtol: float
    atol: float

    @property
    def passed(self) -> bool:
        return bool(self.ratio <= 1.0)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_gradient`: every comparison made, and whether all passed.

    ``errors`` maps ``(what, mode, dtype)`` to the largest absolute error; ``str(result)``
    is a small table (``ratio`` = error / allowed error, so ``ratio ≤ 1`` passes).
    """

    measurements: tuple[Measurement, ...]
    fd_dtype: str
    fd_step: float
    num_directions: int

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.measurements)

    @property
    def errors(self) -> dict[tuple[str, str, str], float]:
        return {(m.what, m.mode, m.dtype): m.max_error for m in self.measurements}

    @property
    def failures(self) -> tuple[Measurement, ...]:
        return tuple(m for m in self.measurements if not m.passed)

    def __str__(self) -> str:
        head = (
            f"check_gradient: {'PASSED' if self.passed else 'FAILED'} "
            f"({len(self.measurements) - len(self.failures)}/{len(self.measurements)} "
            f"comparisons; finite differences in {self.fd_dtype}, h={self.fd_step:g}, "
            f"{self.num_directions} directions)"
        )
        lines = [head, f"  {'check':<18} {'mode':<4} {'dtype':<9} {'max error':>10} "
                 f"{'rtol':>9} {'atol':>9} {'ratio':>8}  ok"]
        for m in self.measurements:
            lines.append(
                f"  {m.what:<18} {m.mode:<4} {m.dtype:<9} {m.max_error:10.2e} {m.rtol:9.1e} "
                f"{m.atol:9.1e} {m.ratio:8.2g}  {'yes' if m.passed else 'NO'}"
            )
        return "\n".join(lines)


def _is_float_array(a) -> bool:
    return hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)


def _cast(args, dtype):
    return tuple(jnp.asarray(a, dtype) if _is_float_array(a) else a for a in args)


def _bind(fn, args, argnums):
    def f(x):
        return fn(*args[:argnums], x, *args[argnums + 1 :])

    return f


def check_gradient(
    fn: Callable,
    *args,
    analytic: Callable | None = None,
    argnums: int = 0,
    modes: Sequence[str] = MODES,
    order: int = 2,
    dtypes: Sequence | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    analytic_hvp: Callable | None = None,
    seed: int = 0,
) -> CheckResult:
    r"""Check the derivatives of ``fn`` with respect to ``args[argnums]``.

    For each dtype ``d`` the floating arguments are cast to ``d`` (the point ``x``) and
    autodiff runs in ``d``; every reference is computed in float64 *at the same rounded
    point*. The comparisons (all must pass):

    * ``finite_differences``: forward mode ``J u`` (``jvp``) and reverse mode ``vᵀJ u``
      (``vjp`` with a random cotangent ``v``) against central differences of ``fn`` in
      float64 with one Richardson step, along every coordinate for inputs of up to 64
      entries (so each gradient entry is checked on its own) and along 8 random unit
      directions otherwise;
    * ``analytic``: when ``analytic(*args)`` is given, it must return the gradient of
      ``sum(fn(*args))`` with respect to ``args[argnums]`` (the vjp with an all-ones
      cotangent); it is evaluated in float64 and compared with both modes;
    * ``float64_reference`` (``d`` ≠ float64): both modes against the same derivative of
      the float64 evaluation;
    * with ``order=2``, Hessian-vector products ``H u`` of ``sum(fn)`` (forward-over-reverse,
      or reverse-over-reverse when only ``"rev"`` is requested) against finite differences
      of the float64 gradient, and against ``analytic_hvp(u, *args)`` when given.

    .. math::
        \mathrm{pass} \iff |a - b| \le \mathrm{atol}\,\|b\|_\infty + \mathrm{rtol}\,|b|
        \ \text{entry by entry}

    with tolerances from :mod:`crossent_jax.verify._tolerance` (they scale with the dtype's
    precision; finite differences add their own error) unless ``rtol`` / ``atol`` are given.

    Args:
      fn: ``fn(*args) -> array`` (any shape, floating). May use ``jax.custom_vjp``; then
        pass ``modes=("rev",)`` (a custom-VJP function has no forward mode), and for
        ``order=2`` its backward pass must itself be differentiable.
      *args: the point; floating arrays are cast to each dtype, other arguments (integer
        labels, Python scalars) are passed unchanged.
      analytic: optional ``analytic(*args) -> array`` shaped like ``args[argnums]``.
      argnums: the index of the argument to differentiate (an int).
      modes: a non-empty subset of ``("fwd", "rev")``.
      order: 1, or 2 to also check second derivatives.
      dtypes: dtypes to run autodiff in (``"float64"``, ``"float32"``, ``"bfloat16"``,
        ``"float16"``); default: the dtype of ``args[argnums]``.
      rtol, atol: override the per-dtype tolerances (see above).
      analytic_hvp: optional ``analytic_hvp(u, *args)``: the Hessian of ``sum(fn)`` times
        ``u`` (shape of ``args[argnums]``).
      seed: seed of the random cotangent and directions.

    Returns:
      A :class:`CheckResult`; ``result.passed`` is True when every comparison passed.

    Raises:
      ValueError: bad ``argnums`` / ``modes`` / ``order`` / ``dtypes``, a non-floating
        argument to differentiate, an analytic gradient of the wrong shape, or forward mode
        requested on a ``custom_vjp`` function.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from crossent_jax.verify import check_gradient
      >>> fn = lambda z: jax.nn.logsumexp(z, axis=-1)
      >>> z = jnp.array([[0.5, -1.0, 2.0]], jnp.float32)
      >>> res = check_gradient(fn, z, analytic=lambda z: jax.nn.softmax(z, axis=-1))
      >>> res.passed
      True
      >>> bad = check_gradient(fn, z, analytic=lambda z: 1.01 * jax.nn.softmax(z, axis=-1))
      >>> bad.passed, bad.failures[0].what
      (False, 'analytic')

    References:
      `jax.test_util.check_grads
      <https://docs.jax.dev/en/latest/_autosummary/jax.test_util.check_grads.html>`_;
      Griewank and Walther, `Evaluating Derivatives
      <https://doi.org/10.1137/1.9780898717761>`_, 2008
    """
    if isinstance(argnums, bool) or not isinstance(argnums, int):
        raise InputValueError(f"argnums must be an int, got {argnums!r}")
    if not -len(args) <= argnums < len(args):
        raise InputValueError(f"argnums={argnums} is out of range for {len(args)} positional args")
    argnums %= len(args)
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes or any(m not in MODES for m in modes):
        raise InputValueError(f"modes must be a non-empty subset of {MODES}, got {modes!r}")
    if order not in (1, 2):
        raise InputValueError(f"order must be 1 or 2, got {order!r}")
    x0 = args[argnums]
    if not _is_float_array(x0):
        dt = getattr(x0, "dtype", type(x0).__name__)
        raise InputValueError(
            f"args[{argnums}] must be a floating-point array to differentiate, got {dt}"
        )
    if dtypes is None:
        dtypes = (x0.dtype,)
    elif isinstance(dtypes, str) or not isinstance(dtypes, (list, tuple)):
        dtypes = (dtypes,)  # one dtype given bare ("float32", jnp.float32), not a sequence
    dtypes = tuple(dtypes)
    if not dtypes:
        raise InputValueError("dtypes must name at least one dtype, got an empty sequence")
    names = [tl.dtype_name(d) for d in dtypes]

    with jax.enable_x64(True):
        return _check(fn, args, analytic, analytic_hvp, argnums, modes, order, names,
                      rtol, atol, seed)


def _check(fn, args, analytic, analytic_hvp, argnums, modes, order, names, rtol, atol, seed):
    args64 = _cast(args, jnp.float64)
    out = jax.eval_shape(_bind(fn, args64, argnums), args64[argnums])
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise InputValueError(
            "fn must return a single array (per-example losses or a scalar), got a "
            f"{type(out).__name__}: check each output with its own check_gradient call"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise InputValueError(f"fn must return a floating-point array, got dtype {out.dtype}")
    fd_dtype = tl.dtype_name(out.dtype)
    step = tl.FD_STEPS[fd_dtype]
    shape = tuple(args[argnums].shape)
    if analytic is not None:
        a_shape = jax.eval_shape(analytic, *args64).shape
        if tuple(a_shape) != shape:
            raise InputValueError(
                f"analytic must return the gradient shaped like args[{argnums}] {shape}, "
                f"got shape {tuple(a_shape)}"
            )

    u = fd.directions(shape, seed)
    for name in names:  # directions exactly representable in every dtype checked
        u = np.asarray(jnp.asarray(u, name).astype(jnp.float64))
    u64 = jnp.asarray(u)
    v = np.random.default_rng(seed + 1).standard_normal(out.shape)
    if v.ndim == 0:  # the other cotangent is +1: make this one negative so that a backward
        v = -abs(v)  # pass that ignores the cotangent's sign (|g|) cannot pass
    v64 = jnp.asarray(v)
    flat_u = u.reshape(u.shape[0], -1)
    dyn = [i for i, a in enumerate(args) if isinstance(a, (jax.Array, np.ndarray))]

    def with_dyn(values):
        full = list(args)
        for i, a in zip(dyn, values, strict=True):
            full[i] = a
        return tuple(full)

    def reference(dyn_args, u, v):
        """Everything computed in float64 at the (rounded) point: one jitted program."""
        a = with_dyn(dyn_args)
        f, x = _bind(fn, a, argnums), a[argnums]
        res = {"fd": fd.directional_derivatives(f, x, u, step), "f": f(x)}
        if analytic is not None:
            res["analytic"] = analytic(*a)
        if analytic_hvp is not None:
            res["analytic_hvp"] = jax.vmap(lambda t: analytic_hvp(t, *a))(u)
        if order == 2:
            res["fd2"] = fd.directional_derivatives(_grad_sum(f), x, u, step)
            res["g1"] = _grad_sum(f)(x)
        if "fwd" in modes and fd_dtype == "float64":
            res["tan"] = jax.vmap(lambda t: jax.jvp(f, (x,), (t,))[1])(u)
        if "rev" in modes:
            y, vjp = jax.vjp(f, x)  # y may stay float32 if fn computes in float32
            res["g"] = vjp(v.astype(y.dtype))[0]
        return res

    def autodiff(dyn_args, u, v):
        """Every autodiff derivative in the checked dtype: one jitted program."""
        a = with_dyn(dyn_args)
        f, x = _bind(fn, a, argnums), a[argnums]
        res = {}
        if "fwd" in modes:
            res["tan"] = jax.vmap(lambda t: jax.jvp(f, (x,), (t,))[1])(u)
        if "rev" in modes:
            y, vjp = jax.vjp(f, x)
            cot = jnp.stack([v.astype(y.dtype), jnp.ones(y.shape, y.dtype)])
            res["g_v"], res["g_1"] = jax.vmap(lambda c: vjp(c)[0])(cot)
        if order == 2:
            res["hvp"] = _hvp(f, x, u, "fwd" in modes)
        return res

    def both(ref_dyn, ad_dyn, u64, u_d, v):
        return reference(ref_dyn, u64, v), autodiff(ad_dyn, u_d, v)

    both = _no_fwd_hint(jax.jit(both))  # one compiled program per dtype
    ms: list[Measurement] = []

    def add(what, mode, name, a, b, tol, scale=None, floor=0.0):
        err, ratio = tl.error_ratio(a, b, tol, scale, floor)
        ms.append(Measurement(what, mode, name, err, ratio, tol.rtol, tol.atol))

    for name in names:
        args_d = _cast(args, name)
        ref_args = _cast(args_d, jnp.float64)  # float64 at the rounded point
        tol_fd = tl.tolerance(name, fd_dtype, rtol=rtol, atol=atol)
        tol = tl.tolerance(name, rtol=rtol, atol=atol)
        ref, ad = jax.tree.map(
            lambda r: np.asarray(r, np.float64),
            both([ref_args[i] for i in dyn], [args_d[i] for i in dyn], u64, jnp.asarray(u, name),
                 v64),
        )
        fdiff, a64 = ref["fd"], ref.get("analytic")
        noise = tl.fd_noise(fd_dtype, ref["f"], step)

        if "fwd" in modes:
            tan = ad["tan"]
            add("finite_differences", "fwd", name, tan, fdiff, tol_fd, floor=noise)
            if a64 is not None:
                ua = flat_u @ a64.reshape(-1)
                scale = np.abs(flat_u) @ np.abs(a64.reshape(-1))
                add("analytic", "fwd", name, tan.reshape(len(u), -1).sum(1), ua, tol, scale)
            if name != "float64" and "tan" in ref:
                add("float64_reference", "fwd", name, tan, ref["tan"], tol)

        if "rev" in modes:
            flat_g = ad["g_v"].reshape(-1)
            want = fdiff.reshape(len(u), -1) @ np.asarray(v64).reshape(-1)
            # Rounding of the autodiff entries adds up like a random walk, not in the worst
            # case: scale by the 2-norm of the terms u_i·g_i. (For the coordinate directions
            # used up to 64 entries this equals |u_i·g_i|; for random directions over many
            # entries the 1-norm would be ~√n times larger and let a 1% bug through.)
            scale = np.sqrt((flat_u**2) @ (flat_g**2))
            v_abs = np.abs(np.asarray(v64)).sum()
            add("finite_differences", "rev", name, flat_u @ flat_g, want, tol_fd, scale,
                floor=noise * v_abs)
            if a64 is not None:
                add("analytic", "rev", name, ad["g_1"], a64, tol)
            if name != "float64":
                add("float64_reference", "rev", name, ad["g_v"], ref["g"], tol)

        if order == 2:
            noise2 = tl.fd_noise(fd_dtype, ref["g1"], step)
            add("finite_differences", "hvp", name, ad["hvp"], ref["fd2"], tol_fd, floor=noise2)
            if analytic_hvp is not None:
                want = ref["analytic_hvp"]
                if want.shape != ad["hvp"].shape:
                    raise InputValueError(
                        f"analytic_hvp must return an array shaped like args[{argnums}] "
                        f"{shape}, got shape {want.shape[1:]}"
                    )
                add("analytic", "hvp", name, ad["hvp"], want, tol)

    return CheckResult(tuple(ms), fd_dtype, step, len(u))


def _no_fwd_hint(g):
    """Turn JAX's error for ``jvp`` of a ``custom_vjp`` function into a clear ValueError."""

    def call(*a):
        try:
            return g(*a)
        except TypeError as e:
            if "custom_vjp" not in str(e):
                raise
            raise InputValueError(
                "fn uses jax.custom_vjp, which has no forward mode: call "
                "check_gradient(..., modes=('rev',))"
            ) from None

    return call


def _grad_sum(f):
    """``x ↦ ∇ sum f(x)`` (the vjp with an all-ones cotangent)."""

    def grad_sum(x):
        y, vjp = jax.vjp(f, x)
        return vjp(jnp.ones(y.shape, y.dtype))[0]

    return grad_sum


def _hvp(f, x, u, forward: bool):
    """``[m, *x]``: H u for each direction, H the Hessian of ``sum(f)``."""

    grad_sum = _grad_sum(f)
    if forward:  # forward-over-reverse
        return jax.vmap(lambda t: jax.jvp(grad_sum, (x,), (t,))[1])(u)
    # reverse-over-reverse (custom_vjp functions): ∇_x <∇ sum f(x), u> = H u (H symmetric)
    return jax.vmap(lambda t: jax.grad(lambda x: jnp.vdot(grad_sum(x), t))(x))(u)
