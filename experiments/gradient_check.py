"""Experiment: the gradient identity holds at every logit scale, to the dtype's rounding.

Hypothesis: the autodiff gradient of ``softmax_cross_entropy`` (and of the integer-label
form, and with a z-loss) equals the analytic identity ``(Σt + 2ζ·lse)·softmax(z) − t``
(evaluated in float64 at the same rounded inputs) to within the rounding of the dtype —
below the tolerance ``crossent verify`` uses (float64 1e-7, float32 1e-4, bf16 2⁻⁷) — for
logits scaled from 1 to 1e4, i.e. from a flat softmax to one saturated to a one-hot. A
naive ``log(softmax)`` would overflow / give NaN near 1e2 (float32) and is not used.

Error measure: ``max |g_autodiff − g_identity| / max |g_identity|`` over a batch of 64
examples with 32 classes (soft Dirichlet labels, standard normal logits times the scale).

Command:

    python experiments/gradient_check.py

Expected runtime: ~20 s on 2 CPU cores. Writes ``experiments/results/gradient_check.json``
and ``gradient_check.png``.
"""

from __future__ import annotations

import dataclasses
import os
import sys


@dataclasses.dataclass(frozen=True)
class Config:
    batch: int = 64
    classes: int = 32
    scales: tuple[float, ...] = tuple(10.0 ** (k / 4) for k in range(17))  # 1 … 1e4
    dtypes: tuple[str, ...] = ("float64", "float32", "bfloat16")
    z_loss: float = 1e-3
    seed: int = 0
    out: str = os.path.join("experiments", "results")


def _identity(jnp, jax, z, t, zeta):
    lse = jax.nn.logsumexp(z, axis=-1, keepdims=True)
    return (jnp.sum(t, axis=-1, keepdims=True) + 2 * zeta * lse) * jax.nn.softmax(z, -1) - t


def run(cfg: Config) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    import crossent_jax as cj
    from crossent_jax.verify import _tolerance as tl

    rng = np.random.default_rng(cfg.seed)
    z0 = rng.standard_normal((cfg.batch, cfg.classes))
    t0 = rng.dirichlet(np.ones(cfg.classes), size=cfg.batch)
    labels = rng.integers(0, cfg.classes, cfg.batch)
    series = {
        "soft labels": lambda z, t: cj.softmax_cross_entropy(z, t).sum(),
        f"soft labels, z_loss={cfg.z_loss:g}": (
            lambda z, t: cj.softmax_cross_entropy(z, t, z_loss=cfg.z_loss).sum()),
        "integer labels": (
            lambda z, t: cj.softmax_cross_entropy_with_integer_labels(z, labels).sum()),
    }
    grads = {name: jax.jit(jax.grad(f)) for name, f in series.items()}
    results = {"config": {**dataclasses.asdict(cfg), "out": None}, "rtol": {}, "errors": {}}
    for dtype in cfg.dtypes:
        results["rtol"][dtype] = tl.TOLERANCES[dtype].rtol
        for name, grad in grads.items():
            errs = []
            for s in cfg.scales:
                z = jnp.asarray(s * z0, dtype)
                t = jnp.asarray(t0, dtype)
                z64, t64 = z.astype(jnp.float64), t.astype(jnp.float64)
                if name == "integer labels":
                    t64 = jax.nn.one_hot(labels, cfg.classes, dtype=jnp.float64)
                zeta = cfg.z_loss if "z_loss" in name else 0.0
                want = np.asarray(_identity(jnp, jax, z64, t64, zeta))
                got = np.asarray(grad(z, t), np.float64)
                err = np.max(np.abs(got - want)) / np.max(np.abs(want))
                errs.append(float(err))  # NaN is written as null by the kit's JSON writer
            results["errors"][f"{dtype} | {name}"] = errs
    return results


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = results["config"]["scales"]
    colors = {"float64": "C0", "float32": "C1", "bfloat16": "C2"}
    styles = ["-", "--", ":"]
    import numpy as np

    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    names = sorted({k.split(" | ")[1] for k in results["errors"]})
    for key, errs in results["errors"].items():
        dtype, name = key.split(" | ")
        ys = [np.nan if e is None else max(float(e), 1e-18) for e in errs]
        ax.loglog(scales, ys, styles[names.index(name)], color=colors[dtype], marker=".",
                  label=key)
    for dtype, rtol in results["rtol"].items():
        ax.axhline(rtol, color=colors[dtype], lw=0.8, alpha=0.5)
        ax.text(scales[-1], rtol * 1.4, f"verify rtol {dtype}", color=colors[dtype], fontsize=7,
                ha="right")
    ax.set_xlabel("logit scale s (logits = s · N(0, 1))")
    ax.set_ylabel("max |autodiff − identity| / max |identity|")
    ax.set_title("Gradient identity (Σt + 2ζ·lse)·softmax − t vs autodiff", fontsize=10)
    # the legend sits outside the axes, so it never covers a curve
    ax.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              handlelength=3.5)
    fig.tight_layout()
    from crossent_jax._outputs import save_figure

    save_figure(fig, path)


def main(cfg: Config = Config()) -> int:
    from crossent_jax._outputs import jsonable, write_json

    results = jsonable(run(cfg))
    write_json(os.path.join(cfg.out, "gradient_check.json"), results)
    plot(results, os.path.join(cfg.out, "gradient_check.png"))
    for key, errs in results["errors"].items():
        finite = [float(e) for e in errs if e is not None]
        print(f"{key:<45} max error {max(finite):.2e}  (non-finite: {len(errs) - len(finite)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
