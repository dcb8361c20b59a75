"""Keep a trial scheduler's state in Ray Tune's experiment snapshots, for resuming.

Ray Tune's ``Tuner.restore`` brings back the trials and the searcher, but the scheduler
starts from the state it had when the ``Tuner`` was built: ASHA would forget every rung
result of the trials that already finished. This callback saves the scheduler's state
with each snapshot (callback states are part of them) and puts it back on restore.

Only schedulers whose state is keyed by trial id and that tolerate their restored trials
being added again are kept: FIFO (stateless) and ASHA (``AsyncHyperBandScheduler``). The
others (synchronous HyperBand and BOHB, median stopping, PBT and PB2) resume with the
state they start with, the restored trials added to it anew.

Example:
    >>> from ray.tune.schedulers import ASHAScheduler
    >>> SchedulerState(ASHAScheduler(metric="loss", mode="min")).get_state() is not None
    True
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune import Callback

logger = logging.getLogger(__name__)


def _kept(scheduler: Any) -> bool:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    return isinstance(scheduler, AsyncHyperBandScheduler)


class SchedulerState(Callback):
    """Save ``scheduler``'s state with Ray Tune's snapshots and restore it on resume.

    Args:
        scheduler: The run's scheduler (the very object Ray Tune uses).
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def get_state(self) -> dict[str, Any] | None:
        if not _kept(self.scheduler):
            return None
        return {"type": type(self.scheduler).__name__, "state": dict(vars(self.scheduler))}

    def set_state(self, state: dict[str, Any]) -> None:
        if not _kept(self.scheduler) or state.get("type") != type(self.scheduler).__name__:
            return
        vars(self.scheduler).update(state["state"])
        logger.info("Restored the state of %s.", state["type"])
