"""Softmax suite: integer-label softmax cross-entropy, the kit against optax.

Each case is ``jax.value_and_grad`` of the mean loss (forward + backward), compiled once;
the compiled executable is both timed (interleaved with the others of its shape) and asked
for its memory. The kit's variants (label smoothing, z-loss, ignore_index) show what each
option costs; ``optax_again`` (optax against itself, an A/A control) shows the noise floor;
``optax_onehot_ls`` (optax's probability-label loss on smoothed one-hot labels) is the
memory a one-hot formulation of smoothing would need.

Targets (issue 2): ``kit / optax ≤ 1.10`` at both default shapes, and the temp memory of
``kit_ls0.1`` within a few ``batch × 4`` byte buffers of ``kit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from crossent_jax.bench import _harness as h

NAME = "softmax"
DEFAULT_SHAPES: tuple[tuple[int, int], ...] = ((4096, 1024), (1024, 32768))
DEFAULT_DTYPES: tuple[str, ...] = ("float32",)
BASELINE = "optax"
TARGET_RATIO = 1.10
IGNORE = -100
IMPLS = ("optax", "optax_again", "kit", "kit_ls0.1", "kit_zloss", "kit_ignore", "optax_onehot_ls")


def _mean_losses() -> dict[str, Callable]:
    """name -> (logits, labels) -> scalar mean loss."""
    import jax
    import jax.numpy as jnp
    import optax

    from crossent_jax import softmax_cross_entropy_with_integer_labels as ce

    def onehot_ls(x, y):
        t = optax.smooth_labels(jax.nn.one_hot(y, x.shape[-1], dtype=x.dtype), 0.1)
        return jnp.mean(optax.softmax_cross_entropy(x, t))

    fns = {
        "optax": lambda x, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, y)),
        # A/A control: optax against itself (a separate executable) shows the noise floor.
        "optax_again": lambda x, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, y)),
        "kit": lambda x, y: jnp.mean(ce(x, y)),
        "kit_ls0.1": lambda x, y: jnp.mean(ce(x, y, label_smoothing=0.1)),
        "kit_zloss": lambda x, y: jnp.mean(ce(x, y, z_loss=1e-4)),
        "kit_ignore": lambda x, y: ce(x, y, ignore_index=IGNORE, reduction="mean"),
        "optax_onehot_ls": onehot_ls,
    }
    assert tuple(fns) == IMPLS  # internal consistency, not user input
    return fns


def count_calls(*, shapes, dtypes, repeats: int) -> int:
    """Timed calls a :func:`run` makes (for a progress bar's total)."""
    return len(shapes) * len(dtypes) * repeats * len(IMPLS)


def make_inputs(shape: tuple[int, int], dtype: str, seed: int = 0):
    """Random normal logits ``[B, K]`` and labels; labels with ~10% ``IGNORE`` as well."""
    import jax.numpy as jnp
    import numpy as np

    b, k = shape
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((b, k), dtype=np.float32), dtype=dtype)
    y = rng.integers(0, k, size=(b,), dtype=np.int32)
    y_ign = np.where(rng.random(b) < 0.1, IGNORE, y).astype(np.int32)
    return x, jnp.asarray(y), jnp.asarray(y_ign)


