"""Restore a trial from its newest checkpoint on storage, not only the one Ray Tune names.

A resumed run's Ray Tune restores each unfinished trial from the checkpoint its newest
experiment snapshot names. Snapshots are written every few seconds, so after a killed
driver that checkpoint may be older than the trial's newest one, and may already be gone:
each trial deletes its superseded checkpoints (:mod:`._checkpoints`), and Ray's
``Trainable.restore`` then fails with "Could not recover from checkpoint as it does not
exist on storage anymore". :class:`TolerantRestore` is mixed into the trial's Ray Tune
class (Ray's documented ``__mixins__`` hook of function trainables): when the named
checkpoint is missing it restores the trial's newest checkpoint on storage instead, or
starts the trial afresh when it has none; ``run_trial`` then also prefers a newer one.

Example:
    >>> fn = with_tolerant_restore(lambda config: None)
    >>> fn.__mixins__ == (TolerantRestore,)
    True
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from typing import Any

from zoo_tune.estimator._checkpoints import list_kept

logger = logging.getLogger(__name__)


class TolerantRestore:
    """Mixin for Ray Tune's function trainable: a missing restore checkpoint is replaced."""

    def restore(self, checkpoint_path: Any) -> Any:
        from ray.train._internal.checkpoint_manager import _TrainingResult
        from ray.tune import Checkpoint

        result = checkpoint_path
        checkpoint = getattr(result, "checkpoint", None)
        if isinstance(result, _TrainingResult) and checkpoint is not None:
            fs, path = checkpoint.filesystem, checkpoint.path
            import pyarrow.fs

            if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
                kept = list_kept(fs, posixpath.dirname(path.rstrip("/")))
                if not kept:
                    logger.warning("Checkpoint %s is gone and the trial has no other: it "
                                   "starts afresh.", path)
                    return None
                newest = kept[-1]
                logger.info("Checkpoint %s is gone: restoring %s (epoch %d) instead.", path,
                            newest.path, newest.epoch)
                result = _TrainingResult(
                    checkpoint=Checkpoint(newest.path, filesystem=fs),
                    metrics={**result.metrics, "training_iteration": newest.epoch})
        return super().restore(result)  # type: ignore[misc]


def with_tolerant_restore(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark the function trainable ``fn`` to be built with :class:`TolerantRestore`."""
    fn.__mixins__ = (TolerantRestore,)  # type: ignore[attr-defined]
    return fn
