"""``check_gradient``: autodiff against finite differences, an analytic gradient and float64."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax.verify import _finite_diff as fd
from crossent_jax.verify import _tolerance as tl

MODES = ("fwd", "rev")


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One comparison: ``what`` (``"finite_differences"``, ``"analytic"``,
    ``"float64_reference"``, ``"finite_value"``), ``mode`` (``"fwd"``, ``"rev"``, ``"hvp"``,
    ``"value"``), the dtype autodiff ran in, the largest absolute error, the tolerance used, the
    error/tolerance ratio, and a ``note`` saying why it failed when the numbers do not (a NaN
    derivative, a non-finite value)."""

    what: str
    mode: str
    dtype: str
    max_error: float
    ratio: float
    rtol: float
    atol: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.ratio <= 1.0) and not self.note


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_gradient`: every comparison made, and whether all passed.

    ``errors`` maps ``(what, mode, dtype)`` to the largest absolute error; ``fd_schemes``
    counts the finite-difference schemes used (``central``, ``forward``, ``backward`` one-sided
    at a domain edge, ``undefined``); ``str(result)`` is a small table (``ratio`` = error /
    allowed error, so ``ratio ≤ 1`` passes).
    """

    measurements: tuple[Measurement, ...]
    fd_dtype: str
    fd_step: float
    num_directions: int
    #: per dtype checked, how many directions used each finite-difference scheme
    fd_schemes: dict = dataclasses.field(default_factory=dict)

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
        schemes = "; ".join(
            f"{d}: " + ", ".join(f"{k} {v}" for k, v in c.items())
            for d, c in self.fd_schemes.items()
        )
        head = (
            f"check_gradient: {'PASSED' if self.passed else 'FAILED'} "
            f"({len(self.measurements) - len(self.failures)}/{len(self.measurements)} "
            f"comparisons; finite differences in {self.fd_dtype}, steps from h={self.fd_step:g}"
            f", {self.num_directions} directions{' (' + schemes + ')' if schemes else ''})"
        )
        lines = [head, f"  {'check':<18} {'mode':<5} {'dtype':<9} {'max error':>10} "
                 f"{'rtol':>9} {'atol':>9} {'ratio':>8}  ok"]
        for m in self.measurements:
            lines.append(
                f"  {m.what:<18} {m.mode:<5} {m.dtype:<9} {m.max_error:10.2e} {m.rtol:9.1e} "
                f"{m.atol:9.1e} {m.ratio:8.2g}  {'yes' if m.passed else 'NO'}"
                + (f"  ({m.note})" if m.note else "")
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
    allow_nonfinite: bool = False,
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
      allow_nonfinite: accept non-finite values and derivatives where the reference is
        the same non-finite value. By default a NaN or infinite value of ``fn`` at the point,
        or a non-finite derivative where the reference is finite (or vice versa), fails
        with a note saying where — NaN is never a match.

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
        raise InputTypeError(f"argnums must be an int, got {argnums!r}")
    if not -len(args) <= argnums < len(args):
        raise InputValueError(
            f"argnums={argnums} is out of range for {len(args)} positional args"
        )
    argnums %= len(args)
    if not isinstance(modes, (str, list, tuple)):
        raise InputTypeError(f"modes must be a string or a sequence of strings, got {modes!r}")
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes or any(m not in MODES for m in modes):
        raise InputValueError(f"modes must be a non-empty subset of {MODES}, got {modes!r}")
    if order not in (1, 2):
        raise InputValueError(f"order must be 1 or 2, got {order!r}")
    x0 = args[argnums]
    if not _is_float_array(x0):
        dt = getattr(x0, "dtype", type(x0).__name__)
        raise InputTypeError(
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
        plan = _plan(fn, args, analytic, argnums, names, seed)
        program = _no_fwd_hint(jax.jit(_program(plan, fn, analytic, analytic_hvp, modes, order)))
        measurements, schemes = [], {}
        for name in names:
            ref, ad = _run(program, plan, name)
            cmp = _Comparer(plan, name, ref, rtol, atol, allow_nonfinite)
            cmp.value()
            if "fwd" in modes:
                cmp.forward(ad["tan"])
            if "rev" in modes:
                cmp.reverse(ad)
            if order == 2:
                cmp.hvp(ad["hvp"])
            measurements += cmp.measurements
            schemes[name] = fd.scheme_counts(ref["fd_scheme"])
    return CheckResult(tuple(measurements), plan.fd_dtype, plan.step, len(plan.u), schemes)


#: reverse mode is checked per group of output rows (one vjp each), so that every output
#: row is compared at its own scale; above this many rows, contiguous rows share a group
MAX_OUTPUT_GROUPS = 256
#: a finite-difference estimate may be off by this many times its own error estimate
FD_SAFETY = 3.0


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything fixed before any dtype is checked: shapes, directions, steps, cotangents.

    *Rows.* Each output row is compared at its own scale: the last axis of an output with the
    input's rank (≥ 2: an element-wise function of ``[batch, K]``), else every output entry.
    For a per-example function (output = input shape, or input shape without its last
    axis), input row ``i`` belongs to output row ``i``.
    """

    args: tuple
    argnums: int
    shape: tuple
    out: jax.ShapeDtypeStruct
    fd_dtype: str
    step: float
    u: np.ndarray  # [m, *x] directions
    steps: np.ndarray  # [m, C] candidate finite-difference steps per direction
    v: np.ndarray  # [*out] random cotangent
    groups: np.ndarray  # [G, *out] the cotangent split into groups of output rows (sums to v)
    coordinates: bool  # u is the coordinate basis
    out_rows: bool  # the output's last axis is a row (element-wise fn of [batch, K])
    separable: bool  # per-example fn: output row i depends on input row i only (by shape)
    dyn: tuple  # indices of the array arguments (traced)

    @property
    def row_axes(self):
        """Axes of an x-shaped array over which one example's scale is taken."""
        if not self.separable:
            return None
        return (-1,) if len(self.shape) >= 2 else ()


def _plan(fn, args, analytic, argnums, names, seed) -> _Plan:
    args64 = _cast(args, jnp.float64)
    out = jax.eval_shape(_bind(fn, args64, argnums), args64[argnums])
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise InputTypeError(
            "fn must return a single array (per-example losses or a scalar), got a "
            f"{type(out).__name__}: check each output with its own check_gradient call"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise InputTypeError(f"fn must return a floating-point array, got dtype {out.dtype}")
    shape = tuple(args[argnums].shape)
    if analytic is not None:
        a_shape = jax.eval_shape(analytic, *args64).shape
        if tuple(a_shape) != shape:
            raise InputValueError(
                f"analytic must return the gradient shaped like args[{argnums}] {shape}, "
                f"got shape {tuple(a_shape)}"
            )
    fd_dtype = tl.dtype_name(out.dtype)
    step = tl.FD_STEPS[fd_dtype]
    x64 = np.asarray(args64[argnums], np.float64)
    u, scale = fd.directions(shape, seed, x=x64)
    for name in names:  # directions exactly representable in every dtype checked
        u = np.asarray(jnp.asarray(u, name).astype(jnp.float64))
    v = np.random.default_rng(seed + 1).standard_normal(out.shape)
    if v.ndim == 0:  # the other cotangent is +1: make this one negative so that a backward
        v = -abs(v)  # pass that ignores the cotangent's sign (|g|) cannot pass
    out_shape = tuple(out.shape)
    out_rows = len(out_shape) >= 2 and len(out_shape) == len(shape)
    n_out = int(np.prod(out_shape, dtype=np.int64))
    row_len = out_shape[-1] if out_rows else 1
    n_rows = max(n_out // max(row_len, 1), 1)
    g = min(n_rows, MAX_OUTPUT_GROUPS)
    gid = ((np.arange(n_out) // max(row_len, 1)) * g) // n_rows
    groups = (np.eye(g)[gid].T * np.reshape(v, -1)[None]).reshape((g, *out_shape))
    return _Plan(
        args=args, argnums=argnums, shape=shape, out=out, fd_dtype=fd_dtype, step=step,
        u=u, steps=fd.candidate_steps(step, scale), v=np.asarray(v), groups=groups,
        coordinates=u.shape[0] == int(np.prod(shape, dtype=np.int64)) and u.shape[0] <= (
            fd.MAX_COORDINATES),
        out_rows=out_rows,
        separable=len(shape) >= 1 and out_shape in (shape, shape[:-1]),
        dyn=tuple(i for i, a in enumerate(args) if isinstance(a, (jax.Array, np.ndarray))),
    )


def _program(plan: _Plan, fn, analytic, analytic_hvp, modes, order):
    """One jitted program per dtype: every float64 reference and every autodiff derivative."""
    eps = float(jnp.finfo(plan.fd_dtype).eps)

    def with_dyn(values):
        full = list(plan.args)
        for i, a in zip(plan.dyn, values, strict=True):
            full[i] = a
        return tuple(full)

    def reference(dyn_args, u, steps, v):
        a = with_dyn(dyn_args)
        f, x = _bind(fn, a, plan.argnums), a[plan.argnums]
        f0, vals = fd.evaluate(f, x, u, steps)
        schemes = fd.domain_schemes(f0, vals)
        res = {"f": f0, "x": x}
        res["fd"], res["fd_err"], res["fd_scheme"] = fd.combine(f0, vals, steps, schemes, eps)
        if analytic is not None:
            res["analytic"] = analytic(*a)
        if analytic_hvp is not None:
            res["analytic_hvp"] = jax.vmap(lambda t: analytic_hvp(t, *a))(u)
        if order == 2:
            gsum = _grad_sum(f)
            g0, gvals = fd.evaluate(gsum, x, u, steps)
            res["g1"] = g0
            res["fd2"], res["fd2_err"], _ = fd.combine(g0, gvals, steps, schemes, eps)
        if "fwd" in modes and plan.fd_dtype == "float64":
            res["tan"] = jax.vmap(lambda t: jax.jvp(f, (x,), (t,))[1])(u)
        if "rev" in modes:
            y, vjp = jax.vjp(f, x)  # y may stay float32 if fn computes in float32
            res["g"] = vjp(v.astype(y.dtype))[0]
        return res

    def autodiff(dyn_args, u, groups):
        a = with_dyn(dyn_args)
        f, x = _bind(fn, a, plan.argnums), a[plan.argnums]
        res = {}
        if "fwd" in modes:
            res["tan"] = jax.vmap(lambda t: jax.jvp(f, (x,), (t,))[1])(u)
        if "rev" in modes:
            y, vjp = jax.vjp(f, x)
            cot = jnp.concatenate([groups.astype(y.dtype), jnp.ones((1, *y.shape), y.dtype)])
            g = jax.vmap(lambda c: vjp(c)[0])(cot)
            res["g_groups"], res["g_1"] = g[:-1], g[-1]
        if order == 2:
            res["hvp"] = _hvp(f, x, u, "fwd" in modes)
        return res

    def both(ref_dyn, ad_dyn, u64, steps, v64, u_d, groups):
        return reference(ref_dyn, u64, steps, v64), autodiff(ad_dyn, u_d, groups)

    return both


def _run(program, plan: _Plan, name: str):
    """Run the program for dtype ``name``; every output as float64 NumPy."""
    args_d = _cast(plan.args, name)
    ref_args = _cast(args_d, jnp.float64)  # float64 at the rounded point
    out = program(
        [ref_args[i] for i in plan.dyn], [args_d[i] for i in plan.dyn],
        jnp.asarray(plan.u), jnp.asarray(plan.steps), jnp.asarray(plan.v),
        jnp.asarray(plan.u, name), jnp.asarray(plan.groups, name),
    )
    return jax.tree.map(lambda r: np.asarray(r, np.float64), out)


def _row_max(a: np.ndarray, axes) -> np.ndarray:
    """``max |a|`` over ``axes`` (keepdims; non-finite entries count as 0); None: all."""
    a = np.where(np.isfinite(a), np.abs(a), 0.0)
    if axes is None:
        return np.asarray(a.max() if a.size else 0.0)
    return a.max(axis=axes, keepdims=True) if axes != () else a


class _Comparer:
    """The comparisons for one dtype; each appends a :class:`Measurement`.

    Tolerances: ``|a − b| ≤ atol·scale_row + rtol·|b| + floor`` where ``scale_row`` is the
    row's largest reference entry or, if larger, the row's function scale ``max|f| /
    max(1, max|x|)`` (a derivative computed by cancellation is only accurate relative to the
    terms it cancels, which are of that size), and ``floor`` is ``FD_SAFETY`` times the
    finite differences' own error estimate (plus four subnormal spacings of the dtype).
    """

    def __init__(self, plan: _Plan, name, ref, rtol, atol, allow_nonfinite):
        self.plan, self.name, self.ref, self.allow = plan, name, ref, allow_nonfinite
        self.tol_fd = tl.tolerance(name, plan.fd_dtype, rtol=rtol, atol=atol)
        self.tol = tl.tolerance(name, rtol=rtol, atol=atol)
        self.measurements: list[Measurement] = []
        self.flat_u = plan.u.reshape(len(plan.u), -1)
        self.tiny = 4 * float(jnp.finfo(name).smallest_subnormal)
        f, x = ref["f"], ref["x"]
        # The function's scale per output row, over the size of the input it depends on
        # (its own example's row for a per-example function, else the whole input).
        fx = _row_max(f, (-1,) if plan.out_rows else ())
        if plan.separable:
            xx = np.maximum(_row_max(x, plan.row_axes), 1.0)
            if len(plan.shape) >= 2 and f.shape == x.shape[:-1]:
                xx = xx[..., 0]  # [B, 1] -> [B]: per-example rows align with the outputs
        else:
            xx = np.maximum(_row_max(x, None), 1.0)
        self.f_scale_out = fx / xx
        # the same per input row, for x-shaped comparisons (gradients)
        if plan.separable:
            self.f_scale_x = self.f_scale_out[..., None] if f.shape == x.shape[:-1] else (
                self.f_scale_out)
        else:
            self.f_scale_x = np.max(self.f_scale_out)

    def add(self, what, mode, a, b, tol, *, scale=None, floor=0.0, ref_axes=None,
            fscale=0.0, ref_name="reference"):
        ref_scale = np.maximum(_row_max(np.asarray(b), ref_axes), fscale)
        c = tl.error_ratio(a, b, tol, scale, np.maximum(floor, self.tiny), ref_scale=ref_scale,
                           allow_nonfinite=self.allow, names=("autodiff", ref_name))
        self.measurements.append(
            Measurement(what, mode, self.name, c.max_error, c.ratio, tol.rtol, tol.atol, c.note)
        )

    def value(self):
        """``fn`` must be finite at the point (else every derivative there is meaningless)."""
        f = self.ref["f"]
        bad = ~np.isfinite(f)
        if self.allow or not np.any(bad):
            return
        idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
        note = f"fn(x) is {np.atleast_1d(f)[idx]:g} at output index {idx}: not a point to check"
        self.measurements.append(
            Measurement("finite_value", "value", self.name, float("nan"), float("inf"),
                        self.tol.rtol, self.tol.atol, note)
        )

    def forward(self, tan):
        p, r = self.plan, self.ref
        out_axes = (0, -1) if p.out_rows else 0
        fscale = self.f_scale_out
        self.add("finite_differences", "fwd", tan, r["fd"], self.tol_fd, ref_axes=out_axes,
                 floor=FD_SAFETY * np.nan_to_num(r["fd_err"], nan=0.0), fscale=fscale,
                 ref_name="finite differences")
        a64 = r.get("analytic")
        if a64 is not None:
            out_sum_axes = tuple(range(1, tan.ndim))
            summed = tan.sum(axis=out_sum_axes) if out_sum_axes else tan
            if p.coordinates:  # e_j: Σ_o (J e_j)_o is the j-th entry of the gradient of sum
                self.add("analytic", "fwd", summed.reshape(p.shape), a64, self.tol,
                         ref_axes=p.row_axes, fscale=self.f_scale_x)
            else:
                ua = self.flat_u @ a64.reshape(-1)
                scale = np.abs(self.flat_u) @ np.abs(a64.reshape(-1))
                self.add("analytic", "fwd", summed, ua, self.tol, scale=scale)
        if self.name != "float64" and "tan" in r:
            self.add("float64_reference", "fwd", tan, r["tan"], self.tol, ref_axes=out_axes,
                     fscale=fscale)

    def reverse(self, ad):
        p, r = self.plan, self.ref
        m, n_g = len(p.u), len(p.groups)
        gg = ad["g_groups"].reshape(n_g, -1)  # [G, n_x]
        got = gg @ self.flat_u.T  # [G, m]: <u, v_gᵀ J>
        cots = p.groups.reshape(n_g, -1)  # [G, n_out]
        fdiff = r["fd"].reshape(m, -1)  # [m, n_out]
        want = cots @ fdiff.T  # [G, m]
        # Rounding of the autodiff entries adds up like a random walk: scale by the 2-norm of
        # the terms u_i·g_i (the 1-norm would grow like √n and let a 1% bug through).
        scale = np.sqrt((gg**2) @ (self.flat_u**2).T)
        floor = FD_SAFETY * (np.abs(cots) @ np.nan_to_num(r["fd_err"].reshape(m, -1)).T)
        # each group's function scale: its outputs' scale, weighted by their cotangents
        fs = np.broadcast_to(self.f_scale_out, p.out.shape).reshape(-1)
        fscale = (np.abs(cots) @ fs)[:, None]
        self.add("finite_differences", "rev", got, want, self.tol_fd, scale=scale, floor=floor,
                 ref_axes=1, fscale=fscale, ref_name="finite differences")
        if r.get("analytic") is not None:
            self.add("analytic", "rev", ad["g_1"], r["analytic"], self.tol, ref_axes=p.row_axes,
                     fscale=self.f_scale_x)
        if self.name != "float64":
            g_v = ad["g_groups"].sum(axis=0)
            self.add("float64_reference", "rev", g_v, r["g"], self.tol, ref_axes=p.row_axes,
                     fscale=self.f_scale_x)

    def hvp(self, hvp):
        p, r = self.plan, self.ref
        axes = tuple(range(1, hvp.ndim)) if p.row_axes is None else (-1,)
        # the gradient's own scale per row, over 1 ∨ |x|: the Hessian's natural unit
        g_rows = _row_max(r["g1"], p.row_axes)
        x_rows = np.maximum(_row_max(r["x"], p.row_axes), 1.0)
        fscale = (g_rows / x_rows)[None]
        self.add("finite_differences", "hvp", hvp, r["fd2"], self.tol_fd, ref_axes=axes,
                 floor=FD_SAFETY * np.nan_to_num(r["fd2_err"], nan=0.0), fscale=fscale,
                 ref_name="finite differences")
        a_hvp = r.get("analytic_hvp")
        if a_hvp is not None:
            if a_hvp.shape != hvp.shape:
                raise InputValueError(
                    f"analytic_hvp must return an array shaped like args[{p.argnums}] "
                    f"{p.shape}, got shape {a_hvp.shape[1:]}"
                )
            self.add("analytic", "hvp", hvp, a_hvp, self.tol, ref_axes=axes, fscale=fscale)


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
