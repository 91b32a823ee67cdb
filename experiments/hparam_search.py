"""Hyperparameter search on MNIST-1D: four methods at equal budgets, and what a vmapped
population buys.

Measured in one run (interleaved where two things are compared, medians reported):

1. ``fit`` against a minimal scan-jitted optax loop of the same model (the cost of the
   kit's bookkeeping: metrics, validation and test evaluation per epoch).
2. grid / random / bayes / population searches of the default space at the same budget:
   best validation cross-entropy, the test accuracy of the best configuration (retrained
   once), wall-clock.
3. ``population_fit`` of K = 16 configurations against 16 sequential ``fit`` runs of the
   same configurations (traced hyperparameters: neither side recompiles): time per model.
4. The population speed-up against model width (hidden 16, 64, 256) and K (4, 16, 64).
5. Bayes against random search over several seeds.

Writes ``experiments/results/hparam_search.json`` and ``hparam_search.png``.
``--quick`` runs a reduced version (fewer epochs, trials, seeds and repeats).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from crossent_jax import _outputs
from crossent_jax.train import TrainConfig, fit, load_dataset, make_model
from crossent_jax.train._loop import validation_split
from crossent_jax.tune import default_space, population_fit, random_points, search

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def reference_loop(config: TrainConfig, data):
    """A minimal scan-jitted optax loop: AdamW with the same cosine schedule, one
    ``lax.scan`` per epoch, softmax cross-entropy from optax, nothing else."""
    tr, _ = validation_split(data.x_train.shape[0], config.validation_fraction)
    x, y = jnp.asarray(data.x_train[tr]), jnp.asarray(data.y_train[tr])
    n = x.shape[0]
    steps = -(-n // config.batch_size)
    init, apply = make_model(config.model, config.resolved_hidden_sizes)
    tx = optax.adamw(optax.cosine_decay_schedule(config.learning_rate, steps * config.epochs),
                     weight_decay=config.weight_decay)

    @jax.jit
    def epoch(p, s, idx):
        def body(carry, i):
            p, s = carry
            g = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
                apply(p, x[i]), y[i]).mean())(p)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(body, (p, s), idx)[0]

    def run():
        p = init(jax.random.key(config.seed), data.num_features, data.num_classes)
        s = tx.init(p)
        for e in range(config.epochs):
            perm = np.random.default_rng([config.seed, e]).permutation(n)
            full = steps * config.batch_size
            idx = np.resize(perm, full).reshape(steps, config.batch_size)  # equal batches
            p, s = epoch(p, s, idx)
        jax.block_until_ready(p)

    return run


def timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def interleaved(fns: dict, repeats: int) -> dict:
    """Run every function once (warm-up, compiles), then ``repeats`` interleaved rounds."""
    for f in fns.values():
        f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(timed(f))
    return {k: {"median": statistics.median(v), "all": v} for k, v in times.items()}


def part_overhead(base, data, repeats):
    log("1. fit vs a minimal scan-jitted optax loop")
    config = dataclasses.replace(base, validation_fraction=0.2)
    bare = dataclasses.replace(base, validation_fraction=0.0)
    res = interleaved({
        # fit with validation and test metrics after every epoch, and fit with no
        # evaluation at all, each against the reference loop on the same training rows
        "fit": lambda: fit(config, dataset=data),
        "reference": reference_loop(config, data),
        "fit_no_eval": lambda: fit(bare, dataset=data, test=False),
        "reference_all_rows": reference_loop(bare, data),
    }, repeats)
    ratio = res["fit"]["median"] / res["reference"]["median"]
    ratio_train = res["fit_no_eval"]["median"] / res["reference_all_rows"]["median"]
    log(f"   fit {res['fit']['median']:.3f} s vs reference {res['reference']['median']:.3f} s "
        f"({ratio:.2f}x); without evaluation {res['fit_no_eval']['median']:.3f} s vs "
        f"{res['reference_all_rows']['median']:.3f} s ({ratio_train:.2f}x)")
    return {"epochs": config.epochs, "seconds": res, "ratio": ratio,
            "ratio_without_evaluation": ratio_train}


def part_methods(base, data, budget, seed):
    log(f"2. four methods, budget {budget}")
    out = {}
    for method in ("grid", "random", "bayes", "population"):
        t0 = time.perf_counter()
        study = search(base, default_space(), method=method, budget=budget, seed=seed,
                       dataset=data)
        seconds = time.perf_counter() - t0
        best = study.best
        states = [t.state for t in study.trials]
        out[method] = {
            "best_val_ce": best.value, "best_params": best.params,
            "test_accuracy": study.test["accuracy"], "test_nll": study.test["nll"],
            "seconds": seconds, "trials": len(study.trials),
            "pruned": states.count("pruned"), "failed": states.count("failed"),
            "best_so_far": study.best_so_far(),
        }
        log(f"   {method}: best val CE {best.value:.4f}, test acc "
            f"{study.test['accuracy']:.4f}, {seconds:.1f} s")
    return out


def _population_vs_sequential(base, data, k, seed, repeats):
    points = random_points(default_space(), k, seed)
    overrides = {n: [p[n] for p in points] for n in sorted(points[0])}
    configs = [dataclasses.replace(base, **p) for p in points]
    res = interleaved({
        "population": lambda: population_fit(base, overrides, dataset=data),
        "sequential": lambda: [fit(c, dataset=data) for c in configs],
    }, repeats)
    per_pop = res["population"]["median"] / k
    per_seq = res["sequential"]["median"] / k
    return {"k": k, "seconds": res, "per_model_population": per_pop,
            "per_model_sequential": per_seq, "speedup": per_seq / per_pop}


def part_population(base, data, seed, repeats):
    log("3. population of 16 vs 16 sequential fits")
    r = _population_vs_sequential(base, data, 16, seed, repeats)
    log(f"   per model: population {r['per_model_population']:.3f} s, sequential "
        f"{r['per_model_sequential']:.3f} s, speed-up {r['speedup']:.2f}x")
    return r


def part_scaling(base, data, seed, widths, ks, repeats):
    log("4. speed-up against width and K")
    rows = []
    for w in widths:
        b = dataclasses.replace(base, hidden_sizes=(w, w))
        for k in ks:
            r = _population_vs_sequential(b, data, k, seed, repeats)
            r["width"] = w
            rows.append(r)
            log(f"   width {w}, K {k}: speed-up {r['speedup']:.2f}x")
    return rows


def part_bayes_vs_random(base, data, budget, seeds):
    log(f"5. bayes vs random, budget {budget}, seeds {seeds}")
    out = {"random": [], "bayes": []}
    for s in seeds:
        for method in out:
            study = search(base, default_space(), method=method, budget=budget, seed=s,
                           dataset=data, retrain=False)
            out[method].append(study.best.value)
            log(f"   seed {s} {method}: {study.best.value:.4f}")
    return out


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    for method, r in results["methods"].items():
        ax.step(range(1, len(r["best_so_far"]) + 1), r["best_so_far"], where="post",
                label=f"{method} ({r['seconds']:.0f} s)")
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation cross-entropy so far")
    ax.set_title(f"search methods, budget {results['settings']['budget']}", fontsize="medium")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small")
    ax = axes[1]
    backend = results["meta_backend"]
    for w in results["settings"]["widths"]:
        rows = [r for r in results["scaling"] if r["width"] == w]
        ax.plot([r["k"] for r in rows], [r["speedup"] for r in rows], "o-",
                label=f"hidden ({w}, {w}), {backend}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("population size K")
    ax.set_ylabel("speed-up per model vs sequential fit")
    ax.set_title("vmapped population against sequential fit", fontsize="medium")
    ax.legend(fontsize="small")
    ax = axes[2]
    bvr = results["bayes_vs_random"]
    for i, method in enumerate(("random", "bayes")):
        vals = bvr[method]
        ax.plot([i] * len(vals), vals, "o", alpha=0.7)
        ax.plot([i - 0.2, i + 0.2], [np.mean(vals)] * 2, "k-")
    ax.set_xticks([0, 1], ["random", "bayes (TPE)"])
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylabel("best validation cross-entropy")
    ax.set_title(f"{len(bvr['random'])} seeds, budget {results['settings']['bvr_budget']}",
                 fontsize="medium")
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle("MNIST-1D, MLP, AdamW + cosine: search by validation cross-entropy"
                 + (" (reduced run)" if results["settings"]["quick"] else ""),
                 fontsize="medium")
    fig.tight_layout()
    _outputs.save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="reduced version")
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    q = args.quick
    settings = {
        "quick": q,
        "epochs": 10 if q else 20,
        "budget": 12 if q else 16,
        "bvr_budget": 12 if q else 16,
        "bvr_seeds": [0, 1, 2],
        "repeats": 2 if q else 5,  # part 1; part 3 uses 3, part 4 one round after warm-up
        "scaling_epochs": 3 if q else 5,
        "widths": [16, 64, 256],
        "ks": [4, 16, 64],
        "seed": 0,
    }
    _outputs.prepare_dir(args.out, flag="--out")
    data = load_dataset("mnist1d")
    base = TrainConfig(epochs=settings["epochs"], validation_fraction=0.2)
    t0 = time.perf_counter()
    results = {"settings": settings, "base": base.to_dict(),
               "meta_backend": jax.default_backend()}
    results["overhead"] = part_overhead(base, data, settings["repeats"])
    results["methods"] = part_methods(base, data, settings["budget"], settings["seed"])
    results["population_16"] = part_population(base, data, settings["seed"],
                                               min(3, settings["repeats"]))
    results["scaling"] = part_scaling(
        dataclasses.replace(base, epochs=settings["scaling_epochs"]), data, settings["seed"],
        settings["widths"], settings["ks"], 1)
    results["bayes_vs_random"] = part_bayes_vs_random(
        base, data, settings["bvr_budget"], settings["bvr_seeds"])
    results["total_seconds"] = time.perf_counter() - t0
    _outputs.write_json(os.path.join(args.out, "hparam_search.json"), results)
    plot(results, os.path.join(args.out, "hparam_search.png"))
    log(f"done in {results['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
