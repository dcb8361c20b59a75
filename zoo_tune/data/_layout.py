"""DataFrame columns as model inputs and outputs: the rules, the checks, the output arrays.

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
executors instead, and every trial reads it from there. In ``raydp`` mode the executors hand
their rows to Ray's object store (``ray.data.from_spark``) and trials read those blocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo_tune._spark_line import refuse_connect
from zoo_tune.data._types import LocalArrays
from zoo_tune.errors import InvalidInputError, InvalidTypeError

logger = logging.getLogger(__name__)


#: Default driver budget of ``fit(driver_budget_mb=...)``, in MiB.
DEFAULT_DRIVER_BUDGET_MB = 512.0
#: Seed of the split ``fit(validation_split=...)`` makes.
SPLIT_SEED = 0
INT, FLOAT = "int64", "float32"


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


class LayoutShape:
    """``multi_x`` / ``multi_y`` of anything holding a :class:`FrameLayout` as ``layout``."""

    layout: FrameLayout

    @property
    def multi_x(self) -> bool:
        """Several feature entries: several model inputs."""
        return len(self.layout.features) > 1

    @property
    def multi_y(self) -> bool:
        """Several label entries: several model outputs."""
        return len(self.layout.labels) > 1


@dataclass
class FrameInput(LayoutShape):
    """A DataFrame whose columns were checked against ``feature_cols`` / ``label_cols``.

    Nothing is read from the frame until :func:`load_frames`.
    """

    frame: Any
    name: str
    layout: FrameLayout
    engine: str = field(default="pandas")


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


def unsupported_type(name: str, frame_name: str, type_name: str) -> InvalidTypeError:
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
            return INT
        if isinstance(dt, (T.FractionalType, T.BooleanType)):
            return FLOAT
        return None

    if scalar(dtype) is not None:
        return "scalar", scalar(dtype)  # type: ignore[return-value]
    if isinstance(dtype, T.ArrayType) and scalar(dtype.elementType) is not None:
        return "array", scalar(dtype.elementType)  # type: ignore[return-value]
    if type(dtype).__name__ == "VectorUDT":
        return "vector", FLOAT
    raise unsupported_type(name, frame_name, dtype.simpleString())


def _pandas_kind(frame: Any, name: str, frame_name: str) -> tuple[str, str]:
    """(kind, dtype) of a pandas column, from its dtype or (object columns) its first cell."""
    from pandas.api import types as pt

    series = frame[name]
    if pt.is_bool_dtype(series.dtype):
        return "scalar", FLOAT
    if pt.is_integer_dtype(series.dtype):
        return "scalar", INT
    if pt.is_float_dtype(series.dtype):
        return "scalar", FLOAT
    if series.dtype == object:
        cells = series.dropna()
        first = cells.iloc[0] if len(cells) else None
        if hasattr(first, "toArray"):
            return "vector", FLOAT
        if isinstance(first, (np.ndarray, list, tuple)):
            arr = np.asarray(first)
            if arr.ndim == 1 and arr.dtype.kind in "iub":
                return "array", INT if arr.dtype.kind in "iu" else FLOAT
            if arr.ndim == 1 and arr.dtype.kind == "f":
                return "array", FLOAT
        if first is None and len(series):
            return "scalar", FLOAT  # all missing: reported as nulls
        type_name = f"object holding {type(first).__name__}"
        raise unsupported_type(name, frame_name, type_name)
    raise unsupported_type(name, frame_name, str(series.dtype))


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
            listed); a Spark Connect DataFrame.
        InvalidTypeError: a column type a model cannot take.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"x": [0.5, 1.5], "y": [0, 1]})
        >>> check_frame(df, "data", ["x"], ["y"]).layout.labels[0].dtype
        'int64'
    """
    refuse_connect(frame, f"`{name}`")
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
                dtype = INT if all(d == INT for _, d in kinds) else FLOAT
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
class Widths:
    """Rows and 2-D widths of every model input/output, checked before any array is filled."""

    rows: int
    widths: list[int | None]  # None: 1-D


def raise_nulls(nulls: dict[str, int], frame_name: str) -> None:
    bad = {k: v for k, v in nulls.items() if v}
    if bad:
        shown = ", ".join(f"{k!r}: {v} rows" for k, v in bad.items())
        raise InvalidInputError(f"`{frame_name}` has missing values (null/NaN) in {shown}; drop "
                                f"or fill them first (DataFrame.dropna / fillna).")


def raise_ragged(col: Column, lo: int, hi: int, frame_name: str) -> None:
    raise InvalidInputError(f"Column {col.title!r} of `{frame_name}` holds arrays of different "
                            f"lengths ({lo} to {hi}); a model input needs one length per column.")


def empty_error(frame_name: str) -> InvalidInputError:
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


class Filler:
    """Allocates the output arrays once and copies row blocks into them (train / validation)."""

    def __init__(self, layout: FrameLayout, shape: Widths, mask: np.ndarray | None) -> None:
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
        k = len(self.layout.features)
        return [LocalArrays(part[:k], part[k:], multi_x, multi_y) for part in self.parts]
