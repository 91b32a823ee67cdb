"""``fit(config) -> History``: the training loop.

One jitted step ``(state, batch) -> (state, metrics)``; the batch is sharded over every
device and the state replicated (see ``_sharding``); a test-set evaluation after every
epoch; optional orbax checkpoints after every epoch and resume from the latest one.
On one device a run is a pure function of its config: the same seed gives bit-identical
parameters and history, and a resumed run ends bit-identical to an uninterrupted one.
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
from crossent_jax.train._config import TrainConfig
from crossent_jax.train._data import Dataset, load_dataset
from crossent_jax.train._metrics import all_metrics
from crossent_jax.train._models import make_model
from crossent_jax.train._objectives import objective, predict_proba

#: fields that may differ between a run and the checkpoints it resumes from.
_RESUMABLE_CHANGES = ("resume", "checkpoint_dir")
WARMUP_FRACTION = 0.1


@dataclasses.dataclass
class History:
    """What a run produced.

    Attributes:
      config: the :class:`TrainConfig` of the run.
      epochs: one dict per epoch: ``epoch`` (1-based), ``train_loss`` (mean training
        objective over the epoch's steps, weighted by real examples), ``train_accuracy``,
        ``grad_norm`` (mean global gradient norm over the steps), ``test_loss`` (training
        objective on the test set), ``test_accuracy``, ``test_nll``, ``test_ece`` (15
        equal-width bins), ``test_brier``, ``seconds`` (wall time of the epoch).
      params: final parameters (a pytree of float32 arrays).
      test_probs: ``[n_test, K]`` predicted probabilities of the final model.
      test_labels: ``[n_test]`` test labels.
    """

    config: TrainConfig
    epochs: list[dict]
    params: Any
    test_probs: np.ndarray | None = None
    test_labels: np.ndarray | None = None

    @property
    def final(self) -> dict:
        """The last epoch's record (empty if no epoch ran)."""
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict:
        """``{"config": ..., "epochs": [...]}``, the content of ``history.json``."""
        return {"config": self.config.to_dict(), "epochs": list(self.epochs)}


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """The optax optimizer of ``config`` with its learning-rate schedule and weight decay."""
    lr = config.learning_rate
    total = max(int(total_steps), 1)
    if config.schedule == "constant":
        schedule: Any = lr
    elif config.schedule == "cosine":
        schedule = optax.cosine_decay_schedule(lr, decay_steps=total)
    else:
        warmup = max(1, int(WARMUP_FRACTION * total))
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, lr, warmup_steps=warmup, decay_steps=max(total, warmup + 1), end_value=0.0
        )
    name = config.optimizer
    if name in ("momentum", "nesterov"):
        factory, kwargs = optax.sgd, {"momentum": 0.9, "nesterov": name == "nesterov"}
    else:
        factory, kwargs = getattr(optax, name), {}
    if "key" in inspect.signature(factory).parameters:
        kwargs["key"] = config.seed  # noisy_sgd: its noise is seeded by the run's seed
    if "weight_decay" in inspect.signature(factory).parameters:
        return factory(schedule, weight_decay=config.weight_decay, **kwargs)
    tx = factory(schedule, **kwargs)
    if config.weight_decay > 0:
        tx = optax.chain(optax.add_decayed_weights(config.weight_decay), tx)
    return tx


def _global_norm(tree) -> jax.Array:
    """``sqrt(Σ g²)`` over every leaf (optax renamed its helper across versions)."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(tree)))


def _epoch_perm(seed: int, epoch: int, n: int) -> np.ndarray:
    """Shuffle of epoch ``epoch`` (0-based): a pure function of ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def _takes_key(name: str) -> bool:
    factory = getattr(optax, name, None)
    return factory is not None and "key" in inspect.signature(factory).parameters


