"""Spark DataFrames: cast on the executors, checked, then collected as Arrow or staged."""

from __future__ import annotations

import dataclasses
import logging
import math
import posixpath
from collections.abc import Iterable
from typing import Any

import numpy as np

from zoo_tune.data._arrow import (
    ParquetInput,
    ParquetTarget,
    RayBlocksInput,
    arrow_blocks,
    arrow_name,
)
from zoo_tune.data._layout import (
    FLOAT,
    INT,
    SPLIT_SEED,
    Column,
    Filler,
    FrameInput,
    FrameLayout,
    Widths,
    empty_error,
    raise_nulls,
    raise_ragged,
    split_mask,
)
from zoo_tune.data._stage_stamp import frame_stamp, has_file, read_stamp, write_stamp
from zoo_tune.errors import InvalidInputError

logger = logging.getLogger(__name__)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def spark_projection(staged: FrameInput) -> Any:
    """The frame reduced to the source columns, cast on the executors (one column each)."""
    from pyspark.sql import functions as F

    exprs = []
    i = 0
    for col in staged.layout.columns:
        target = "bigint" if col.dtype == INT else "float"
        for name in col.names:
            c = F.col(_quoted(name))
            if col.kind in ("scalar", "stack"):
                c = c.cast(target)
            elif col.kind == "array":
                c = c.cast(f"array<{target}>")
            else:
                from pyspark.ml.functions import vector_to_array

                c = vector_to_array(c, "float32")
            exprs.append(c.alias(arrow_name(i)))
            i += 1
    return staged.frame.select(*exprs)


def _array_positions(layout: FrameLayout) -> list[tuple[int, Column]]:
    """(projection index, column) of every array and vector column."""
    out, i = [], 0
    for col in layout.columns:
        if col.kind in ("array", "vector"):
            out.append((i, col))
        i += len(col.names)
    return out


def _spark_size(staged: FrameInput, projected: Any) -> Widths:
    """One light Spark job: the row count and the length range of each array column.

    Raises:
        InvalidInputError: no rows, or arrays of different lengths in one column.
    """
    from pyspark.sql import functions as F

    aggs = [F.count(F.lit(1)).alias("rows")]
    for i, _col in _array_positions(staged.layout):
        size = F.when(F.col(arrow_name(i)).isNotNull(), F.size(F.col(arrow_name(i))))
        aggs += [F.min(size).alias(f"lo{i}"), F.max(size).alias(f"hi{i}")]
    row = projected.agg(*aggs).collect()[0].asDict()
    if row["rows"] == 0:
        raise empty_error(staged.name)
    lengths = {}
    for i, col in _array_positions(staged.layout):
        lo, hi = row[f"lo{i}"], row[f"hi{i}"]
        if lo != hi:
            raise_ragged(col, lo, hi, staged.name)
        lengths[col] = lo
    widths = [lengths.get(c, len(c.names) if c.kind == "stack" else None)
              for c in staged.layout.columns]
    return Widths(row["rows"], widths)


def _spark_nulls(staged: FrameInput, projected: Any) -> None:
    """One Spark job counting rows with null/NaN per source column (frames never collected)."""
    from pyspark.sql import functions as F

    aggs = []
    i = 0
    for col in staged.layout.columns:
        for _name in col.names:
            c = F.col(arrow_name(i))
            if col.kind in ("array", "vector"):
                bad = c.isNull() | F.exists(c, lambda x: x.isNull() | F.isnan(x))
            elif col.dtype == FLOAT:
                bad = c.isNull() | F.isnan(c)
            else:
                bad = c.isNull()
            aggs.append(F.count(F.when(bad, 1)).alias(f"null{i}"))
            i += 1
    row = projected.agg(*aggs).collect()[0].asDict()
    raise_nulls({name: row[f"null{j}"] for j, name in enumerate(staged.layout.sources)},
                 staged.name)


