"""Benchmark: ``linear_cross_entropy`` against the unfused ``hidden @ weight`` + optax loss.

Hypothesis: at N = 4096 tokens, D = 512, V = 65536 (float32), ``jax.value_and_grad`` of the
mean loss w.r.t. hidden and weight takes at most 1.10x the time of the unfused
``optax.softmax_cross_entropy_with_integer_labels(hidden @ weight, labels).mean()``, with
compiled temporary memory at most one weight-sized dW accumulator (128 MiB) + 1/16 of the
logits (64 MiB), against about 2 GiB unfused. The token chunk is chosen here: 128, 192, 256
and 512 tokens are timed in one interleaved run. Also reported: the compiled temporary
memory at the Gemma 2 2B shape (8192 x 2304 x 256000, bfloat16), compiled from abstract
inputs (``jax.ShapeDtypeStruct``; nothing is run at that shape).

Command:

    PYTHONPATH=. python experiments/bench_linear.py            # full run
    PYTHONPATH=. python experiments/bench_linear.py --quick    # small shape, seconds

Expected runtime: about 5-10 minutes on 2 CPU cores (each call at the full shape does
three 4096 x 512 x 65536 matmuls). Writes ``experiments/results/bench_linear.json`` and
``bench_linear.png``. ``measure(Config(...))`` returns the same record without writing, for
a harness to call.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 4096
    d: int = 512
    v: int = 65536
    dtype: str = "float32"
    chunks: tuple[int, ...] = (128, 192, 256, 512)
    repeats: int = 7
    gemma: bool = True  # also compile (not run) the Gemma 2 2B shape
    out: str = "experiments/results"


QUICK = Config(n=512, d=64, v=4096, chunks=(64, 128), repeats=5, gemma=False)


def _fns(cfg: Config):
    import jax
    import jax.numpy as jnp
    import optax

    from crossent_jax import linear_cross_entropy

    def unfused(h, w, y):
        return optax.softmax_cross_entropy_with_integer_labels(h @ w, y).mean()

    fns = {"unfused_optax": unfused}
    for c in cfg.chunks:
        fns[f"fused_c{c}"] = lambda h, w, y, c=c: linear_cross_entropy(h, w, y, chunk_size=c)
    fns["fused_default"] = lambda h, w, y: linear_cross_entropy(h, w, y)
    return {k: jax.value_and_grad(f, argnums=(0, 1)) for k, f in fns.items()}, jnp


def gemma_memory() -> dict:
    """Compiled temp memory of value-and-grad at 8192 x 2304 x 256000 bf16 (not run)."""
    import jax
    import jax.numpy as jnp

    from crossent_jax import linear_cross_entropy
    from crossent_jax.bench._harness import memory_stats

    n, d, v = 8192, 2304, 256000
    args = (jax.ShapeDtypeStruct((n, d), jnp.bfloat16),
            jax.ShapeDtypeStruct((d, v), jnp.bfloat16),
            jax.ShapeDtypeStruct((n,), jnp.int32))
    f = jax.value_and_grad(lambda h, w, y: linear_cross_entropy(h, w, y), argnums=(0, 1))
    mem = memory_stats(jax.jit(f).lower(*args).compile())
    return {"shape": [n, d, v], "dtype": "bfloat16", "memory": mem,
            "logits_bytes_bf16": n * v * 2, "weight_bytes_bf16": d * v * 2,
            "dw_accumulator_bytes_f32": d * v * 4}


def measure(cfg: Config = Config()) -> dict:
    import time

    import jax
    import numpy as np

    from crossent_jax._fused import default_chunk_size
    from crossent_jax.bench._harness import (
        environment,
        memory_stats,
        paired_ratio,
        summarize,
        time_interleaved,
    )

    fns, jnp = _fns(cfg)
    rng = np.random.default_rng(0)
    dtype = jnp.dtype(cfg.dtype)
    h = jnp.asarray(rng.normal(size=(cfg.n, cfg.d)), dtype)
    w = jnp.asarray(rng.normal(size=(cfg.d, cfg.v)) / np.sqrt(cfg.d), dtype)
    y = jnp.asarray(rng.integers(0, cfg.v, cfg.n), jnp.int32)
    compiled, memory, compile_s = {}, {}, {}
    for name, f in fns.items():
        t0 = time.perf_counter()
        compiled[name] = jax.jit(f).lower(h, w, y).compile()
        compile_s[name] = time.perf_counter() - t0
        memory[name] = memory_stats(compiled[name])
    ref = compiled["unfused_optax"](h, w, y)
    errors = {}
    for name, f in compiled.items():  # the fused results equal the unfused ones
        out = f(h, w, y)
        errors[name] = [float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
                        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref), strict=True)]
    times, _ = time_interleaved({k: (lambda f=f: f(h, w, y)) for k, f in compiled.items()},
                                repeats=cfg.repeats)
    logits_bytes = cfg.n * cfg.v * dtype.itemsize
    dw_bytes = cfg.d * cfg.v * 4
    rows = {}
    for name in fns:
        rows[name] = {
            "time": summarize(times[name]),
            "vs_unfused": paired_ratio(times, name, "unfused_optax"),
            "compile_s": compile_s[name],
            "memory": memory[name],
            "max_rel_error_value_dh_dw": errors[name],
        }
    out = {
        "config": dataclasses.asdict(cfg),
        "default_chunk": default_chunk_size(cfg.n, cfg.v, 4),
        "logits_bytes": logits_bytes,
        "memory_bound_bytes": dw_bytes + logits_bytes // 16,
        "results": rows,
        "environment": environment(),
    }
    if cfg.gemma:
        out["gemma2_2b"] = gemma_memory()
    return out


def plot(res: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crossent_jax._outputs import save_figure

    names = list(res["results"])
    ratio = [res["results"][k]["vs_unfused"]["ratio"] for k in names]
    mem = [res["results"][k]["memory"]["temp_size_in_bytes"] / 2**20 for k in names]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.barh(names, ratio, color="tab:blue")
    a.axvline(1.10, color="k", ls="--", lw=1, label="target 1.10x")
    a.set_xlabel("time / unfused (median)")
    a.legend(loc="lower right", fontsize=8)
    b.barh(names, mem, color="tab:orange")
    b.axvline(res["memory_bound_bytes"] / 2**20, color="k", ls="--", lw=1, label="bound")
    b.set_xscale("log")
    b.set_xlabel("compiled temp memory (MiB)")
    b.set_yticklabels([])
    b.legend(loc="lower right", fontsize=8)
    c = res["config"]
    fig.suptitle(f"value_and_grad, N={c['n']} D={c['d']} V={c['v']} {c['dtype']}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def main(argv=None) -> int:
    from crossent_jax._outputs import prepare_dir, write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small shape (smoke test)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    if args.repeats is not None:
        cfg = dataclasses.replace(cfg, repeats=args.repeats)
    if args.out is not None:
        cfg = dataclasses.replace(cfg, out=args.out)
    out = prepare_dir(cfg.out, owned=("bench_linear.json", "bench_linear.png"))
    res = measure(cfg)
    write_json(os.path.join(out, "bench_linear.json"), res)
    plot(res, os.path.join(out, "bench_linear.png"))
    for name, r in res["results"].items():
        m = r["memory"]["temp_size_in_bytes"] / 2**20
        print(f"{name:15s} {r['time']['median_s'] * 1e3:9.1f} ms  x{r['vs_unfused']['ratio']:.3f}"
              f"  temp {m:8.1f} MiB")
    if "gemma2_2b" in res:
        print("gemma2 2b temp MiB:", res["gemma2_2b"]["memory"]["temp_size_in_bytes"] / 2**20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
