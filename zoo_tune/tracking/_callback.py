"""The Ray Tune callback that feeds a :class:`~zoo_tune.tracking.Tracker` on the driver.

It runs in the driver's Tune loop, so executors need no network path to the tracking server,
and it only queues calls (the tracker's outbox sends them).

Example:
    >>> tune.RunConfig(callbacks=[MlflowCallback(tracker)])  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from ray.tune import Callback

logger = logging.getLogger("zoo_tune.tracking")


def _never_raises(hook: Callable[..., None]) -> Callable[..., None]:
    """Tracking never costs a result: a hook that raises is logged, and the run goes on."""

    @functools.wraps(hook)
    def guarded(self: MlflowCallback, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001
            logger.warning("MLflow: %s failed (%s: %s); the run goes on.", hook.__name__,
                           type(err).__name__, err)

    return guarded


class MlflowCallback(Callback):
    """Report each trial's start, epoch results and end to a tracker.

    Args:
        tracker: The fit's :class:`~zoo_tune.tracking.Tracker`.
    """

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles its callbacks with the experiment state; a resumed fit brings its own.
        return {"tracker": None}

    @_never_raises
    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any,
                       **info: Any) -> None:
        self.tracker.trial_started(str(trial.trial_id), dict(trial.config))

    @_never_raises
    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                        result: dict[str, Any], **info: Any) -> None:
        self.tracker.trial_result(str(trial.trial_id), result)

    @_never_raises
    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                          **info: Any) -> None:
        self.tracker.trial_ended(str(trial.trial_id), "TERMINATED")

    @_never_raises
    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                       **info: Any) -> None:
        self.tracker.trial_ended(str(trial.trial_id), "ERROR")

    @_never_raises
    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        for trial in trials:  # still pending or running: the time budget or a stop ended it
            if trial.status not in ("TERMINATED", "ERROR"):
                self.tracker.trial_ended(str(trial.trial_id), trial.status)
