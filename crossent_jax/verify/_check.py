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
        schemes = ", ".join(f"{k} {v}" for k, v in self.fd_schemes.items())
        head = (
            f"check_gradient: {'PASSED' if self.passed else 'FAILED'} "
            f"({len(self.measurements) - len(self.failures)}/{len(self.measurements)} "
            f"comparisons; finite differences in {self.fd_dtype}, h={self.fd_step:g}·min(1, |x|)"
            f", {self.num_directions} directions{'; ' + schemes if schemes else ''})"
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
            cmp = _Comparer(plan, name, rtol, atol, allow_nonfinite)
            cmp.value(ref["f"])
            if "fwd" in modes:
                cmp.forward(ad["tan"], ref["fd"], ref["f"], ref.get("analytic"), ref.get("tan"))
            if "rev" in modes:
                cmp.reverse(ad, ref["fd"], ref["f"], ref.get("analytic"), ref["g"])
            if order == 2:
                cmp.hvp(ad["hvp"], ref["fd2"], ref["g1"], ref.get("analytic_hvp"))
            measurements += cmp.measurements
            for k, n in fd.scheme_counts(ref["fd_scheme"]).items():
                schemes[k] = schemes.get(k, 0) + n
    return CheckResult(tuple(measurements), plan.fd_dtype, plan.step, len(plan.u), schemes)


#: reverse mode is checked per group of outputs (one vjp each), so that every output entry is
#: compared at its own scale; above this many outputs, contiguous outputs share a group
MAX_OUTPUT_GROUPS = 32


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything fixed before any dtype is checked: shapes, directions, steps, cotangents."""

    args: tuple
    argnums: int
    shape: tuple
    out: jax.ShapeDtypeStruct
    fd_dtype: str
    step: float
    u: np.ndarray  # [m, *x] directions
    steps: np.ndarray  # [m] finite-difference step per direction
    v: np.ndarray  # [*out] random cotangent
    groups: np.ndarray  # [G, *out] the cotangent split into output groups (sums to v)
    coordinates: bool  # u is the coordinate basis
    out_rows: bool  # the output's last axis is a row (element-wise fn), see _plan
    separable: bool  # per-example fn: output row i depends on input row i only (by shape)
    dyn: tuple  # indices of the array arguments (traced)

    @property
    def row_axes(self):
        """Axes of an x-shaped array over which one example's scale is taken."""
        return (-1,) if self.separable and len(self.shape) >= 1 else None


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
    # Outputs are compared row by row: an output's last axis is a row when it has the
    # input's rank (element-wise functions), else every output entry is its own row
    # (per-example losses). Reverse mode uses one vjp per group of rows.
    n_out = int(np.prod(out.shape, dtype=np.int64))
    row_len = out.shape[-1] if out.ndim >= 1 and out.ndim == len(shape) else 1
    n_rows = max(n_out // max(row_len, 1), 1)
    g = min(n_rows, MAX_OUTPUT_GROUPS)
    gid = ((np.arange(n_out) // max(row_len, 1)) * g) // n_rows
    groups = (np.eye(g)[gid].T * np.reshape(v, -1)[None]).reshape((g, *out.shape))
    out_shape = tuple(out.shape)
    separable = len(shape) >= 1 and out_shape in (shape, shape[:-1])
    return _Plan(
        args=args, argnums=argnums, shape=shape, out=out, fd_dtype=fd_dtype, step=step,
        u=u, steps=step * scale, v=np.asarray(v), groups=groups,
        coordinates=u.shape[0] == int(np.prod(shape, dtype=np.int64)) and u.shape[0] <= (
            fd.MAX_COORDINATES),
        separable=separable,
        out_rows=row_len > 1,
        dyn=tuple(i for i, a in enumerate(args) if isinstance(a, (jax.Array, np.ndarray))),
    )


def _program(plan: _Plan, fn, analytic, analytic_hvp, modes, order):
    """One jitted program per dtype: every float64 reference and every autodiff derivative."""

    def with_dyn(values):
        full = list(plan.args)
        for i, a in zip(plan.dyn, values, strict=True):
            full[i] = a
        return tuple(full)

    def reference(dyn_args, u, steps, v):
        a = with_dyn(dyn_args)
        f, x = _bind(fn, a, plan.argnums), a[plan.argnums]
        f0, vals = fd.evaluate(f, x, u, steps)
        scheme = fd.choose(f0, vals)
        res = {"f": f0, "fd_scheme": scheme, "fd": fd.combine(f0, vals, steps, scheme)}
        if analytic is not None:
            res["analytic"] = analytic(*a)
        if analytic_hvp is not None:
            res["analytic_hvp"] = jax.vmap(lambda t: analytic_hvp(t, *a))(u)
        if order == 2:
            gsum = _grad_sum(f)
            g0, gvals = fd.evaluate(gsum, x, u, steps)
            res["g1"] = g0
            res["fd2"] = fd.combine(g0, gvals, steps, scheme)
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


class _Comparer:
    """The comparisons for one dtype; each appends a :class:`Measurement`."""

    def __init__(self, plan: _Plan, name, rtol, atol, allow_nonfinite):
        self.plan, self.name, self.allow = plan, name, allow_nonfinite
        self.tol_fd = tl.tolerance(name, plan.fd_dtype, rtol=rtol, atol=atol)
        self.tol = tl.tolerance(name, rtol=rtol, atol=atol)
        self.measurements: list[Measurement] = []
        m = len(plan.u)
        self.flat_u = plan.u.reshape(m, -1)

    def add(self, what, mode, a, b, tol, *, scale=None, floor=0.0, ref_axes=None,
            ref_name="reference"):
        c = tl.error_ratio(a, b, tol, scale, floor, ref_axes=ref_axes,
                           allow_nonfinite=self.allow, names=("autodiff", ref_name))
        self.measurements.append(
            Measurement(what, mode, self.name, c.max_error, c.ratio, tol.rtol, tol.atol, c.note)
        )

    def noise(self, values, row_axes=None):
        """``[m, *values]`` rounding floor of the differences, each entry's taken at the
        largest ``|f|`` of its row (``row_axes`` of ``values``; None: its own entry)."""
        nz = tl.fd_noise(self.plan.fd_dtype, values, self.plan.steps)
        if row_axes is None:
            return nz
        axes = tuple(a + 1 if a >= 0 else a for a in row_axes)
        return np.broadcast_to(nz.max(axis=axes, keepdims=True), nz.shape)

    def value(self, f):
        """``fn`` must be finite at the point (else every derivative there is meaningless)."""
        bad = ~np.isfinite(f)
        if self.allow or not np.any(bad):
            return
        idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
        note = f"fn(x) is {np.atleast_1d(f)[idx]:g} at output index {idx}: not a point to check"
        self.measurements.append(
            Measurement("finite_value", "value", self.name, float("nan"), float("inf"),
                        self.tol.rtol, self.tol.atol, note)
        )

    def forward(self, tan, fdiff, f, a64, tan64):
        p = self.plan
        out_axes = tuple(range(1, tan.ndim))
        # J u per direction and output entry, each output row at its own scale
        rows = (0, -1) if p.out_rows else 0
        floor = self.noise(f, (-1,) if p.out_rows else None)
        self.add("finite_differences", "fwd", tan, fdiff, self.tol_fd, ref_axes=rows,
                 floor=floor, ref_name="finite differences")
        if a64 is not None:
            summed = tan.sum(axis=out_axes) if out_axes else tan
            if p.coordinates:  # e_j: Σ_o (J e_j)_o is the j-th entry of the gradient of sum
                self.add("analytic", "fwd", summed.reshape(p.shape), a64, self.tol,
                         ref_axes=p.row_axes)
            else:
                ua = self.flat_u @ a64.reshape(-1)
                scale = np.abs(self.flat_u) @ np.abs(a64.reshape(-1))
                self.add("analytic", "fwd", summed, ua, self.tol, scale=scale)
        if self.name != "float64" and tan64 is not None:
            self.add("float64_reference", "fwd", tan, tan64, self.tol, ref_axes=rows)

    def reverse(self, ad, fdiff, f, a64, g64):
        p = self.plan
        m = len(p.u)
        gg = ad["g_groups"].reshape(len(p.groups), -1)  # [G, n_x]
        got = gg @ self.flat_u.T  # [G, m]: <u, v_gᵀ J>
        want = p.groups.reshape(len(p.groups), -1) @ fdiff.reshape(m, -1).T  # [G, m]
        # Rounding of the autodiff entries adds up like a random walk: scale by the 2-norm of
        # the terms u_i·g_i (the 1-norm would grow like √n and let a 1% bug through).
        scale = np.sqrt((gg**2) @ (self.flat_u**2).T)
        # the noise of group g: its own outputs' |f| times its cotangent weights
        groups = np.abs(p.groups.reshape(len(p.groups), -1))  # [G, n_out]
        nz = self.noise(f).reshape(m, -1)  # [m, n_out]
        floor = np.stack([(nz * (gr > 0)).max(axis=1) for gr in groups]) * groups.sum(
            axis=1, keepdims=True)
        self.add("finite_differences", "rev", got, want, self.tol_fd, scale=scale, floor=floor,
                 ref_axes=1, ref_name="finite differences")
        if a64 is not None:
            self.add("analytic", "rev", ad["g_1"], a64, self.tol, ref_axes=p.row_axes)
        if self.name != "float64":
            g_v = ad["g_groups"].sum(axis=0)
            self.add("float64_reference", "rev", g_v, g64, self.tol, ref_axes=p.row_axes)

    def hvp(self, hvp, fd2, g1, a_hvp):
        p = self.plan
        axes = tuple(range(1, hvp.ndim)) if p.row_axes is None else (-1,)
        floor = self.noise(g1, p.row_axes if p.row_axes else tuple(range(g1.ndim)))
        self.add("finite_differences", "hvp", hvp, fd2, self.tol_fd, ref_axes=axes,
                 floor=floor, ref_name="finite differences")
        if a_hvp is not None:
            if a_hvp.shape != hvp.shape:
                raise InputValueError(
                    f"analytic_hvp must return an array shaped like args[{p.argnums}] "
                    f"{p.shape}, got shape {a_hvp.shape[1:]}"
                )
            self.add("analytic", "hvp", hvp, a_hvp, self.tol, ref_axes=axes)


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
