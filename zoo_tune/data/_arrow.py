"""Arrow record batches -> trial arrays, and the frames trials read themselves (Parquet)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo_tune.data._layout import Filler, FrameLayout, Widths

logger = logging.getLogger(__name__)


def arrow_name(i: int) -> str:
    return f"_zt{i}"


def arrow_blocks(batch: Any, layout: FrameLayout, widths: Sequence[int | None]) -> list[Any]:
    """One Arrow record batch (columns as :func:`spark_projection` names them) -> numpy blocks.

    Scalar and list columns without nulls are read zero-copy; stacked columns are copied into
    one ``(rows, k)`` block.
    """
    blocks: list[Any] = []
    i = 0
    for col, width in zip(layout.columns, widths):
        arrays = [batch.column(i + j) for j in range(len(col.names))]
        i += len(col.names)
        if col.kind == "scalar":
            blocks.append(arrays[0].to_numpy(zero_copy_only=False))
        elif col.kind == "stack":
            block = np.empty((batch.num_rows, len(arrays)), dtype=col.dtype)
            for j, arr in enumerate(arrays):
                block[:, j] = arr.to_numpy(zero_copy_only=False)
            blocks.append(block)
        else:
            values = arrays[0].flatten().to_numpy(zero_copy_only=False)
            blocks.append(values.reshape(batch.num_rows, width))
    return blocks


_PARQUET_CACHE: dict[tuple[str, str], tuple[list[np.ndarray], list[np.ndarray]]] = {}


@dataclass(frozen=True)
class ParquetInput:
    """A DataFrame the executors wrote as Parquet to the experiment's storage.

    Each trial process reads it once (and keeps it for the next trial it runs).

    Attributes:
        uri: Where Spark wrote it (``file://...`` or ``hdfs://...``).
        path: The same folder inside ``fs``.
        fs: The storage's ``pyarrow.fs.FileSystem``; ``None`` for local storage.
        layout: What the columns are.
        widths: 2-D widths per input/output (``None``: 1-D).
    """

    uri: str
    path: str
    fs: Any
    layout: FrameLayout
    widths: tuple[int | None, ...]

    @property
    def multi_x(self) -> bool:
        """Several model inputs."""
        return len(self.layout.features) > 1

    @property
    def multi_y(self) -> bool:
        """Several model outputs."""
        return len(self.layout.labels) > 1

    def arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Read the Parquet files (once per process) into ``(xs, ys)``."""
        key = (self.uri, self.path)
        if key not in _PARQUET_CACHE:
            import pyarrow.parquet as pq

            if len(_PARQUET_CACHE) >= 4:  # a worker that moved on to another fit
                _PARQUET_CACHE.clear()
            table = pq.read_table(self.path, filesystem=self.fs)
            shape = Widths(table.num_rows, list(self.widths))
            filler = Filler(self.layout, shape, None)
            for batch in table.to_batches():
                if batch.num_rows:
                    filler.add(arrow_blocks(batch, self.layout, self.widths))
            part = filler.result(self.multi_x, self.multi_y)[0]
            _PARQUET_CACHE[key] = (part.xs, part.ys)
            logger.info("Read %d rows of %s", table.num_rows, self.uri)
        return _PARQUET_CACHE[key]


@dataclass(frozen=True)
class ParquetTarget:
    """Where frames over the driver budget go: ``<experiment>/data/`` in the storage."""

    uri: str
    path: str
    fs: Any
    scheme: str
