"""``crossent train``: outputs, summary, checkpoint flags and one-line errors."""

import json

import jax
import pytest

from crossent_jax.cli import main
from crossent_jax.train._cli import parse_sizes

# constant schedule: every run below shares one compiled step whatever its epochs
FAST = ["train", "--dataset", "blobs", "--model", "linear", "--epochs", "2", "--quiet",
        "--learning-rate", "0.05", "--schedule", "constant"]


def test_train_writes_history_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*FAST, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    # the header names every setting that tells runs apart, before training
    assert stdout.splitlines()[0] == (
        "crossent train: linear(-) on blobs, loss softmax_cross_entropy (label smoothing 0, "
        "z-loss 0), adamw lr 0.05 (constant, weight decay 0.0001), batch 128, 2 epochs, "
        f"seed 0, {jax.device_count()} device(s)"
    )
    assert "accuracy" in stdout and "ECE" in stdout
    history = json.loads((out / "history.json").read_text())
    assert history["meta"]["jax"] == jax.__version__
    assert history["config"]["hidden_sizes"] == []  # resolved, not null
    assert history["config"]["dataset"] == "blobs" and history["config"]["epochs"] == 2
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]
    assert {"train_loss", "test_loss", "test_accuracy", "test_nll", "test_ece", "test_brier"} <= set(history["epochs"][0])
    for name in ("curves.png", "reliability.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    args = [a for a in FAST if a != "--quiet"]
    assert main([*args, "--epochs", "1", "--out", str(tmp_path), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err
    assert not (tmp_path / "curves.png").exists()


def test_checkpoint_and_resume_flags(tmp_path):
    ck = str(tmp_path / "ck")
    full = tmp_path / "full"
    assert main([*FAST, "--epochs", "3", "--out", str(full)]) == 0
    part = tmp_path / "part"
    assert main([*FAST, "--epochs", "1", "--checkpoint-dir", ck, "--out", str(part)]) == 0
    assert main([*FAST, "--epochs", "3", "--checkpoint-dir", ck, "--resume", "--out", str(part)]) == 0
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h["epochs"]]
    a = json.loads((full / "history.json").read_text())
    b = json.loads((part / "history.json").read_text())
    assert strip(a) == strip(b)


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--dataset", "cifar"], "dataset must be one of mnist1d, digits, blobs; got 'cifar'"),
        (["--model", "resnet"], "model must be one of linear, mlp, cnn1d; got 'resnet'"),
        (["--optimizer", "adamz"], "got 'adamz'"),
        (["--loss", "hinge"], "got 'hinge'"),
        (["--schedule", "step"], "got 'step'"),
        (["--epochs", "-1"], "--epochs must be >= 1, got -1"),
        (["--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["--validation-fraction", "1"], "validation_fraction must be in [0.0, 1.0), got 1.0"),
        (["--learning-rate", "0"], "learning_rate must be in (0.0, inf), got 0.0"),
        (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
        (["--label-smoothing", "2"], "label_smoothing must be in [0.0, 1.0], got 2.0"),
        (["--hidden-sizes", "a,b"], "--hidden-sizes expects comma-separated positive ints"),
        (["--resume"], "resume=True needs a checkpoint_dir"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_bad_flags_one_line_error(flags, match, capsys, tmp_path):
    assert main(["train", "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossent train: error: ")
    assert match in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_out_that_is_a_file_fails_before_training(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("")
    assert main([*FAST, "--out", str(f)]) == 2
    err = capsys.readouterr().err
    assert err == f"crossent train: error: --out {str(f)!r} exists and is not a directory\n"


def test_keyboard_interrupt_is_one_line(monkeypatch, capsys):
    from crossent_jax.train import _cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "run", interrupted)
    assert main(["train"]) == 130
    assert capsys.readouterr().err == "crossent train: interrupted\n"


def test_resume_with_fewer_epochs_is_refused(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    base = [*FAST, "--schedule", "constant", "--checkpoint-dir", ck, "--out", str(tmp_path),
            "--no-plots"]
    assert main([*base, "--epochs", "2"]) == 0
    assert main([*base, "--epochs", "1", "--resume"]) == 2
    assert "checkpoint is at epoch 2, past the 1 epochs asked for" in capsys.readouterr().err


def test_resume_with_another_model_is_a_one_line_refusal(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    base = [*FAST, "--checkpoint-dir", ck, "--out", str(tmp_path), "--no-plots"]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--model", "mlp", "--hidden-sizes", "4", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossent train: error: cannot resume: the checkpoint was written by "
                          "another config (")
    assert "model: 'linear' -> 'mlp'" in err and err.count("\n") == 1


def test_non_numeric_flag_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "many"])
    assert e.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_existing_checkpoints_need_resume(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    args = [*FAST, "--epochs", "1", "--checkpoint-dir", ck, "--out", str(tmp_path), "--no-plots"]
    assert main(args) == 0
    assert main(args) == 2
    assert "already holds checkpoints (latest epoch 1)" in capsys.readouterr().err


@pytest.mark.parametrize("text, want", [("256,256", (256, 256)), (" 8 ", (8,)), ("", ())])
def test_parse_sizes(text, want):
    assert parse_sizes(text) == want


def test_history_of_a_diverged_run_is_strict_json(tmp_path):
    import types

    from crossent_jax.train._plots import save_history

    h = types.SimpleNamespace(to_dict=lambda: {
        "config": {"epochs": 1},
        "epochs": [{"epoch": 1, "train_loss": float("nan"), "test_loss": float("inf"),
                    "test_accuracy": 0.1}],
    })
    path = tmp_path / "history.json"
    save_history(h, str(path))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    rec = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert rec["epochs"][0] == {"epoch": 1, "train_loss": None, "test_loss": None,
                                "test_accuracy": 0.1}


def test_resume_says_so_and_accepts_the_explicit_default(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    base = ["train", "--dataset", "blobs", "--model", "mlp", "--schedule", "constant",
            "--checkpoint-dir", ck, "--out", str(tmp_path), "--no-plots", "--quiet"]
    assert main([*base, "--epochs", "1"]) == 0  # hidden sizes left at the default (256, 256)
    capsys.readouterr()
    # the same run with the default given explicitly is the same config: resume works
    assert main([*base, "--epochs", "2", "--hidden-sizes", "256,256", "--resume"]) == 0
    out = capsys.readouterr()
    assert f"resumed from epoch 1 of 2 in {ck}" in out.out
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["config"]["hidden_sizes"] == [256, 256]
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]


def test_reused_out_holds_only_this_runs_files(tmp_path):
    for name in ("curves.png", "reliability.png"):
        (tmp_path / name).write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")
    assert main([*FAST, "--epochs", "1", "--out", str(tmp_path), "--no-plots"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "notes.txt"]


def test_curves_plot_names_the_loss(tmp_path, monkeypatch):
    from crossent_jax.train import TrainConfig, _plots

    seen = {}

    from crossent_jax import _outputs

    real = _outputs.save_figure

    def capture(fig, path, **kw):
        ax_l, ax_a = fig.axes
        seen["labels"] = [t.get_text() for t in ax_l.get_legend().get_texts()]
        seen["title"] = fig._suptitle.get_text()
        seen["ticks"] = [float(t) for t in ax_l.get_xticks()]
        return real(fig, path, **kw)

    monkeypatch.setattr(_outputs, "save_figure", capture)
    config = TrainConfig(dataset="blobs", label_smoothing=0.1, epochs=3)
    recs = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5, "test_loss": 1.1 / e,
             "test_nll": 1.0 / e, "test_accuracy": 0.6} for e in (1, 2, 3)]
    _plots.plot_curves(recs, str(tmp_path / "c.png"), config=config)
    assert seen["labels"] == ["train: softmax CE, smoothing 0.1 (mean over the epoch)",
                              "test: softmax CE, smoothing 0.1", "test NLL (cross-entropy)"]
    assert "smoothing 0.1" in seen["title"] and "mlp(256,256) on blobs" in seen["title"]
    assert all(t == int(t) for t in seen["ticks"])  # integer epoch ticks


def test_epoch_prefix_is_not_epochs(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epoch", "3"])
    assert e.value.code == 2
    assert "unrecognized arguments: --epoch 3" in capsys.readouterr().err
