"""``verify_all``: every public loss × dtype × transformation stack × check."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax import _progress
from crossent_jax._errors import InputValueError
from crossent_jax.verify import _cases
from crossent_jax.verify import _tolerance as tl
from crossent_jax.verify._check import _cast, check_gradient
from crossent_jax.verify._report import Report, Row

DTYPES = ("float64", "float32", "bfloat16")
#: check_gradient's modes, as the transformation stack that computed them
#: (check_gradient runs them under one jit: the reverse-mode rows are the ``jit`` stack and the
#: forward-mode rows the ``jvp`` stack)
_MODE_TRANSFORM = {"rev": "jit", "fwd": "jvp", "hvp": "hessian (hvp)"}


def verify_all(
    dtypes: Sequence[str] = DTYPES,
    seed: int = 0,
    losses: Sequence[str] | None = None,
    progress: bool = False,
) -> Report:
    """Verify the gradients of every public loss, in every dtype and transformation stack.

    For each case of :func:`crossent_jax.verify._cases.cases` (every public loss, with and
    without its options) and each dtype, the rows are:

    * ``jit`` (reverse mode, ``jit(vjp)``) and ``jvp`` (forward mode, ``jit(jvp)``) ×
      ``finite_differences``, ``analytic``, ``float64_reference``: :func:`check_gradient`
      (first order, all derivatives computed under one ``jit``);
    * ``eager`` (``grad``, no jit), ``vmap``, ``grad∘jit``, ``jit∘vmap∘grad``, ``hessian`` ×
      ``analytic``: the gradient through that stack against the analytic gradient (float64);
      ``hessian`` is ``jax.hessian`` of one example against ``diag(y) − y yᵀ`` (softmax
      cross-entropy) or the derivative of the analytic gradient;
    * ``jit(grad, jvp)`` × ``finite at …``: at extreme inputs (logits ±1e4, −inf masks,
      probabilities 0 and 1, label smoothing 0 and 1) the value, the gradient and a JVP
      are finite (``chex.assert_tree_all_finite``) and the gradient matches the analytic
      one wherever that is finite.

    Args:
      dtypes: dtypes to verify in (``"float64"`` needs x64; it is enabled for the run).
      seed: seed of the random inputs.
      losses: restrict to these public names (e.g. ``["entropy"]``); None for all.
      progress: show a tqdm progress bar on stderr.

    Returns:
      A :class:`Report`; ``report.passed`` is True when every row passed.

    Raises:
      ValueError: an unknown dtype or loss name (the message lists the valid ones).

    Example:
      >>> from crossent_jax.verify import verify_all
      >>> report = verify_all(dtypes=["float32"], losses=["entropy"])
      >>> report.passed, sorted({r.transform for r in report.rows})[:3]
      (True, ['eager', 'grad∘jit', 'hessian'])
    """
    names = [tl.dtype_name(d) for d in dtypes]
    if not names:
        raise InputValueError("dtypes must name at least one dtype, got an empty sequence")
    all_cases = _cases.cases(seed)
    known = sorted({c.loss for c in all_cases})
    if losses is not None:
        unknown = [name for name in losses if name not in known]
        if unknown:
            raise InputValueError(f"unknown loss {unknown[0]!r}; choose from {', '.join(known)}")
        all_cases = [c for c in all_cases if c.loss in set(losses)]
    start = time.perf_counter()
    rows: list[Row] = []
    units = [(c, d) for c in all_cases for d in names]
    with jax.enable_x64(True), _progress.progress(
        len(units), desc="crossent verify", unit="case", enabled=progress, leave=False
    ) as bar:
        for case, dtype in units:
            rows.extend(_verify_case(case, dtype, seed))
            bar.update(1)
    return Report(tuple(rows), time.perf_counter() - start)


def _row(case, dtype, transform, check, a, b, tol, scale=None) -> Row:
    # every case is a per-example loss: each example's gradient row is compared at its own
    # scale (a huge example cannot hide an error in a small one)
    ref_axes = (-1,) if np.ndim(b) >= 2 else None
    c = tl.error_ratio(a, b, tol, scale, ref_axes=ref_axes)
    return Row(case.name, dtype, transform, check, c.max_error, tol.rtol, tol.atol, c.ratio,
               c.ratio <= 1.0 and not c.note, c.note)


def _verify_case(case: _cases.Case, dtype: str, seed: int) -> list[Row]:
    rows = []
    tol = tl.tolerance(dtype)
    args = _cast(tuple(jnp.asarray(a) for a in case.args), dtype)
    ref_args = _cast(args, jnp.float64)  # float64 at the rounded point
    fn, x, rest = case.fn, args[0], args[1:]
    u = jnp.asarray(np.random.default_rng(seed).standard_normal(x.shape), x.dtype)
    traceable = case.loss != "checked"  # checked() raises host-side: eager only, by design

    ext_args = [_cast(tuple(jnp.asarray(a) for a in e.args), dtype) for e in case.extremes]
    ext_ref = [_cast(a, jnp.float64) for a in ext_args]
    if traceable:  # the references, the stacks and the extremes: one compiled program
        out, stacks, got, wants = _jitted(_all_programs, case)(
            ref_args, u.astype(jnp.float64), x, rest, ext_args, ext_ref)
    else:
        out = _jitted(_reference, case)(ref_args, u.astype(jnp.float64))
    # eager: op by op, no jit anywhere
    g = jax.grad(lambda x, *r: jnp.sum(fn(x, *r)))(x, *rest)
    want = np.asarray(out["grad"])
    rows.append(_row(case, dtype, "eager", "analytic", g, want, tol))
    if not traceable:
        _, tan = jax.jvp(lambda x: fn(x, *rest), (x,), (u,))
        rows.append(_row(case, dtype, "jvp", "analytic", tan, out["jvp"], tol,
                         scale=out["jvp_scale"]))
        return rows

    # order=1: second order is the `hessian` row (jax.hessian against the closed form or the
    # derivative of the analytic gradient); a second HVP-vs-differences pass would double
    # the compile time of every case for no extra coverage.
    res = check_gradient(fn, *args, analytic=case.analytic, dtypes=(dtype,), order=1, seed=seed)
    for m in res.measurements:
        rows.append(Row(case.name, dtype, _MODE_TRANSFORM.get(m.mode, m.mode), m.what,
                        m.max_error, m.rtol, m.atol, m.ratio, m.passed, m.note))

    for name, value in stacks.items():
        if name == "hessian":
            continue
        rows.append(_row(case, dtype, name, "analytic", value, out["grad"], tol))
    what = "analytic diag(y)−yyᵀ" if case.hessian is not None else "analytic (d/dx of gradient)"
    rows.append(_row(case, dtype, "hessian", what, stacks["hessian"], out["hessian"], tol))

    if case.extremes:
        for ext, (value, grad, tan), want in zip(case.extremes, got, wants, strict=True):
            rows.append(_extreme_row(case, dtype, ext, value, grad, tan, want, tol))
    return rows


def _jitted(builder, case):
    return jax.jit(builder(case))


def _all_programs(case):
    """The stacks, the extremes and their references as one program (one compile)."""
    reference = _reference(case)
    stacks, extremes, wants = _stacks(case), _extremes(case), _extreme_wants(case)

    def run(ref_args, u64, x, rest, ext_args, ext_ref):
        return reference(ref_args, u64), stacks(x, rest), extremes(ext_args), wants(ext_ref)

    return run


def _reference(case):
    """Analytic quantities in float64: the gradient, ⟨gradient, u⟩ per output, the Hessian of
    one example."""

    def run(ref_args, u):
        grad = case.analytic(*ref_args)
        # checked() cannot be traced abstractly: its shape is the plain loss's — per example,
        # or element-wise when the case differentiates an element-wise loss
        fn_out = jax.eval_shape(getattr(case.fn, "__wrapped__", case.fn), *ref_args).shape
        # J u from the gradient of the sum: rows are independent, and element-wise losses
        # have a diagonal Jacobian
        prod = grad * u
        rowsum = (lambda a: a) if fn_out == grad.shape else (lambda a: jnp.sum(a, axis=-1))
        row = tuple(a[0] for a in ref_args)
        if case.hessian is not None:
            hess = case.hessian(*row)
        else:  # derivative of the hand-written gradient (independent of the implementation)
            hess = jax.jacfwd(lambda r: case.analytic(r[None], *(a[None] for a in row[1:]))[0])(
                row[0])
        return {"grad": grad, "jvp": rowsum(prod), "jvp_scale": rowsum(jnp.abs(prod)),
                "hessian": hess}

    return run


def _stacks(case):
    """The gradient through every transformation stack, as one jitted program."""
    fn = case.fn

    def sum_fn(x, *r):
        return jnp.sum(fn(x, *r))

    jit_fn = jax.jit(fn)

    def run(x, rest):
        return {
            "vmap": jax.grad(lambda x: jnp.sum(jax.vmap(fn)(x, *rest)))(x),
            "grad∘jit": jax.grad(lambda x: jnp.sum(jit_fn(x, *rest)))(x),
            "jit∘vmap∘grad": jax.jit(jax.vmap(jax.grad(sum_fn)))(x, *rest),
            "hessian": jax.hessian(sum_fn)(x[0], *(r[0] for r in rest)),
        }

    return run


def _extremes(case):
    def run(all_args):
        out = []
        for ext, (x, *rest) in zip(case.extremes, all_args, strict=True):
            f = functools.partial(_first_arg, ext.fn, tuple(rest))
            value, grad = jax.value_and_grad(lambda x, f=f: jnp.sum(f(x)))(x)
            _, tan = jax.jvp(f, (x,), (jnp.ones_like(x),))
            out.append((value, grad, tan))
        return out

    return run


def _first_arg(fn, rest, x):
    return fn(x, *rest)


def _extreme_wants(case):
    def run(all_args):
        return [ext.analytic(*a) for ext, a in zip(case.extremes, all_args, strict=True)]

    return run


def _extreme_row(case, dtype, ext, value, grad, tan, want, tol) -> Row:
    check = f"finite at {ext.label}"
    try:
        chex.assert_tree_all_finite((value, grad, tan))
    except AssertionError as e:
        return Row(case.name, dtype, "jit(grad, jvp)", check, float("inf"), tol.rtol, tol.atol,
                   float("inf"), False, str(e).splitlines()[0][:120])
    want = np.asarray(want, np.float64)
    ok = np.isfinite(want)
    g = np.asarray(grad, np.float64)
    return _row(case, dtype, "jit(grad, jvp)", check, g[ok], want[ok], tol)
