"""cross_entropy, entropy, kl_divergence and grid_cross_entropy for distributions."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax._validation import check_number, is_concrete
from crossent_jax.continuous import _closed_form, _expectation
from crossent_jax.continuous import _quadrature as quad
from crossent_jax.continuous._base import Distribution
from crossent_jax.continuous._distributions import MixtureOfNormals, Normal, StudentT

METHODS = (
    "auto",
    "closed_form",
    "gauss_hermite",
    "gauss_legendre",
    "gauss_laguerre",
    "tanh_sinh",
    "trapezoid",
    "simpson",
    "monte_carlo",
)

#: default number of points per method (per piece of the support for the piecewise rules)
DEFAULT_POINTS = {
    "gauss_hermite": 128,
    "gauss_legendre": 128,
    "gauss_laguerre": 64,
    "tanh_sinh": 129,
    "trapezoid": 2001,
    "simpson": 2001,
    "monte_carlo": 10_000,
}



@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Info:
    """What ``return_info=True`` adds.

    * ``error_estimate`` — an estimate of |value − exact|: the distance to a lower-order rule
      on the same pieces plus a rounding floor 64 ε Σ|w f| (quadrature); the standard error
      (Monte Carlo); 64 ε max(|value|, 1) (closed forms); NaN for invalid parameters;
    * ``converged`` — ``error_estimate <= rtol · max(|value|, 1)`` (bool array);
    * ``method`` — the rule used (``"auto"`` resolved); ``num_nodes`` — integrand evaluations
      (for ``auto`` under ``jit``: of the first level; refinement may add up to 20×);
    * ``rtol`` — the tolerance ``converged`` was judged against.
    """

    error_estimate: jax.Array
    converged: jax.Array
    method: str = dataclasses.field(metadata={"static": True})
    num_nodes: int = dataclasses.field(metadata={"static": True})
    rtol: float = dataclasses.field(metadata={"static": True})


def _check_dist(d, name):
    if not isinstance(d, Distribution):
        raise InputTypeError(
            f"{name} must be a crossent_jax.continuous distribution, got {type(d).__name__}"
        )
    for leaf in d.params():
        if jnp.ndim(leaf) != d._param_ndim:
            raise InputValueError(
                f"{name} = {type(d).__name__} must have parameters of rank {d._param_ndim}, got "
                f"shape {jnp.shape(leaf)}; use jax.vmap to evaluate a batch of distributions"
            )


# growth of −log q(x) in the tails, |x|^k: a StudentT(ν) p has E|X|^k < ∞ only for ν > k
_TAIL_ORDER = {"Normal": 2, "MixtureOfNormals": 2, "Laplace": 1, "Logistic": 1}


def _finite_tails(p, q):
    """False where H(p, q) diverges through heavy tails of p (quadrature would truncate)."""
    if not isinstance(p, StudentT):
        return jnp.asarray(True)
    return p.df > _TAIL_ORDER.get(type(q).__name__, 0)


def _contained(p, q):
    plo, phi = p.support
    qlo, qhi = q.support
    return (qlo <= plo) & (phi <= qhi)


def _run(p, q, method, n, key, kl):
    """The one dispatch from a method name to its rule: (value, error estimate, nodes)."""
    if method == "tanh_sinh":
        return _expectation.piecewise(p, q, quad.tanh_sinh(n), quad.exp_sinh(n), kl)
    if method == "gauss_legendre":
        # fast=False: the estimate is the distance d to the n/2-point rule itself. Gauss on a
        # piece with a feature much narrower than the piece (a StudentT q of scale 4e-6)
        # converges algebraically, and d·(d/|H|)^0.75 was 330× below the error there
        return _expectation.piecewise(
            p, q, quad._legendre_pair(n), quad.legendre_half_line(n), kl, fast=False
        )
    if method in ("trapezoid", "simpson"):
        return _expectation.piecewise(
            p, q, quad.grid(n, method), quad.grid_half_line(n, method), kl, fast=False
        )
    if method == "gauss_hermite":
        if not isinstance(p, (Normal, MixtureOfNormals)):
            raise InputValueError(
                "method='gauss_hermite' needs a Normal or MixtureOfNormals p (its weight "
                f"function is the Gaussian), got {type(p).__name__}"
            )
        return _cross_checked(p, q, _expectation.hermite(p, q, n, kl), kl)
    if method == "gauss_laguerre":
        if _expectation.support_kind(p) != "half":
            raise InputValueError(
                "method='gauss_laguerre' needs p with support [0, inf) (Gamma, Exponential), "
                f"got {type(p).__name__}"
            )
        return _cross_checked(p, q, _expectation.laguerre(p, q, n, kl), kl)
    return _expectation.monte_carlo(p, q, n, key, kl)


def _cross_checked(p, q, result, kl):
    """Gauss–Hermite / Laguerre put their nodes by p alone, so a kink or a narrow feature of
    −log q (a Laplace, Logistic, StudentT or mixture q: the types with split points) falls
    between nodes, where the n and n/2 rules miss it alike: their distance was 800× below the
    error (Normal(0.07, 684) against StudentT(19.5, 1.4, 1e-3): 7e-3 off, estimate 8e-6).
    For those q the estimate is at least the distance to tanh–sinh on split pieces plus that
    rule's own estimate, which bounds the error as far as tanh–sinh is right."""
    v, err, nodes = result
    if q._num_breakpoints() == 0:
        return result
    vt, et, nt = _run(p, q, "tanh_sinh", DEFAULT_POINTS["tanh_sinh"], None, kl)
    return v, jnp.maximum(err, jnp.abs(v - vt) + et), nodes + nt


