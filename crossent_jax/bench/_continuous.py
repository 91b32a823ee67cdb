"""Continuous suite: a batch of cross-entropies between densities, against a SciPy loop.

Each case evaluates ``H(p, q) = −∫ p(x) log q(x) dx`` for ``N`` random parameter sets of
``p = Normal(μ, σ)`` and ``q = StudentT(ν, loc, scale)`` (no closed form: the kit integrates
with its fixed-node rule). Implementations:

* ``scipy`` (the reference): a Python loop of ``scipy.integrate.quad`` (QUADPACK) over the
  sets, on a plain-``math`` integrand split at ``μ`` and ``loc`` (``epsrel=1e-10``);
* ``ours``: ``jax.jit(jax.vmap(crossent_jax.continuous.cross_entropy))`` over the batch.

The report also gives the largest relative difference between the two (an accuracy
check, not a timing).
"""

from __future__ import annotations

import contextlib
import math

from crossent_jax._errors import InputValueError

NAME = "continuous"
TITLE = "N cross-entropies H(Normal, StudentT): batched jit(vmap) vs a scipy.integrate.quad loop"
MEASURED = "one call evaluates all N sets; interleaved round-robin; jax compiled first"
SHAPE_FORMAT = "N"
DEFAULT_SHAPES: tuple[tuple[int], ...] = ((1000,),)
DEFAULT_DTYPES: tuple[str, ...] = ("float64",)
DTYPES = ("float64", "float32")
DEFAULT_REPEATS = 5
REFERENCE = "scipy"
IMPLS = ("scipy", "ours")
DEFAULT_IMPLS = IMPLS
#: ours / scipy target (the kit's batched rule is at least 20× faster)
TARGET = ("ours", 0.05)
SCIPY_EPSREL = 1e-10


def parse_shape(text: str) -> tuple[int]:
    """``"1000"`` -> ``(1000,)``."""
    try:
        n = int(text.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise InputValueError(
            f"--shapes for bench continuous expects positive counts N, got {text!r}"
        )
    return (n,)


def shape_label(shape) -> str:
    return str(shape[0])


def estimate_bytes(shape, dtype: str, impls) -> int:
    """Peak bytes, generously: 3 pieces × 257 nodes × a few float64 temporaries per set."""
    return shape[0] * 3 * 257 * 8 * 8 + 2**20


def context(dtype: str):
    """float64 cases run under ``jax.enable_x64`` (scoped: the process setting is kept)."""
    import jax

    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def params(n: int, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    return {
        "mu": rng.uniform(-2, 2, n), "sigma": rng.uniform(0.5, 2, n),
        "df": rng.uniform(2.5, 10, n), "loc": rng.uniform(-1, 1, n),
        "scale": rng.uniform(0.5, 2, n),
    }


def _normal_logpdf(mu, sigma):
    c = -math.log(sigma) - 0.5 * math.log(2 * math.pi)
    return lambda x: c - 0.5 * ((x - mu) / sigma) ** 2


def _student_logpdf(df, loc, scale):
    c = (
        math.lgamma((df + 1) / 2) - math.lgamma(df / 2)
        - 0.5 * math.log(df * math.pi) - math.log(scale)
    )
    return lambda x: c - (df + 1) / 2 * math.log1p(((x - loc) / scale) ** 2 / df)


def scipy_cross_entropy(mu, sigma, df, loc, scale, epsrel: float = SCIPY_EPSREL) -> float:
    """``−∫ p log q`` by QUADPACK on three pieces split at ``μ`` and ``loc``."""
    from scipy import integrate

    lp, lq = _normal_logpdf(mu, sigma), _student_logpdf(df, loc, scale)

    def f(x):
        d = math.exp(lp(x))
        return 0.0 if d == 0.0 else -d * lq(x)

    a, b = sorted((float(mu), float(loc)))
    total = 0.0
    for lo, hi in ((-math.inf, a), (a, b), (b, math.inf)):
        if lo < hi:
            total += integrate.quad(f, lo, hi, epsabs=0.0, epsrel=epsrel, limit=200)[0]
    return total


def prepare(shape, dtype: str, impls, device, *, on_case=None):
    """Compile ours, wrap the scipy loop; ``(prepared, skipped, work)``; ``work["check"]``
    holds the largest relative difference between the two."""
    import warnings

    import jax
    import jax.numpy as jnp
    import numpy as np

    from crossent_jax import continuous as ct
    from crossent_jax.bench import _harness as h

    pr = params(shape[0])
    keys = ("mu", "sigma", "df", "loc", "scale")
    args = jax.device_put(tuple(jnp.asarray(pr[k], dtype=dtype) for k in keys), device)
    rows = list(zip(*[pr[k].tolist() for k in keys], strict=True))

    def one(mu, sigma, df, loc, scale):
        return ct.cross_entropy(ct.Normal(mu, sigma), ct.StudentT(df, loc, scale))

    def scipy_loop():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # QUADPACK's IntegrationWarning on far tails
            return np.array([scipy_cross_entropy(*r) for r in rows])

    prepared = {"scipy": h.Prepared(scipy_loop, None, None, f"epsrel {SCIPY_EPSREL}")}
    if "ours" in impls:
        if on_case is not None:
            on_case(f"compile {shape[0]} {dtype} ours")
        prepared["ours"] = h.prepare_jax(jax.vmap(one), args)
    work = {"bytes": None, "flops": None, "what": "N cross-entropies per call"}
    if "ours" in prepared:
        ours = np.asarray(prepared["ours"].call(), dtype=np.float64)
        ref = scipy_loop()
        work["check"] = {
            "max_rel_diff_ours_vs_scipy": float(np.max(np.abs(ours - ref) / np.abs(ref)))
        }
    return prepared, {}, work


def summarize_group(group: dict) -> dict:
    check = group["work"].get("check")
    if not check:
        return {"lines": []}
    d = check["max_rel_diff_ours_vs_scipy"]
    return {"lines": [f"max |ours - scipy| / |scipy| = {d:.2e}"], **check}