@dataclasses.dataclass(frozen=True)
class _StepKey:
    """Everything the compiled train and eval steps depend on (not the seed or the data)."""

    model: str
    hidden_sizes: tuple[int, ...]
    loss: str
    label_smoothing: float
    z_loss: float
    optimizer: str
    learning_rate: float
    schedule: str
    weight_decay: float
    total_steps: int
    devices: tuple
    sizes: tuple[int, int]  # (features, classes)
    seed: int  # only for optimizers that take a key (noisy_sgd), else 0

    @classmethod
    def of(cls, config: TrainConfig, total_steps: int, devices: tuple, sizes) -> _StepKey:
        if config.schedule == "constant":
            total_steps = 0  # the run length does not enter the computation
        return cls(
            config.model, config.resolved_hidden_sizes, config.loss, config.label_smoothing,
            config.z_loss, config.optimizer, config.learning_rate, config.schedule,
            config.weight_decay, total_steps, devices, tuple(sizes),
            config.seed if _takes_key(config.optimizer) else 0,
        )


@functools.lru_cache(maxsize=16)
def _step_functions(key: _StepKey):
    """``(init_state, train_step, eval_step)``, jitted; cached so that runs differing only in
    seed, data or epochs (with the same total step count) reuse the compiled executables."""
    init, apply = make_model(key.model, key.hidden_sizes)
    config = TrainConfig(
        model=key.model, hidden_sizes=key.hidden_sizes, loss=key.loss,
        label_smoothing=key.label_smoothing, z_loss=key.z_loss, optimizer=key.optimizer,
        learning_rate=key.learning_rate, schedule=key.schedule, weight_decay=key.weight_decay,
        seed=key.seed,
    )
    tx = make_optimizer(config, key.total_steps)
    loss_kw = {"loss": key.loss, "label_smoothing": key.label_smoothing, "z_loss": key.z_loss}
    rep = sh.replicated(sh.make_mesh(key.devices))

    def train_step(state, batch):
        def loss_fn(p):
            logits = apply(p, batch["x"])
            return objective(logits, batch["y"], batch["mask"], **loss_kw), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        new = {
            "params": optax.apply_updates(state["params"], updates),
            "opt_state": opt_state,
            "step": state["step"] + 1,
        }
        hit = (jnp.argmax(logits, axis=-1) == batch["y"]) & batch["mask"]
        metrics = {
            "loss": loss,
            "correct": jnp.sum(hit),
            "count": jnp.sum(batch["mask"]),
            "grad_norm": _global_norm(grads),
        }
        return new, metrics

    def eval_step(params, x, y, mask):
        logits = apply(params, x)
        return objective(logits, y, mask, **loss_kw), predict_proba(logits, loss=key.loss)

    def init_state(rng):
        # eager on purpose: its small ops compile once per process and are shared by every
        # config, where a jitted init would compile again for each new config
        params = init(rng, *key.sizes)
        state = {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32)}
        return jax.device_put(state, rep)

    return (
        init_state,
        jax.jit(train_step, out_shardings=rep),
        jax.jit(eval_step),
    )


def _check_resumable(saved: dict, config: TrainConfig) -> None:
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


