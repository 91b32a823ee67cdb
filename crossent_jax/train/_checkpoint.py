"""Checkpoints with orbax-checkpoint: one per epoch, atomic, resume from the latest.

A checkpoint ``<dir>/<epoch>/`` holds the train state (parameters, optimizer state, step
counter) and a JSON record (config, epoch, the history so far). orbax writes each one into
a temporary ``<epoch>.orbax-checkpoint-tmp-*`` directory and renames it only when complete,
so a crash or kill during a save leaves the earlier checkpoints intact and an unfinished
temporary directory that is ignored (and removed when the directory is next opened). The
data order needs no RNG state of its own: epoch ``e`` is shuffled by
``numpy.random.default_rng([seed, e])``, so the epoch number restores it exactly.
"""

from __future__ import annotations

import os
from typing import Any


class Checkpointer:
    """Thin wrapper over ``orbax.checkpoint.CheckpointManager`` (synchronous saves).

    Args:
      directory: where checkpoints live (created if missing).
      max_to_keep: how many of the most recent checkpoints to keep.
    """

    def __init__(self, directory: str, *, max_to_keep: int = 3):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            create=True,
            cleanup_tmp_directories=True,  # remove what an interrupted save left behind
            enable_async_checkpointing=False,  # an epoch is "saved" when save() returns
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_epoch(self) -> int | None:
        """Epoch number of the latest complete checkpoint, or None."""
        return self._manager.latest_step()

    def save(self, epoch: int, state: Any, meta: dict) -> None:
        """Save ``state`` (a pytree of arrays) and ``meta`` (JSON) as checkpoint ``epoch``."""
        ocp = self._ocp
        self._manager.save(
            epoch,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
        )
        self._manager.wait_until_finished()

    def restore_meta(self, epoch: int) -> dict:
        """Only the JSON record of checkpoint ``epoch`` (to check a resume before the state)."""
        ocp = self._ocp
        out = self._manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return out["meta"]

    def restore(self, epoch: int, like: Any) -> tuple[Any, dict]:
        """Restore checkpoint ``epoch`` into the structure, dtypes and shardings of ``like``."""
        import jax

        ocp = self._ocp
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        out = self._manager.restore(
            epoch,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
            ),
        )
        return out["state"], out["meta"]

    def close(self) -> None:
        self._manager.close()
