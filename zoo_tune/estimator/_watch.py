"""End ``fit`` when its storage has been unreachable longer than the grace period.

Ray Tune writes its experiment snapshots from a background thread and never gives up on
one; the driver's own storage calls are bounded (:mod:`zoo_tune.storage._bounded`) and
record an outage per URI. This callback checks that record after every step of Ray Tune's
loop and raises :class:`~zoo_tune.errors.StorageUnavailableError` once the outage has lasted
past the grace period, which ends the loop; ``fit`` then shuts down what it started.

Example:
    >>> StorageWatch("hdfs://127.0.0.1:9000").on_step_end(0, [])  # no outage: nothing
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from zoo_tune.storage._bounded import outage


class StorageWatch(Callback):
    """Raise the storage outage of ``uri`` (if any) from Ray Tune's loop.

    Args:
        uri: The storage key the bounded filesystem reports under (``hdfs://host:port``).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        err = outage(self.uri)
        if err is not None:
            raise err
