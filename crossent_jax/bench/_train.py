"""Train suite: ``crossent_jax.train.fit`` against a minimal hand-written optax loop.

Each case trains one model on one dataset with one batch size (the default
``TrainConfig`` otherwise: AdamW, cosine schedule, softmax cross-entropy). Implementations,
each reporting **seconds per epoch**:

* ``minimal`` (the reference): the same model (:func:`crossent_jax.train.make_model`),
  optimizer and schedule (:func:`crossent_jax.train.make_optimizer`), loss
  (:func:`crossent_jax.train.objective`) and batches (the same shuffles and padding), written
  as one ``jax.jit``-compiled ``lax.scan`` over the epoch's steps, with nothing else;
* ``minimal_eval``: the same plus what ``fit`` does after every epoch — the test-set loss
  and probabilities (jitted) and :func:`crossent_jax.train.all_metrics`;
* ``fit``: :func:`crossent_jax.train.fit` through its public API; each call trains
  ``EPOCHS + 1`` epochs and its first epoch is dropped (``History.epochs[i]["seconds"]``).

``fit`` evaluates after every epoch, so its epoch is compared with ``minimal_eval``; its
training time is estimated as ``fit`` minus the evaluation time (timed on its own inside
``minimal_eval``, or ``fit``'s own record of it where it keeps one) and compared with
``minimal``: the target.
"""

from __future__ import annotations

import time
from typing import Any

from crossent_jax._errors import InputValueError

NAME = "train"
TITLE = "seconds per training epoch: train.fit vs a minimal scan-jitted optax loop"
MEASURED = (
    "per-epoch wall time (each call trains several epochs and reports each), interleaved "
    "round-robin after a compiling warm-up"
)
SHAPE_FORMAT = "[DATASET/][MODEL:]BATCH"
DEFAULT_SHAPES: tuple[tuple[str, str, int], ...] = (("mnist1d", "mlp", 128),)
DEFAULT_DTYPES: tuple[str, ...] = ("float32",)
DTYPES = ("float32",)
DEFAULT_REPEATS = 5
REFERENCE = "minimal"
IMPLS = ("minimal", "minimal_eval", "fit")
DEFAULT_IMPLS = IMPLS
#: fit's training time per epoch / minimal (issue 12)
TARGET = ("fit", 1.2)
#: timed epochs per call
EPOCHS = 3
DATASETS = ("mnist1d", "digits", "blobs")
MODELS = ("linear", "mlp", "cnn1d")
#: fields of a fit epoch record that may hold its evaluation time
EVAL_TIME_KEYS = ("eval_seconds", "evaluation_seconds")


def parse_shape(text: str) -> tuple[str, str, int]:
    """``"mnist1d/mlp:128"`` -> ``("mnist1d", "mlp", 128)``; dataset and model optional."""
    raw = text.strip()
    dataset, model, rest = "mnist1d", "mlp", raw
    if "/" in rest:
        dataset, rest = rest.split("/", 1)
    if ":" in rest:
        model, rest = rest.split(":", 1)
    try:
        batch = int(rest)
    except ValueError:
        batch = 0
    if dataset not in DATASETS or model not in MODELS or batch < 1:
        raise InputValueError(
            "--shapes for bench train expects [DATASET/][MODEL:]BATCH with DATASET in "
            f"{', '.join(DATASETS)}, MODEL in {', '.join(MODELS)} and BATCH a positive int, "
            f"got {text!r}"
        )
    return (dataset, model, batch)


def shape_label(shape) -> str:
    return f"{shape[0]}/{shape[1]}:{shape[2]}"


def estimate_bytes(shape, dtype: str, impls) -> int:
    """Small: the data sets are a few MB; a generous fixed budget per batch row."""
    return 64 * 2**20 + shape[2] * 2**16


