"""Streaming a table too big for a node's cache: part by part, shuffled per trial and epoch.

Each epoch a trial reads the table's parts (Parquet row groups, local or ``hdfs://``, or Ray
blocks) in an order drawn from its seed and the epoch, shuffles the rows inside each part and
cuts batches of ``batch_size`` rows; a batch that would straddle two parts takes its rest
from the next, so an epoch has as many batches as in memory. One thread reads ahead: at most
:data:`READ_AHEAD` parts wait beside the one being cut (plus the batch in use).
Validation streams in the table's own order, unshuffled, so its batches are the in-memory
path's batches and every metric comes out the same.

Example:
    >>> stream = TableStream(parquet_input, seed=7)  # doctest: +SKIP
    >>> stream.set_epoch(1)  # doctest: +SKIP
    >>> for xs, ys in stream.batches(256, shuffle=True):  # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from zoo_tune.data._arrow import TableInput
from zoo_tune.data._batched import Batch, Batched, cut_batches

#: Parts read ahead of the one a trial is cutting into batches.
READ_AHEAD = 1

_DONE = object()


def epoch_order(n_parts: int, seed: int, epoch: int) -> np.ndarray:
    """The order parts are read in ``epoch`` by a trial of ``seed``.

    Example:
        >>> epoch_order(4, 1, 1).tolist() != epoch_order(4, 1, 2).tolist()
        True
    """
    return np.random.default_rng([seed, epoch, 0]).permutation(n_parts)


class _ReadAhead:
    """Reads parts in a daemon thread, at most ``depth`` ahead of the consumer."""

    def __init__(self, table: TableInput, parts: list[Any], depth: int) -> None:
        self._table, self._parts = table, parts
        self._slots = threading.Semaphore(depth + 1)  # + the part being consumed
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="zoo_tune-read-ahead",
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for part in self._parts:
                while not self._slots.acquire(timeout=0.2):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                self._queue.put(self._table.read_part(part))
            self._queue.put(_DONE)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            self._queue.put(err)

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            self._slots.release()  # the consumer is done with it

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class TableStream(Batched):
    """Batches of a :class:`~zoo_tune.data.TableInput`, read part by part each pass.

    Args:
        table: The table (``placement == "stream"``).
        seed: This trial's seed; with the epoch (:meth:`set_epoch`) it draws the order.
    """

    def __init__(self, table: TableInput, seed: int) -> None:
        super().__init__(table, seed)
        self._parts = table.parts()
        self.rows = sum(table.part_rows(p) for p in self._parts)

    def batches(self, batch_size: int, shuffle: bool) -> Iterator[Batch]:
        """Shuffled: parts in :func:`epoch_order`, rows permuted inside each part (see
        :func:`~zoo_tune.data._batched.cut_batches`). Otherwise the table's order."""
        if shuffle:
            order = epoch_order(len(self._parts), self.seed, self.epoch)
            parts = [self._parts[i] for i in order]
            rng = np.random.default_rng([self.seed, self.epoch, 1])
        else:
            parts, rng = list(self._parts), None
        reader = _ReadAhead(self.table, parts, READ_AHEAD)
        try:
            yield from cut_batches(reader, batch_size, self.n_x, rng)
        finally:
            reader.close()