def _bad_rows(array: Any) -> int:
    """Rows of an Arrow column (scalar or list) that are null or hold a null or NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        values = array.flatten()
        flagged = pc.is_null(values, nan_is_null=True)
        if not pc.any(flagged).as_py():
            return array.null_count
        parents = pc.list_parent_indices(array).to_numpy()[flagged.to_numpy(zero_copy_only=False)]
        rows = set(parents.tolist())
        rows.update(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False)).tolist())
        return len(rows)
    if pa.types.is_floating(array.type):
        return int(pc.sum(pc.is_null(array, nan_is_null=True)).as_py() or 0)
    return array.null_count


def collect_batches(staged: FrameInput, projected: Any, shape: Widths,
                        fraction: float | None) -> list[Any]:
    """Collect the projection as Arrow batches; check nulls and copy each batch once."""
    batches = projected._collect_as_arrow()
    if sum(b.num_rows for b in batches) != shape.rows:
        raise InvalidInputError(f"`{staged.name}` gave a different number of rows on a second "
                                f"read ({shape.rows} counted first); a frame with random or "
                                f"changing rows must be cached or checkpointed first.")
    nulls = dict.fromkeys(staged.layout.sources, 0)
    names = staged.layout.sources
    for batch in batches:  # metadata and one vectorised pass: before any copy
        for j, name in enumerate(names):
            nulls[name] += _bad_rows(batch.column(j))
    raise_nulls(nulls, staged.name)
    filler = Filler(staged.layout, shape, split_mask(shape.rows, fraction))
    batches.reverse()
    while batches:  # each batch is copied once, then dropped
        batch = batches.pop()
        if batch.num_rows:
            filler.add(arrow_blocks(batch, staged.layout, shape.widths))
    return filler.result(staged.multi_x, staged.multi_y)


def _row_bytes(layout: FrameLayout, widths: Iterable[int | None]) -> int:
    return sum((w or 1) * np.dtype(c.dtype).itemsize for c, w in zip(layout.columns, widths))


#: Bytes of one Parquet row group as Spark writes a staged frame (``parquet.block.size``):
#: what a streaming trial reads at once. Small enough that a trial holds a few of them
#: beside its model, large enough that a read is mostly payload, not per-group overhead.
ROW_GROUP_BYTES = 16 * 2**20
#: Cast bytes per Parquet file: frames are coalesced to ``ceil(size / FILE_BYTES)``
#: partitions (never more than they have), so a staged frame is never a pile of tiny files.
FILE_BYTES = 128 * 2**20


def _write_parquet(projected: Any, staged: FrameInput, shape: Widths, target: ParquetTarget,
                   part: str, nbytes: int, shuffle: bool = False) -> ParquetInput:
    """Write ``projected`` under ``target``: row groups of :data:`ROW_GROUP_BYTES`, files of
    about :data:`FILE_BYTES` (``nbytes``: its expected cast size), the rows spread over the
    files and shuffled inside each when ``shuffle``; rows counted from the footers."""
    if target.scheme not in ("local", "file", "hdfs"):
        raise InvalidInputError(
            f"`{staged.name}` is over the driver budget, so the executors write it as Parquet "
            f"to the experiment's storage, which Spark writes only on local paths and hdfs:// "
            f"(not {target.scheme}://); raise `driver_budget_mb` or use such a logs_dir.")
    uri = f"{target.uri.rstrip('/')}/{part}"
    if target.scheme == "local":
        uri = "file://" + uri
    files = max(1, math.ceil(nbytes / FILE_BYTES))
    if shuffle:  # round robin over the files, then a seeded random order inside each
        from pyspark.sql import functions as F

        projected = projected.repartition(files).sortWithinPartitions(F.rand(SPLIT_SEED))
    elif files < projected.rdd.getNumPartitions():
        projected = projected.coalesce(files)
    (projected.write.mode("overwrite").option("parquet.block.size", ROW_GROUP_BYTES)
     .parquet(uri))
    written = ParquetInput(staged.layout, tuple(shape.widths), uri=uri,
                           path=posixpath.join(target.path, part), fs=target.fs)
    rows = sum(p.rows for p in written.parts())
    logger.info("Wrote `%s` (%d rows) as Parquet to %s", staged.name, rows, uri)
    return dataclasses.replace(written, rows=rows,
                               nbytes=rows * _row_bytes(staged.layout, shape.widths))


def _raydp_active() -> bool:
    from zoo_tune.cluster import current_context

    ctx = current_context()
    return ctx is not None and ctx.cluster_mode == "raydp"


def _to_ray_blocks(projected: Any, staged: FrameInput, shape: Widths) -> RayBlocksInput:
    """RayDP: the executors' rows become Ray Data blocks in the object store, not on the driver."""
    import ray
    import ray.data

    dataset = ray.data.from_spark(projected).materialize()
    refs = tuple(dataset.to_arrow_refs())
    count = ray.remote(num_cpus=0)(_num_rows_of)  # next to each block, nothing moves
    block_rows = tuple(ray.get([count.remote(r) for r in refs]))
    rows = sum(block_rows)
    logger.info("`%s` (%d rows) is in Ray's object store as %d blocks", staged.name, rows,
                len(refs))
    return RayBlocksInput(staged.layout, tuple(shape.widths), rows=rows,
                          nbytes=rows * _row_bytes(staged.layout, shape.widths), refs=refs,
                          block_rows=block_rows)


def _num_rows_of(table: Any) -> int:
    return int(table.num_rows)


