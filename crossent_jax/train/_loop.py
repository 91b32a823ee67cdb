"""``fit(config) -> History``: the training loop.

An epoch is one compiled program: a ``lax.scan`` of the train step over the epoch's
batches, which are gathered on the device from the training set (put there once). The
batch axis is sharded over every device and the state replicated (see ``_sharding``).
The continuous hyperparameters (learning rate, weight decay, label smoothing, z-loss) are
*runtime* arguments of that program (``optax.inject_hyperparams`` for the optimizer's,
plain arguments for the loss's), so runs that differ only in them share one compilation;
:func:`crossent_jax.tune.population_fit` vmaps the same step over a population of them.

After every epoch the model is evaluated on the validation split (when
``validation_fraction > 0``) and on the test set (unless ``test=False``); optional orbax
checkpoints after every epoch and resume from the latest one. On one device a run is a
pure function of its config: the same seed gives bit-identical parameters and history, and
a resumed run ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax.train import _sharding as sh
from crossent_jax.train._config import DEFAULT_HIDDEN, TrainConfig
from crossent_jax.train._data import Dataset, load_dataset
from crossent_jax.train._metrics import accuracy, brier, ece, nll
from crossent_jax.train._models import make_model
from crossent_jax.train._objectives import objective, predict_proba

#: fields that may differ between a run and the checkpoints it resumes from.
_RESUMABLE_CHANGES = ("resume", "checkpoint_dir")
WARMUP_FRACTION = 0.1
#: the ``TrainConfig`` fields that are runtime values of the compiled programs.
TRACED_FIELDS = ("learning_rate", "weight_decay", "label_smoothing", "z_loss")
#: seed of the fixed permutation that splits off the validation set.
VALIDATION_SEED = 20240611


@dataclasses.dataclass
class History:
    """What a run produced.

    Attributes:
      config: the :class:`TrainConfig` of the run.
      epochs: one dict per epoch: ``epoch`` (1-based), ``train_loss`` (mean training
        objective over the epoch's steps, weighted by real examples), ``train_accuracy``,
        ``grad_norm`` (mean global gradient norm over the steps); with a validation split
        ``val_loss`` (mean cross-entropy −log p_y of the validation examples, i.e. the NLL,
        whatever the training loss and its smoothing), ``val_accuracy``, ``val_ece``; unless
        the test set is switched off ``test_loss`` (training objective on the test set),
        ``test_accuracy``, ``test_nll``, ``test_ece`` (15 equal-width bins),
        ``test_brier``; and ``seconds`` (wall time of the epoch).
      params: final parameters (a pytree of float32 arrays).
      test_probs: ``[n_test, K]`` predicted probabilities of the final model (None when the
        test set was not evaluated).
      test_labels: ``[n_test]`` test labels (or None).
      resumed_from: the epoch the run resumed from (None for a fresh run).
    """

    config: TrainConfig
    epochs: list[dict]
    params: Any
    test_probs: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    resumed_from: int | None = None

    @property
    def final(self) -> dict:
        """The last epoch's record (empty if no epoch ran)."""
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict:
        """``{"config": ..., "epochs": [...]}``, the content of ``history.json``."""
        return {"config": self.config.to_dict(), "epochs": list(self.epochs)}


# ----------------------------------------------------------------------------- optimizer


def _lr_factor(schedule: str, total_steps: int) -> Callable[[Any], Any]:
    """The schedule as a multiple of the peak learning rate, a function of the step."""
    total = max(int(total_steps), 1)
    if schedule == "constant":
        return lambda count: 1.0
    if schedule == "cosine":
        return optax.cosine_decay_schedule(1.0, decay_steps=total)
    warmup = max(1, int(WARMUP_FRACTION * total))
    return optax.warmup_cosine_decay_schedule(
        0.0, 1.0, warmup_steps=warmup, decay_steps=max(total, warmup + 1), end_value=0.0
    )


def _base_optimizer(name: str, seed: int, learning_rate, weight_decay, *, always_decay: bool):
    if name in ("momentum", "nesterov"):
        factory, kwargs = optax.sgd, {"momentum": 0.9, "nesterov": name == "nesterov"}
    else:
        factory, kwargs = getattr(optax, name), {}
    if "key" in inspect.signature(factory).parameters:
        kwargs["key"] = seed  # noisy_sgd: its noise is seeded by the run's seed
    if "weight_decay" in inspect.signature(factory).parameters:
        return factory(learning_rate, weight_decay=weight_decay, **kwargs)
    tx = factory(learning_rate, **kwargs)
    if always_decay or weight_decay > 0:
        tx = optax.chain(optax.add_decayed_weights(weight_decay), tx)
    return tx


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """The optax optimizer of ``config`` with its learning-rate schedule and weight decay,
    as plain constants (``fit`` itself runs the traced equivalent, see
    :data:`TRACED_FIELDS`)."""
    factor = _lr_factor(config.schedule, total_steps)
    lr = config.learning_rate
    schedule: Any = lr if config.schedule == "constant" else (lambda c: lr * factor(c))
    return _base_optimizer(
        config.optimizer, config.seed, schedule, config.weight_decay, always_decay=False
    )


def _traced_optimizer(name: str, seed: int) -> optax.GradientTransformation:
    """``make_optimizer`` with learning rate and weight decay held in the optimizer state
    (``opt_state.hyperparams``), set by the step from its runtime arguments."""

    def factory(learning_rate, weight_decay):
        return _base_optimizer(name, seed, learning_rate, weight_decay, always_decay=True)

    return optax.inject_hyperparams(factory)(learning_rate=0.0, weight_decay=0.0)


def hyperparameters(config: TrainConfig) -> dict[str, np.ndarray]:
    """The runtime hyperparameters of ``config``: float32 scalars keyed by
    :data:`TRACED_FIELDS`."""
    return {k: np.float32(getattr(config, k)) for k in TRACED_FIELDS}


def _global_norm(tree) -> jax.Array:
    """``sqrt(Σ g²)`` over every leaf."""
    return optax.tree.norm(tree)


def _epoch_perm(seed: int, epoch: int, n: int) -> np.ndarray:
    """Shuffle of epoch ``epoch`` (0-based): a pure function of ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def _takes_key(name: str) -> bool:
    factory = getattr(optax, name, None)
    return factory is not None and "key" in inspect.signature(factory).parameters


# ----------------------------------------------------------------------------- programs


def static_config(config: TrainConfig) -> TrainConfig:
    """``config`` with every field the compiled programs do not depend on reset to a
    fixed value: two configs with equal ``static_config`` share one compilation (given the
    same data shapes, step count and devices). The one source of "what is compiled in"."""
    return dataclasses.replace(
        config,
        dataset="blobs", hidden_sizes=config.resolved_hidden_sizes,
        learning_rate=1.0, weight_decay=0.0, label_smoothing=0.0, z_loss=0.0,
        epochs=0, validation_fraction=0.0, checkpoint_dir=None, resume=False,
        seed=config.seed if _takes_key(config.optimizer) else 0,
    )


@dataclasses.dataclass(frozen=True)
class _Programs:
    init_state: Callable
    epoch: Callable  # (state, hp, x, y, idx, mask) -> (state, per-step metrics)
    evaluate: Callable  # (params, hp, x, y, mask, segments) -> ({name: (loss, metrics)}, probs)


def _train_step(apply, tx, loss, factor, mesh):
    """``(state, hp, batch) -> (state, metrics)`` for one model."""
    split = sh.batch_sharding(mesh)

    def step(state, hp, batch):
        batch = jax.lax.with_sharding_constraint(batch, split)

        def loss_fn(p):
            logits = apply(p, batch["x"])
            value = objective(
                logits, batch["y"], batch["mask"], loss=loss,
                label_smoothing=hp["label_smoothing"], z_loss=hp["z_loss"],
            )
            return value, logits

        (value, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        opt_state = state["opt_state"]
        lr = hp["learning_rate"] * factor(state["step"])
        opt_state = opt_state._replace(
            hyperparams={**opt_state.hyperparams, "learning_rate": lr,
                         "weight_decay": hp["weight_decay"]}
        )
        updates, opt_state = tx.update(grads, opt_state, state["params"])
        new = {
            "params": optax.apply_updates(state["params"], updates),
            "opt_state": opt_state,
            "step": state["step"] + 1,
        }
        hit = (jnp.argmax(logits, axis=-1) == batch["y"]) & batch["mask"]
        metrics = {
            "loss": value,
            "correct": jnp.sum(hit),
            "count": jnp.sum(batch["mask"]),
            "grad_norm": _global_norm(grads),
        }
        return new, metrics

    return step


def _epoch_fn(step):
    """One epoch: ``lax.scan`` of ``step`` over the batches ``x[idx[s]]``."""

    def epoch(state, hp, x, y, idx, mask):
        def body(state, im):
            i, m = im
            return step(state, hp, {"x": x[i], "y": y[i], "mask": m})

        return jax.lax.scan(body, state, (idx, mask))

    return epoch


def _eval_fn(apply, loss):
    """``(params, hp, x, y, mask, segments) -> {name: (objective, metrics)}, probs``: one
    forward pass over the validation and test rows stacked together; ``segments`` is a
    static tuple of ``(name, start, stop)`` row ranges, metrics are computed per range."""

    def evaluate(params, hp, x, y, mask, segments):
        logits = apply(params, x)
        probs = predict_proba(logits, loss=loss)
        out = {}
        for name, a, b in segments:
            value = objective(
                logits[a:b], y[a:b], mask[a:b], loss=loss,
                label_smoothing=hp["label_smoothing"], z_loss=hp["z_loss"],
            )
            p, t = probs[a:b], y[a:b]
            out[name] = (value, {"accuracy": accuracy(p, t), "nll": nll(p, t),
                                 "ece": ece(p, t), "brier": brier(p, t)})
        return out, probs

    return evaluate


def _model_parts(static: TrainConfig, total_steps: int):
    init, apply = make_model(static.model, static.hidden_sizes)
    tx = _traced_optimizer(static.optimizer, static.seed)
    factor = _lr_factor(static.schedule, total_steps)
    return init, apply, tx, factor


@functools.lru_cache(maxsize=16)
def _programs(static: TrainConfig, total_steps: int, devices: tuple, sizes: tuple) -> _Programs:
    """The jitted programs of one static configuration; cached so that runs differing only
    in seed, data, epochs or traced hyperparameters reuse the compiled executables."""
    init, apply, tx, factor = _model_parts(static, total_steps)
    mesh = sh.make_mesh(devices)
    rep = sh.replicated(mesh)
    step = _train_step(apply, tx, static.loss, factor, mesh)

    def init_state(rng):
        # eager on purpose: its small ops compile once per process and are shared by every
        # config, where a jitted init would compile again for each new config
        params = init(rng, *sizes)
        state = {"params": params, "opt_state": tx.init(params),
                 "step": jnp.zeros((), jnp.int32)}
        return jax.device_put(state, rep)

    return _Programs(
        init_state=init_state,
        epoch=jax.jit(_epoch_fn(step), out_shardings=(rep, rep)),
        evaluate=jax.jit(_eval_fn(apply, static.loss), static_argnames="segments"),
    )


def _total_steps(config: TrainConfig, n_train: int) -> int:
    """Steps of the whole run; 0 for a constant schedule (the run length does not enter
    the computation, so runs of any length share the programs)."""
    if config.schedule == "constant":
        return 0
    return math.ceil(n_train / config.batch_size) * config.epochs


# ----------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class _Split:
    """Training rows (host), and the evaluation rows (validation, then test) padded and on
    the device, with their static ``segments``: ``(("val", 0, n_val), ("test", ...))``."""

    x_train: np.ndarray
    y_train: np.ndarray
    eval_arrays: tuple | None  # (x, y, mask) on the device
    segments: tuple
    y_test: np.ndarray


def validation_split(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(train_rows, val_rows)``: the fixed split of ``n`` training examples.

    The last ``round(fraction·n)`` entries of a permutation seeded by
    :data:`VALIDATION_SEED` are the validation rows (both sorted), whatever the run's seed.

    Example:
      >>> from crossent_jax.train._loop import validation_split
      >>> tr, va = validation_split(10, 0.2)
      >>> len(tr), len(va), sorted([*tr, *va]) == list(range(10))
      (8, 2, True)
    """
    n_val = int(round(fraction * n))
    if fraction > 0 and not 0 < n_val < n:
        raise InputValueError(
            f"validation_fraction {fraction} of {n} training examples leaves "
            f"{n_val} validation and {n - n_val} training examples; both must be >= 1"
        )
    perm = np.random.default_rng(VALIDATION_SEED).permutation(n)
    return np.sort(perm[: n - n_val]), np.sort(perm[n - n_val :])


def _prepare_data(data: Dataset, config: TrainConfig, mesh, *, test: bool) -> _Split:
    x_train, y_train = data.x_train, data.y_train
    names, xs, ys = [], [], []
    if config.validation_fraction > 0:
        tr, va = validation_split(x_train.shape[0], config.validation_fraction)
        names.append("val")
        xs.append(x_train[va])
        ys.append(y_train[va])
        x_train, y_train = x_train[tr], y_train[tr]
    if test:
        names.append("test")
        xs.append(data.x_test)
        ys.append(data.y_test)
    segments, start = [], 0
    for name, x in zip(names, xs, strict=True):
        segments.append((name, start, start + x.shape[0]))
        start += x.shape[0]
    eval_arrays = None
    if xs:
        n_dev = mesh.devices.size
        xp, mask = sh.pad_rows(np.concatenate(xs), n_dev)
        yp, _ = sh.pad_rows(np.concatenate(ys), n_dev)
        eval_arrays = tuple(jax.device_put((xp, yp, mask), sh.batch_sharding(mesh)))
    return _Split(x_train=x_train, y_train=y_train, eval_arrays=eval_arrays,
                  segments=tuple(segments), y_test=np.asarray(data.y_test))


def _epoch_indices(seeds: Sequence[int], epoch: int, n: int, batch_size: int, n_dev: int):
    """``(idx, mask)`` of one epoch: ``[steps, B']`` for one seed, ``[steps, K, B']`` for
    several (one shuffle per seed)."""
    parts = [sh.epoch_batches(_epoch_perm(s, epoch, n), batch_size, n_dev) for s in seeds]
    if len(parts) == 1:
        return parts[0]
    return np.stack([p[0] for p in parts], 1), np.stack([p[1] for p in parts], 1)


def _train_record(metrics: dict) -> dict:
    """Per-epoch training figures from the per-step metrics of one model (host floats)."""
    loss = np.asarray(metrics["loss"], np.float64)
    count = np.asarray(metrics["count"])
    loss_sum = correct = total = 0.0
    for s in range(len(loss)):
        c = int(count[s])
        loss_sum += float(loss[s]) * c
        correct += int(metrics["correct"][s])
        total += c
    return {
        "train_loss": loss_sum / total,
        "train_accuracy": correct / total,
        "grad_norm": float(np.sum(np.asarray(metrics["grad_norm"], np.float64))) / len(loss),
    }


def _eval_record(value, metrics, prefix: str) -> dict:
    if prefix == "val":
        return {"val_loss": float(metrics["nll"]), "val_accuracy": float(metrics["accuracy"]),
                "val_ece": float(metrics["ece"])}
    return {"test_loss": float(value), **{f"test_{k}": float(v) for k, v in metrics.items()}}


# ----------------------------------------------------------------------------- fit


def _check_resumable(saved: dict, config: TrainConfig) -> None:
    # checkpoints written before a field existed, or with hidden_sizes None, compare as the
    # defaults they ran with
    saved = {**{f.name: f.default for f in dataclasses.fields(TrainConfig)}, **saved}
    if saved["hidden_sizes"] is None:
        saved["hidden_sizes"] = list(DEFAULT_HIDDEN.get(saved["model"], ()))
    now = config.to_dict()
    allowed = set(_RESUMABLE_CHANGES)
    if config.schedule == "constant":
        allowed.add("epochs")  # the schedule does not depend on the run length
    diff = sorted(k for k in now if k not in allowed and saved.get(k) != now[k])
    if diff:
        pairs = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff)
        raise InputValueError(
            f"cannot resume: the checkpoint was written by another config ({pairs})"
        )


