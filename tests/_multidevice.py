"""Run a script in a fresh interpreter with N simulated CPU devices; return its RESULT record.

``--xla_force_host_platform_device_count`` must be set before JAX initialises its backend, so
multi-device tests run their script in a subprocess. The parent's ``XLA_FLAGS`` (for example the
fast-compile flags ``conftest.py`` sets) are kept and the device count is appended. The script
prints one line ``RESULT<json>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_with_devices(script: str, devices: int, *, timeout: float = 600) -> dict:
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "")
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])