def fit(
    config: TrainConfig,
    *,
    progress: bool = False,
    callback: Callable[[dict], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    dataset: Dataset | None = None,
) -> History:
    """Train the model of ``config`` and evaluate it on the test set after every epoch.

    Args:
      config: the run.
      progress: show a tqdm bar per epoch (on stderr) with live loss and accuracy.
      callback: called with each epoch's record as soon as it exists.
      devices: devices for the data-parallel mesh (default: all of ``jax.devices()``).
      dataset: use these arrays instead of loading ``config.dataset`` (for experiments).

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
    rep, split = sh.replicated(mesh), sh.batch_sharding(mesh)

    n_train = data.x_train.shape[0]
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    init_fn, step_fn, eval_fn = _step_functions(
        _StepKey.of(
            config,
            steps_per_epoch * config.epochs,
            tuple(mesh.devices.flat),
            (data.num_features, data.num_classes),
        )
    )

    key = jax.random.key(config.seed)
    state = init_fn(key)  # params, optimizer state and step, replicated

    x_test, test_mask = sh.pad_rows(data.x_test, n_dev)
    y_test, _ = sh.pad_rows(data.y_test, n_dev)
    x_test_d, y_test_d, test_mask_d = jax.device_put((x_test, y_test, test_mask), split)
    n_test = data.x_test.shape[0]

    def evaluate(params):
        loss, probs = eval_fn(params, x_test_d, y_test_d, test_mask_d)
        probs = np.asarray(probs)[:n_test]
        return float(loss), probs

    records: list[dict] = []
    start = 0
    ckpt = None
    if config.checkpoint_dir is not None:
        from crossent_jax.train._checkpoint import Checkpointer

        ckpt = Checkpointer(config.checkpoint_dir)
        try:
            latest = ckpt.latest_epoch()
            if latest is not None and not config.resume:
                raise InputValueError(
                    f"checkpoint_dir {config.checkpoint_dir!r} already holds checkpoints "
                    f"(latest epoch {latest}); pass resume=True (--resume) or use an empty "
                    "directory"
                )
            if latest is not None:
                # compare configs first: restoring a state of another shape fails deep in orbax
                _check_resumable(ckpt.restore_meta(latest)["config"], config)
                restored, meta = ckpt.restore(latest, state)
                if config.epochs < int(meta["epoch"]):
                    raise InputValueError(
                        f"cannot resume: the checkpoint is at epoch {int(meta['epoch'])}, past "
                        f"the {config.epochs} epochs asked for (epochs may only grow)"
                    )
                state = jax.device_put(restored, rep)
                records = [dict(r) for r in meta["history"]]
                start = int(meta["epoch"])
        except BaseException:
            ckpt.close()
            raise

    bar_cls = None
    if progress:
        from tqdm.auto import tqdm as bar_cls
    try:
        for epoch in range(start, config.epochs):
            t0 = time.perf_counter()
            idx, mask = sh.epoch_batches(
                _epoch_perm(config.seed, epoch, n_train), config.batch_size, n_dev
            )
            bar = None
            if bar_cls is not None:
                bar = bar_cls(
                    total=len(idx), desc=f"epoch {epoch + 1}/{config.epochs}", file=sys.stderr,
                    leave=True, dynamic_ncols=True,
                )
            loss_sum = correct = count = grad_sum = 0.0
            for s in range(len(idx)):
                batch = {
                    "x": data.x_train[idx[s]],
                    "y": data.y_train[idx[s]],
                    "mask": mask[s],
                }
                state, m = step_fn(state, jax.device_put(batch, split))
                c = int(m["count"])
                loss_sum += float(m["loss"]) * c
                correct += int(m["correct"])
                count += c
                grad_sum += float(m["grad_norm"])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_sum / count:.4f}", acc=f"{correct / count:.3f}")
            test_loss, probs = evaluate(state["params"])
            record = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / count,
                "train_accuracy": correct / count,
                "grad_norm": grad_sum / len(idx),
                "test_loss": test_loss,
                **{f"test_{k}": v for k, v in all_metrics(probs, data.y_test).items()},
                "seconds": time.perf_counter() - t0,
            }
            records.append(record)
            if bar is not None:
                bar.set_postfix(
                    loss=f"{record['train_loss']:.4f}",
                    test_acc=f"{record['test_accuracy']:.3f}",
                )
                bar.close()
            if ckpt is not None:
                meta = {
                    "epoch": epoch + 1,
                    "config": config.to_dict(),
                    "history": records,
                }
                ckpt.save(epoch + 1, state, meta)
            if callback is not None:
                callback(record)
    finally:
        if ckpt is not None:
            ckpt.close()

    _, probs = evaluate(state["params"])
    return History(
        config=config,
        epochs=records,
        params=state["params"],
        test_probs=probs,
        test_labels=np.asarray(data.y_test),
    )
