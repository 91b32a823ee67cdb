"""verify_all, Report and ``crossent verify``: coverage, serialisation, exit codes.

The full run (every loss × 3 dtypes) is the CLI's job and is timed in the closing note;
here a reduced run per test keeps the module fast.
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import crossent_jax
from crossent_jax import cli
from crossent_jax.verify import Report, Row, _cases, verify_all
from crossent_jax.verify import _verify_all as va

TRANSFORMS = {"eager", "jit", "vmap", "grad∘jit", "jit∘vmap∘grad", "jvp", "hessian"}


# Not verify_all cases: an error class, and the large-vocabulary losses, which are the
# integer-label loss's kernel fed by token chunks / vocabulary shards (their values and
# gradients equal it, tested in test_linear.py and test_vocab_parallel.py; the sharded one
# needs a shard_map axis, and neither has a per-example batch axis in every argument).
NOT_CASES = {"ForwardModeError", "linear_cross_entropy", "vocab_parallel_cross_entropy"}


def test_cases_cover_every_public_loss():
    assert set(_cases.loss_names()) == set(crossent_jax.__all__) - NOT_CASES


def test_reduced_run_passes_and_has_every_transform_and_check():
    report = verify_all(dtypes=["float32"], losses=["kl_divergence"])
    assert report.passed, report.to_markdown()
    assert TRANSFORMS <= {r.transform for r in report.rows}
    checks = {r.check for r in report.rows}
    assert {"analytic", "finite_differences", "float64_reference", "finite at p 0 and 1"} <= checks
    assert {r.loss for r in report.rows} == {"kl_divergence[p]"}
    assert all(r.dtype == "float32" for r in report.rows)


def test_softmax_cases_check_the_hessian_identity_and_extremes():
    # d²/dz² CE(softmax(z), t) = diag(y) − y yᵀ, independent of t (Σt = 1): compare the
    # cases' closed form with a finite difference of softmax (the gradient's first term).
    z = jnp.array([0.3, -1.2, 2.0, 0.0])
    t = jnp.array([0.1, 0.2, 0.3, 0.4])
    case = next(c for c in _cases.cases() if c.name == "softmax_cross_entropy[logits]")
    h = np.asarray(case.hessian(z, t))
    eps = 1e-6
    fd = np.stack([(jax.nn.softmax(z + eps * e) - jax.nn.softmax(z - eps * e)) / (2 * eps)
                   for e in jnp.eye(4)], axis=1)
    np.testing.assert_allclose(h, fd, atol=1e-9)
    np.testing.assert_allclose(case.hessian(z, t[::-1]), h)  # independent of t
    labels = {e.label for e in case.extremes}
    assert labels == {"logits ±1e4", "-inf logits, label_smoothing=0",
                      "-inf logits, label_smoothing=1"}


def test_report_json_and_markdown_round_trip():
    rows = (
        Row("a[x]", "float64", "jit", "analytic", 1e-16, 1e-7, 1e-9, 0.01, True),
        Row("b[y]", "bfloat16", "eager", "finite at p 0", float("inf"), 2**-7, 1e-4,
            float("inf"), False, "non-finite gradient"),
    )
    report = Report(rows, seconds=1.5)
    assert not report.passed and report.failures == rows[1:]
    data = json.loads(report.to_json())  # strict JSON: a non-finite number is null
    assert data["passed"] is False and data["rows"][1]["max_error"] is None
    assert "Infinity" not in report.to_json() and "NaN" not in report.to_json()
    assert Report.from_json(report.to_json()) == report  # null reads back as inf
    md = report.to_markdown()
    assert md.splitlines()[0] == (
        "| loss | dtype | transform | check | max error | tolerance | ratio | pass |")
    assert "**NO** — non-finite gradient" in md
    assert md.rstrip().endswith("1/2 rows passed (2 losses, dtypes bfloat16, float64) in 1.5 s")
    assert not Report(()).passed  # an empty report proves nothing


_ALL_CASES = _cases.cases


def _planted_cases(seed=0):
    """The smooth_labels case with a wrong analytic gradient (1 − α dropped)."""
    case = next(c for c in _ALL_CASES(seed) if c.loss == "smooth_labels")
    return [dataclasses.replace(case, analytic=lambda t: jnp.ones_like(t), extremes=())]


def test_planted_failing_case_fails_report_and_cli(monkeypatch, capsys):
    monkeypatch.setattr(va._cases, "cases", _planted_cases)
    report = verify_all(dtypes=["float64"])
    assert not report.passed
    failed = {(r.transform, r.check) for r in report.failures}
    assert ("eager", "analytic") in failed and ("jit", "analytic") in failed
    # the finite differences agree with autodiff: only the wrong formula is blamed
    assert all(r.passed for r in report.rows if r.check == "finite_differences")
    assert cli.main(["verify", "--dtype", "float64", "--failures-only"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "smooth_labels[labels]" in out and "**NO**" in out


def test_cli_passes_prints_table_and_writes_json(tmp_path, capsys, monkeypatch):
    path = tmp_path / "sub" / "verify.json"
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/nonexistent")  # restored after the test
    x64_before = jax.config.jax_enable_x64
    seen = {}

    def spy(**kwargs):  # what the run itself sees
        seen["xla_flags"] = os.environ["XLA_FLAGS"]
        return verify_all(**kwargs)

    monkeypatch.setattr("crossent_jax.verify.verify_all", spy)
    code = cli.main(["verify", "--loss", "entropy", "--dtype", "bfloat16", "--json", str(path),
                     "--fast-compile"])
    out = capsys.readouterr().out
    assert code == 0, out
    # --fast-compile appends its flags for the run only: the process's settings are restored
    assert seen["xla_flags"].startswith("--xla_dump_to=/nonexistent ")
    assert "--xla_backend_optimization_level=0" in seen["xla_flags"]
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/nonexistent"
    assert jax.config.jax_enable_x64 == x64_before
    assert "| entropy[p] | bfloat16 | eager | analytic |" in out
    assert "rows passed (1 losses, dtypes bfloat16)" in out and out.rstrip().endswith("PASSED")
    data = json.loads(path.read_text())
    assert data["passed"] is True and data["meta"]["jax"] == jax.__version__
    assert Report.from_json(path.read_text()).passed


def test_cli_refuses_an_unusable_json_path_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("crossent_jax.verify.verify_all", lambda **kw: pytest.fail("ran"))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert cli.main(["verify", "--json", str(blocker / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossent verify: error: --json") and "a_file' exists and is not a directory" in err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["verify", "--loss", "softmax"], "unknown loss 'softmax'; choose from binary_cross_entropy"),
        (["verify", "--dtype", "float8"], "dtype must be one of float64, float32, float16, bfloat16, got 'float8'"),
    ],
    ids=["loss", "dtype"],
)
def test_cli_usage_errors_exit_2(argv, match, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossent verify: error: ") and match in err
    assert len(err.strip().splitlines()) == 1


def test_verify_all_errors():
    with pytest.raises(ValueError, match="dtypes must name at least one dtype"):
        verify_all(dtypes=[])
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        verify_all(losses=["nope"])
