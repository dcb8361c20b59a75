"""What trials train on when a table is not one array per column: batches cut from parts.

Both a streamed table (:class:`~zoo_tune.data.TableStream`) and a node-cached table held in
several object-store chunks (:class:`~zoo_tune.data.CachedTable`) hand their backend
``(xs, ys)`` numpy batches (:meth:`Batched.batches`), torch wraps them as tensors without a
copy, Keras gets the same batches as a ``tf.data.Dataset`` (:meth:`Batched.tf_dataset`).

Example:
    >>> for xs, ys in source.batches(256, shuffle=True):  # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from zoo_tune.data._arrow import TableInput

Batch = tuple[list[np.ndarray], list[np.ndarray]]


def cut_batches(parts: Iterable[list[np.ndarray]], batch_size: int, n_x: int,
                rng: np.random.Generator | None = None) -> Iterator[Batch]:
    """Batches of ``batch_size`` rows from consecutive parts (lists of blocks, features
    first); with ``rng`` the rows of each part are permuted first. A batch that would
    straddle two parts takes its rest from the next one, so there are as many batches as in
    one array (the last one may be short)."""
    rest: list[np.ndarray] | None = None
    for blocks in parts:
        n = len(blocks[0])
        if n == 0:
            continue
        if rng is not None:  # in place: the caller's list lets go of the unpermuted blocks
            perm = rng.permutation(n)
            blocks[:] = [b[perm] for b in blocks]
        start = 0
        if rest is not None:  # fill the straddling batch from this part
            need = batch_size - len(rest[0])
            rest = [np.concatenate([r, b[:need]]) for r, b in zip(rest, blocks)]
            start = min(need, n)
            if len(rest[0]) < batch_size:
                continue
            yield rest[:n_x], rest[n_x:]
            rest = None
        while start + batch_size <= n:
            batch = [b[start:start + batch_size] for b in blocks]
            yield batch[:n_x], batch[n_x:]
            start += batch_size
        if start < n:  # a copy: the part itself is not kept for a few rows
            rest = [b[start:].copy() for b in blocks]
        del blocks
    if rest is not None:
        yield rest[:n_x], rest[n_x:]


class Batched:
    """A table a trial reads batch by batch.

    Args:
        table: The table (its layout and widths give the batches' shapes).
        seed: The trial's seed; with the epoch (:meth:`set_epoch`) it draws the order.

    Attributes:
        rows: Rows in the table.
        multi_x, multi_y: Several model inputs / outputs.
    """

    rows: int = 0

    def __init__(self, table: TableInput, seed: int) -> None:
        self.table, self.seed = table, seed
        self.multi_x, self.multi_y = table.multi_x, table.multi_y
        self.n_x = len(table.layout.features)
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        """Draw the next shuffled pass's order from ``epoch`` (like torch's
        ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def batches(self, batch_size: int, shuffle: bool) -> Iterator[Batch]:
        """``(xs, ys)`` numpy batches of ``batch_size`` rows (the last one may be short);
        unshuffled in the table's order, the in-memory arrays' order."""
        raise NotImplementedError

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