def config_of(shape):
    from crossent_jax.train import TrainConfig

    dataset, model, batch = shape
    return TrainConfig(dataset=dataset, model=model, batch_size=batch, epochs=EPOCHS + 1)


def _batches(config, data, epoch: int):
    """The epoch's padded batches: ``x [S, B, F]``, ``y [S, B]``, ``mask [S, B]``, shuffled by
    ``numpy.random.default_rng([seed, epoch])`` like ``fit``."""
    import numpy as np

    n = data.x_train.shape[0]
    perm = np.random.default_rng([config.seed, epoch]).permutation(n)
    b = config.batch_size
    steps = -(-n // b)
    idx = np.zeros((steps, b), np.int64)
    mask = np.zeros((steps, b), bool)
    for s in range(steps):
        chunk = perm[s * b : (s + 1) * b]
        idx[s, : len(chunk)] = chunk
        mask[s, : len(chunk)] = True
    return data.x_train[idx], data.y_train[idx], mask


def minimal_loop(config, data, device):
    """``(epoch_fn, init_state, eval_fn, compile_s, memory)``: the hand-written loop."""
    import jax
    import jax.numpy as jnp
    import optax

    from crossent_jax.bench import _harness as h
    from crossent_jax.train import make_model, make_optimizer, objective, predict_proba

    n = data.x_train.shape[0]
    steps = -(-n // config.batch_size)
    init, apply = make_model(config.model, config.resolved_hidden_sizes)
    tx = make_optimizer(config, steps * config.epochs)
    kw = {"loss": config.loss, "label_smoothing": config.label_smoothing, "z_loss": config.z_loss}

    def epoch(state, xb, yb, mb):
        def step(st, batch):
            params, opt = st
            x, y, m = batch
            loss, g = jax.value_and_grad(lambda p: objective(apply(p, x), y, m, **kw))(params)
            upd, opt = tx.update(g, opt, params)
            return (optax.apply_updates(params, upd), opt), loss

        return jax.lax.scan(step, state, (xb, yb, mb))

    def evaluate(params, x, y):
        logits = apply(params, x)
        mask = jnp.ones(y.shape, bool)
        return objective(logits, y, mask, **kw), predict_proba(logits, loss=config.loss)

    params = init(jax.random.key(config.seed), data.num_features, data.num_classes)
    state = jax.device_put((params, tx.init(params)), device)
    xb, yb, mb = _batches(config, data, 0)
    t0 = time.perf_counter()
    compiled = jax.jit(epoch, donate_argnums=0).lower(state, xb, yb, mb).compile()
    compile_s = time.perf_counter() - t0
    return compiled, state, jax.jit(evaluate), compile_s, h.memory_stats(compiled), params


def prepare(shape, dtype: str, impls, device, *, on_case=None):
    """``(prepared, skipped, work)``; each prepared call returns ``EPOCHS`` epoch times."""
    import jax
    import numpy as np

    from crossent_jax.bench import _harness as h
    from crossent_jax.train import all_metrics, fit, load_dataset

    config = config_of(shape)
    if on_case is not None:
        on_case(f"load {shape[0]}")
    data = load_dataset(config.dataset)
    if on_case is not None:
        on_case(f"compile {shape_label(shape)}")
    epoch_fn, state0, eval_fn, compile_s, memory, params = minimal_loop(config, data, device)
    x_test, y_test = jax.device_put((data.x_test, data.y_test), device)
    fit_eval_times: list[float] = []
    eval_times: list[float] = []  # the evaluation part of minimal_eval's epochs

    def minimal(with_eval: bool):
        def call():
            state = jax.tree.map(lambda a: a.copy(), state0)
            times = []
            for e in range(EPOCHS):
                t0 = time.perf_counter()
                batches = jax.device_put(_batches(config, data, e), device)
                state, losses = epoch_fn(state, *batches)
                jax.block_until_ready(losses)
                if with_eval:
                    t1 = time.perf_counter()
                    loss, probs = eval_fn(state[0], x_test, y_test)
                    float(loss)
                    all_metrics(np.asarray(probs), data.y_test)
                    eval_times.append(time.perf_counter() - t1)
                times.append(time.perf_counter() - t0)
            return times

        return call

    def fit_call():
        hist = fit(config, dataset=data, devices=[device])
        recs = hist.epochs[1:]
        for key in EVAL_TIME_KEYS:
            if all(key in r for r in recs):
                fit_eval_times.extend(r[key] for r in recs)
                break
        return [r["seconds"] for r in recs]

    def drop_warmup_records():
        fit_eval_times.clear()
        eval_times.clear()

    prepared = {}
    for name in impls:
        if name == "fit":
            prepared[name] = h.Prepared(
                fit_call, None, None, f"train.fit, {EPOCHS + 1} epochs per call, first dropped",
                self_timed=True,
            )
        else:
            prepared[name] = h.Prepared(
                minimal(name == "minimal_eval"), compile_s, memory, None, self_timed=True
            )
    prepared[REFERENCE].after_warmup = drop_warmup_records
    leaves = jax.tree.leaves(params)
    dense = all(np.ndim(p) <= 2 for p in leaves)
    n_train = data.x_train.shape[0]
    macs = sum(int(np.size(p)) for p in leaves if np.ndim(p) == 2)
    work = {
        "bytes": None,
        "flops": 6 * n_train * macs if dense else None,
        "what": "flops per epoch: 6 · examples · weights (dense layers; None for convolutions)",
        "steps_per_epoch": -(-n_train // config.batch_size),
        "config": config.to_dict(),
        "fit_eval_times": fit_eval_times,  # filled while timing
        "eval_times": eval_times,
    }
    return prepared, {}, work


def summarize_group(group: dict) -> dict[str, Any]:
    """Evaluation time and share, and fit's training time per epoch against the minimal loop.

    The evaluation is timed on its own inside ``minimal_eval``'s epochs (a difference of two
    noisy medians would be noisier than the thing measured); ``fit``'s training time is its
    epoch minus its own record of evaluation time where it keeps one, else minus that."""
    import numpy as np

    impls = group["impls"]
    out: dict[str, Any] = {"lines": []}
    fit_eval = group["work"].pop("fit_eval_times", [])
    eval_times = group["work"].pop("eval_times", [])
    if "minimal" not in impls:
        return out
    m = impls["minimal"]["median_s"]
    me = impls.get("minimal_eval", {}).get("median_s")
    f = impls.get("fit", {}).get("median_s")
    ev = float(np.median(eval_times)) if eval_times else None
    if ev is not None:
        out["eval_seconds"] = ev
        out["eval_share_minimal_eval"] = ev / me
        out["lines"].append(
            f"evaluation (test loss + metrics) = {ev * 1e3:.1f} ms per epoch (median of"
            f" {len(eval_times)}), {100 * ev / me:.0f}% of a minimal_eval epoch"
        )
    if f is None:
        return out
    if fit_eval:
        eval_s, source = float(np.median(fit_eval)), "fit's own record"
    elif ev is not None:
        eval_s, source = ev, "timed in minimal_eval"
    else:
        return out
    out["fit_eval_seconds"] = eval_s
    out["fit_eval_source"] = source
    out["fit_eval_share"] = eval_s / f
    out["fit_train_seconds"] = f - eval_s
    out["target_ratio"] = (f - eval_s) / m
    out["lines"].append(
        f"fit epoch {f * 1e3:.1f} ms = training {(f - eval_s) * 1e3:.1f} ms + evaluation"
        f" {eval_s * 1e3:.1f} ms ({source}); training / minimal = {out['target_ratio']:.3f}"
    )
    if me is not None:
        out["fit_over_minimal_eval"] = f / me
        out["lines"].append(f"fit / minimal_eval (both evaluate) = {f / me:.3f}")
    return out
