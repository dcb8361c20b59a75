"""Files written to HDFS whole or not at all, retried through a short outage.

A file written straight to HDFS is visible while it is written: a DataNode lost mid-write
leaves it under construction, short or empty, and its lease held by the writer, so writing it
again fails ("already the current lease holder") until the NameNode recovers the lease.
:class:`StagedUpload` therefore keeps what is written in a spooled buffer (memory, then a
local temporary file) and, on ``close``, uploads it to a hidden sibling with a fresh name and
renames that into place. The file under its real name is complete or absent. An upload that
fails because the storage is unreachable (a NameNode or DataNode down: a refused connection,
a call past its bound, a block that cannot be completed) is started again with a new sibling,
with backoff, for up to the grace period (:func:`~zoo_tune.storage._bounded.grace_s`); then
:class:`~zoo_tune.errors.StorageUnavailableError` is raised. Each step is bounded.

Example:
    >>> import fsspec
    >>> fs = fsspec.filesystem("memory")
    >>> with StagedUpload(fs, "/runs/a.txt", Bounded("memory://")) as f:
    ...     _ = f.write(b"done")
    >>> fs.cat("/runs/a.txt")
    b'done'
"""

from __future__ import annotations

import logging
import posixpath
import tempfile
import uuid
from typing import Any

from zoo_tune.storage._bounded import Bounded, call_timeout_s, is_outage, run_bounded

logger = logging.getLogger(__name__)

#: Kept in memory up to this size, then in a local temporary file.
SPOOL_BYTES = 64 * 1024**2
_CHUNK = 4 * 1024**2
#: What hdfs-native says when no DataNode takes or completes a block.
_WRITE_OUTAGE_TEXT = ("failed to complete file", "datanode", "pipeline", "early eof",
                      "unexpected eof")


def is_write_outage(err: BaseException) -> bool:
    """Whether a failed upload may work once the storage is back (see :func:`is_outage`)."""
    if is_outage(err):
        return True
    if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError,
                        NotADirectoryError)):
        return False
    return isinstance(err, (OSError, RuntimeError)) and \
        any(text in str(err).lower() for text in _WRITE_OUTAGE_TEXT)


class StagedUpload:
    """A write-only file that reaches ``path`` on ``close``, whole, or raises.

    Args:
        fs: The fsspec filesystem (``open``, ``mv`` with replace, ``rm_file``).
        path: The destination, without protocol.
        calls: The :class:`Bounded` of the storage (URI, health, grace period).
    """

    def __init__(self, fs: Any, path: str, calls: Bounded) -> None:
        self._fs, self._path, self._calls = fs, path, calls
        self._buf = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES,
                                                  prefix="zoo_tune-upload-")
        self.closed = False

    def write(self, data: Any) -> int:
        return self._buf.write(data)

    def tell(self) -> int:
        return self._buf.tell()

    def flush(self) -> None:
        """Nothing to do: the data goes out on :meth:`close`."""

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        """Upload the whole file (retried through an outage); idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._calls.retrying(f"write {self._path}", self._attempt, is_write_outage)
        finally:
            self._buf.close()

    def _attempt(self) -> None:
        head, tail = posixpath.split(self._path)
        staged = posixpath.join(head, f".{tail}.zoo_tune-{uuid.uuid4().hex[:12]}.tmp")
        bound = call_timeout_s()
        try:
            raw = run_bounded(self._fs.open, bound, f"open {staged}", staged, mode="wb")
            try:
                self._buf.seek(0)
                while chunk := self._buf.read(_CHUNK):
                    run_bounded(raw.write, bound, f"write {staged}", chunk)
            finally:
                run_bounded(raw.close, bound, f"close {staged}")
            run_bounded(self._fs.mv, bound, f"rename {staged}", staged, self._path)
        except BaseException:
            try:  # what the failed attempt left (under construction, or whole but unnamed)
                run_bounded(self._fs.rm_file, min(bound, 3.0), f"delete {staged}", staged)
            except BaseException as err:  # gone already, or the storage is down: left behind
                logger.debug("Could not delete the staged upload %s: %s", staged, err)
            raise

    def __enter__(self) -> StagedUpload:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:  # the writer failed: nothing reaches storage
            self.closed = True
            self._buf.close()
