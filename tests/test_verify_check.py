"""check_gradient: planted backward-pass bugs are caught, correct gradients pass.

Every planted bug is a plausible mistake in a hand-written backward pass (custom_vjp) or in
an analytic formula. Expected gradients come from the math (softmax − t, etc.), never from
the implementation's output. Shapes are tiny: each check is one or two small XLA programs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import crossent_jax as cj
from crossent_jax.verify import _finite_diff as fd
from crossent_jax.verify import _tolerance as tl
from crossent_jax.verify import check_gradient

RNG = np.random.default_rng(0)
Z = jnp.asarray(2.0 * RNG.standard_normal((2, 4)))
T = jnp.asarray(RNG.dirichlet(np.ones(4), size=2))
ZETA, ALPHA = 0.05, 0.1


def _lse(z):
    return jax.nn.logsumexp(z, axis=-1)


def _ce_value(z, t):
    """Soft-label CE with z-loss and label smoothing, written out (the forward pass)."""
    tt = (1 - ALPHA) * t + ALPHA / z.shape[-1]
    return -jnp.sum(tt * jax.nn.log_softmax(z, axis=-1), axis=-1) + ZETA * _lse(z) ** 2


def _true_grad(z, t):
    """(Σt̃ + 2ζ·lse)·softmax − t̃: the design contract's identity (Σt̃ = 1 for normalised
    labels; kept general because labels rounded to bf16 do not sum to exactly 1)."""
    tt = (1 - ALPHA) * t + ALPHA / z.shape[-1]
    s = jnp.sum(tt, axis=-1) + 2 * ZETA * _lse(z)
    return s[..., None] * jax.nn.softmax(z, axis=-1) - tt


def _with_backward(backward):
    """_ce_value with a hand-written backward pass ``backward(z, t) -> dℓ/dz``."""

    @jax.custom_vjp
    def f(z, t):
        return _ce_value(z, t)

    def fwd(z, t):
        return f(z, t), (z, t)

    def bwd(res, g):
        z, t = res
        return g[..., None] * backward(z, t), jnp.zeros_like(t)

    f.defvjp(fwd, bwd)
    return f


def _no_z_loss(z, t):
    tt = (1 - ALPHA) * t + ALPHA / z.shape[-1]
    return jax.nn.softmax(z, axis=-1) - tt


def _no_smoothing(z, t):
    return (1 + 2 * ZETA * _lse(z))[..., None] * jax.nn.softmax(z, axis=-1) - t


def _one_component(z, t):
    return _true_grad(z, t).at[..., 2].multiply(1.01)


def _frozen_softmax(z, t):
    # right first derivative, but the Hessian of the backward pass is 0 (stop_gradient)
    return jax.lax.stop_gradient(_true_grad(z, t))


BUGS = {
    "scaled-1.01": lambda z, t: 1.01 * _true_grad(z, t),
    "sign-flip": lambda z, t: -_true_grad(z, t),
    "missing-z-loss": _no_z_loss,
    "dropped-smoothing": _no_smoothing,
    "one-component-1%": _one_component,
    "transposed-batch": lambda z, t: _true_grad(z[::-1], t[::-1]),
}


@pytest.mark.parametrize("bug", list(BUGS), ids=list(BUGS))
def test_planted_backward_bugs_are_caught(bug):
    res = check_gradient(_with_backward(BUGS[bug]), Z, T, modes=("rev",), order=1)
    assert not res.passed, str(res)
    assert any(m.what == "finite_differences" for m in res.failures)


def test_wrong_second_order_is_caught():
    f = _with_backward(_frozen_softmax)
    first = check_gradient(f, Z, T, modes=("rev",), order=1)
    assert first.passed, str(first)  # the first derivative is right ...
    res = check_gradient(f, Z, T, modes=("rev",), order=2)
    assert [(m.what, m.mode) for m in res.failures] == [("finite_differences", "hvp")]


def test_one_percent_bug_caught_in_float32():
    res = check_gradient(_with_backward(BUGS["scaled-1.01"]), Z, T, modes=("rev",), order=1,
                         dtypes=("float32",))
    assert not res.passed
    assert min(m.ratio for m in res.failures) > 10  # not a borderline call


def test_correct_custom_vjp_passes_with_analytic_and_hvp():
    def hvp(u, z, t):  # (Σt̃ + 2ζ lse)(diag y − y yᵀ) u + 2ζ y (y·u), Σt̃ = 1 here (float64)
        y = jax.nn.softmax(z, axis=-1)
        yu = jnp.sum(y * u, axis=-1, keepdims=True)
        return (1 + 2 * ZETA * _lse(z))[..., None] * (y * u - y * yu) + 2 * ZETA * y * yu

    res = check_gradient(_with_backward(_true_grad), Z, T, modes=("rev",), analytic=_true_grad,
                         analytic_hvp=hvp)
    assert res.passed, str(res)
    assert {(m.what, m.mode) for m in res.measurements} == {
        ("finite_differences", "rev"), ("analytic", "rev"),
        ("finite_differences", "hvp"), ("analytic", "hvp")}


def test_real_loss_passes_in_every_dtype_and_wrong_analytic_fails():
    fn = lambda z, t: cj.softmax_cross_entropy(z, t, label_smoothing=ALPHA, z_loss=ZETA)
    res = check_gradient(fn, Z, T, analytic=_true_grad, dtypes=("float64", "float32", "bfloat16"))
    assert res.passed, str(res)
    assert {m.dtype for m in res.measurements} == {"float64", "float32", "bfloat16"}
    assert ("float64_reference", "rev", "bfloat16") in res.errors
    bad = check_gradient(fn, Z, T, analytic=_no_z_loss, order=1)
    assert {(m.what, m.mode) for m in bad.failures} == {("analytic", "fwd"), ("analytic", "rev")}
    assert "FAILED" in str(bad) and "analytic" in str(bad)


def test_large_input_uses_random_directions_and_catches_bug():
    z = jnp.asarray(RNG.standard_normal((9, 10)))  # 90 entries > 64: random directions
    t = jax.nn.softmax(jnp.asarray(RNG.standard_normal((9, 10))), axis=-1)
    res = check_gradient(cj.softmax_cross_entropy, z, t, order=1)
    assert res.passed and res.num_directions == fd.NUM_RANDOM_DIRECTIONS
    assert check_gradient(_with_backward(_true_grad), z, t, modes=("rev",), order=1).passed
    bad = _with_backward(BUGS["scaled-1.01"])
    assert not check_gradient(bad, z, t, modes=("rev",), order=1).passed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(modes=("fwd", "rev")), r"custom_vjp.*modes=\('rev',\)"),
        (dict(modes=("bwd",)), r"modes must be a non-empty subset of \('fwd', 'rev'\), got \('bwd',\)"),
        (dict(modes=()), "modes must be a non-empty subset"),
        (dict(order=3), "order must be 1 or 2, got 3"),
        (dict(argnums=2), "argnums=2 is out of range for 2 positional args"),

        (dict(dtypes=("float8",)), "dtype must be one of .*got 'float8'"),
        (dict(dtypes=()), "dtypes must name at least one dtype"),
        (dict(modes=("rev",), analytic=lambda z, t: z[0]), r"analytic must return the gradient shaped like args\[0\] \(2, 4\), got shape \(4,\)"),
    ],
    ids=["fwd-on-custom-vjp", "bad-mode", "no-mode", "order", "argnums-range", "dtype", "no-dtypes", "analytic-shape"],
)
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_gradient(_with_backward(_true_grad), Z, T, **kwargs)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="argnums must be an int, got True"):
        check_gradient(_with_backward(_true_grad), Z, T, argnums=True)
    with pytest.raises(TypeError, match="modes must be a string or a sequence of strings, got 3"):
        check_gradient(_with_backward(_true_grad), Z, T, modes=3)
    with pytest.raises(TypeError, match=r"args\[1\] must be a floating-point array.*int"):
        check_gradient(cj.softmax_cross_entropy_with_integer_labels, Z, jnp.array([0, 1]), argnums=1)
    with pytest.raises(TypeError, match="fn must return a floating-point array, got dtype int"):
        check_gradient(lambda z: jnp.argmax(z, axis=-1), Z)


def test_one_percent_bug_caught_in_float32_with_many_entries():
    # 256×128 entries use random directions: the dot products <u, g> must be compared at the
    # scale of their rounding (2-norm of the terms), else a 1% backward bug hides in f32.
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((256, 128)), jnp.float32)
    t = jax.nn.softmax(jnp.asarray(rng.standard_normal((256, 128)), jnp.float32), axis=-1)

    def backward(scale):
        return lambda z, t: scale * (jax.nn.softmax(z, axis=-1) - t)

    def ce(z, t):
        return -jnp.sum(t * jax.nn.log_softmax(z, axis=-1), axis=-1)

    def with_backward(grad):
        f = jax.custom_vjp(ce)
        f.defvjp(lambda z, t: (ce(z, t), (z, t)),
                 lambda r, g: (g[..., None] * grad(*r), jnp.zeros_like(r[1])))
        return f

    assert check_gradient(with_backward(backward(1.0)), z, t, modes=("rev",), order=1).passed
    assert not check_gradient(with_backward(backward(1.01)), z, t, modes=("rev",), order=1).passed


def test_tuple_output_is_a_clear_error():
    with pytest.raises(TypeError, match="fn must return a single array.*got a tuple"):
        check_gradient(lambda z: (jnp.sum(z), jnp.sum(z**2)), Z)


def test_one_dtype_given_bare():
    # dtypes="float32" means one dtype, not the characters of a string
    res = check_gradient(cj.softmax_cross_entropy, Z, T, dtypes="float32", order=1)
    assert res.passed
    assert {m.dtype for m in res.measurements} == {"float32"}


def test_function_computing_in_float32_works_in_reverse_mode():
    # A custom_vjp written to compute in float32 returns float32 even for float64 input;
    # the float64 reference must feed its VJP a float32 cotangent instead of crashing.
    def f(z):
        return jax.nn.logsumexp(z.astype(jnp.float32), axis=-1)

    z32 = Z.astype(jnp.float32)
    res = check_gradient(f, z32, analytic=lambda z: jax.nn.softmax(z, axis=-1), order=1)
    assert res.passed, str(res)


def test_scalar_output_backward_ignoring_the_cotangent_sign_is_caught():
    # Planted bug: the backward pass uses |g| instead of g. With a scalar output the two
    # cotangents tried are +1 and a random one; the random one is made negative so that
    # grad(-loss) (which feeds g = -1) would expose the bug.
    @jax.custom_vjp
    def mean_ce(z, t):
        return jnp.mean(_ce_value(z, t))

    def fwd(z, t):
        return mean_ce(z, t), (z, t)

    def bwd(res, g):
        z, t = res
        return jnp.abs(g) * _true_grad(z, t) / z.shape[0], jnp.zeros_like(t)

    mean_ce.defvjp(fwd, bwd)
    assert not check_gradient(mean_ce, Z, T, modes=("rev",), order=1).passed


def test_error_ratio_and_tolerances():
    tol = tl.Tolerance(rtol=1e-2, atol=0.0)
    assert tl.error_ratio(np.array([1.0, 2.0]), np.array([1.0, 2.0]), tol) == (0.0, 0.0, "")
    err, ratio, note = tl.error_ratio(np.array([1.0, 2.04]), np.array([1.0, 2.0]), tol)
    assert err == pytest.approx(0.04) and ratio == pytest.approx(2.0) and note == ""
    assert tl.error_ratio(np.array([np.nan]), np.array([1.0]), tol).ratio == np.inf
    # NaN is never a match (issue 9.9) — not against NaN, and equal infinities neither —
    # unless the caller allows non-finite values explicitly
    for x in (np.nan, np.inf):
        c = tl.error_ratio(np.array([0.5, x]), np.array([0.5, x]), tol)
        assert c.ratio == np.inf and f"is {x:g} where the reference is {x:g} (index (1,))" in c.note
        assert tl.error_ratio(np.array([x]), np.array([x]), tol, allow_nonfinite=True) == (0.0, 0.0, "")
    # tolerances scale with precision and a 1 % error exceeds every float32/float64 rtol
    assert tl.TOLERANCES["float64"].rtol < tl.TOLERANCES["float32"].rtol < 1e-2
    assert tl.TOLERANCES["bfloat16"].rtol == 2.0**-7
    with pytest.raises(ValueError, match="dtype must be one of .*got 'int32'"):
        tl.tolerance("int32")


def test_finite_differences_are_fourth_order():
    # d/dx exp at 0 along 1 is 1; Richardson error ~ h⁴/30·f⁽⁵⁾
    d = fd.directional_derivatives(jnp.exp, jnp.zeros(1), jnp.ones((1, 1)), 1e-2)
    assert abs(float(d[0, 0]) - 1.0) < 1e-9


# ----------------------------------------------------------------------- issue 9, items 9–11
def test_nan_is_never_a_match():
    # sqrt(−1) = NaN and its derivative is NaN: both "agree", but nothing was verified.
    res = check_gradient(jnp.sqrt, jnp.array([-1.0, 4.0]))
    assert not res.passed
    value = [m for m in res.measurements if m.what == "finite_value"]
    assert value and "fn(x) is nan at output index (0,)" in value[0].note
    assert all("nan" in m.note for m in res.failures)
    # at a point where sqrt is finite the same call passes: the failure is the NaN, not sqrt
    assert check_gradient(jnp.sqrt, jnp.array([1.0, 4.0])).passed
    # asked for explicitly, NaN against NaN is accepted
    assert check_gradient(jnp.sqrt, jnp.array([-1.0, 4.0]), allow_nonfinite=True).passed


def test_nan_backward_pass_fails_with_a_reason():
    @jax.custom_vjp
    def f(z):
        return jnp.sum(z**2, axis=-1)

    f.defvjp(lambda z: (f(z), z), lambda z, g: (jnp.where(z > 1, jnp.nan, 2 * z) * g[..., None],))
    res = check_gradient(f, Z, modes=("rev",), order=1)
    assert not res.passed and any("autodiff is nan" in m.note for m in res.failures)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_huge_example_does_not_hide_a_bug_in_another(dtype):
    # Issue 9.10: per-example losses where example 0 is scaled by 1e8; a 1% backward bug in
    # example 1 must be compared at example 1's own scale (a global atol·max|ref| of
    # 1e-9·1e8 = 0.1 used to swallow it).
    scale = jnp.array([1e8, 1.0])

    def value(z, t):
        return scale * _ce_value(z, t)

    def make(bug):
        @jax.custom_vjp
        def f(z, t):
            return value(z, t)

        def bwd(res, g):
            z, t = res
            factor = jnp.array([1.0, bug])[:, None]
            return (g * scale)[:, None] * factor * _true_grad(z, t), jnp.zeros_like(t)

        f.defvjp(lambda z, t: (f(z, t), (z, t)), bwd)
        return f

    assert check_gradient(make(1.0), Z, T, modes=("rev",), order=1, dtypes=(dtype,)).passed
    bad = check_gradient(make(1.01), Z, T, modes=("rev",), order=1, dtypes=(dtype,))
    assert not bad.passed
    assert min(m.ratio for m in bad.failures) > 10  # caught with a margin, not at the edge


P_SMALL = jnp.array([[0.998, 1e-3, 5e-4, 5e-4]])


def test_finite_differences_near_a_domain_boundary():
    # Issue 9.11: cross_entropy(p, q) w.r.t. q at q = p with entries down to 5e-4: a fixed
    # step of 1e-3 leaves the domain (NaN) below 1e-3 and is inaccurate below ~0.02. Steps
    # scaled to the entry make the correct function pass ...
    ce_q = lambda q, p: cj.cross_entropy(p, q)  # noqa: E731
    res = check_gradient(ce_q, P_SMALL, P_SMALL, analytic=lambda q, p: -p / q,
                         dtypes=("float64", "float32"))
    assert res.passed, str(res)
    assert res.fd_schemes == {"float64": {"central": 4}, "float32": {"central": 4}}
    # ... while a 1% error in the backward pass of the smallest entry still fails
    @jax.custom_vjp
    def bad(q, p):
        return cj.cross_entropy(p, q)

    bad.defvjp(lambda q, p: (bad(q, p), (q, p)),
               lambda r, g: (g[..., None] * (-r[1] / r[0]).at[..., 3].multiply(1.01), None))
    wrong = check_gradient(bad, P_SMALL, P_SMALL, modes=("rev",), order=1,
                           dtypes=("float64", "float32"))
    assert not wrong.passed and min(m.ratio for m in wrong.failures) > 10


def test_one_sided_differences_at_the_edge_of_the_domain():
    # w.r.t. p at p_1 = 0: p − h < 0 is outside the domain (the loss is NaN there), so the
    # forward one-sided formula is used along that coordinate (and along the small entries,
    # where the largest — most accurate — candidate step also leaves it), and reported.
    p0 = P_SMALL.at[0, 1].set(0.0)
    q = jnp.full((1, 4), 0.25)
    res = check_gradient(lambda p, q: cj.cross_entropy(p, q), p0, q,
                         analytic=lambda p, q: -jnp.log(q))
    assert res.passed, str(res)
    schemes = res.fd_schemes["float64"]
    assert schemes["forward"] >= 1 and sum(schemes.values()) == 4 and "undefined" not in schemes
    assert f"float64: central {schemes['central']}, forward {schemes['forward']}" in str(res)
    # one-sided differences of a function with a kink would be wrong: the error of the
    # forward formula itself is O(h³) — 2x on [0, ∞) differentiates exactly
    d = fd.directional_derivatives(lambda x: jnp.sqrt(x) ** 2 + x, jnp.zeros(1),
                                   jnp.ones((1, 1)), 1e-3)
    assert abs(float(d[0, 0]) - 2.0) < 1e-9


# ------------------------------------------- adversarial review of issue 9 (regressions)
def _scaled_backward(f_true, factor):
    """``f_true`` with a hand-written backward pass multiplied entry-wise by ``factor``."""
    @jax.custom_vjp
    def f(x):
        return f_true(x)

    f.defvjp(lambda x: (f_true(x), x), lambda x, g: (jax.vjp(f_true, x)[1](g)[0] * factor,))
    return f


def test_large_outputs_hide_no_bug_in_vector_functions():
    # element-wise 1-D output: each entry is its own row
    c = jnp.array([1e8, 1.0, 1.0])
    bad = _scaled_backward(lambda x: c * jnp.sin(x), jnp.array([1.0, 1.01, 1.0]))
    assert not check_gradient(bad, jnp.array([0.3, 0.7, 1.1]), modes=("rev",)).passed

    # two outputs of a whole vector; output 1's forward derivative is 1% off
    def two(z):
        s = jnp.sum(jnp.sin(z))
        y = jnp.stack([1e8 * jnp.sum(z**2), s])
        return y.at[1].add(0.01 * (s - jax.lax.stop_gradient(s)))

    assert not check_gradient(two, jnp.asarray(RNG.standard_normal(6))).passed

    # 40 examples (reverse mode, one vjp per example up to 256): example 0 weighs 1e8
    rng = np.random.default_rng(0)
    xb, yb = jnp.asarray(rng.standard_normal((40, 4))), jnp.asarray(rng.integers(0, 4, 40))
    w = jnp.ones(40).at[0].set(1e8)
    ce = cj.softmax_cross_entropy_with_integer_labels
    ok = _scaled_backward(lambda z: w * ce(z, yb), jnp.ones((40, 4)))
    assert check_gradient(ok, xb, modes=("rev",), order=1).passed
    bad = _scaled_backward(lambda z: w * ce(z, yb), jnp.ones((40, 4)).at[1].set(1.01))
    assert not check_gradient(bad, xb, modes=("rev",), order=1).passed


def test_tiny_entries_do_not_blind_the_check():
    # Distillation: the gradient w.r.t. a confident teacher's probability of 2e-15 is
    # −log softmax (≈ 1.6): a step scaled to 2e-15 would drown it in rounding noise. A sign
    # flip there, or a doubled gradient of one example at logits ~1e-12, must fail.
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((4, 6)))
    teacher = jax.nn.softmax(jnp.asarray(rng.standard_normal((4, 6)) * 12), axis=-1)
    i = np.unravel_index(np.argmin(np.asarray(teacher)), teacher.shape)
    assert float(teacher[i]) < 1e-12
    f = lambda t: cj.softmax_cross_entropy(z, t)  # noqa: E731
    assert check_gradient(_scaled_backward(f, jnp.ones((4, 6))), teacher, modes=("rev",)).passed
    flipped = _scaled_backward(f, jnp.ones((4, 6)).at[i].set(-1.0))
    assert not check_gradient(flipped, teacher, modes=("rev",)).passed
    z7 = jnp.asarray(np.random.default_rng(1).standard_normal((4, 6)) * 1e-12)
    y7 = jnp.array([0, 1, 2, 3])
    doubled = _scaled_backward(lambda z: cj.softmax_cross_entropy_with_integer_labels(z, y7),
                               jnp.ones((4, 6)).at[2].set(2.0))
    assert not check_gradient(doubled, z7, modes=("rev",), order=1).passed


@pytest.mark.parametrize(
    "fn, x, dtype",
    [
        (lambda p: cj.binary_cross_entropy(p, jnp.array([0.0])), [0.99], "float64"),
        (lambda p: cj.binary_cross_entropy(p, jnp.array([0.0])), [0.9999], "float64"),
        (lambda p: cj.cross_entropy(p, jnp.full((8, 10), 0.1)), "one_hot", "float64"),
        (lambda z: cj.softmax_cross_entropy_with_integer_labels(z, jnp.array([3, 0, 6, 1, 2])),
         "logits", "float16"),
        (lambda z: cj.softmax_cross_entropy_with_integer_labels(
            z, jnp.array([0, 1, 2, 3, 4]), logit_softcap=1.0), "logits", "float32"),
        (jnp.tanh, [[4.0, 5.0]], "float64"),
        (jnp.tanh, [[9.0, 10.0]], "float64"),
    ],
    ids=["bce-near-1", "bce-nearer-1", "one-hot-80-entries", "kit-f16", "softcap1-f32",
         "tanh-f64", "tanh-saturated-f64"],
)
def test_correct_functions_pass_at_awkward_points(fn, x, dtype):
    if x == "one_hot":
        x = jax.nn.one_hot(jnp.arange(8), 10, dtype=jnp.float64)  # > 64 entries: random dirs
    elif x == "logits":
        x = jnp.asarray(np.random.default_rng(0).standard_normal((5, 7)) * 3)
    res = check_gradient(fn, jnp.asarray(x, jnp.float64), dtypes=(dtype,))
    assert res.passed, str(res)


def test_undefined_directions_are_reported_as_such():
    res = check_gradient(jnp.sqrt, jnp.array([-1.0, 4.0]))
    assert res.fd_schemes == {"float64": {"undefined": 2}}
