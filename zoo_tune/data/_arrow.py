"""Arrow record batches -> trial arrays, and frames trials read themselves (Parquet, Ray)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo_tune.data._layout import Filler, FrameLayout, LayoutShape, Widths

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


#: Tables a trial process already read, by source; a reused worker reads each once.
_READ_CACHE: dict[tuple[str, ...], tuple[list[np.ndarray], list[np.ndarray]]] = {}


def _fill_from_tables(tables: list[Any], layout: FrameLayout,
                      widths: tuple[int | None, ...]) -> tuple[list[np.ndarray],
                                                               list[np.ndarray]]:
    rows = sum(t.num_rows for t in tables)
    filler = Filler(layout, Widths(rows, list(widths)), None)
    for table in tables:
        for batch in table.to_batches():
            if batch.num_rows:
                filler.add(arrow_blocks(batch, layout, widths))
    part = filler.result(len(layout.features) > 1, len(layout.labels) > 1)[0]
    return part.xs, part.ys


def _cached(key: tuple[str, ...], read: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if key not in _READ_CACHE:
        if len(_READ_CACHE) >= 4:  # a worker that moved on to another fit
            _READ_CACHE.clear()
        _READ_CACHE[key] = read()
    return _READ_CACHE[key]


@dataclass(frozen=True)
class TableInput(LayoutShape):
    """Columns trials read themselves, laid out by :func:`spark_projection`'s names."""

    layout: FrameLayout
    widths: tuple[int | None, ...]


@dataclass(frozen=True)
class ParquetInput(TableInput):
    """A DataFrame the executors wrote as Parquet to the experiment's storage.

    Each trial process reads it once (and keeps it for the next trial it runs).

    Attributes:
        uri: Where Spark wrote it (``file://...`` or ``hdfs://...``).
        path: The same folder inside ``fs``.
        fs: The storage's ``pyarrow.fs.FileSystem``; ``None`` for local storage.
        layout: What the columns are.
        widths: 2-D widths per input/output (``None``: 1-D).
    """

    uri: str = ""
    path: str = ""
    fs: Any = None

    def arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Read the Parquet files (once per process) into ``(xs, ys)``."""
        def read() -> tuple[list[np.ndarray], list[np.ndarray]]:
            import pyarrow.parquet as pq

            table = pq.read_table(self.path, filesystem=self.fs)
            logger.info("Read %d rows of %s", table.num_rows, self.uri)
            return _fill_from_tables([table], self.layout, self.widths)

        return _cached(("parquet", self.uri, self.path), read)


@dataclass(frozen=True)
class RayBlocksInput(TableInput):
    """A DataFrame held as Arrow blocks in Ray's object store (``ray.data.from_spark``).

    Each trial process reads the blocks zero-copy from the object store and copies them once
    into its arrays (kept for the next trial it runs).

    Attributes:
        refs: ``ObjectRef`` of every block (a ``pyarrow.Table``), in row order.
        rows: Rows in all blocks.
    """

    refs: tuple[Any, ...] = ()
    rows: int = 0

    def arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Fetch the blocks (once per process) into ``(xs, ys)``."""
        def read() -> tuple[list[np.ndarray], list[np.ndarray]]:
            import ray

            return _fill_from_tables(list(ray.get(list(self.refs))), self.layout, self.widths)

        return _cached(("ray", *(r.hex() for r in self.refs[:1])), read)


@dataclass(frozen=True)
class ParquetTarget:
    """Where frames over the driver budget go: ``<experiment>/data/`` in the storage."""

    uri: str
    path: str
    fs: Any
    scheme: str