@functools.partial(jax.jit, static_argnames=("method", "n", "kl"))
def _run_jit(p, q, method, n, key, kl):
    v, err, _ = _run(p, q, method, n, key, kl)
    return v, err


_NODE_COUNTS: dict = {}


def _num_nodes(p, q, method, n, key) -> int:
    """Integrand evaluations of a rule: static (table sizes), read off one abstract trace of
    ``_run`` and cached per (types, shapes, dtypes, method, n)."""
    sig = (type(p), type(q), method, n,
           tuple((jnp.shape(v), jnp.result_type(v)) for v in (*p.params(), *q.params())))
    if sig not in _NODE_COUNTS:
        box = []

        def trace(p, q, key):
            box.append(_run(p, q, method, n, key, False)[2])
            return jnp.zeros(())

        jax.eval_shape(trace, p, q, key)
        _NODE_COUNTS[sig] = box[0]
    return _NODE_COUNTS[sig]


def _default_rtol(dtype) -> float:
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-5


#: refinement of ``auto``: tanh–sinh levels tried in turn, the step quartered each time (each
#: level is a compiled program; 3 levels instead of 5 halvings keep compiles down; the worst
#: case evaluates 2691 nodes per piece). The same levels for concrete and traced inputs, so
#: that eager and jitted ``auto`` agree.
_AUTO_LEVELS = (129, 513, 2049)


@jax.custom_batching.custom_vmap
def _any_in_batch(flag):
    """``flag`` itself; under ``vmap`` the OR over the batch, *unbatched*, so that a
    ``lax.cond`` on it stays a branch (a batched predicate turns cond into select, which
    evaluates both branches for every member). Call it on stop_gradient'ed bools only:
    custom_vmap has no reverse-mode rule."""
    return flag


@_any_in_batch.def_vmap
def _any_in_batch_rule(axis_size, in_batched, flag):
    del axis_size
    return (jnp.any(flag) if in_batched[0] else flag), False


def _tanh_sinh(p, q, n, kl):
    return _run(p, q, "tanh_sinh", n, None, kl)


def _needs_more(v, err, rtol):
    """Members whose estimate misses the tolerance (NaN, for invalid p or q: False)."""
    return jax.lax.stop_gradient(err > rtol * jnp.maximum(jnp.abs(v), 1.0))


