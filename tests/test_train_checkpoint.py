"""Checkpoint and resume: resumed == uninterrupted bit for bit, crashes never corrupt."""

import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from crossent_jax.train import TrainConfig, fit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# cosine: the schedule depends on the global step, so the restored step counter matters
BASE = dict(dataset="blobs", model="mlp", hidden_sizes=(8,), batch_size=100, epochs=4,
            learning_rate=0.02, schedule="cosine", seed=3)


class Interrupt(Exception):
    pass


def strip(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def assert_same_run(a, b):
    assert strip(a.epochs) == strip(b.epochs)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def uninterrupted():
    return fit(TrainConfig(**BASE))


def _stop_after(k):
    def callback(record):
        if record["epoch"] == k:
            raise Interrupt

    return callback


def test_resume_equals_uninterrupted(tmp_path, uninterrupted):
    ck = str(tmp_path / "ck")
    with pytest.raises(Interrupt):
        fit(TrainConfig(**BASE, checkpoint_dir=ck), callback=_stop_after(2))
    assert sorted(p for p in os.listdir(ck) if p.isdigit()) == ["1", "2"]
    seen = []
    resumed = fit(TrainConfig(**BASE, checkpoint_dir=ck, resume=True), callback=seen.append)
    assert [r["epoch"] for r in seen] == [3, 4]  # only the missing epochs ran
    assert_same_run(resumed, uninterrupted)


def test_resume_when_finished_trains_nothing(tmp_path, uninterrupted):
    ck = str(tmp_path / "ck")
    fit(TrainConfig(**BASE, checkpoint_dir=ck))
    seen = []
    again = fit(TrainConfig(**BASE, checkpoint_dir=ck, resume=True), callback=seen.append)
    assert seen == []
    assert_same_run(again, uninterrupted)


def test_resume_without_checkpoints_starts_fresh(tmp_path, uninterrupted):
    h = fit(TrainConfig(**BASE, checkpoint_dir=str(tmp_path / "new"), resume=True))
    assert_same_run(h, uninterrupted)


def test_constant_schedule_may_extend_epochs(tmp_path):
    cfg = {**BASE, "schedule": "constant", "epochs": 3}
    full = fit(TrainConfig(**cfg))
    ck = str(tmp_path / "ck")
    fit(TrainConfig(**{**cfg, "epochs": 1}, checkpoint_dir=ck))
    longer = fit(TrainConfig(**cfg, checkpoint_dir=ck, resume=True))
    assert_same_run(longer, full)


def test_existing_checkpoints_without_resume_and_other_configs_are_errors(tmp_path):
    ck = str(tmp_path / "ck")
    with pytest.raises(Interrupt):
        fit(TrainConfig(**BASE, checkpoint_dir=ck), callback=_stop_after(1))
    with pytest.raises(ValueError, match=r"already holds checkpoints \(latest epoch 1\); pass resume=True"):
        fit(TrainConfig(**BASE, checkpoint_dir=ck))
    with pytest.raises(ValueError, match=r"cannot resume: .*learning_rate: 0.02 -> 0.5"):
        fit(TrainConfig(**{**BASE, "learning_rate": 0.5}, checkpoint_dir=ck, resume=True))
    with pytest.raises(ValueError, match=r"cannot resume: .*epochs: 4 -> 5"):  # cosine
        fit(TrainConfig(**{**BASE, "epochs": 5}, checkpoint_dir=ck, resume=True))


# A real crash in the middle of a save: the process SIGKILLs itself after orbax wrote the
# state of epoch 3 into its temporary directory but before the JSON item and the rename.
CRASH = r"""
import os, signal, sys
import jax
jax.config.update("jax_enable_x64", True)  # the test session's settings (conftest.py)
jax.config.update("jax_numpy_rank_promotion", "raise")
from orbax.checkpoint._src.handlers import json_checkpoint_handler as j
from crossent_jax.train import TrainConfig, fit
original = j.JsonCheckpointHandler._save_fn

async def crash(self, x, directory):
    if x["epoch"] == 3:
        (directory / "partial").write_text("half a checkpoint")
        os.kill(os.getpid(), signal.SIGKILL)
    return await original(self, x, directory)

j.JsonCheckpointHandler._save_fn = crash
fit(TrainConfig(**eval(sys.argv[1]), checkpoint_dir=sys.argv[2]))
"""


def test_kill_during_save_keeps_earlier_checkpoints(tmp_path, uninterrupted):
    ck = str(tmp_path / "ck")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, repr(BASE), ck], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    entries = os.listdir(ck)
    assert "1" in entries and "2" in entries and "3" not in entries
    assert any(e.startswith("3.") and "tmp" in e for e in entries), entries  # the half save
    resumed = fit(TrainConfig(**BASE, checkpoint_dir=ck, resume=True))
    assert_same_run(resumed, uninterrupted)
    assert not any("tmp" in e for e in os.listdir(ck))  # cleaned up when reopened


def test_leftover_temporary_directory_is_ignored(tmp_path, uninterrupted):
    ck = tmp_path / "ck"
    with pytest.raises(Interrupt):
        fit(TrainConfig(**BASE, checkpoint_dir=str(ck)), callback=_stop_after(2))
    junk = ck / "7.orbax-checkpoint-tmp-1234567890"
    junk.mkdir()
    (junk / "garbage").write_text("not a checkpoint")
    resumed = fit(TrainConfig(**BASE, checkpoint_dir=str(ck), resume=True))
    assert_same_run(resumed, uninterrupted)
