"""SIGINT and SIGTERM on the driver: stop the trials, save the experiment, then raise.

Ray Tune stops gracefully on SIGINT or SIGUSR1 (its loop ends, the experiment state is
written one last time), but SIGTERM, which ``yarn application -kill``, Kubernetes and
``kill`` send, ends the driver at once with no snapshot. While ``fit`` runs, zoo_tune
handles both the same way: the first signal asks Ray Tune to stop (through its SIGUSR1
handler); a second one raises ``KeyboardInterrupt`` at once. Once Ray Tune has returned,
``fit`` shuts down what it started and raises :class:`~zoo_tune.errors.FitInterruptedError`.

Example:
    >>> with graceful_stop() as stop:  # doctest: +SKIP
    ...     tuner.fit()
    >>> stop.signum  # None unless a signal arrived  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class StopRequest:
    """What :func:`graceful_stop` saw.

    Attributes:
        signum: The first stop signal received, or ``None``.
    """

    signum: int | None = None

    @property
    def name(self) -> str:
        """The signal's name (``"SIGTERM"``), or ``""``."""
        return signal.Signals(self.signum).name if self.signum else ""


@contextlib.contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """Turn SIGINT and SIGTERM into a graceful Ray Tune stop for the ``with`` block.

    Outside the main thread signals cannot be caught: the block runs unchanged.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signum: int, frame: Any) -> None:
        if request.signum is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: not waiting")
        request.signum = signum
        logger.warning("%s received: stopping the trials and saving the experiment state "
                       "(send it again to stop at once).", request.name)
        tune_handler = signal.getsignal(signal.SIGUSR1)
        if callable(tune_handler):  # Ray Tune's loop is running: let it end
            tune_handler(signal.SIGUSR1, frame)
        else:
            raise KeyboardInterrupt(request.name)

    previous = {s: signal.getsignal(s) for s in (*SIGNALS, signal.SIGUSR1)}  # Tune sets USR1
    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # SIGINT stays ours
    for s in SIGNALS:
        signal.signal(s, on_signal)
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env
