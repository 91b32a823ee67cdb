"""The seed articles' numbers (crossent examples) and the CLI dispatcher."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys

import pytest

import crossent_jax
from crossent_jax import cli
from crossent_jax.examples import seed_examples


@functools.lru_cache(maxsize=1)
def _rows():
    return seed_examples()


def _by(rows, source, quantity_prefix):
    return next(r for r in rows if r["source"] == source and r["quantity"].startswith(quantity_prefix))


# What the two tutorials print, transcribed from the articles (value, decimals printed), and
# the formula each number comes from, evaluated here with `math` — not with the kit.
# seed 000 ("クロスエントロピー誤差とは?"): E = −Σ t log y for the cat image.
# seed 001 ("【E資格対策】クロスエントロピーとは?"): formulas 1–3.
LN = math.log
PRINTED = [
    # (source, quantity prefix, printed value, decimals, formula value, article right?)
    ("seed 000, case 1", "E", 0.223, 3, -LN(0.8), True),
    ("seed 000, case 2", "E", 2.303, 3, -LN(0.1), True),
    ("seed 001, formula 2", "H(p,q)", -0.223, 3, -(1 * LN(0.8) + 0.0), False),  # sign slip
    ("seed 001, formula 3, image 1", "L_n", 0.223, 3, -LN(0.8), True),
    ("seed 001, formula 3, image 2", "L_n", 0.0, 3, 0.0, True),
    ("seed 001, formula 3, image 3", "L_n", 0.511, 3, -LN(0.6), True),
    ("seed 001, formula 3, image 4", "L_n", 0.105, 3, -LN(0.9), True),
    ("seed 001, formula 3, image 5", "L_n", 0.0, 3, 0.0, True),
    ("seed 001, formula 3", "L = ", 0.168, 3, -(LN(0.8) + LN(0.6) + LN(0.9)) / 5, True),
    # formula 1 with σ = 5: H(N(35,σ), N(40,σ)) = ½ log(2πeσ²) + (35−40)²/(2σ²)
    ("seed 001, formula 1 (age)", "H(p,q), p = N(35, 5)", 0.336, 3,
     0.5 * LN(2 * math.pi * math.e * 25) + 25 / 50, False),
]


@pytest.mark.parametrize("source, prefix, printed, decimals, value, right", PRINTED,
                         ids=[f"{p[0]}|{p[1]}" for p in PRINTED])
def test_every_printed_number_against_its_formula(source, prefix, printed, decimals, value, right):
    rec = _by(_rows(), source, prefix)
    # the kit computes the formula (float32 where it runs in float32: 1e-6)
    assert math.isclose(rec["kit_value"], value, rel_tol=1e-6, abs_tol=1e-7)
    # the printed number is the formula at the article's precision — except the two mistakes
    assert (round(value, decimals) == printed) is right
    assert rec["agrees_with_article"] is right
    assert rec["article_value"] == printed and rec["article_decimals"] == decimals


def test_numbers_the_articles_do_not_print():
    rows = _rows()
    full = _by(rows, "seed 001, formula 3", "full")["kit_value"]
    # −(1/5) Σ [t log y + (1−t) log(1−y)] over t = (1,0,1,1,0), y = (0.8,0.2,0.6,0.9,0.3)
    want = -(LN(0.8) + LN(1 - 0.2) + LN(0.6) + LN(0.9) + LN(1 - 0.3)) / 5
    assert math.isclose(full, want, rel_tol=1e-6)
    ratio = _by(rows, "seed 000, case 2 / case 1", "ratio")["kit_value"]
    assert math.isclose(ratio, LN(0.1) / LN(0.8), rel_tol=1e-6) and ratio > 10  # "10倍以上"
    age = "seed 001, formula 1 (age)"
    h10 = _by(rows, age, "H(p,q), p = N(35, 10)")["kit_value"]
    assert math.isclose(h10, 0.5 * LN(2 * math.pi * math.e * 100) + 25 / 200, rel_tol=1e-12)
    grid = _by(rows, age, "H(p,q), σ = 5, 100-point grid")["kit_value"]
    # the article's procedure, written out: Riemann sum over 100 points on [0, 100]
    x = [100 * i / 99 for i in range(100)]
    logq = [-0.5 * LN(2 * math.pi * 25) - (xi - 40) ** 2 / 50 for xi in x]
    p = [math.exp(-0.5 * LN(2 * math.pi * 25) - (xi - 35) ** 2 / 50) for xi in x]
    want_grid = -sum(pi * lq for pi, lq in zip(p, logq, strict=True)) * 100 / 99
    assert math.isclose(grid, want_grid, rel_tol=1e-10)
    assert math.isclose(_by(rows, age, "KL(p‖q), σ = 5")["kit_value"], 25 / 50, rel_tol=1e-12)
    assert math.isclose(_by(rows, age, "KL(p‖q), σ = 10")["kit_value"], 25 / 200, rel_tol=1e-12)
    sigma = _by(rows, age, "σ at which")["kit_value"]
    assert math.isclose(sigma, math.sqrt(12.5 / 0.336), rel_tol=1e-12)


def test_cli_examples_writes_json(tmp_path, capsys):
    out = tmp_path / "sub" / "seed.json"
    assert cli.main(["examples", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "E = −Σ_i t_i log y_i" in printed and "H(p,q) = −E_p[log q]" in printed
    assert "sign slip" in printed and f"{-(LN(0.8) + LN(0.6) + LN(0.9)) / 5:.4f}" in printed
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert {r["quantity"] for r in doc["records"]} >= {"L_n = −t_n log y_n"}
    assert doc["meta"]["crossent_jax"] == crossent_jax.__version__


def test_cli_examples_default_output_is_under_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["examples"]) == 0
    assert (tmp_path / "runs" / "examples" / "seed_examples.json").is_file()
    assert not (tmp_path / "experiments").exists()  # never the committed results


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
