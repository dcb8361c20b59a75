"""An experiment snapshot as soon as a trial is added, so a resume never samples again.

Ray Tune writes its experiment snapshot (trials, searcher and search-generator state) at most
every 10 s ("auto" period), and a searcher that suggests configs as slots free up (hyperopt,
optuna, BOHB, ...) adds trials between two snapshots. A driver killed in that window left a
snapshot that knew fewer trials than had run: the resumed run sampled new configs in their
place, and the experiment ended with more trials than ``n_sampling`` asked for (measured:
6 instead of 4 with hyperopt). :func:`install` wraps ``TuneController.add_trial`` once per
process so that each new trial forces the next snapshot (Ray's own force flag, which it sets
itself every ``num_to_keep`` checkpoints); the snapshot then goes out in the same step of
Ray's loop, before the trial has run an epoch. If Ray's names change, :func:`install` logs a
warning and snapshots keep Ray's own period.

Example:
    >>> install()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)

_MARK = "_zoo_tune_snapshot_on_add"


def install() -> bool:
    """Make every trial Ray Tune adds force an experiment snapshot.

    Returns:
        Whether the rule is in place (``False`` if Ray's ``TuneController`` changed shape).
    """
    try:
        from ray.tune.execution.tune_controller import TuneController
    except ImportError:  # pragma: no cover - Ray always has it in the pinned version
        return False
    original = getattr(TuneController, "add_trial", None)
    if original is None:
        logger.warning("Ray Tune's TuneController has no add_trial: experiment snapshots keep "
                       "Ray's period, so a resume after a driver kill may sample new configs.")
        return False
    if getattr(original, _MARK, False):
        return True

    @functools.wraps(original)
    def add_trial(self: Any, trial: Any) -> Any:
        out = original(self, trial)
        state = getattr(self, "_checkpoint_manager", None)
        if state is not None and hasattr(state, "_should_force_sync_up"):
            state._should_force_sync_up = True
        return out

    setattr(add_trial, _MARK, True)
    TuneController.add_trial = add_trial
    return True
