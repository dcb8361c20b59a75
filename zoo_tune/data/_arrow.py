"""Arrow record batches -> trial arrays, and frames trials read themselves (Parquet, Ray)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo_tune.data._layout import Filler, FrameLayout, LayoutShape, Widths

logger = logging.getLogger(__name__)

#: Read buffer of a Parquet file while a row group is read from it (see ``read_part``).
READ_BUFFER_BYTES = 1 << 20


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


def blocks_of_table(table: Any, layout: FrameLayout,
                    widths: Sequence[int | None]) -> list[np.ndarray]:
    """A ``pyarrow.Table`` (one row group or block) as one numpy block per input/output."""
    batch = table.combine_chunks().to_batches()
    if not batch:
        return [np.empty((0,) if w is None else (0, w), dtype=c.dtype)
                for c, w in zip(layout.columns, widths)]
    return arrow_blocks(batch[0], layout, widths)


@dataclass(frozen=True)
class TableInput(LayoutShape):
    """Columns trials read themselves, laid out by :func:`spark_projection`'s names.

    A table is read in parts: Parquet row groups or Ray blocks (:meth:`parts`,
    :meth:`read_part`). Where a trial gets it from is ``placement``: ``"node_cache"``, one
    copy per Ray node in the object store (:mod:`zoo_tune.data._node_cache`), or
    ``"stream"``, part by part each epoch (:mod:`zoo_tune.data._stream`).

    Attributes:
        layout: What the columns are.
        widths: 2-D widths per input/output (``None``: 1-D).
        rows: Rows in the table.
        nbytes: Its cast size (rows x row bytes), what ``node_cache_mb`` is compared with.
        placement: ``"node_cache"`` or ``"stream"``.
        cache_token: Names the fit's node caches (set when the fit ships its inputs).
    """

    layout: FrameLayout
    widths: tuple[int | None, ...]
    rows: int = 0
    nbytes: int = 0
    placement: str = "node_cache"
    cache_token: str = ""

    def parts(self) -> list[Any]:
        """The table's parts in row order (row groups, blocks)."""
        raise NotImplementedError

    def part_rows(self, part: Any) -> int:
        """Rows of one part."""
        raise NotImplementedError

    def read_part(self, part: Any) -> list[np.ndarray]:
        """One part as numpy blocks, one per input/output (features first)."""
        raise NotImplementedError

    def read_all(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The whole table as ``(xs, ys)``: the arrays allocated once, filled part by part
        (at most one part is held as Arrow at a time)."""
        parts = self.parts()
        rows = sum(self.part_rows(p) for p in parts)
        filler = Filler(self.layout, Widths(rows, list(self.widths)), None)
        for part in parts:
            blocks = self.read_part(part)
            if len(blocks[0]):
                filler.add(blocks)
        out = filler.result(self.multi_x, self.multi_y)[0]
        return out.xs, out.ys

    def arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(xs, ys)`` read in this process (:meth:`read_all`); trials use the node cache."""
        return self.read_all()

    @property
    def key(self) -> str:
        """Names this table among a fit's inputs (the node cache's key)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ParquetPart:
    """One row group of one Parquet file."""

    file: str
    index: int
    rows: int
    meta: Any = field(default=None, compare=False, repr=False)  # the file's footer, read once


@dataclass(frozen=True)
class ParquetInput(TableInput):
    """A DataFrame the executors wrote as Parquet to the experiment's storage.

    Attributes:
        uri: Where Spark wrote it (``file://...`` or ``hdfs://...``).
        path: The same folder inside ``fs``.
        fs: The storage's ``pyarrow.fs.FileSystem``; ``None`` for local storage.
    """

    uri: str = ""
    path: str = ""
    fs: Any = None

    def _fs(self) -> Any:
        if self.fs is not None:
            return self.fs
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem()

    def files(self) -> list[str]:
        """The folder's Parquet files, by name (Spark's part order), hidden files left out."""
        import pyarrow.fs as pafs

        infos = self._fs().get_file_info(pafs.FileSelector(self.path, recursive=True))
        names = [i.path for i in infos if i.type == pafs.FileType.File]
        return sorted(n for n in names if not n.rsplit("/", 1)[-1].startswith(("_", "."))
                      and n.endswith(".parquet"))

    def parts(self) -> list[ParquetPart]:
        import pyarrow.parquet as pq

        out = []
        fs = self._fs()
        for name in self.files():
            with fs.open_input_file(name) as f:
                meta = pq.ParquetFile(f).metadata
            out += [ParquetPart(name, i, meta.row_group(i).num_rows, meta)
                    for i in range(meta.num_row_groups)]
        return out

    def part_rows(self, part: ParquetPart) -> int:
        return part.rows

    def read_part(self, part: ParquetPart) -> list[np.ndarray]:
        import pyarrow.parquet as pq

        with self._fs().open_input_file(part.file) as f:
            # Column chunks read through a small buffer, one after another on this thread:
            # with Arrow's defaults (the row group pre-buffered whole, a thread per column) the
            # pool peaked at ~4x the decoded row group (65 MiB for 17; bench/README.md).
            file = pq.ParquetFile(f, metadata=part.meta, pre_buffer=False,
                                  buffer_size=READ_BUFFER_BYTES)
            table = file.read_row_group(part.index, use_threads=False)
        return blocks_of_table(table, self.layout, self.widths)

    @property
    def key(self) -> str:
        return f"parquet:{self.uri}"


@dataclass(frozen=True)
class RayBlocksInput(TableInput):
    """A DataFrame held as Arrow blocks in Ray's object store (``ray.data.from_spark``).

    Attributes:
        refs: ``ObjectRef`` of every block (a ``pyarrow.Table``), in row order.
        block_rows: Rows of each block.
    """

    refs: tuple[Any, ...] = ()
    block_rows: tuple[int, ...] = ()

    def parts(self) -> list[int]:
        return list(range(len(self.refs)))

    def part_rows(self, part: int) -> int:
        return self.block_rows[part]

    def read_part(self, part: int) -> list[np.ndarray]:
        import ray

        return blocks_of_table(ray.get(self.refs[part]), self.layout, self.widths)

    @property
    def key(self) -> str:
        return "ray:" + (self.refs[0].hex() if self.refs else "")


@dataclass(frozen=True)
class ParquetTarget:
    """Where frames over the driver budget go: ``<experiment>/data/`` in the storage.

    Attributes:
        uri: The folder's URI; ``path`` the same inside ``fs``; ``scheme`` the storage's.
        stream_over_bytes: A training table bigger than this will be streamed: its rows are
            shuffled once as they are staged (``node_cache_mb``).
        reuse: A resumed fit: an input staged by the first run with the same stamp
            (:mod:`zoo_tune.data._stage_stamp`) is read as it is, not written again.
    """

    uri: str
    path: str
    fs: Any
    scheme: str
    stream_over_bytes: float = float("inf")
    reuse: bool = False
