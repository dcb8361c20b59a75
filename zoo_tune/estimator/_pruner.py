"""Keep each trial's best checkpoints without Ray Tune's forced experiment snapshots.

Ray Tune's ``CheckpointConfig(num_to_keep=k)`` snapshots the whole experiment state whenever
a trial has checkpointed ``k`` times since the last snapshot: with ``k=1`` that is every
checkpoint, which costs more than a small trial itself (bench/README.md). zoo_tune's trials
checkpoint only epochs that improve their metric, so a trial's checkpoints are in order of
quality and its ``k`` newest are its ``k`` best: this callback deletes the older ones when
the trial ends, and Ray keeps them all meanwhile (``num_to_keep=None``).
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any

from ray.tune import Callback

logger = logging.getLogger(__name__)


class CheckpointPruner(Callback):
    """Delete all but a trial's ``keep`` newest checkpoints once the trial has ended.

    Args:
        keep: Checkpoints to keep per trial (at least 1).
    """

    def __init__(self, keep: int) -> None:
        self.keep = keep

    def _prune(self, trial: Any) -> None:
        import pyarrow.fs

        storage = trial.storage
        fs, folder = storage.storage_filesystem, storage.trial_fs_path
        try:
            infos = fs.get_file_info(pyarrow.fs.FileSelector(folder))
        except (OSError, RuntimeError):  # nothing written yet
            return
        checkpoints = sorted(i.base_name for i in infos
                             if i.type == pyarrow.fs.FileType.Directory
                             and i.base_name.startswith("checkpoint_"))
        for name in checkpoints[:-self.keep]:
            try:
                fs.delete_dir(posixpath.join(folder, name))
            except (OSError, RuntimeError) as err:
                logger.warning("Could not delete superseded checkpoint %s/%s: %s", folder,
                               name, err)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                          **info: Any) -> None:
        self._prune(trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                       **info: Any) -> None:
        self._prune(trial)