def _restore(config: TrainConfig, state, rep):
    """Open the checkpoint directory; ``(checkpointer, state, records, start_epoch)``."""
    from crossent_jax.train._checkpoint import Checkpointer

    ckpt = Checkpointer(config.checkpoint_dir)
    try:
        latest = ckpt.latest_epoch()
        if latest is None:
            return ckpt, state, [], 0
        if not config.resume:
            raise InputValueError(
                f"checkpoint_dir {config.checkpoint_dir!r} already holds checkpoints "
                f"(latest epoch {latest}); pass resume=True (--resume) or use an empty "
                "directory"
            )
        # compare configs first: restoring a state of another shape fails deep in orbax
        _check_resumable(ckpt.restore_meta(latest)["config"], config)
        restored, meta = ckpt.restore(latest, state)
        if config.epochs < int(meta["epoch"]):
            raise InputValueError(
                f"cannot resume: the checkpoint is at epoch {int(meta['epoch'])}, past "
                f"the {config.epochs} epochs asked for (epochs may only grow)"
            )
        return ckpt, jax.device_put(restored, rep), [dict(r) for r in meta["history"]], int(
            meta["epoch"]
        )
    except BaseException:
        ckpt.close()
        raise


def _evaluate(programs: _Programs, params, hp, split: _Split) -> tuple[dict, Any]:
    """Validation and test records of ``params``; also the test probabilities."""
    if split.eval_arrays is None:
        return {}, None
    out, probs = programs.evaluate(params, hp, *split.eval_arrays, segments=split.segments)
    out = jax.device_get(out)
    record = {}
    for name, a, b in split.segments:
        record.update(_eval_record(*out[name], name))
        if name == "test":
            probs = np.asarray(probs)[a:b]
    return record, probs if "test" in out else None


