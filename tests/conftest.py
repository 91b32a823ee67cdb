"""Session-wide JAX settings: float64 on, strict rank promotion (Kidger-style), fast compiles.

The suite compiles well over a thousand small programs, and on CPU most of that time is LLVM's
optimisation passes. Unless ``XLA_FLAGS`` already chooses an optimisation level, the tests run
with LLVM at -O0 (the same flags as ``crossent verify --fast-compile``): XLA's HLO passes —
fusion, buffer assignment, the collectives the sharding tests inspect — are unchanged, and
results differ at most by rounding (every tolerance in the suite is far above it). Set
``CROSSENT_TEST_FULL_OPT=1`` to run the suite at the default level (11.4 minutes on 2 cores,
against 5.2–8.3 with these flags).

Tests also build many identical programs from fresh lambdas (the same loss at the same shapes),
which ``jax.jit``'s in-memory cache cannot recognise. A persistent compilation cache keyed by
the program itself serves them: it lives in a temporary directory made for this run and shared
by the xdist workers (they inherit ``CROSSENT_TEST_CACHE``), and is removed at exit, so every
run starts cold and nothing outlives it.
"""

import atexit
import os
import shutil
import tempfile

# Importing the kit (and jax) does not start a backend, so XLA_FLAGS set below still applies.
from crossent_jax.verify._cli import FAST_COMPILE_FLAGS

if os.environ.get("CROSSENT_TEST_FULL_OPT") != "1":
    _flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in _flags:
        os.environ["XLA_FLAGS"] = f"{_flags} {FAST_COMPILE_FLAGS}".strip()

import jax  # noqa: E402  (configured after XLA_FLAGS is set)

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

if "CROSSENT_TEST_CACHE" not in os.environ:  # the first process of the run (xdist controller)
    os.environ["CROSSENT_TEST_CACHE"] = tempfile.mkdtemp(prefix="crossent-test-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["CROSSENT_TEST_CACHE"], ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", os.environ["CROSSENT_TEST_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
