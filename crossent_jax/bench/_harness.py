"""Generic benchmark harness: interleaved timing, robust statistics, compiled memory.

Several implementations of the same computation are timed in one run, round-robin, so
that slow drifts of a shared machine (other processes, thermal state) hit all of them
alike; a ratio against a baseline measured in the same run is then meaningful even when
absolute times are noisy. Compilation and a warm-up call are excluded from the timings,
every call ends with ``block_until_ready``.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jax
import jax.numpy as jnp
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


def environment(device=None) -> dict[str, Any]:
    """Backend, device, versions and machine facts: what a reader needs to compare reports.

    (The kit, jax, jaxlib and optax versions are also in every JSON's ``"meta"`` record,
    :func:`crossent_jax._outputs.run_metadata`.)
    """
    from crossent_jax._outputs import run_metadata

    device = jax.devices()[0] if device is None else device
    env = run_metadata()
    env.pop("created", None)
    env.update(
        backend=device.platform,
        device=str(device),
        device_kind=device.device_kind,
        devices=[str(d) for d in jax.devices(device.platform)],
        device_count=len(jax.devices(device.platform)),
        cpu_count=os.cpu_count(),
        x64=bool(jax.config.jax_enable_x64),
        xla_flags=os.environ.get("XLA_FLAGS", ""),
    )
    env["load_average"] = _load_average()
    torch = sys.modules.get("torch")
    env["torch"] = getattr(torch, "__version__", None)
    return env


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------------------
# The machine's own peaks: what "fraction of the roofline" is measured against.

#: bytes of the array streamed by :func:`machine_peaks` (well above any CPU cache)
PEAK_ARRAY_BYTES = 64 * 2**20
#: n of the n×n×n float32 matmul timed by :func:`machine_peaks`
PEAK_MATMUL_N = 1024


def _best_time(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(min(times))


@functools.cache
def machine_peaks(
    device=None, *, array_bytes: int = PEAK_ARRAY_BYTES, matmul_n: int = PEAK_MATMUL_N,
    repeats: int = 10,
) -> dict[str, Any]:
    """Measure this device's memory bandwidth and float32 matmul throughput (once per
    process and arguments; the result is cached).

    * ``read_bytes_per_s``: ``jnp.sum`` of a float32 array of ``array_bytes`` (one read);
    * ``copy_bytes_per_s``: ``2·x + 1`` into a new array (one read + one write, the pattern
      of a loss's forward + backward: read the logits, write their gradient);
    * ``matmul_flops_per_s``: ``2·n³ / t`` of an ``n×n @ n×n`` float32 product.

    Each is the best of ``repeats`` timed calls after a compiling call: a peak is what the
    device can do, and on a shared machine other work only ever slows a call down. These
    are what this JAX build reaches on this device, not the vendor's peak.
    """
    device = jax.devices()[0] if device is None else device
    n_el = max(array_bytes // 4, 1)
    x = jax.device_put(jnp.ones((n_el,), jnp.float32), device)
    t_read = _best_time(jax.jit(jnp.sum), (x,), repeats)
    t_copy = _best_time(jax.jit(lambda v: 2.0 * v + 1.0), (x,), repeats)
    del x
    a = jax.device_put(jnp.ones((matmul_n, matmul_n), jnp.float32), device)
    t_mm = _best_time(jax.jit(jnp.matmul), (a, a), repeats)
    return {
        "read_bytes_per_s": 4 * n_el / t_read,
        "copy_bytes_per_s": 8 * n_el / t_copy,
        "matmul_flops_per_s": 2.0 * matmul_n**3 / t_mm,
        "method": (
            f"best of {repeats} calls: jnp.sum and 2x+1 over a {4 * n_el / 2**20:.0f} MiB "
            f"float32 array, a {matmul_n}x{matmul_n} float32 matmul"
        ),
        "load_average": _load_average(),
    }


def _load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work competing for the CPU), if known."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


# ----------------------------------------------------------------------------------------
# Memory: refuse what cannot fit, before any work.


def available_memory(device) -> tuple[int | None, str]:
    """Bytes this device can still allocate, and where the figure comes from.

    Accelerators: ``bytes_limit − bytes_in_use`` of ``device.memory_stats()``; CPU (or when
    the device reports nothing): ``MemAvailable`` of ``/proc/meminfo``, else the free
    physical pages (``os.sysconf``). ``(None, reason)`` if nothing is known.
    """
    stats = None
    if device.platform != "cpu":
        try:
            stats = device.memory_stats()
        except Exception:  # noqa: BLE001 - backends without memory_stats
            stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)), "memory_stats"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "/proc/meminfo MemAvailable"
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "sysconf"
    except (ValueError, OSError, AttributeError):
        return None, "unknown"


def fmt_bytes(n: float | None) -> str:
    """``1536 -> '1.5 KiB'`` (binary units).

    >>> fmt_bytes(3 * 2**30), fmt_bytes(512), fmt_bytes(None)
    ('3.0 GiB', '512 B', 'n/a')
    """
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(estimates: Mapping[str, int], available: int | None, where: str) -> None:
    """Raise one :class:`InputValueError` line if any case's estimated peak exceeds the
    available memory (``estimates``: case label -> bytes)."""
    if available is None:
        return
    too_big = {k: v for k, v in estimates.items() if v > available}
    if too_big:
        label, need = max(too_big.items(), key=lambda kv: kv[1])
        raise InputValueError(
            f"--shapes {label} needs about {fmt_bytes(need)} (estimated peak of the compared "
            f"implementations) but {fmt_bytes(available)} is available on {where}; "
            "choose smaller shapes"
        )


# ----------------------------------------------------------------------------------------
# One group: the implementations of one case, compiled, timed interleaved, summarized.


@dataclass
class Prepared:
    """An implementation ready to time.

    Attributes:
      call: zero-argument callable; its result is passed to ``jax.block_until_ready``. With
        ``self_timed``, it returns a list of durations (seconds) it measured itself.
      compile_s: seconds spent compiling (lower + compile), or None.
      memory: :func:`memory_stats` of the compiled executable, or None.
      note: what a reader must know (``"torch eager: torch.compile failed: ..."``).
      after_warmup: called once when the warm-up calls are done (to drop side records
        taken during warm-up).
    """

    call: Callable[[], Any]
    compile_s: float | None = None
    memory: dict[str, int] | None = None
    note: str | None = None
    self_timed: bool = False
    after_warmup: Callable[[], None] | None = None


def prepare_jax(fn: Callable, args: Sequence[Any], note: str | None = None) -> Prepared:
    """Compile ``fn`` for ``args`` (timed), read its memory, wrap it as a zero-arg call."""
    t0 = time.perf_counter()
    compiled = compile_fn(fn, args)
    compile_s = time.perf_counter() - t0
    args = tuple(args)
    return Prepared(lambda: compiled(*args), compile_s, memory_stats(compiled), note)


def time_prepared(
    impls: Mapping[str, Prepared], *, repeats: int, warmup: int, on_call=None
) -> dict[str, list[float]]:
    """:func:`time_interleaved` for :class:`Prepared` implementations; self-timed ones
    contribute the durations they return (several per call)."""
    if not any(p.self_timed or p.after_warmup for p in impls.values()):
        return time_interleaved(
            {k: p.call for k, p in impls.items()}, repeats=repeats, warmup=warmup,
            on_call=on_call,
        )[0]
    times: dict[str, list[float]] = {k: [] for k in impls}
    for p in impls.values():
        for _ in range(warmup):
            jax.block_until_ready(p.call())
    for p in impls.values():
        if p.after_warmup is not None:
            p.after_warmup()
    for r in range(repeats):
        for name in round_robin(list(impls), r):
            p = impls[name]
            if p.self_timed:
                times[name].extend(p.call())
            else:
                t0 = time.perf_counter()
                jax.block_until_ready(p.call())
                times[name].append(time.perf_counter() - t0)
            if on_call is not None:
                on_call(name)
    return times


def summarize_group(
    times: Mapping[str, Sequence[float]],
    impls: Mapping[str, Prepared],
    reference: str,
    *,
    work_bytes: float | None = None,
    work_flops: float | None = None,
    peaks: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per implementation: :func:`summarize`, the ratio to ``reference`` (:func:`paired_ratio`),
    compile time, memory, note, and the fractions of the machine's peaks reached:
    ``bandwidth_fraction = work_bytes / median / copy_bytes_per_s`` and
    ``flops_fraction = work_flops / median / matmul_flops_per_s`` (None where not given)."""
    out = {}
    for name, p in impls.items():
        s = summarize(times[name])
        rec: dict[str, Any] = {**s}
        if len(times[name]) == len(times[reference]):
            rec.update(paired_ratio(times, name, reference))
        else:  # unequal counts cannot be paired: ratio of medians only
            rec.update(ratio=s["median_s"] / float(np.median(times[reference])))
        rec["compile_s"] = p.compile_s
        rec["memory"] = p.memory
        rec["note"] = p.note
        med = s["median_s"]
        rec["bandwidth_fraction"] = (
            None if work_bytes is None or peaks is None
            else work_bytes / med / peaks["copy_bytes_per_s"]
        )
        rec["flops_fraction"] = (
            None if work_flops is None or peaks is None
            else work_flops / med / peaks["matmul_flops_per_s"]
        )
        out[name] = rec
    return out
