"""``population_fit``: K configurations trained at once, in one vmapped, jitted program.

The members share the model, optimizer, schedule, batch size and data; they differ in the
traced hyperparameters (learning rate, weight decay, label smoothing, z-loss) and
optionally the seed. The train step of :func:`crossent_jax.train.fit` is ``jax.vmap``-ed
over the parameters, the optimizer states and the hyperparameters (and, when the seeds
differ, over each member's batch); an epoch is one ``lax.scan`` of it, the batch axis
sharded over the devices as in ``fit``. Member ``i`` equals
``fit(dataclasses.replace(base, **override_i))`` up to float32 rounding.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax._errors import InputError, InputTypeError, InputValueError
from crossent_jax.train import _loop
from crossent_jax.train import _sharding as sh
from crossent_jax.train._config import TrainConfig
from crossent_jax.train._data import Dataset, load_dataset

#: what the members may differ in.
POPULATION_FIELDS = (*_loop.TRACED_FIELDS, "seed")


@dataclasses.dataclass(frozen=True)
class _PopPrograms:
    init_state: Callable
    epoch: Callable
    evaluate: Callable


@functools.lru_cache(maxsize=8)
def _population_programs(
    static: TrainConfig, total_steps: int, devices: tuple, sizes: tuple, shared: bool
) -> _PopPrograms:
    init, apply, tx, factor = _loop._model_parts(static, total_steps)
    mesh = sh.make_mesh(devices)
    rep = sh.replicated(mesh)
    step = _loop._train_step(apply, tx, static.loss, factor, mesh)
    vstep = jax.vmap(step, in_axes=(0, 0, None if shared else 0))

    def epoch(states, hps, x, y, idx, mask):
        def body(states, im):
            i, m = im
            return vstep(states, hps, {"x": x[i], "y": y[i], "mask": m})

        return jax.lax.scan(body, states, (idx, mask))

    ev = _loop._eval_fn(apply, static.loss)

    def evaluate(params, hps, x, y, mask, segments):
        return jax.vmap(lambda p, h: ev(p, h, x, y, mask, segments))(params, hps)

    def init_state(seeds):
        one = {}
        for s in sorted(set(seeds)):  # eager, as in fit; once per distinct seed
            params = init(jax.random.key(s), *sizes)
            one[s] = {"params": params, "opt_state": tx.init(params),
                      "step": jnp.zeros((), jnp.int32)}
        states = jax.tree.map(lambda *xs: jnp.stack(xs), *[one[s] for s in seeds])
        return jax.device_put(states, rep)

    return _PopPrograms(
        init_state=init_state,
        epoch=jax.jit(epoch, out_shardings=(rep, rep)),
        evaluate=jax.jit(evaluate, static_argnames="segments"),
    )


def _member_configs(base: TrainConfig, overrides: Mapping[str, Sequence]) -> list[TrainConfig]:
    if not isinstance(base, TrainConfig):
        raise InputTypeError(f"base must be a TrainConfig, got {type(base).__name__}")
    if not isinstance(overrides, Mapping) or not overrides:
        raise InputValueError(
            f"overrides must be a non-empty dict of field -> list of values, got {overrides!r}"
        )
    bad = sorted(set(overrides) - set(POPULATION_FIELDS))
    if bad:
        raise InputValueError(
            f"population members may differ only in {', '.join(POPULATION_FIELDS)}; got "
            f"{bad} (train other settings as separate populations or with fit)"
        )
    lengths = {}
    for name, values in overrides.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise InputTypeError(f"overrides[{name!r}] must be a list of values, got {values!r}")
        lengths[name] = len(values)
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise InputValueError(
            f"every override needs the same number (>= 1) of values, got lengths {lengths}"
        )
    if base.checkpoint_dir is not None:
        raise InputValueError(
            "population_fit does not checkpoint: base.checkpoint_dir must be None"
        )
    if "seed" in overrides and _loop._takes_key(base.optimizer):
        raise InputValueError(
            f"optimizer {base.optimizer!r} draws noise from the seed, which is compiled in: "
            "its members cannot differ in seed"
        )
    k = next(iter(lengths.values()))
    configs = []
    for i in range(k):
        change = {name: overrides[name][i] for name in overrides}
        try:
            configs.append(dataclasses.replace(base, **change))
        except InputError as e:
            raise type(e)(f"population member {i} ({change}): {e}") from None
    return configs


def population_fit(
    base: TrainConfig,
    overrides: Mapping[str, Sequence],
    *,
    progress: bool = False,
    callback: Callable[[int, list[dict]], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    dataset: Dataset | None = None,
    test: bool = True,
) -> list:
    """Train ``K`` variants of ``base`` simultaneously; one :class:`History` per member.

    Args:
      base: the shared configuration (no ``checkpoint_dir``).
      overrides: ``{field: [v_0, ..., v_{K-1}]}`` for fields in
        ``learning_rate``, ``weight_decay``, ``label_smoothing``, ``z_loss``, ``seed``;
        member ``i`` is ``dataclasses.replace(base, **{f: v[i]})``.
      progress: report progress over the epochs on stderr.
      callback: called after each epoch with ``(epoch, records)``, one record per member.
      devices, dataset, test: as in :func:`crossent_jax.train.fit`.

    Returns:
      ``list[History]`` in member order, each equal to what ``fit`` gives for that member
      (to float32 rounding: the vmapped program sums in another order).

    Example:
      >>> from crossent_jax.train import TrainConfig
      >>> from crossent_jax.tune import population_fit
      >>> base = TrainConfig(dataset="blobs", model="linear", epochs=2)
      >>> hs = population_fit(base, {"learning_rate": [0.01, 0.05, 0.1]})
      >>> [h.config.learning_rate for h in hs], len(hs[0].epochs)
      ([0.01, 0.05, 0.1], 2)
    """
    configs = _member_configs(base, overrides)
    k = len(configs)
    data = load_dataset(base.dataset) if dataset is None else dataset
    mesh = sh.make_mesh(devices)
    n_dev = mesh.devices.size
    rep = sh.replicated(mesh)
    split = _loop._prepare_data(data, base, mesh, test=test)
    n_train = split.x_train.shape[0]
    seeds = [c.seed for c in configs]
    shared = len(set(seeds)) == 1
    programs = _population_programs(
        _loop.static_config(base), _loop._total_steps(base, n_train),
        tuple(mesh.devices.flat), (data.num_features, data.num_classes), shared,
    )
    hps = jax.device_put(
        {f: np.asarray([getattr(c, f) for c in configs], np.float32)
         for f in _loop.TRACED_FIELDS},
        rep,
    )
    states = programs.init_state(seeds)
    x_dev, y_dev = jax.device_put((split.x_train, split.y_train), rep)
    idx_sharding = sh.step_batch_sharding(mesh, 2 if shared else 3)
    records: list[list[dict]] = [[] for _ in range(k)]

    from crossent_jax._progress import progress as progress_bar

    with progress_bar(base.epochs, desc=f"population of {k}", unit="epoch",
                      enabled=progress, file=sys.stderr) as bar:
        for epoch in range(base.epochs):
            t0 = time.perf_counter()
            idx, mask = jax.device_put(
                _loop._epoch_indices(seeds[:1] if shared else seeds, epoch, n_train,
                                     base.batch_size, n_dev),
                idx_sharding,
            )
            states, metrics = programs.epoch(states, hps, x_dev, y_dev, idx, mask)
            metrics = jax.device_get(metrics)  # [steps, K] each
            evals = _evaluate(programs, states["params"], hps, split)[0]
            seconds = (time.perf_counter() - t0) / k
            for i in range(k):
                rec = {"epoch": epoch + 1,
                       **_loop._train_record({m: v[:, i] for m, v in metrics.items()}),
                       **evals[i], "seconds": seconds}
                records[i].append(rec)
            bar.update(1)
            if callback is not None:
                callback(epoch + 1, [r[-1] for r in records])

    probs = _evaluate(programs, states["params"], hps, split)[1]
    out = []
    for i, c in enumerate(configs):
        params = jax.tree.map(lambda a, i=i: a[i], states["params"])
        out.append(_loop.History(
            config=c, epochs=records[i], params=params,
            test_probs=None if probs is None else probs[i],
            test_labels=split.y_test if test else None,
        ))
    return out


def _evaluate(programs: _PopPrograms, params, hps, split) -> tuple[list[dict], np.ndarray]:
    k = len(jax.tree.leaves(hps)[0])
    records: list[dict] = [{} for _ in range(k)]
    if split.eval_arrays is None:
        return records, None
    out, probs = jax.device_get(
        programs.evaluate(params, hps, *split.eval_arrays, segments=split.segments))
    test_probs = None
    for name, a, b in split.segments:
        value, metrics = out[name]
        for i in range(k):
            records[i].update(_loop._eval_record(
                value[i], {m: v[i] for m, v in metrics.items()}, name))
        if name == "test":
            test_probs = np.asarray(probs)[:, a:b]
    return records, test_probs
