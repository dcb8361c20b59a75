"""The trials' final status and failure count, as Ray Tune's driver holds them at the end.

``fit`` reads the trial table back from storage; the status and retry count there come
from Ray Tune's newest experiment snapshot. Right after a run, the driver's own trials are
the authority: this callback keeps them from ``on_experiment_end``.

Example:
    >>> FinalStates().states
    {}
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback


class FinalStates(Callback):
    """Collect ``{trial_id: {"status", "num_failures"}}`` when the experiment ends."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"states": {}}  # pickled into Tune's tuner.pkl: nothing to carry

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self.states = {str(t.trial_id): {"status": t.status,
                                         "num_failures": t.run_metadata.num_failures}
                       for t in trials}
