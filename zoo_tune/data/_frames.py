"""pandas and Spark DataFrames as trial inputs: named columns -> numpy arrays through Arrow.

Column rules (the same for features and labels; one entry of ``feature_cols`` /
``label_cols`` is one model input / output):

- a numeric scalar column gives a 1-D array: integer columns (byte, short, int, long)
  ``int64`` (class indices, embedding ids), float, double, decimal and boolean columns
  ``float32``;
- an ``ArrayType`` column of numbers (every row the same length ``k``) or a
  ``pyspark.ml.linalg`` vector column gives an ``(n, k)`` array: ``int64`` for integer
  elements, ``float32`` otherwise (vectors are always ``float32``); in pandas, an object column
  whose cells are numpy arrays, lists or Spark vectors of one length;
- a list of scalar column names (``feature_cols=[["age", "income"]]``) stacks them into one
  ``(n, k)`` input: ``int64`` when every column is an integer column, else ``float32``.

Nulls are refused (Spark ``null``; pandas ``None``/``NaN``), as are string, date, map and struct
columns. Spark frames are cast on the executors and collected as Arrow record batches (never
``toPandas()`` or rows), each batch copied once into the final arrays and then freed. A Spark
frame larger than the driver budget is written as Parquet to the experiment's storage by the
executors instead, and every trial reads it from there.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo_tune.errors import InvalidInputError, InvalidTypeError

logger = logging.getLogger(__name__)

#: Default driver budget of ``fit(driver_budget_mb=...)``, in MiB.
DEFAULT_DRIVER_BUDGET_MB = 512.0
#: Seed of the split ``fit(validation_split=...)`` makes.
SPLIT_SEED = 0
_INT, _FLOAT = "int64", "float32"


def is_spark_frame(data: Any) -> bool:
    """Whether ``data`` is a PySpark DataFrame (pyspark is not imported to find out)."""
    cls = type(data)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.sql")


def is_pandas_frame(data: Any) -> bool:
    """Whether ``data`` is a pandas DataFrame."""
    cls = type(data)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")


def is_frame(data: Any) -> bool:
    """Whether ``data`` is a pandas or Spark DataFrame."""
    return is_spark_frame(data) or is_pandas_frame(data)


@dataclass(frozen=True)
class Column:
    """One model input or output and the DataFrame columns it is made of.

    Attributes:
        names: The source column (or the scalar columns stacked, for ``kind="stack"``).
        kind: ``"scalar"`` (1-D), ``"array"``, ``"vector"`` or ``"stack"`` (2-D).
        dtype: ``"float32"`` or ``"int64"``.
    """

    names: tuple[str, ...]
    kind: str
    dtype: str

    @property
    def title(self) -> str:
        """The column name, or the stacked names, for messages."""
        return self.names[0] if len(self.names) == 1 else str(list(self.names))


@dataclass(frozen=True)
class FrameLayout:
    """What each model input and output is made of."""

    features: tuple[Column, ...]
    labels: tuple[Column, ...]

    @property
    def columns(self) -> tuple[Column, ...]:
        """Features, then labels."""
        return self.features + self.labels

    @property
    def sources(self) -> list[str]:
        """Every source column in output order (stacked ones expanded)."""
        return [name for col in self.columns for name in col.names]


@dataclass
class FrameInput:
    """A DataFrame whose columns were checked against ``feature_cols`` / ``label_cols``.

    Nothing is read from the frame until :func:`load_frames`.
    """

    frame: Any
    name: str
    layout: FrameLayout
    engine: str = field(default="pandas")

    @property
    def multi_x(self) -> bool:
        """Several feature entries: several model inputs."""
        return len(self.layout.features) > 1

    @property
    def multi_y(self) -> bool:
        """Several label entries: several model outputs."""
        return len(self.layout.labels) > 1


# ---------------------------------------------------------------------------------------------
# Column lists and column types
# ---------------------------------------------------------------------------------------------

def _entries(value: Any, what: str) -> list[tuple[str, ...]]:
    """``feature_cols`` / ``label_cols`` -> one tuple of source names per model input/output."""
    if isinstance(value, str):
        return [(value,)]
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidTypeError(f"`{what}` must be a column name or a non-empty list of column "
                               f"names (an inner list stacks scalar columns into one input), "
                               f"but got {value!r}.")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append((item,))
        elif (isinstance(item, (list, tuple)) and item
              and all(isinstance(n, str) for n in item)):
            out.append(tuple(item))
        else:
            raise InvalidTypeError(f"`{what}` items must be column names (str) or lists of "
                                   f"column names, but got {item!r}.")
    return out


def _unsupported(name: str, frame_name: str, type_name: str) -> InvalidTypeError:
    return InvalidTypeError(
        f"Column {name!r} of `{frame_name}` has type {type_name}, which a model cannot take: "
        f"use numeric columns (int/long -> int64, float/double/decimal/boolean -> float32), "
        f"arrays of numbers, or pyspark.ml vectors; encode strings and categories first "
        f"(e.g. pyspark.ml.feature.StringIndexer).")


def _spark_kind(name: str, dtype: Any, frame_name: str) -> tuple[str, str]:
    """(kind, dtype) of a Spark column type."""
    from pyspark.sql import types as T

    def scalar(dt: Any) -> str | None:
        if isinstance(dt, T.IntegralType):
            return _INT
        if isinstance(dt, (T.FractionalType, T.BooleanType)):
            return _FLOAT
        return None

    if scalar(dtype) is not None:
        return "scalar", scalar(dtype)  # type: ignore[return-value]
    if isinstance(dtype, T.ArrayType) and scalar(dtype.elementType) is not None:
        return "array", scalar(dtype.elementType)  # type: ignore[return-value]
    if type(dtype).__name__ == "VectorUDT":
        return "vector", _FLOAT
    raise _unsupported(name, frame_name, dtype.simpleString())


def _pandas_kind(frame: Any, name: str, frame_name: str) -> tuple[str, str]:
    """(kind, dtype) of a pandas column, from its dtype or (object columns) its first cell."""
    from pandas.api import types as pt

    series = frame[name]
    if pt.is_bool_dtype(series.dtype):
        return "scalar", _FLOAT
    if pt.is_integer_dtype(series.dtype):
        return "scalar", _INT
    if pt.is_float_dtype(series.dtype):
        return "scalar", _FLOAT
    if series.dtype == object:
        cells = series.dropna()
        first = cells.iloc[0] if len(cells) else None
        if hasattr(first, "toArray"):
            return "vector", _FLOAT
        if isinstance(first, (np.ndarray, list, tuple)):
            arr = np.asarray(first)
            if arr.ndim == 1 and arr.dtype.kind in "iub":
                return "array", _INT if arr.dtype.kind in "iu" else _FLOAT
            if arr.ndim == 1 and arr.dtype.kind == "f":
                return "array", _FLOAT
        if first is None and len(series):
            return "scalar", _FLOAT  # all missing: reported as nulls
        type_name = f"object holding {type(first).__name__}"
        raise _unsupported(name, frame_name, type_name)
    raise _unsupported(name, frame_name, str(series.dtype))


def check_frame(frame: Any, name: str, feature_cols: Any, label_cols: Any) -> FrameInput:
    """Check ``feature_cols`` / ``label_cols`` against ``frame``'s schema (no Spark job).

    Args:
        frame: A pandas or Spark DataFrame.
        name: The ``fit`` parameter's name, for messages.
        feature_cols: Feature columns, see the module docstring.
        label_cols: Label columns.

    Returns:
        The staged frame for :func:`load_frames`.

    Raises:
        InvalidInputError: missing column lists or an unknown column (the frame's columns are
            listed).
        InvalidTypeError: a column type a model cannot take.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"x": [0.5, 1.5], "y": [0, 1]})
        >>> check_frame(df, "data", ["x"], ["y"]).layout.labels[0].dtype
        'int64'
    """
    if feature_cols is None or label_cols is None:
        missing = [n for n, v in (("feature_cols", feature_cols), ("label_cols", label_cols))
                   if v is None]
        raise InvalidInputError(f"`{name}` is a DataFrame: pass {' and '.join(missing)} to say "
                                f"which columns are the model's inputs and which its targets "
                                f"(e.g. feature_cols=['features'], label_cols=['label']).")
    spark = is_spark_frame(frame)
    columns = list(frame.columns)
    schema = {f.name: f.dataType for f in frame.schema.fields} if spark else {}

    def build(what: str, value: Any) -> tuple[Column, ...]:
        out = []
        for names in _entries(value, what):
            unknown = [n for n in names if n not in columns]
            if unknown:
                raise InvalidInputError(f"`{what}` names {unknown}, which `{name}` does not have; "
                                        f"its columns are {columns}.")
            kinds = [_spark_kind(n, schema[n], name) if spark else _pandas_kind(frame, n, name)
                     for n in names]
            if len(names) == 1:
                kind, dtype = kinds[0]
            else:
                bad = [n for n, (k, _) in zip(names, kinds) if k != "scalar"]
                if bad:
                    raise InvalidTypeError(f"`{what}` stacks {list(names)} into one input, which "
                                           f"takes scalar columns only; {bad} are not scalar.")
                kind = "stack"
                dtype = _INT if all(d == _INT for _, d in kinds) else _FLOAT
            out.append(Column(tuple(names), kind, dtype))
        return tuple(out)

    layout = FrameLayout(build("feature_cols", feature_cols), build("label_cols", label_cols))
    return FrameInput(frame, name, layout, "spark" if spark else "pandas")


def check_same_layout(train: FrameInput, val: FrameInput) -> None:
    """The validation frame must give the same inputs and outputs as the training frame."""
    for a, b in zip(train.layout.columns, val.layout.columns):
        if (a.kind, a.dtype) != (b.kind, b.dtype):
            raise InvalidInputError(
                f"Column {a.title!r} is {a.kind} {a.dtype} in `data` but {b.kind} {b.dtype} in "
                f"`validation_data`; both frames must have the same column types.")


# ---------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------

@dataclass
class _Widths:
    """Rows and 2-D widths of every model input/output, checked before any array is filled."""

    rows: int
    widths: list[int | None]  # None: 1-D


def _raise_nulls(nulls: dict[str, int], frame_name: str) -> None:
    bad = {k: v for k, v in nulls.items() if v}
    if bad:
        shown = ", ".join(f"{k!r}: {v} rows" for k, v in bad.items())
        raise InvalidInputError(f"`{frame_name}` has missing values (null/NaN) in {shown}; drop "
                                f"or fill them first (DataFrame.dropna / fillna).")


def _raise_ragged(col: Column, lo: int, hi: int, frame_name: str) -> None:
    raise InvalidInputError(f"Column {col.title!r} of `{frame_name}` holds arrays of different "
                            f"lengths ({lo} to {hi}); a model input needs one length per column.")


def _empty(frame_name: str) -> InvalidInputError:
    return InvalidInputError(f"`{frame_name}` has no rows.")


def split_mask(rows: int, fraction: float | None) -> np.ndarray | None:
    """``True`` for the rows the seeded split sends to validation (``round(rows*fraction)``)."""
    if fraction is None:
        return None
    n_val = int(round(rows * fraction))
    if n_val == 0 or n_val == rows:
        raise InvalidInputError(f"validation_split={fraction} of {rows} rows leaves "
                                f"{rows - n_val} training and {n_val} validation rows; both "
                                f"need at least one.")
    mask = np.zeros(rows, dtype=bool)
    mask[np.random.default_rng(SPLIT_SEED).permutation(rows)[:n_val]] = True
    return mask


class _Filler:
    """Allocates the output arrays once and copies row blocks into them (train / validation)."""

    def __init__(self, layout: FrameLayout, shape: _Widths, mask: np.ndarray | None) -> None:
        self.layout, self.mask = layout, mask
        n_val = 0 if mask is None else int(mask.sum())
        sizes = [shape.rows - n_val] + ([n_val] if mask is not None else [])
        self.parts = [[np.empty((n,) if w is None else (n, w), dtype=c.dtype)
                       for c, w in zip(layout.columns, shape.widths)] for n in sizes]
        self.seen = 0
        self.filled = [0] * len(sizes)

    def add(self, blocks: list[np.ndarray]) -> None:
        """Copy one block of rows: ``blocks[i]`` for the i-th input/output."""
        n = len(blocks[0])
        if self.mask is None:
            selections: list[Any] = [slice(None)]
        else:
            m = self.mask[self.seen:self.seen + n]
            selections = [~m, m]
        for part, sel, at in zip(self.parts, selections, range(len(self.parts))):
            start = self.filled[at]
            count = n if isinstance(sel, slice) else int(sel.sum())
            for out, block in zip(part, blocks):
                out[start:start + count] = block[sel]
            self.filled[at] += count
        self.seen += n

    def result(self, multi_x: bool, multi_y: bool) -> list[Any]:
        """``LocalArrays`` for training (and validation when split)."""
        from zoo_tune.data._inputs import LocalArrays

        k = len(self.layout.features)
        return [LocalArrays(part[:k], part[k:], multi_x, multi_y) for part in self.parts]


def _pandas_block(frame: Any, col: Column, frame_name: str) -> np.ndarray:
    if col.kind == "scalar":
        return frame[col.names[0]].to_numpy(dtype=col.dtype)
    if col.kind == "stack":
        return np.column_stack([frame[n].to_numpy(dtype=col.dtype) for n in col.names])
    cells = frame[col.names[0]]
    rows = [np.asarray(c.toArray() if hasattr(c, "toArray") else c) for c in cells]
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        _raise_ragged(col, min(lengths), max(lengths), frame_name)
    if any(r.ndim != 1 or r.dtype.kind not in "iufb" for r in rows):
        raise _unsupported(col.names[0], frame_name, "object holding non-numeric arrays")
    return np.stack(rows).astype(col.dtype, copy=False)


def _pandas_nulls(frame: Any, col: Column) -> dict[str, int]:
    out = {}
    for name in col.names:
        series = frame[name]
        count = int(series.isna().sum())
        if col.kind in ("array", "vector"):
            count += int(sum(1 for c in series.dropna()
                             if np.isnan(np.asarray(c.toArray() if hasattr(c, "toArray") else c,
                                                    dtype=float)).any()))
        out[name] = count
    return out


def _load_pandas(staged: FrameInput, fraction: float | None) -> list[Any]:
    frame, layout = staged.frame, staged.layout
    if len(frame) == 0:
        raise _empty(staged.name)
    nulls: dict[str, int] = {}
    for col in layout.columns:
        nulls.update(_pandas_nulls(frame, col))
    _raise_nulls(nulls, staged.name)
    blocks = [_pandas_block(frame, col, staged.name) for col in layout.columns]
    shape = _Widths(len(frame), [None if b.ndim == 1 else b.shape[1] for b in blocks])
    filler = _Filler(layout, shape, split_mask(len(frame), fraction))
    filler.add(blocks)
    return filler.result(staged.multi_x, staged.multi_y)


# --- Spark ------------------------------------------------------------------------------------

def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _arrow_name(i: int) -> str:
    return f"_zt{i}"


def spark_projection(staged: FrameInput) -> Any:
    """The frame reduced to the source columns, cast on the executors (one column each)."""
    from pyspark.sql import functions as F

    exprs = []
    i = 0
    for col in staged.layout.columns:
        target = "bigint" if col.dtype == _INT else "float"
        for name in col.names:
            c = F.col(_quoted(name))
            if col.kind in ("scalar", "stack"):
                c = c.cast(target)
            elif col.kind == "array":
                c = c.cast(f"array<{target}>")
            else:
                from pyspark.ml.functions import vector_to_array

                c = vector_to_array(c, "float32")
            exprs.append(c.alias(_arrow_name(i)))
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


def _spark_size(staged: FrameInput, projected: Any) -> _Widths:
    """One light Spark job: the row count and the length range of each array column.

    Raises:
        InvalidInputError: no rows, or arrays of different lengths in one column.
    """
    from pyspark.sql import functions as F

    aggs = [F.count(F.lit(1)).alias("rows")]
    for i, _col in _array_positions(staged.layout):
        size = F.when(F.col(_arrow_name(i)).isNotNull(), F.size(F.col(_arrow_name(i))))
        aggs += [F.min(size).alias(f"lo{i}"), F.max(size).alias(f"hi{i}")]
    row = projected.agg(*aggs).collect()[0].asDict()
    if row["rows"] == 0:
        raise _empty(staged.name)
    lengths = {}
    for i, col in _array_positions(staged.layout):
        lo, hi = row[f"lo{i}"], row[f"hi{i}"]
        if lo != hi:
            _raise_ragged(col, lo, hi, staged.name)
        lengths[col] = lo
    widths = [lengths.get(c, len(c.names) if c.kind == "stack" else None)
              for c in staged.layout.columns]
    return _Widths(row["rows"], widths)


def _spark_nulls(staged: FrameInput, projected: Any) -> None:
    """One Spark job counting rows with null/NaN per source column (frames never collected)."""
    from pyspark.sql import functions as F

    aggs = []
    i = 0
    for col in staged.layout.columns:
        for _name in col.names:
            c = F.col(_arrow_name(i))
            if col.kind in ("array", "vector"):
                bad = c.isNull() | F.exists(c, lambda x: x.isNull() | F.isnan(x))
            elif col.dtype == _FLOAT:
                bad = c.isNull() | F.isnan(c)
            else:
                bad = c.isNull()
            aggs.append(F.count(F.when(bad, 1)).alias(f"null{i}"))
            i += 1
    row = projected.agg(*aggs).collect()[0].asDict()
    _raise_nulls({name: row[f"null{j}"] for j, name in enumerate(staged.layout.sources)},
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


def _load_spark_batches(staged: FrameInput, projected: Any, shape: _Widths,
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
    _raise_nulls(nulls, staged.name)
    filler = _Filler(staged.layout, shape, split_mask(shape.rows, fraction))
    batches.reverse()
    while batches:  # each batch is copied once, then dropped
        batch = batches.pop()
        if batch.num_rows:
            filler.add(arrow_blocks(batch, staged.layout, shape.widths))
    return filler.result(staged.multi_x, staged.multi_y)


def _row_bytes(layout: FrameLayout, widths: Iterable[int | None]) -> int:
    return sum((w or 1) * np.dtype(c.dtype).itemsize for c, w in zip(layout.columns, widths))


# ---------------------------------------------------------------------------------------------
# Parquet staging for frames over the driver budget
# ---------------------------------------------------------------------------------------------

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
            shape = _Widths(table.num_rows, list(self.widths))
            filler = _Filler(self.layout, shape, None)
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


def _write_parquet(projected: Any, staged: FrameInput, shape: _Widths, target: ParquetTarget,
                   part: str) -> ParquetInput:
    if target.scheme not in ("local", "file", "hdfs"):
        raise InvalidInputError(
            f"`{staged.name}` is over the driver budget, so the executors write it as Parquet "
            f"to the experiment's storage, which Spark writes only on local paths and hdfs:// "
            f"(not {target.scheme}://); raise `driver_budget_mb` or use such a logs_dir.")
    uri = f"{target.uri.rstrip('/')}/{part}"
    if target.scheme == "local":
        uri = "file://" + uri
    projected.write.mode("overwrite").parquet(uri)
    logger.info("Wrote `%s` (%d rows) as Parquet to %s", staged.name, shape.rows, uri)
    return ParquetInput(uri, posixpath.join(target.path, part), target.fs, staged.layout,
                        tuple(shape.widths))


def _load_spark(staged: FrameInput, fraction: float | None, budget_bytes: float,
                target: ParquetTarget | None) -> list[Any]:
    projected = spark_projection(staged)
    shape = _spark_size(staged, projected)
    size = shape.rows * _row_bytes(staged.layout, shape.widths)
    if size <= budget_bytes or target is None:
        logger.info("Collecting `%s` (%d rows, %.1f MiB) through Arrow", staged.name,
                    shape.rows, size / 2**20)
        return _load_spark_batches(staged, projected, shape, fraction)
    logger.info("`%s` is %.1f MiB, over the driver budget of %.1f MiB: the executors write it "
                "as Parquet", staged.name, size / 2**20, budget_bytes / 2**20)
    _spark_nulls(staged, projected)
    if fraction is None:
        return [_write_parquet(projected, staged, shape, target, f"{staged.name}.parquet")]
    train, val = projected.randomSplit([1.0 - fraction, fraction], seed=SPLIT_SEED)
    return [_write_parquet(train, staged, shape, target, f"{staged.name}.parquet"),
            _write_parquet(val, staged, shape, target, "validation_data.parquet")]


def load_frames(train: FrameInput, val: FrameInput | None, *,
                validation_split: float | None, driver_budget_mb: float,
                target: ParquetTarget | None) -> tuple[Any, Any]:
    """Read the checked frames into trial inputs.

    Args:
        train: ``data``, checked by :func:`check_frame`.
        val: ``validation_data`` (or ``None``).
        validation_split: Without ``val``: the fraction of ``train``'s rows held out for
            validation (seeded with :data:`SPLIT_SEED`; driver-side frames split exactly
            ``round(rows * fraction)`` rows, Parquet-staged ones with Spark's
            ``randomSplit``).
        driver_budget_mb: Spark frames larger than this (rows x cast row bytes) are written as
            Parquet to ``target`` instead of being collected.
        target: Where Parquet goes (``None``: always collect).

    Returns:
        ``(train_input, validation_input)``: ``LocalArrays`` or :class:`ParquetInput` each;
        the second is ``None`` without ``val`` and ``validation_split``.

    Raises:
        InvalidInputError: an empty frame, nulls, ragged arrays, or a bad split.
    """
    budget = driver_budget_mb * 2**20

    def load(staged: FrameInput, fraction: float | None) -> list[Any]:
        if staged.engine == "spark":
            return _load_spark(staged, fraction, budget, target)
        return _load_pandas(staged, fraction)

    parts = load(train, None if val is not None else validation_split)
    if val is not None:
        val_parts = load(val, None)
        _check_widths(parts[0], val_parts[0])
        return parts[0], val_parts[0]
    return parts[0], parts[1] if len(parts) > 1 else None


def _widths_of(part: Any) -> list[int | None]:
    if isinstance(part, ParquetInput):
        return list(part.widths)
    return [None if a.ndim == 1 else a.shape[1] for a in part.xs + part.ys]


def _check_widths(train: Any, val: Any) -> None:
    a, b = _widths_of(train), _widths_of(val)
    if a != b:
        raise InvalidInputError(f"`validation_data` gives inputs/outputs of widths {b}, but "
                                f"`data` gives {a} (None: one value per row); the frames must "
                                f"match.")
