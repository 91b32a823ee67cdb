"""Generic benchmark harness: interleaved timing, robust statistics, compiled memory.

Several implementations of the same computation are timed in one run, round-robin, so
that slow drifts of a shared machine (other processes, thermal state) hit all of them
alike; a ratio against a baseline measured in the same run is then meaningful even when
absolute times are noisy. Compilation and a warm-up call are excluded from the timings,
every call ends with ``block_until_ready``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import jax
import numpy as np

from crossent_jax._errors import InputValueError

#: Fields copied from ``Compiled.memory_analysis()`` (absent ones are skipped).
MEMORY_FIELDS = (
    "temp_size_in_bytes",
    "argument_size_in_bytes",
    "output_size_in_bytes",
    "alias_size_in_bytes",
    "generated_code_size_in_bytes",
)


def compile_fn(fn: Callable, args: Sequence[Any]):
    """``jax.jit(fn).lower(*args).compile()``: the executable that is timed and measured."""
    return jax.jit(fn).lower(*args).compile()


def memory_stats(compiled) -> dict[str, int] | None:
    """Memory figures of a compiled executable, or None where the backend gives none.

    Some backends return None from ``memory_analysis()`` or raise; both map to None so
    that a report still gets written.
    """
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - backend-specific failures (NotImplemented, XlaRuntime)
        return None
    if stats is None:
        return None
    out = {}
    for name in MEMORY_FIELDS:
        value = getattr(stats, name, None)
        if value is not None:
            out[name] = int(value)
    return out or None


def round_robin(names: Sequence[str], repeat: int, *, seed: int = 0) -> list[str]:
    """The call order in repeat ``repeat``: a rotation of a per-cycle permutation of ``names``.

    Repeats come in cycles of ``len(names)``; within a cycle the order is rotated left by one
    each repeat, so every implementation runs once at every position. Each cycle starts
    from a fresh permutation (seeded; cycle 0 is ``names`` itself), so an implementation
    does not always follow the same neighbour: a plain rotation would make one always run
    right after, say, a cache-trashing one-hot variant.
    """
    n = len(names)
    cycle, k = divmod(repeat, n)
    base = list(names)
    if cycle > 0:
        perm = np.random.default_rng([seed, cycle]).permutation(n)
        base = [base[i] for i in perm]
    return base[k:] + base[:k]


def time_interleaved(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int = 1,
    timer: Callable[[], float] = time.perf_counter,
    on_call: Callable[[str], None] | None = None,
) -> tuple[dict[str, list[float]], list[str]]:
    """Time zero-argument callables round-robin; returns (seconds per name, call order).

    Each callable is called ``warmup`` times first (not timed; compile there), then
    ``repeats`` times interleaved in :func:`round_robin` order (full cycles of
    ``len(fns)`` repeats balance positions exactly). Results are passed to
    ``jax.block_until_ready`` inside the timed region. ``on_call(name)`` runs after each
    timed call (progress bars).
    """
    if repeats < 1:
        raise InputValueError(f"repeats must be a positive int, got {repeats!r}")
    if warmup < 0:
        raise InputValueError(f"warmup must be a non-negative int, got {warmup!r}")
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            jax.block_until_ready(fns[name]())
    times: dict[str, list[float]] = {name: [] for name in names}
    order: list[str] = []
    for r in range(repeats):
        for name in round_robin(names, r):
            t0 = timer()
            jax.block_until_ready(fns[name]())
            times[name].append(timer() - t0)
            order.append(name)
            if on_call is not None:
                on_call(name)
    return times, order


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, quartiles, IQR, min and count of a list of timings (seconds)."""
    a = np.asarray(samples, dtype=np.float64)
    if a.size == 0:
        raise InputValueError("summarize needs at least one sample, got none")
    q25, med, q75 = np.percentile(a, [25, 50, 75])
    return {
        "median_s": float(med),
        "q25_s": float(q25),
        "q75_s": float(q75),
        "iqr_s": float(q75 - q25),
        "min_s": float(a.min()),
        "n": int(a.size),
    }


def paired_ratio(
    times: Mapping[str, Sequence[float]],
    name: str,
    baseline: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """Ratio of medians ``name / baseline``, its bootstrap 95% interval, per-round ratios.

    The per-repeat ratio pairs the i-th call of ``name`` with the i-th of ``baseline``
    (same round of the interleaving), which cancels drifts slower than one round.
    """
    a = np.asarray(times[name], dtype=np.float64)
    b = np.asarray(times[baseline], dtype=np.float64)
    per = a / b
    q25, q75 = np.percentile(per, [25, 75])
    # 95% bootstrap interval of the ratio of medians, resampling whole rounds (pairs).
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    boot = np.median(a[idx], axis=1) / np.median(b[idx], axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {
        "ratio": float(np.median(a) / np.median(b)),
        "ratio_ci95": [float(lo), float(hi)],
        "paired_median": float(np.median(per)),
        "paired_q25": float(q25),
        "paired_q75": float(q75),
    }


def environment() -> dict[str, Any]:
    """Backend, devices and versions: what a reader needs to compare two reports."""
    import jaxlib

    devices = jax.devices()
    env = {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in devices],
        "device_kind": devices[0].device_kind if devices else None,
        "device_count": len(devices),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    try:
        import optax

        env["optax"] = optax.__version__
    except ImportError:  # pragma: no cover - optax is a declared dependency
        env["optax"] = None
    return env


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: str, payload: Mapping[str, Any]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False)
        f.write("\n")
