"""A node-cached table held in several object-store chunks, batched as if it were one array.

Shuffled, an epoch is one permutation of all rows (drawn from the trial's seed and the
epoch), as for numpy inputs; each batch gathers its rows chunk by chunk (its rows grouped by
chunk: a batch is a set, their order inside it does not matter to a gradient step), which
costs no more than indexing one array. Unshuffled (validation), the chunks in order, cut into
the in-memory path's batches.

Example:
    >>> table = CachedTable(table_input, chunks, seed=7)  # doctest: +SKIP
    >>> table.set_epoch(2)  # doctest: +SKIP
    >>> xs, ys = next(table.batches(256, shuffle=True))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from zoo_tune.data._arrow import TableInput
from zoo_tune.data._batched import Batch, Batched, cut_batches


class CachedTable(Batched):
    """Batches over chunks of a table (read-only views on the node's object store).

    Args:
        table: The table the chunks hold.
        chunks: Per chunk, one block per input/output (features first), in row order.
        seed: The trial's seed.
    """

    def __init__(self, table: TableInput, chunks: list[list[np.ndarray]], seed: int) -> None:
        super().__init__(table, seed)
        self.chunks = chunks
        sizes = [len(c[0]) for c in chunks]
        self.starts = np.cumsum([0] + sizes[:-1])
        self.rows = int(sum(sizes))

    def batches(self, batch_size: int, shuffle: bool) -> Iterator[Batch]:
        """Shuffled: a permutation of all rows; otherwise the chunks in order."""
        if not shuffle:
            yield from cut_batches(([b for b in c] for c in self.chunks), batch_size, self.n_x)
            return
        perm = np.random.default_rng([self.seed, self.epoch, 2]).permutation(self.rows)
        for start in range(0, self.rows, batch_size):
            rows = perm[start:start + batch_size]
            which = np.searchsorted(self.starts, rows, side="right") - 1
            order = np.argsort(which, kind="stable")
            rows, which = rows[order], which[order]
            bounds = np.flatnonzero(np.diff(which)) + 1
            segments = np.split(rows - self.starts[which], bounds)
            chunk_ids = which[np.r_[0, bounds]]
            blocks = []
            for k in range(len(self.chunks[0])):
                out = np.empty((len(rows),) + self.chunks[0][k].shape[1:],
                               dtype=self.chunks[0][k].dtype)
                at = 0
                for c, local in zip(chunk_ids, segments):
                    np.take(self.chunks[c][k], local, axis=0, out=out[at:at + len(local)])
                    at += len(local)
                blocks.append(out)
            yield blocks[:self.n_x], blocks[self.n_x:]
