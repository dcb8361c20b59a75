"""Storage calls that cannot hang, and outages that end in a clear error.

hdfs-native has no connect or read timeout of its own: against a NameNode frozen with
SIGSTOP every call waits forever (the kernel still accepts the connection), and against a
killed one it fails only after its own retries. zoo_tune's HDFS filesystem therefore runs
every call in a helper thread and waits at most :data:`CALL_TIMEOUT_S` for it. A call that
fails because the storage is unreachable (the timeout, a refused or reset connection) marks
the storage *failing*; metadata calls (info, list, create, delete, rename, open) are retried
with backoff, and the first one that succeeds ends the outage. One that lasts longer than
the grace period (``ZOO_TUNE_STORAGE_GRACE_S``, default :data:`GRACE_S` = 60 s) raises
:class:`~zoo_tune.errors.StorageUnavailableError`, naming the URI and the last call that
worked. Data calls on a file open for reading or appending are bounded but not retried;
a file written anew is staged and uploaded whole, retried through an outage
(:mod:`._upload`).

The driver learns of an outage through :func:`outage` (per URI), which ``fit``'s
:class:`~zoo_tune.storage.StorageWatch` callback checks after every step of Ray Tune's loop.

Example:
    >>> calls = Bounded("hdfs://nn:8020/runs")
    >>> calls.call("info", lambda: 42)
    42
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoo_tune.errors import StorageUnavailableError

logger = logging.getLogger(__name__)

#: Longest a single storage call may take before it counts as an outage.
CALL_TIMEOUT_S = 15.0
#: How long an outage is ridden out before fit ends with StorageUnavailableError.
GRACE_S = 60.0
_OUTAGE_TEXT = ("connection refused", "os error 111", "connection reset", "os error 104",
                "broken pipe", "timed out", "no route to host", "network is unreachable")


def grace_s() -> float:
    """The grace period: ``ZOO_TUNE_STORAGE_GRACE_S`` seconds, default :data:`GRACE_S`."""
    try:
        return max(0.0, float(os.environ.get("ZOO_TUNE_STORAGE_GRACE_S", GRACE_S)))
    except ValueError:
        return GRACE_S


def call_timeout_s() -> float:
    """Per-call bound: ``ZOO_TUNE_STORAGE_CALL_TIMEOUT_S``, default :data:`CALL_TIMEOUT_S`."""
    try:
        return max(0.1, float(os.environ.get("ZOO_TUNE_STORAGE_CALL_TIMEOUT_S",
                                             CALL_TIMEOUT_S)))
    except ValueError:
        return CALL_TIMEOUT_S


def is_outage(err: BaseException) -> bool:
    """Whether ``err`` says the storage is unreachable (not: the path is missing, denied)."""
    if isinstance(err, (FileNotFoundError, FileExistsError, PermissionError,
                        IsADirectoryError, NotADirectoryError)):
        return False
    from zoo_tune.storage._kerberos import is_kerberos_error

    if is_kerberos_error(err):  # no credentials: waiting does not bring them
        return False
    if isinstance(err, (TimeoutError, ConnectionError)):
        return True
    return isinstance(err, (OSError, RuntimeError)) and \
        any(text in str(err).lower() for text in _OUTAGE_TEXT)


@dataclass
class Health:
    """What one storage URI's calls have seen in this process.

    Attributes:
        uri: The storage URI.
        failing_since: ``time.monotonic()`` of the first failed call of the current outage.
        last_ok: The last call that worked and when (wall clock), for messages.
    """

    uri: str
    failing_since: float | None = None
    last_ok: str = "nothing yet"

    def ok(self, what: str) -> None:
        if self.failing_since is not None:
            logger.warning("Storage %s answers again after %.0f s.", self.uri,
                           time.monotonic() - self.failing_since)
        self.failing_since = None
        self.last_ok = f"{what} at {time.strftime('%H:%M:%S')}"

    def failed(self, what: str, err: BaseException, started: float) -> float:
        """Record a call started at ``started`` that failed; return how long the outage
        has lasted (since the first failed call started)."""
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = started
            logger.warning("Storage %s did not answer (%s: %s); retrying for up to %.0f s.",
                           self.uri, what, err, grace_s())
        return now - self.failing_since

    def error(self, cause: BaseException | None = None) -> StorageUnavailableError:
        """The :class:`StorageUnavailableError` for this outage."""
        lasted = time.monotonic() - (self.failing_since or time.monotonic())
        return StorageUnavailableError(
            f"The storage {self.uri} has not answered for {lasted:.0f} s (grace period "
            f"{grace_s():.0f} s, ZOO_TUNE_STORAGE_GRACE_S; last cause: {cause}). The last "
            f"call that worked: {self.last_ok}. Everything written before stays readable "
            f"(AutoEstimator.load); once the storage is back, run the same fit with "
            f"resume=True (same name) to continue.")


_HEALTH: dict[str, Health] = {}
_LOCK = threading.Lock()


def health(uri: str) -> Health:
    """The process-wide :class:`Health` of ``uri``."""
    with _LOCK:
        return _HEALTH.setdefault(uri, Health(uri))


def outage(uri: str) -> StorageUnavailableError | None:
    """The error to raise when ``uri`` has been failing longer than the grace period."""
    h = _HEALTH.get(uri)
    if h is None or h.failing_since is None:
        return None
    if time.monotonic() - h.failing_since < grace_s():
        return None
    return h.error()


def run_bounded(fn: Callable[..., Any], timeout_s: float, what: str, *args: Any,
                **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a daemon thread; ``TimeoutError`` after ``timeout_s``.

    A daemon thread, not a pool: a call stuck on a frozen server must not keep the process
    from exiting.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as err:  # handed to the caller
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=target, name=f"zoo_tune-storage-{what}", daemon=True).start()
    if not done.wait(timeout_s):
        raise TimeoutError(f"storage call {what} took longer than {timeout_s:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Bounded:
    """Runs storage calls for ``uri`` bounded, retrying metadata calls through an outage.

    Args:
        uri: The storage URI (for :func:`health` and messages).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __reduce__(self) -> tuple[Any, ...]:
        return (Bounded, (self.uri,))

    def call(self, what: str, fn: Callable[..., Any], *args: Any, retry: bool = True,
             **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, bounded; retried with backoff within the grace period.

        Raises:
            StorageUnavailableError: the storage stayed unreachable past the grace period.
            TimeoutError: a data call (``retry=False``) took too long.
        """
        def attempt() -> Any:
            return run_bounded(fn, call_timeout_s(), what, *args, **kwargs)

        if retry:
            return self.retrying(what, attempt)
        started = time.monotonic()
        try:
            out = attempt()
        except BaseException as err:
            if is_outage(err):
                health(self.uri).failed(what, err, started)
            raise
        health(self.uri).ok(what)
        return out

    def retrying(self, what: str, attempt: Callable[[], Any],
                 transient: Callable[[BaseException], bool] = is_outage) -> Any:
        """``attempt()``, repeated with backoff while it fails ``transient``-ly, up to the
        grace period since the outage began. ``attempt`` bounds its own calls.

        Raises:
            StorageUnavailableError: still failing when the grace period ran out.
        """
        h = health(self.uri)
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                out = attempt()
            except BaseException as err:
                if not transient(err):
                    raise
                lasted = h.failed(what, err, started)
                if lasted >= grace_s():
                    raise h.error(err) from err
                time.sleep(min(delay, max(0.0, grace_s() - lasted)))
                delay = min(delay * 2, 8.0)
                continue
            h.ok(what)
            return out


class BoundedFile:
    """A file object whose I/O calls are bounded (never retried).

    Args:
        raw: The file object hdfs-native returned.
        calls: The :class:`Bounded` of its storage.
        name: The path, for messages.
    """

    _IO = ("read", "readinto", "readall", "write", "flush", "close", "seek", "tell")

    def __init__(self, raw: Any, calls: Bounded, name: str) -> None:
        self._raw, self._calls, self._name = raw, calls, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._raw, attr)
        if attr in self._IO and callable(value):
            def bounded(*args: Any, **kwargs: Any) -> Any:
                return self._calls.call(f"{attr} {self._name}", value, *args, retry=False,
                                        **kwargs)
            return bounded
        return value

    def __enter__(self) -> BoundedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
