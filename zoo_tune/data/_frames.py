"""pandas and Spark DataFrames as trial inputs: :func:`load_frames` reads checked frames.

See :mod:`zoo_tune.data._layout` for the column rules. pandas frames are converted in this
process; Spark frames by :mod:`zoo_tune.data._spark_frames`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from zoo_tune.data._arrow import ParquetTarget, TableInput
from zoo_tune.data._layout import (
    Column,
    Filler,
    FrameInput,
    Widths,
    empty_error,
    raise_nulls,
    raise_ragged,
    split_mask,
    unsupported_type,
)
from zoo_tune.errors import InvalidInputError

logger = logging.getLogger(__name__)


def _pandas_block(frame: Any, col: Column, frame_name: str) -> np.ndarray:
    if col.kind == "scalar":
        return frame[col.names[0]].to_numpy(dtype=col.dtype)
    if col.kind == "stack":
        return np.column_stack([frame[n].to_numpy(dtype=col.dtype) for n in col.names])
    cells = frame[col.names[0]]
    rows = [np.asarray(c.toArray() if hasattr(c, "toArray") else c) for c in cells]
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        raise_ragged(col, min(lengths), max(lengths), frame_name)
    if any(r.ndim != 1 or r.dtype.kind not in "iufb" for r in rows):
        raise unsupported_type(col.names[0], frame_name, "object holding non-numeric arrays")
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
        raise empty_error(staged.name)
    nulls: dict[str, int] = {}
    for col in layout.columns:
        nulls.update(_pandas_nulls(frame, col))
    raise_nulls(nulls, staged.name)
    blocks = [_pandas_block(frame, col, staged.name) for col in layout.columns]
    shape = Widths(len(frame), [None if b.ndim == 1 else b.shape[1] for b in blocks])
    filler = Filler(layout, shape, split_mask(len(frame), fraction))
    filler.add(blocks)
    return filler.result(staged.multi_x, staged.multi_y)


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
        ``(train_input, validation_input)``: ``LocalArrays``, :class:`ParquetInput` or
        :class:`RayBlocksInput` each; the second is ``None`` without ``val`` and
        ``validation_split``.

    Raises:
        InvalidInputError: an empty frame, nulls, ragged arrays, or a bad split.
    """
    budget = driver_budget_mb * 2**20

    def load(staged: FrameInput, fraction: float | None) -> list[Any]:
        if staged.engine == "spark":
            from zoo_tune.data._spark_frames import load_spark_frame

            return load_spark_frame(staged, fraction, budget, target)
        return _load_pandas(staged, fraction)

    parts = load(train, None if val is not None else validation_split)
    if val is not None:
        val_parts = load(val, None)
        _check_widths(parts[0], val_parts[0])
        return parts[0], val_parts[0]
    return parts[0], parts[1] if len(parts) > 1 else None


def _widths_of(part: Any) -> list[int | None]:
    if isinstance(part, TableInput):
        return list(part.widths)
    return [None if a.ndim == 1 else a.shape[1] for a in part.xs + part.ys]


def _check_widths(train: Any, val: Any) -> None:
    a, b = _widths_of(train), _widths_of(val)
    if a != b:
        raise InvalidInputError(f"`validation_data` gives inputs/outputs of widths {b}, but "
                                f"`data` gives {a} (None: one value per row); the frames must "
                                f"match.")
