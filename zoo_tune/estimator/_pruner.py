"""Tidy a trial's checkpoints once it has ended.

A running trial deletes its own superseded checkpoints after each epoch
(:mod:`._checkpoints`), but Ray Tune stops a trial inside its last ``report`` (the run's
stopper, a scheduler stopping it early), so the last epoch's pruning happens here, on the
driver, with the same rule: the ``keep`` best epochs and the newest stay.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from zoo_tune.estimator._checkpoints import delete, list_kept, superseded


class CheckpointPruner(Callback):
    """Keep an ended trial's ``keep`` best checkpoints (``None``: every improving one) and
    its newest.

    Args:
        keep: Best-epoch checkpoints to keep per trial.
    """

    def __init__(self, keep: int | None) -> None:
        self.keep = keep

    def _prune(self, trial: Any) -> None:
        storage = trial.storage
        fs = storage.storage_filesystem
        delete(fs, superseded(list_kept(fs, storage.trial_fs_path), self.keep))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                          **info: Any) -> None:
        self._prune(trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                       **info: Any) -> None:
        self._prune(trial)
