"""The seed articles' numbers (crossent examples) and the CLI dispatcher."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from crossent_jax import cli
from crossent_jax.examples import seed_examples


def _by(rows, source, quantity_prefix):
    return next(r for r in rows if r["source"] == source and r["quantity"].startswith(quantity_prefix))


def test_seed_numbers_from_the_math():
    rows = seed_examples(include_continuous=False)
    assert math.isclose(_by(rows, "seed 000, case 1", "E")["kit_value"], -math.log(0.8), rel_tol=1e-12)
    assert math.isclose(_by(rows, "seed 000, case 2", "E")["kit_value"], -math.log(0.1), rel_tol=1e-12)
    sign = _by(rows, "seed 001, formula 2", "H(p,q)")
    assert sign["article_value"] == -0.223 and sign["agrees_with_article"] is False
    assert math.isclose(sign["kit_value"], -math.log(0.8), rel_tol=1e-12)
    pos = _by(rows, "seed 001, formula 3", "L = ")
    assert pos["agrees_with_article"] is True
    assert math.isclose(pos["kit_value"], -(math.log(0.8) + math.log(0.6) + math.log(0.9)) / 5)
    full = _by(rows, "seed 001, formula 3", "full")
    expected = pos["kit_value"] - (math.log(0.8) + math.log(0.7)) / 5
    assert math.isclose(full["kit_value"], expected, rel_tol=1e-12)
    assert round(full["kit_value"], 3) == 0.284
    # every number the article prints is reproduced except the sign slip
    disagree = [r for r in rows if r["agrees_with_article"] is False]
    assert [r["article_value"] for r in disagree] == [-0.223]


def test_age_rows_from_the_math():
    rows = seed_examples()
    h5 = _by(rows, "seed 001, formula 1 (age)", "H(p,q), p = N(35, 5)")
    # H(N(35,σ), N(40,σ)) = ½ log(2πeσ²) + 25/(2σ²)
    assert math.isclose(h5["kit_value"], 0.5 * math.log(2 * math.pi * math.e * 25) + 0.5, rel_tol=1e-12)
    assert h5["article_value"] == 0.336 and h5["agrees_with_article"] is False
    h10 = _by(rows, "seed 001, formula 1 (age)", "H(p,q), p = N(35, 10)")
    assert math.isclose(h10["kit_value"], 0.5 * math.log(2 * math.pi * math.e * 100) + 0.125, rel_tol=1e-12)
    grid = _by(rows, "seed 001, formula 1 (age)", "H(p,q), σ = 5, 100-point grid")
    assert math.isclose(grid["kit_value"], h5["kit_value"], rel_tol=1e-10)
    assert math.isclose(_by(rows, "seed 001, formula 1 (age)", "KL(p‖q), σ = 5")["kit_value"], 0.5, rel_tol=1e-12)
    assert math.isclose(_by(rows, "seed 001, formula 1 (age)", "KL(p‖q), σ = 10")["kit_value"], 0.125, rel_tol=1e-12)
    sigma = _by(rows, "seed 001, formula 1 (age)", "σ at which")["kit_value"]
    assert math.isclose(12.5 / sigma**2, 0.336, rel_tol=1e-12)
    # only the sign slip and the 0.336 are not reproduced
    disagree = [r for r in rows if r["agrees_with_article"] is False]
    assert sorted(r["article_value"] for r in disagree) == [-0.223, 0.336]


def test_cli_examples_writes_json(tmp_path, capsys):
    out = tmp_path / "sub" / "seed.json"
    assert cli.main(["examples", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sign slip" in printed and "0.1679" in printed
    records = json.loads(out.read_text(encoding="utf-8"))["records"]
    assert any(r["article_value"] == 0.168 for r in records)


def test_cli_without_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "examples" in capsys.readouterr().out


def test_cli_unknown_command_exits_nonzero():
    proc = subprocess.run([sys.executable, "-m", "crossent_jax.cli", "nope"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "invalid choice: 'nope'" in proc.stderr


@pytest.mark.parametrize("argv", [["examples", "--bogus"]], ids=["bad-flag"])
def test_cli_bad_flag(argv):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
