"""crossent_jax.tune: spaces, the four methods, population == single runs, Study JSON, CLI.

Every run here shares one compiled program per (model, devices): blobs, a linear model and a
constant schedule, so the file stays fast.
"""

import dataclasses
import itertools
import json
import math
import os

import jax
import numpy as np
import pytest
from _multidevice import run_with_devices

from crossent_jax.cli import main
from crossent_jax.train import TrainConfig, fit
from crossent_jax.tune import (
    Choice,
    IntRange,
    LogUniform,
    Study,
    Uniform,
    check_space,
    grid_points,
    population_fit,
    random_points,
    search,
    space_from_json,
    space_to_json,
)

BASE = TrainConfig(dataset="blobs", model="linear", batch_size=128, epochs=2,
                   learning_rate=0.05, schedule="constant", validation_fraction=0.2)
SPACE = {"learning_rate": LogUniform(1e-3, 1.0), "label_smoothing": Uniform(0.0, 0.2)}


# ----------------------------------------------------------------------------- spaces


def test_grid_points_are_what_the_space_says():
    pts = grid_points(SPACE, 6)  # 3 smoothings x 2 learning rates (axes grow in name order)
    want = [{"label_smoothing": s, "learning_rate": lr}
            for s, lr in itertools.product([0.0, 0.1, 0.2], [1e-3, 1.0])]
    assert len(pts) == 6
    for p, w in zip(sorted(pts, key=lambda d: (d["label_smoothing"], d["learning_rate"])), want, strict=True):
        assert p.keys() == w.keys()
        for k in p:
            assert p[k] == pytest.approx(w[k], rel=1e-12, abs=1e-15)
    # a choice or an int range never gets more points than it has; the budget is a ceiling
    pts = grid_points({"batch_size": Choice([32, 64]), "epochs": IntRange(1, 3),
                       "z_loss": Uniform(0.0, 1.0)}, 20)
    assert sorted({p["batch_size"] for p in pts}) == [32, 64]
    assert sorted({p["epochs"] for p in pts}) == [1, 2, 3]
    assert len(pts) == 18 and sorted({p["z_loss"] for p in pts}) == [0.0, 0.5, 1.0]  # 2 x 3 x 3
    assert grid_points({"z_loss": Uniform(0.0, 1.0)}, 1) == [{"z_loss": 0.5}]
    assert grid_points({"learning_rate": LogUniform(1e-4, 1e-2)}, 1)[0]["learning_rate"] == pytest.approx(1e-3)
    # log-spaced: 4 points on [1e-3, 1] are the powers 10^-3, 10^-2, 10^-1, 10^0
    four = [p["learning_rate"] for p in grid_points({"learning_rate": LogUniform(1e-3, 1.0)}, 4)]
    np.testing.assert_allclose(four, [1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)


def test_random_points_seeded_and_in_range():
    a, b = random_points(SPACE, 50, 3), random_points(SPACE, 50, 3)
    assert a == b and random_points(SPACE, 50, 4) != a
    lr = np.array([p["learning_rate"] for p in a])
    assert lr.min() >= 1e-3 and lr.max() <= 1.0
    # log-uniform: about half the draws below the geometric midpoint (binomial, 50 draws)
    assert 10 <= np.sum(lr < math.sqrt(1e-3)) <= 40


@pytest.mark.parametrize("space, err, match", [
    ({}, ValueError, r"space is empty"),
    ([("learning_rate", 1)], TypeError, r"space must be a dict of field -> dimension"),
    ({"colour": Choice(["red"])}, ValueError, r"space has unknown field 'colour'"),
    ({"checkpoint_dir": Choice(["x"])}, ValueError, r"space field 'checkpoint_dir' cannot be searched"),
    ({"learning_rate": (1e-3, 1e-1)}, TypeError, r"space\['learning_rate'\] must be LogUniform, Uniform, Choice or IntRange"),
    ({"optimizer": Choice(["adamw", "adamz"])}, ValueError, r"space\['optimizer'\]: value 'adamz' is rejected by TrainConfig: optimizer must be one of"),
    ({"label_smoothing": Uniform(0.0, 2.0)}, ValueError, r"space\['label_smoothing'\]: value 2.0 is rejected by TrainConfig: label_smoothing must be in \[0.0, 1.0\]"),
    ({"batch_size": IntRange(0, 8)}, ValueError, r"value 0 is rejected by TrainConfig: batch_size must be >= 1"),
])
def test_bad_spaces(space, err, match):
    with pytest.raises(err, match=match):
        check_space(BASE, space)


@pytest.mark.parametrize("make, err, match", [
    (lambda: LogUniform(0.0, 1.0), ValueError, r"LogUniform needs positive bounds, got low=0.0"),
    (lambda: LogUniform(-1, 1.0), ValueError, r"LogUniform needs positive bounds, got low=-1.0"),
    (lambda: LogUniform(1.0, 1.0), ValueError, r"LogUniform needs low < high, got low=1.0, high=1.0"),
    (lambda: Uniform(0.3, 0.1), ValueError, r"Uniform needs low < high, got low=0.3, high=0.1"),
    (lambda: Uniform("a", 1), TypeError, r"Uniform low must be a number, got str 'a'"),
    (lambda: Uniform(0, math.inf), ValueError, r"Uniform high must be finite, got inf"),
    (lambda: IntRange(4, 2), ValueError, r"IntRange is empty: low=4 > high=2"),
    (lambda: IntRange(1.5, 2), TypeError, r"IntRange low must be an int, got 1.5"),
    (lambda: Choice([]), ValueError, r"Choice is empty"),
    (lambda: Choice("adamw"), TypeError, r"Choice needs a list of values, got 'adamw'"),
    (lambda: Choice([1, 1]), ValueError, r"Choice has repeated values: \[1, 1\]"),
])
def test_bad_dimensions(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_space_json_round_trip_and_errors():
    space = {**SPACE, "hidden_sizes": Choice([[8], [16, 16]]), "epochs": IntRange(1, 3)}
    again = space_from_json(json.loads(json.dumps(space_to_json(space))))
    assert again == space and again["hidden_sizes"].values == ((8,), (16, 16))
    with pytest.raises(ValueError, match=r"space\['lr'\]: unknown dimension 'normal'"):
        space_from_json({"lr": {"normal": [0, 1]}})
    with pytest.raises(ValueError, match=r"space\['lr'\]: uniform needs \[low, high\], got \[1\]"):
        space_from_json({"lr": {"uniform": [1]}})


@pytest.mark.parametrize("kw, err, match", [
    ({"method": "anneal", "budget": 2}, ValueError, r"method must be one of grid, random, bayes, population; got 'anneal'"),
    ({"method": "grid", "budget": 0}, ValueError, r"budget must be >= 1 trial, got 0"),
    ({"method": "grid", "budget": 2.0}, TypeError, r"budget must be an int, got float 2.0"),
    ({"method": "grid", "budget": 2, "objective": "mean"}, ValueError, r"objective must be 'best' or 'final', got 'mean'"),
    ({"method": "random", "budget": 2, "seed": -1}, ValueError, r"seed must be an int >= 0, got -1"),
])
def test_bad_search_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        search(BASE, SPACE, **kw)


def test_population_rejects_non_traced_fields():
    with pytest.raises(ValueError, match=r"method 'population' searches only learning_rate, weight_decay, label_smoothing, z_loss, seed .* \['batch_size'\]"):
        search(BASE, {"batch_size": Choice([32, 64])}, method="population", budget=2)
    with pytest.raises(ValueError, match=r"every override needs the same number \(>= 1\) of values"):
        population_fit(BASE, {"learning_rate": [0.1, 0.2], "z_loss": [0.0]})
    with pytest.raises(ValueError, match=r"population member 1 \(\{'label_smoothing': 1.5\}\): label_smoothing must be in"):
        population_fit(BASE, {"label_smoothing": [0.1, 1.5]})


# ----------------------------------------------------------------------------- population


def _assert_history_close(a, b):
    assert [r["epoch"] for r in a.epochs] == [r["epoch"] for r in b.epochs]
    for ra, rb in zip(a.epochs, b.epochs, strict=True):
        for k in ra:
            if k != "seconds":
                np.testing.assert_allclose(ra[k], rb[k], rtol=2e-5, atol=1e-6, err_msg=k)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5, atol=2e-6)


def test_population_members_equal_single_runs():
    # four members (the size the population search below uses: one compiled program)
    overrides = {"learning_rate": [0.01, 0.05, 0.2, 0.5], "weight_decay": [0.0, 1e-3, 1e-1, 1e-4],
                 "label_smoothing": [0.0, 0.1, 0.3, 0.05], "z_loss": [0.0, 1e-3, 1e-2, 0.0]}
    hs = population_fit(BASE, overrides)
    assert len(hs) == 4
    for i, h in enumerate(hs):
        cfg = dataclasses.replace(BASE, **{k: v[i] for k, v in overrides.items()})
        assert h.config == cfg
        _assert_history_close(h, fit(cfg))


POP_SCRIPT = r"""
import dataclasses, json
import jax, numpy as np
from crossent_jax.train import TrainConfig, fit
from crossent_jax.tune import population_fit
assert jax.device_count() == 4
base = TrainConfig(dataset="blobs", model="linear", batch_size=30, epochs=2,
                   learning_rate=0.05, schedule="constant", validation_fraction=0.2)
# members differ in seed too: each its own shuffle and initialisation
ov = {"learning_rate": [0.02, 0.2], "label_smoothing": [0.0, 0.2], "seed": [0, 3]}
hs = population_fit(base, ov, devices=jax.devices())
out = {"sharded": len(jax.tree.leaves(hs[0].params)[0].sharding.device_set) if hasattr(jax.tree.leaves(hs[0].params)[0], "sharding") else 0, "diff": []}
for i, h in enumerate(hs):
    one = fit(dataclasses.replace(base, **{k: v[i] for k, v in ov.items()}), devices=jax.devices()[:1])
    rec = max(abs(h.final[k] - one.final[k]) / max(abs(one.final[k]), 1e-6) for k in one.final if k != "seconds")
    par = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(jax.tree.leaves(h.params), jax.tree.leaves(one.params)))
    out["diff"].append([rec, par])
print("RESULT" + json.dumps(out))
"""


def test_population_on_four_devices_equals_single_device_fit():
    out = run_with_devices(POP_SCRIPT, 4, timeout=300)
    assert out["sharded"] == 4
    for rec, par in out["diff"]:
        assert rec < 1e-4 and par < 1e-5


# ----------------------------------------------------------------------------- search


@pytest.mark.parametrize("method", ["grid", "random", "bayes", "population"])
def test_each_method_gives_budget_trials_and_best_is_min(method, tmp_path):
    study = search(BASE, SPACE, method=method, budget=4, seed=1, out=str(tmp_path))
    assert len(study.trials) == 4 and [t.number for t in study.trials] == [0, 1, 2, 3]
    done = [t for t in study.trials if t.state == "complete"]
    assert study.best.value == min(t.value for t in done)
    for t in study.trials:
        assert set(t.params) == set(SPACE) and t.seconds > 0
        if t.state == "complete":
            assert len(t.curve) == BASE.epochs and t.value == min(t.curve)
        if t.state == "pruned":
            assert len(t.curve) < BASE.epochs and t.value == min(t.curve)
    # the best configuration retrained once and evaluated on the test set
    best = fit(dataclasses.replace(BASE, **study.best.params))
    assert study.test["accuracy"] == pytest.approx(best.final["test_accuracy"], abs=1e-6)
    assert study.test["nll"] == pytest.approx(best.final["test_nll"], rel=1e-5)
    doc = json.loads((tmp_path / "trials.json").read_text())
    assert len(doc["trials"]) == 4 and doc["best"]["value"] == pytest.approx(study.best.value)
    assert doc["best"]["test"]["accuracy"] == study.test["accuracy"]
    for name in ("search.png", "hyperparameters.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert Study.from_json((tmp_path / "trials.json").read_text()).to_dict() == study.to_dict()


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_seeded_searches_repeat(method):
    a = search(BASE, SPACE, method=method, budget=4, seed=7, retrain=False)
    b = search(BASE, SPACE, method=method, budget=4, seed=7, retrain=False)
    c = search(BASE, SPACE, method=method, budget=4, seed=8, retrain=False)
    key = lambda s: [(t.params, t.value, t.state) for t in s.trials]  # noqa: E731
    assert key(a) == key(b)
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def test_diverging_trial_is_failed_and_the_search_goes_on():
    # lr 1e30: parameters ~1e30, z-loss lse² overflows float32 -> inf loss, NaN gradients
    base = dataclasses.replace(BASE, z_loss=0.01)
    study = search(base, {"learning_rate": Choice([1e30, 0.05])}, method="grid", budget=2)
    bad, good = study.trials
    assert bad.state == "failed" and bad.value is None and "diverged: non-finite loss" in bad.reason
    assert good.state == "complete" and study.best is good
    assert json.loads(study.to_json())["trials"][0]["state"] == "failed"


def test_study_json_round_trip_and_bad_json():
    study = search(BASE, {"learning_rate": LogUniform(1e-2, 1e-1)}, method="random", budget=2,
                   retrain=False)
    again = Study.from_json(study.to_json())
    assert again == study
    with pytest.raises(ValueError, match=r"not a study: missing keys \['base', 'method'"):
        Study.from_json('{"trials": []}')
    with pytest.raises(ValueError, match=r"not a study: invalid JSON"):
        Study.from_json("{")


# ----------------------------------------------------------------------------- CLI

CLI = ["tune", "--dataset", "blobs", "--model", "linear", "--schedule", "constant",
       "--epochs", "2", "--budget", "2", "--quiet"]


def test_cli_writes_trials_and_plots(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"learning_rate": {"log_uniform": [1e-2, 1e-1]}}))
    out = tmp_path / "out"
    assert main([*CLI, "--method", "grid", "--space", str(space), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "grid search, 2 trials of linear(-) on blobs" in stdout and "best: trial" in stdout
    doc = json.loads((out / "trials.json").read_text())
    assert [t["params"]["learning_rate"] for t in doc["trials"]] == pytest.approx([1e-2, 1e-1])
    assert set(doc["best"]) == {"number", "params", "value", "test"} and "meta" in doc
    assert {"search.png", "hyperparameters.png"} <= set(os.listdir(out))


def test_cli_interrupt_keeps_finished_trials(tmp_path, monkeypatch, capsys):
    from crossent_jax.tune import _search

    real = _search._run_trial

    def interrupt_second(number, *args, **kw):
        if number == 1:
            raise KeyboardInterrupt
        return real(number, *args, **kw)

    monkeypatch.setattr(_search, "_run_trial", interrupt_second)
    assert main([*CLI, "--method", "random", "--out", str(tmp_path)]) == 130
    doc = json.loads((tmp_path / "trials.json").read_text())
    assert len(doc["trials"]) == 1 and doc["trials"][0]["state"] == "complete"
    assert capsys.readouterr().err.endswith("crossent tune: interrupted\n")


@pytest.mark.parametrize("flags, match", [
    (["--method", "anneal"], "--method must be one of grid, random, bayes, population; got 'anneal'"),
    (["--budget", "0"], "--budget must be >= 1 trial, got 0"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--space", "missing.json"], "--space 'missing.json': cannot read it"),
    (["--model", "rnn"], "model must be one of linear, mlp, cnn1d; got 'rnn'"),
    (["--objective", "mean"], "--objective must be best or final, got 'mean'"),
])
def test_cli_bad_flags_one_line(flags, match, tmp_path, capsys):
    assert main(["tune", "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossent tune: error: ") and match in err and err.count("\n") == 1


def test_cli_bad_space_file(tmp_path, capsys):
    f = tmp_path / "s.json"
    f.write_text('{"learning_rate": {"log_uniform": [0, 1]}}')
    assert main(["tune", "--space", str(f), "--out", str(tmp_path / "o")]) == 2
    assert "LogUniform needs positive bounds, got low=0.0" in capsys.readouterr().err