def run(
    *,
    shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    repeats: int = 30,
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
    on_case: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the suite; returns the JSON-ready report (see :func:`format_table`)."""
    import jax

    losses = _mean_losses()
    groups = []
    for shape in shapes:
        for dtype in dtypes:
            x, y, y_ign = make_inputs(tuple(shape), dtype)
            fns, memory = {}, {}
            for name, loss in losses.items():
                if on_case is not None:
                    on_case(f"compile {shape[0]}x{shape[1]} {dtype} {name}")
                args = (x, y_ign if name == "kit_ignore" else y)
                compiled = h.compile_fn(jax.value_and_grad(loss), args)
                memory[name] = h.memory_stats(compiled)
                fns[name] = (lambda c, a: lambda: c(*a))(compiled, args)
            if on_case is not None:
                on_case(f"time {shape[0]}x{shape[1]} {dtype}")
            times, _ = h.time_interleaved(fns, repeats=repeats, warmup=warmup, on_call=progress)
            impls = {}
            for name in fns:
                impls[name] = {
                    **h.summarize(times[name]),
                    **h.paired_ratio(times, name, BASELINE),
                    "memory": memory[name],
                }
            groups.append(
                {
                    "shape": list(shape),
                    "dtype": dtype,
                    "baseline": BASELINE,
                    "impls": impls,
                    "smoothing_memory": _smoothing_memory(shape, memory),
                    "ratio_kit": impls["kit"]["ratio"],
                    "ratio_ok": impls["kit"]["ratio"] <= TARGET_RATIO,
                }
            )
    return {
        "suite": NAME,
        "schema_version": 1,
        "created": h.timestamp(),
        "environment": h.environment(),
        "config": {
            "shapes": [list(s) for s in shapes],
            "dtypes": list(dtypes),
            "repeats": repeats,
            "warmup": warmup,
            "measured": "jax.value_and_grad(mean loss), compiled once, interleaved round-robin",
            "target_ratio": TARGET_RATIO,
        },
        "groups": groups,
    }


def _smoothing_memory(shape, memory) -> dict[str, Any] | None:
    """Temp bytes of ``kit_ls0.1`` minus ``kit``, also in units of one ``batch × 4`` buffer."""
    plain, smooth = memory.get("kit"), memory.get("kit_ls0.1")
    if plain is None or smooth is None:
        return None
    diff = smooth["temp_size_in_bytes"] - plain["temp_size_in_bytes"]
    return {
        "temp_plain_bytes": plain["temp_size_in_bytes"],
        "temp_smoothing_bytes": smooth["temp_size_in_bytes"],
        "diff_bytes": diff,
        "diff_in_batch_f32_buffers": diff / (shape[0] * 4),
        "logits_bytes_f32": shape[0] * shape[1] * 4,
    }


def format_table(report: dict[str, Any]) -> str:
    """Plain-text table: one line per (shape, dtype, implementation)."""
    head = f"{'shape':>12} {'dtype':>8} {'impl':>16} {'median ms':>10} {'IQR ms':>8}"
    head += f" {'ratio':>6} {'temp MB':>9}"
    lines = [head, "-" * len(head)]
    for g in report["groups"]:
        sh = "x".join(str(s) for s in g["shape"])
        for name, r in g["impls"].items():
            mem = r["memory"]
            temp = "n/a" if mem is None else f"{mem['temp_size_in_bytes'] / 2**20:.2f}"
            lines.append(
                f"{sh:>12} {g['dtype']:>8} {name:>16} {r['median_s'] * 1e3:>10.3f}"
                f" {r['iqr_s'] * 1e3:>8.3f} {r['ratio']:>6.3f} {temp:>9}"
            )
        sm = g["smoothing_memory"]
        ok = "ok" if g["ratio_ok"] else "MISSED"
        lo, hi = g["impls"]["kit"]["ratio_ci95"]
        aa = g["impls"]["optax_again"]["ratio"]
        lines.append(
            f"  kit/optax = {g['ratio_kit']:.3f} (95% CI {lo:.3f}-{hi:.3f}; A/A optax/optax"
            f" = {aa:.3f}; target <= {TARGET_RATIO}: {ok})"
        )
        if sm is not None:
            lines.append(
                f"  temp(ls=0.1) - temp(ls=0) = {sm['diff_bytes']} B"
                f" = {sm['diff_in_batch_f32_buffers']:.2f} x (batch x 4 B)"
            )
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> None:
    """Two panels per shape/dtype: time ratio to optax (paired IQR bars), temp memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = report["groups"]
    fig, axes = plt.subplots(2, len(groups), figsize=(4.2 * len(groups), 6), squeeze=False)
    for j, g in enumerate(groups):
        names = list(g["impls"])
        r = [g["impls"][n] for n in names]
        ratio = [v["ratio"] for v in r]
        err = [
            [max(v["paired_median"] - v["paired_q25"], 0) for v in r],
            [max(v["paired_q75"] - v["paired_median"], 0) for v in r],
        ]
        title = f"{g['shape'][0]}x{g['shape'][1]} {g['dtype']}"
        ax = axes[0, j]
        ax.bar(range(len(names)), ratio, yerr=err, color="tab:blue", capsize=3)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axhline(TARGET_RATIO, color="tab:red", ls="--", lw=0.8, label="target 1.10")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("median time / optax")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
        ax = axes[1, j]
        temp = [0 if v["memory"] is None else v["memory"]["temp_size_in_bytes"] / 2**20 for v in r]
        ax.bar(range(len(names)), temp, color="tab:orange")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("compiled temp memory (MiB)")
    fig.suptitle(
        f"value_and_grad of mean integer-label softmax CE "
        f"({report['environment']['backend']}, jax {report['environment']['jax']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