def _cascade(p, q, kl, rtol):
    """``auto``'s tanh–sinh refinement for traced inputs: level 1 (129 nodes per piece),
    then each finer level inside a ``lax.cond`` taken only when some member of the batch
    has not converged; members that had converged keep their value. Under ``vmap`` a branch
    is evaluated for the whole batch. Differentiable: the branch values carry gradients,
    the predicate does not. Used for derivatives (see :func:`_auto_fn`)."""
    v, err, _ = _tanh_sinh(p, q, _AUTO_LEVELS[0], kl)
    for m in _AUTO_LEVELS[1:]:
        need = _needs_more(v, err, rtol)
        v2, e2 = jax.lax.cond(
            _any_in_batch(need),
            lambda pq, m=m: _tanh_sinh(*pq, m, kl)[:2],
            lambda pq, v=v, err=err: (v, err),
            (p, q),
        )
        v, err = jnp.where(need, v2, v), jnp.where(need, e2, err)
    return v, err


#: under vmap, a refinement level is run on at most batch/_GATHER_FRACTION gathered members
#: (the ones that need it); more than that and the level runs for the whole batch
_GATHER_FRACTION = 16
#: the smaller block for the common case of a handful of members needing a level
_SMALL_BLOCK = 4


def _gathered_rule(kl, rtol, axis_size, in_batched, p, q):
    """The batching rule of ``auto``'s values: level 1 for the whole batch, then each finer
    level only for the members that need it — gathered into a block of K = ⌈B/16⌉ members,
    refined, scattered back (in a block of 4 when at most 4 do) — or, when more than K need
    it, for the whole batch; skipped when none does. XLA needs static shapes, hence the fixed
    block sizes: a batch of B ordinary pairs with a few pessimistic estimates pays about
    B + 16 member-levels instead of 21 B."""
    p, q = jax.tree.map(
        lambda a, b: a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a))),
        (p, q), tuple(in_batched))

    def run(m, p, q):
        return jax.vmap(lambda p, q: _tanh_sinh(p, q, m, kl)[:2])(p, q)

    v, err = run(_AUTO_LEVELS[0], p, q)
    k = -(-axis_size // _GATHER_FRACTION)
    # block sizes, smallest first: a lone pessimistic member of 1000 refines in a block of
    # _SMALL_BLOCK, not of ⌈B/16⌉ = 63 (which cost 25% of the batch's first level)
    sizes = sorted({s for s in (min(_SMALL_BLOCK, k), k) if s < axis_size})
    for m in _AUTO_LEVELS[1:]:
        need = _needs_more(v, err, rtol)

        def gathered(ve, size, m=m, need=need):
            v, err = ve
            # padding repeats member 0: its writes are its own value, or its refined one
            idx = jnp.nonzero(need, size=size, fill_value=0)[0]
            v2, e2 = run(m, *jax.tree.map(lambda a, idx=idx: a[idx], (p, q)))
            sel = need[idx]
            return (v.at[idx].set(jnp.where(sel, v2, v[idx])),
                    err.at[idx].set(jnp.where(sel, e2, err[idx])))

        def full(ve, m=m, need=need):
            v, err = ve
            v2, e2 = run(m, p, q)
            return jnp.where(need, v2, v), jnp.where(need, e2, err)

        count = jnp.sum(need)
        # branch 0: nobody needs the level; i: a block of sizes[i − 1]; last: the whole batch
        branch = jnp.asarray(len(sizes) + 1, jnp.int32)
        for i in reversed(range(len(sizes))):
            branch = jnp.where(count <= sizes[i], i + 1, branch)
        branch = jnp.where(count == 0, 0, branch)
        blocks = [functools.partial(gathered, size=size) for size in sizes]
        v, err = jax.lax.switch(branch, [lambda ve: ve, *blocks, full], (v, err))
    return (v, err), (True, True)


@functools.cache
def _auto_fn(kl, rtol):
    """``auto`` for traced inputs, for one (kl, rtol): values from a ``custom_vmap`` whose
    batching rule refines only the members that need it (:func:`_gathered_rule`); derivatives
    from the JVP of :func:`_cascade` (``custom_vmap`` has no reverse mode), which takes the
    same levels for every member that needs them, so values and gradients agree."""

    @jax.custom_batching.custom_vmap
    def values(p, q):
        return _cascade(p, q, kl, rtol)

    values.def_vmap(functools.partial(_gathered_rule, kl, rtol))

    @jax.custom_jvp
    def fn(p, q):
        return values(p, q)

    @fn.defjvp
    def fn_jvp(primals, tangents):
        return jax.jvp(lambda p, q: _cascade(p, q, kl, rtol), primals, tangents)

    return fn


@functools.partial(jax.jit, static_argnames=("kl", "rtol"))
def _run_auto(p, q, kl, rtol):
    """(value, error estimate) of ``auto`` under jit / vmap / grad (see :func:`_auto_fn`)."""
    return _auto_fn(kl, rtol)(p, q)


def _closed_estimate(value):
    eps = jnp.finfo(jnp.result_type(value)).eps
    return 64 * eps * jnp.maximum(jnp.abs(value), 1.0)


def _evaluate(p, q, *, method, num_points, key, return_info, rtol, kl, what):
    """Shared body of cross_entropy and kl_divergence: validation, dispatch, Info."""
    _check_dist(p, "p")
    _check_dist(q, "q")
    if method not in METHODS:
        raise InputValueError(f"method must be one of {METHODS}, got {method!r}")
    closed = (_closed_form.lookup_kl if kl else _closed_form.lookup)(p, q)
    if kl and closed is None:
        ce, hp = _closed_form.lookup(p, q), p.entropy if not isinstance(
            p, MixtureOfNormals) else None
        if ce is not None and hp is not None:
            # different families: KL is bounded away from 0, H(p, q) − H(p) loses nothing
            closed = lambda p, q: ce(p, q) - p.entropy()  # noqa: E731
    if method == "closed_form" and closed is None:
        pairs = ", ".join(f"({a}, {b})" for a, b in _closed_form.registered_pairs())
        raise InputValueError(
            f"no closed form registered for p={type(p).__name__}, q={type(q).__name__}; "
            f"registered pairs: {pairs}"
        )
    if method == "closed_form" and num_points is not None:
        raise InputValueError(f"num_points is not used by method='closed_form', got {num_points!r}")
    if method == "monte_carlo" and key is None:
        raise InputValueError("method='monte_carlo' needs key=jax.random.key(...), got key=None")
    if method != "monte_carlo" and key is not None:
        raise InputValueError(f"key is only used by method='monte_carlo', got method={method!r}")
    if rtol is None:
        rtol = _default_rtol(jnp.result_type(*p.params(), *q.params()))
    check_number(rtol, "rtol", low=0.0, low_open=True)
    rtol = float(rtol)
    use = method
    if method == "auto":
        use = "closed_form" if closed is not None else "tanh_sinh"
    ok = _contained(p, q) & _finite_tails(p, q)
    # values known now (also under an eager grad, whose tracers carry concrete primals)
    concrete = all(is_concrete(jax.lax.stop_gradient(v)) for v in (*p.params(), *q.params()))
    if concrete and not bool(jax.lax.stop_gradient(ok)):
        # +inf whatever the rule: p puts mass where q has none, or tails diverge
        value, err, nodes = jnp.asarray(jnp.inf, p.dtype), jnp.zeros((), p.dtype), 0
    elif use == "closed_form":
        value = closed(p, q)
        err, nodes = _closed_estimate(value), 0
    else:
        n = DEFAULT_POINTS[use] if num_points is None else num_points
        quad.check_points(n, use)
        adaptive = method == "auto" and num_points is None
        # concrete: refine in Python, compiling only the levels used; else traced refinement
        if adaptive and not concrete:
            # under jit / vmap: refinement for the members that need it (_auto_fn)
            value, err = _run_auto(p, q, kl, rtol)
        else:
            # one compiled program per (types, method, n): cheaper than op-by-op dispatch
            value, err = _run_jit(p, q, use, n, key, kl)
        if adaptive and concrete:
            # adaptive for concrete inputs: refine until the estimate meets rtol
            for m in _AUTO_LEVELS[1:]:
                if not bool(_needs_more(value, err, rtol)):
                    break
                n = m
                value, err = _run_jit(p, q, use, n, key, kl)
        nodes = _num_nodes(p, q, use, n, key)
    value = jnp.where(ok, value, jnp.inf)
    err = jnp.where(ok, err, 0.0)
    if kl:  # KL ≥ 0 (rounding of an integrand that changes sign can leave −1e-17)
        value = jnp.maximum(value, 0.0)
    value = p._nan_if_invalid(q._nan_if_invalid(value))
    err = p._nan_if_invalid(q._nan_if_invalid(err))
    if return_info:
        tol = rtol * jnp.maximum(jnp.where(jnp.isfinite(value), jnp.abs(value), 1.0), 1.0)
        return value, Info(err, err <= tol, use, nodes, rtol)
    del what
    return value


def cross_entropy(
    p: Distribution,
    q: Distribution,
    *,
    method: str = "auto",
    num_points: int | None = None,
    key: jax.Array | None = None,
    return_info: bool = False,
    rtol: float | None = None,
):
    r"""Cross-entropy of continuous distributions, H(p, q) = −E_p[log q(X)], in nats.

    .. math::
      H(p, q) = -\int p(x) \log q(x) \, dx = H(p) + \mathrm{KL}(p \,\|\, q)

    ``method="auto"`` uses the closed form when one is registered for (type(p), type(q)),
    else ``"tanh_sinh"`` (piecewise double-exponential rules, split at p's centre, at centre
    ± 8 of p's scales and at the kinks of log p and log q; for a StudentT p against a Laplace,
    Logistic or mixture q the growing part of −log q is taken in closed form). For concrete
    inputs ``auto`` refines tanh–sinh (129 → 513 → 2049 nodes per piece) until
    ``Info.converged``; under ``jit``/``vmap``/``grad`` the levels 513 and 2049 run only for
    the members that need them (under ``vmap``: gathered into a block of ⌈B/16⌉, or the whole
    batch when more need them; nested ``vmap`` evaluates them for all). Accuracy
    (float64, default points):
    closed forms and tanh–sinh ≲ 1e-12 relative; Gauss–Hermite/Legendre/Laguerre reach
    1e-12 on smooth pairs but not at kinks or heavy tails; trapezoid/Simpson ~1e-6–1e-10;
    Monte Carlo ~1/√n. In float32 every rule is limited to ~1e-6 relative.

    Args:
      p: the distribution the expectation is taken under (scalar parameters; batch with
        ``jax.vmap``).
      q: the model distribution.
      method: one of ``"auto"``, ``"closed_form"``, ``"gauss_hermite"`` (Normal or mixture p),
        ``"gauss_legendre"``, ``"gauss_laguerre"`` (Gamma / Exponential p), ``"tanh_sinh"``,
        ``"trapezoid"``, ``"simpson"``, ``"monte_carlo"`` (needs ``key``).
      num_points: nodes per piece of the support (Hermite, Laguerre, Monte Carlo: in total);
        ``None`` for the defaults in ``DEFAULT_POINTS``. Tanh–sinh and Simpson need odd counts.
      key: a PRNG key, required by ``"monte_carlo"`` and rejected by the other methods.
      return_info: also return an :class:`Info` record (error estimate, ``converged``).
      rtol: the tolerance of ``Info.converged`` and of ``auto``'s refinement, relative to
        max(|H|, 1); default 1e-10 in float64, 1e-5 in float32.

    Returns:
      A scalar array (``+inf`` when p puts mass where q has none; NaN for invalid or NaN
      traced parameters), and the :class:`Info` when ``return_info``.

    Example:
      >>> from crossent_jax import continuous as ct
      >>> p, q = ct.Normal(35.0, 5.0), ct.Normal(40.0, 5.0)
      >>> round(float(ct.cross_entropy(p, q)), 4)
      3.5284
      >>> h, info = ct.cross_entropy(p, ct.StudentT(3.0, 40.0, 5.0), return_info=True)
      >>> info.method, round(float(h), 4), bool(info.converged)
      ('tanh_sinh', 3.4555, True)
    """
    return _evaluate(p, q, method=method, num_points=num_points, key=key,
                     return_info=return_info, rtol=rtol, kl=False, what="cross_entropy")


def entropy(p: Distribution, *, method: str = "auto", num_points=None, key=None):
    """Differential entropy H(p) = −E_p[log p(X)] in nats: the closed form when p has one
    (``method="auto"``), else ``cross_entropy(p, p, method=...)``.

    >>> from crossent_jax import continuous as ct
    >>> round(float(ct.entropy(ct.Normal(0.0, 1.0))), 6)
    1.418939
    """
    _check_dist(p, "p")
    if method in ("auto", "closed_form") and not isinstance(p, MixtureOfNormals):
        if num_points is not None or key is not None:
            raise InputValueError(f"num_points and key are not used by method={method!r}")
        return p.entropy()
    if method == "closed_form":
        raise InputValueError("MixtureOfNormals has no closed-form entropy; use method='auto'")
    return cross_entropy(p, p, method=method, num_points=num_points, key=key)


def kl_divergence(
    p: Distribution,
    q: Distribution,
    *,
    method: str = "auto",
    num_points: int | None = None,
    key: jax.Array | None = None,
    return_info: bool = False,
    rtol: float | None = None,
):
    r"""KL(p ‖ q) = E_p[log p(X) − log q(X)] ≥ 0 in nats, computed as its own quantity.

    Not H(p, q) − H(p): that difference cancels when p ≈ q (KL(N(0,1) ‖ N(1e-8,1)) = 5e-17
    would come out as 0, and float32 would lose 5% at an offset of 1e-3). ``"auto"`` uses a
    closed-form KL where one is registered (Normal, Laplace, Gamma/Exponential, Beta and
    Uniform pairs, written as sums of non-negative terms), H(p, q) − H(p) by closed forms for
    pairs of different families (KL bounded away from 0 there), and otherwise one quadrature
    of the integrand p (log p − log q), which is exactly 0 node by node when q is p.
    Arguments and ``Info`` as for :func:`cross_entropy`. The result is clipped at 0.

    >>> from crossent_jax import continuous as ct
    >>> round(float(ct.kl_divergence(ct.Normal(35.0, 5.0), ct.Normal(40.0, 5.0))), 6)
    0.5
    >>> f"{float(ct.kl_divergence(ct.Normal(0.0, 1.0), ct.Normal(1e-8, 1.0))):.6e}"
    '5.000000e-17'
    """
    return _evaluate(p, q, method=method, num_points=num_points, key=key,
                     return_info=return_info, rtol=rtol, kl=True, what="kl_divergence")


def grid_cross_entropy(p: Distribution, q: Distribution, *, low, high, num: int):
    r"""The seed's grid form: −Σ_i p(x_i) log q(x_i) Δx on ``num`` equispaced points of
    [low, high], Δx = (high − low)/(num − 1) (a Riemann sum of the integral; accurate only
    when [low, high] holds p's mass and the grid resolves it).

    Args:
      p, q: distributions (scalar parameters).
      low, high: the range, ``low < high``.
      num: number of points, ≥ 2.

    >>> from crossent_jax import continuous as ct
    >>> p, q = ct.Normal(35.0, 5.0), ct.Normal(40.0, 5.0)
    >>> round(float(ct.grid_cross_entropy(p, q, low=0.0, high=100.0, num=100)), 4)
    3.5284
    """
    _check_dist(p, "p")
    _check_dist(q, "q")
    if isinstance(num, bool) or not isinstance(num, int):
        raise InputTypeError(f"num must be an int, got {num!r}")
    if num < 2:
        raise InputValueError(f"num must be >= 2, got {num}")
    check_number(low, "low")
    check_number(high, "high")
    if is_concrete(low) and is_concrete(high) and not float(low) < float(high):
        raise InputValueError(f"low must be < high, got low={low!r}, high={high!r}")
    x = jnp.linspace(low, high, num, dtype=p.dtype)
    dx = (high - low) / (num - 1)
    lp, lq = p.log_prob(x), q.log_prob(x)
    dens = jnp.exp(lp)
    terms = jnp.where(dens > 0, dens * -jnp.where(dens > 0, lq, 0.0), 0.0)
    return jnp.sum(terms) * dx
