"""An ordered queue of MLflow calls sent by one background thread.

Tracking never costs a result: the Tune callbacks only queue calls, so a slow or stopped
tracking server never blocks the driver's loop. A call the server could not take (no
connection, a timeout) stays first in the queue and is sent again, with a growing pause,
until the server answers; the first such failure is logged once, naming the URI.
:meth:`Outbox.close` waits a bounded time for the queue to drain.

Example:
    >>> box = Outbox("sqlite:///mlflow.db")  # doctest: +SKIP
    >>> box.put(lambda client, ids: client.create_experiment("demo"), handle="exp")  # doctest: +SKIP
    >>> box.close(timeout_s=30)  # doctest: +SKIP
    0
"""  # noqa: E501

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("zoo_tune.tracking")

#: Seconds one HTTP request to the tracking server may take (``MLFLOW_HTTP_REQUEST_TIMEOUT``
#: while zoo_tune sends, unless the environment sets it).
REQUEST_TIMEOUT_S = 5
#: A call the server answered with an error (not a lost connection) is tried this often.
ANSWERED_TRIES = 3

Call = Callable[[Any, dict[str, str]], Any]


@dataclass
class _Op:
    call: Call
    handle: str | None
    what: str
    tries: int = 0


def _transport_error(err: BaseException) -> bool:
    """True when the call never got an answer (connection refused or reset, a timeout)."""
    if isinstance(err, (OSError, TimeoutError)):
        return True
    text = str(err)
    return text.startswith("API request to") and ("failed with exception" in text or
                                                  "timeout exception" in text)


@contextmanager
def bounded_requests(timeout_s: int = REQUEST_TIMEOUT_S) -> Iterator[None]:
    """MLflow's HTTP requests time out after ``timeout_s`` and are not retried by MLflow
    itself (the outbox retries), unless the environment already sets both."""
    wanted = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
              "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    added = [k for k in wanted if k not in os.environ]
    for key in added:
        os.environ[key] = wanted[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


class Outbox:
    """Send queued MLflow calls in order from a daemon thread.

    Args:
        uri: The tracking URI (``MlflowClient(tracking_uri=uri)``).
        retry_s: The first pause after a lost connection; it doubles up to ``max_retry_s``.
        max_retry_s: The longest pause between two tries.
        on_id: Called as ``on_id(handle, value)`` in the sending thread once a handle's call
            succeeded (the tracker stores the run ids with the experiment).

    Attributes:
        ids: Handle -> what its call returned (run ids, the experiment id).
        sent: Calls the server took.
        dropped: Calls the server refused (each logged with its error).
    """

    def __init__(self, uri: str, retry_s: float = 0.5, max_retry_s: float = 5.0,
                 on_id: Callable[[str, Any], None] | None = None) -> None:
        self.uri = uri
        self.on_id = on_id
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.ids: dict[str, str] = {}
        self.sent = self.dropped = 0
        self.down_since: float | None = None
        self.warnings = 0
        self._ops: collections.deque[_Op] = collections.deque()
        self._cv = threading.Condition()
        self._closing = self._abandon = False
        self._client: Any = None
        self._thread = threading.Thread(target=self._loop, name="zoo_tune-mlflow", daemon=True)
        self._thread.start()

    def put(self, call: Call, *, handle: str | None = None, what: str = "an MLflow call") -> None:
        """Queue ``call(client, ids)``; its return value is kept as ``ids[handle]``."""
        with self._cv:
            if self._abandon:
                return
            self._ops.append(_Op(call, handle, what))
            self._cv.notify_all()

    @property
    def pending(self) -> int:
        """Calls queued and not yet sent."""
        with self._cv:
            return len(self._ops)

    def _next(self) -> _Op | None:
        with self._cv:
            while not self._ops and not self._closing:
                self._cv.wait()
            return self._ops[0] if self._ops and not self._abandon else None

    def _pause(self, seconds: float) -> None:
        with self._cv:
            if not self._abandon:
                self._cv.wait(seconds)

    def _loop(self) -> None:
        delay = self.retry_s
        while (op := self._next()) is not None:
            try:
                if self._client is None:
                    from mlflow.tracking import MlflowClient

                    self._client = MlflowClient(tracking_uri=self.uri)
                result = op.call(self._client, self.ids)
            except Exception as err:  # noqa: BLE001 - tracking must never end the fit
                op.tries += 1
                if _transport_error(err) or (op.tries < ANSWERED_TRIES and
                                             not isinstance(err, KeyError)):
                    self._lost(err)
                    self._pause(delay)
                    delay = min(delay * 2, self.max_retry_s)
                    continue
                self.dropped += 1
                if isinstance(err, KeyError):  # the run it belongs to was refused before
                    logger.debug("MLflow: skipped %s: %s", op.what, err)
                else:
                    logger.warning("MLflow at %s refused %s: %s", self.uri, op.what, err)
            else:
                if op.handle:
                    self.ids[op.handle] = result
                    if self.on_id is not None:
                        try:
                            self.on_id(op.handle, result)
                        except Exception as err:  # noqa: BLE001 - a lost id costs a re-log
                            logger.warning("MLflow: the run ids could not be stored with "
                                           "the experiment (%s).", err)
                self.sent += 1
                if self.down_since is not None:
                    logger.warning("MLflow at %s answers again after %.0f s; sending what was "
                                   "kept.", self.uri, time.monotonic() - self.down_since)
                    self.down_since = None
                delay = self.retry_s
            with self._cv:
                if self._ops and self._ops[0] is op:
                    self._ops.popleft()
                self._cv.notify_all()

    def _lost(self, err: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            if not self.warnings:  # once per fit: the run goes on, the calls are kept
                self.warnings += 1
                logger.warning("MLflow at %s does not answer (%s); the fit goes on and what "
                               "could not be sent is kept and sent when it answers again.",
                               self.uri, str(err).splitlines()[0][:300])

    def close(self, timeout_s: float = 60.0) -> int:
        """Wait up to ``timeout_s`` for every queued call to be sent, then stop the thread.

        Returns:
            How many calls were left unsent (0 when the server took everything).
        """
        deadline = time.monotonic() + timeout_s
        with self._cv:
            self._closing = True
            self._cv.notify_all()
            while self._ops and (left := deadline - time.monotonic()) > 0:
                self._cv.wait(min(left, 0.5))
            unsent = len(self._ops)
            self._abandon = True
            self._cv.notify_all()
        # A request in flight ends within its own timeout; the thread is a daemon anyway.
        self._thread.join(timeout=REQUEST_TIMEOUT_S + 1)
        return unsent
