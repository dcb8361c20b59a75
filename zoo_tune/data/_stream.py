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


class TableStream:
    """Batches of a :class:`~zoo_tune.data.TableInput`, read part by part.

    Args:
        table: The table (``placement == "stream"``).
        seed: This trial's seed; with the epoch (:meth:`set_epoch`) it draws the order.

    Attributes:
        rows: Rows in the table.
        multi_x, multi_y: Several model inputs / outputs.
    """

    def __init__(self, table: TableInput, seed: int) -> None:
        self.table, self.seed = table, seed
        self._parts = table.parts()
        self.rows = sum(table.part_rows(p) for p in self._parts)
        self.multi_x, self.multi_y = table.multi_x, table.multi_y
        self.n_x = len(table.layout.features)
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        """Draw the next shuffled pass's order from ``epoch`` (like torch's
        ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def batches(self, batch_size: int, shuffle: bool) -> Iterator[tuple[list[np.ndarray],
                                                                      list[np.ndarray]]]:
        """``(xs, ys)`` numpy batches of ``batch_size`` rows (the last one may be short).

        Shuffled: parts in :func:`epoch_order`, rows permuted inside each part. Otherwise
        the table's order, which is the in-memory arrays' order.
        """
        if shuffle:
            order = epoch_order(len(self._parts), self.seed, self.epoch)
            parts = [self._parts[i] for i in order]
            rng = np.random.default_rng([self.seed, self.epoch, 1])
        else:
            parts, rng = list(self._parts), None
        reader = _ReadAhead(self.table, parts, READ_AHEAD)
        try:
            rest: list[np.ndarray] | None = None
            for blocks in reader:
                n = len(blocks[0])
                if n == 0:
                    continue
                if rng is not None:  # in place: the read-ahead's list lets go of the read
                    perm = rng.permutation(n)
                    blocks[:] = [b[perm] for b in blocks]
                start = 0
                if rest is not None:  # fill the straddling batch from this part
                    need = batch_size - len(rest[0])
                    blocks_head = [b[:need] for b in blocks]
                    rest = [np.concatenate([r, h]) for r, h in zip(rest, blocks_head)]
                    start = min(need, n)
                    if len(rest[0]) < batch_size:
                        continue
                    yield rest[:self.n_x], rest[self.n_x:]
                    rest = None
                while start + batch_size <= n:
                    batch = [b[start:start + batch_size] for b in blocks]
                    yield batch[:self.n_x], batch[self.n_x:]
                    start += batch_size
                if start < n:  # a copy: the part itself is not kept for a few rows
                    rest = [b[start:].copy() for b in blocks]
                del blocks
            if rest is not None:
                yield rest[:self.n_x], rest[self.n_x:]
        finally:
            reader.close()

    def tf_dataset(self, batch_size: int, shuffle: bool) -> Any:
        """The same batches as a ``tf.data.Dataset`` of ``(x, y)`` (tuples for several
        inputs / outputs), for Keras' ``fit`` / ``evaluate``."""
        import tensorflow as tf

        def spec(k: int) -> Any:
            col, width = self.table.layout.columns[k], self.table.widths[k]
            shape = (None,) if width is None else (None, width)
            return tf.TensorSpec(shape, tf.as_dtype(np.dtype(col.dtype)))

        xs_spec = tuple(spec(k) for k in range(self.n_x))
        ys_spec = tuple(spec(k) for k in range(self.n_x, len(self.table.layout.columns)))

        def pick(arrays: list[np.ndarray], multi: bool) -> Any:
            return tuple(arrays) if multi else arrays[0]

        def generate() -> Iterator[Any]:
            for xs, ys in self.batches(batch_size, shuffle):
                yield pick(xs, self.multi_x), pick(ys, self.multi_y)

        signature = (xs_spec if self.multi_x else xs_spec[0],
                     ys_spec if self.multi_y else ys_spec[0])
        return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(1)