def load_spark_frame(staged: FrameInput, fraction: float | None, budget_bytes: float,
                     target: ParquetTarget | None) -> list[Any]:
    """Read a Spark DataFrame for trials: arrays on the driver, Ray blocks, or staged Parquet.

    Every Spark job it runs is bounded (:func:`zoo_tune.cluster._spark_slots.bounded_spark_jobs`):
    a job that gets no task slot (Ray nodes holding every executor core) becomes a
    ``NoSparkSlotError`` naming the fix, before any trial starts.
    """
    from zoo_tune.cluster._spark_slots import bounded_spark_jobs

    spark = staged.frame.sparkSession
    with bounded_spark_jobs(spark, f"reading `{staged.name}`", **_ray_nodes_on(spark)):
        return _load_spark_frame(staged, fraction, budget_bytes, target)


def _ray_nodes_on(spark: Any) -> dict[str, Any]:
    """``ray_nodes`` / ``node_cpus`` of the active context's Ray on ``spark`` (else none)."""
    from zoo_tune.cluster import current_context

    ctx = current_context()
    info = getattr(ctx, "_spark_ray", None)
    if ctx is None or info is None or ctx.spark is not spark:
        return {}
    return {"ray_nodes": ctx.ray_worker_nodes, "node_cpus": info.node_sizes.get("CPU", 1.0)}


def _load_spark_frame(staged: FrameInput, fraction: float | None, budget_bytes: float,
                      target: ParquetTarget | None) -> list[Any]:
    projected = spark_projection(staged)
    shape = _spark_size(staged, projected)
    size = shape.rows * _row_bytes(staged.layout, shape.widths)
    if _raydp_active():
        _spark_nulls(staged, projected)
        if fraction is None:
            return [_to_ray_blocks(projected, staged, shape)]
        train, val = projected.randomSplit([1.0 - fraction, fraction], seed=SPLIT_SEED)
        return [_to_ray_blocks(train, staged, shape), _to_ray_blocks(val, staged, shape)]
    if size <= budget_bytes or target is None:
        logger.info("Collecting `%s` (%d rows, %.1f MiB) through Arrow", staged.name,
                    shape.rows, size / 2**20)
        return collect_batches(staged, projected, shape, fraction)
    logger.info("`%s` is %.1f MiB, over the driver budget of %.1f MiB: the executors write it "
                "as Parquet", staged.name, size / 2**20, budget_bytes / 2**20)
    return _stage(projected, staged, shape, target, fraction, size)


def _stage(projected: Any, staged: FrameInput, shape: Widths, target: ParquetTarget,
           fraction: float | None, size: int) -> list[ParquetInput]:
    """Write ``staged`` as Parquet (split when ``fraction``), or reuse a resumed fit's copy."""
    names = ([f"{staged.name}.parquet"] if fraction is None else
             [f"{staged.name}.parquet", "validation_data.parquet"])
    sizes = [size] if fraction is None else [round(size * (1.0 - fraction)),
                                             round(size * fraction)]
    # The training rows of a table that will be streamed are shuffled once on the way: its
    # row groups are then random samples, whatever order the frame had (sorted by label...).
    shuffle = [staged.name == "data" and sizes[0] > target.stream_over_bytes] + [False]
    settings = {"rows": shape.rows, "fraction": fraction, "seed": SPLIT_SEED,
                "row_group_bytes": ROW_GROUP_BYTES, "file_bytes": FILE_BYTES,
                "shuffle": shuffle[0], "version": 1}
    stamp = frame_stamp(projected, settings)
    if target.reuse and stamp is not None and read_stamp(target.fs, target.path,
                                                         staged.name) == stamp:
        reused = [_staged_copy(staged, shape, target, name) for name in names]
        if all(p is not None for p in reused):
            logger.info("Reusing the staged copy of `%s` (the frame is unchanged) under %s",
                        staged.name, target.uri)
            return [p for p in reused if p is not None]
    write_stamp(target.fs, target.path, staged.name, None)
    _spark_nulls(staged, projected)
    parts = [projected] if fraction is None else projected.randomSplit(
        [1.0 - fraction, fraction], seed=SPLIT_SEED)
    written = [_write_parquet(part, staged, shape, target, name, nbytes, mix)
               for part, name, nbytes, mix in zip(parts, names, sizes, shuffle)]
    write_stamp(target.fs, target.path, staged.name, stamp)
    return written


def _staged_copy(staged: FrameInput, shape: Widths, target: ParquetTarget,
                 name: str) -> ParquetInput | None:
    """The Parquet input ``name`` a first run staged under ``target``, if it is complete."""
    uri = f"{target.uri.rstrip('/')}/{name}"
    if target.scheme == "local":
        uri = "file://" + uri
    copy = ParquetInput(staged.layout, tuple(shape.widths), uri=uri,
                        path=posixpath.join(target.path, name), fs=target.fs)
    if not has_file(target.fs, posixpath.join(copy.path, "_SUCCESS")):
        return None
    rows = sum(p.rows for p in copy.parts())
    return dataclasses.replace(copy, rows=rows,
                               nbytes=rows * _row_bytes(staged.layout, shape.widths))