@dataclasses.dataclass(frozen=True)
class _Run:
    """What every epoch of one ``fit`` needs: programs, runtime hyperparameters, data."""

    config: TrainConfig
    programs: _Programs
    split: _Split
    n_dev: int
    hp: dict
    train: tuple  # (x, y) of the training rows, replicated on the devices
    idx_sharding: Any


def _epoch(run: _Run, state, epoch: int) -> tuple[Any, dict]:
    """Train epoch ``epoch`` (0-based) as one compiled call, then evaluate: the new state
    and the epoch's record."""
    c = run.config
    t0 = time.perf_counter()
    idx, mask = jax.device_put(
        _epoch_indices([c.seed], epoch, run.split.x_train.shape[0], c.batch_size, run.n_dev),
        run.idx_sharding,
    )
    state, metrics = run.programs.epoch(state, run.hp, *run.train, idx, mask)
    record = {"epoch": epoch + 1, **_train_record(jax.device_get(metrics))}
    record.update(_evaluate(run.programs, state["params"], run.hp, run.split)[0])
    record["seconds"] = time.perf_counter() - t0
    return state, record


def fit(
    config: TrainConfig,
    *,
    progress: bool = False,
    callback: Callable[[dict], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    dataset: Dataset | None = None,
    test: bool = True,
) -> History:
    """Train the model of ``config``, evaluating it after every epoch.

    Args:
      config: the run.
      progress: report progress over the epochs on stderr (live loss and accuracy), and
        say so when resuming.
      callback: called with each epoch's record as soon as it exists (it may raise to stop
        the run; hyperparameter search prunes trials that way).
      devices: devices for the data-parallel mesh (default: all of ``jax.devices()``).
      dataset: use these arrays instead of loading ``config.dataset`` (for experiments).
      test: evaluate on the test set (``False``: a search must never see it).

    Returns:
      A :class:`History`.

    Example:
      >>> from crossent_jax.train import TrainConfig, fit
      >>> h = fit(TrainConfig(dataset="blobs", model="linear", epochs=2, learning_rate=0.05))
      >>> [r["epoch"] for r in h.epochs], h.final["test_accuracy"] > 0.5
      ([1, 2], True)
    """
    if not isinstance(config, TrainConfig):
        raise InputTypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    data = load_dataset(config.dataset) if dataset is None else dataset
    mesh = sh.make_mesh(devices)
    n_dev = mesh.devices.size
    rep = sh.replicated(mesh)
    split = _prepare_data(data, config, mesh, test=test)
    n_train = split.x_train.shape[0]
    programs = _programs(
        static_config(config), _total_steps(config, n_train), tuple(mesh.devices.flat),
        (data.num_features, data.num_classes),
    )
    run = _Run(
        config=config, programs=programs, split=split, n_dev=n_dev,
        hp=jax.device_put(hyperparameters(config), rep),
        train=tuple(jax.device_put((split.x_train, split.y_train), rep)),
        idx_sharding=sh.step_batch_sharding(mesh),
    )
    state = programs.init_state(jax.random.key(config.seed))

    records: list[dict] = []
    start, ckpt = 0, None
    if config.checkpoint_dir is not None:
        ckpt, state, records, start = _restore(config, state, rep)
        if progress and start:
            print(
                f"resuming from epoch {start} of {config.epochs} in {config.checkpoint_dir}",
                file=sys.stderr, flush=True,
            )
    from crossent_jax._progress import progress as progress_bar

    try:
        with progress_bar(
            config.epochs - start, desc="train", unit="epoch", enabled=progress
        ) as bar:
            for epoch in range(start, config.epochs):
                state, record = _epoch(run, state, epoch)
                records.append(record)
                bar.update(1)
                bar.set_postfix_str(
                    f"epoch {epoch + 1}/{config.epochs} loss={record['train_loss']:.4f} "
                    f"acc={record['train_accuracy']:.3f}"
                )
                if ckpt is not None:
                    meta = {"epoch": epoch + 1, "config": config.to_dict(), "history": records}
                    ckpt.save(epoch + 1, state, meta)
                if callback is not None:
                    callback(record)
    finally:
        if ckpt is not None:
            ckpt.close()

    probs = _evaluate(programs, state["params"], run.hp, split)[1]
    return History(
        config=config,
        epochs=records,
        params=state["params"],
        test_probs=probs,
        test_labels=split.y_test if test else None,
        resumed_from=start or None,
    )
