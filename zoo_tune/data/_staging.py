"""``fit``'s data arguments together: check them all first, read DataFrames last."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from zoo_tune.data._arrow import ParquetTarget
from zoo_tune.data._frames import load_frames
from zoo_tune.data._inputs import CreatorInput, LocalArrays, check_input, split_arrays
from zoo_tune.data._layout import DEFAULT_DRIVER_BUDGET_MB, FrameInput, check_same_layout
from zoo_tune.errors import InvalidInputError, InvalidTypeError


@dataclass
class StagedData:
    """Checked ``data`` / ``validation_data``, not yet read (DataFrames) or shipped."""

    train: Any
    validation: Any
    validation_split: float | None
    driver_budget_mb: float

    @property
    def has_frames(self) -> bool:
        """Whether a DataFrame still has to be read."""
        return isinstance(self.train, FrameInput) or isinstance(self.validation, FrameInput)


def check_mib(name: str, value: Any) -> float:
    """``value`` as a float number of MiB >= 0, or the error naming ``name``.

    Example:
        >>> check_mib("node_cache_mb", 512)
        512.0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"`{name}` must be a number of MiB >= 0, but got {value!r}.")
    if value != value or value < 0:  # NaN or negative
        raise InvalidInputError(f"`{name}` must be a number of MiB >= 0, but got {value!r}.")
    return float(value)


def _check_fraction(validation_split: Any) -> float | None:
    if validation_split is None:
        return None
    if (isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real)
            or not 0.0 < float(validation_split) < 1.0):
        raise InvalidInputError(f"`validation_split` must be a fraction strictly between 0 and "
                                f"1 (e.g. 0.2), but got {validation_split!r}.")
    return float(validation_split)


def stage_data(data: Any, validation_data: Any, framework: str, *, feature_cols: Any = None,
               label_cols: Any = None, validation_split: Any = None,
               driver_budget_mb: Any = DEFAULT_DRIVER_BUDGET_MB) -> StagedData:
    """Check every data argument of ``fit`` without reading a DataFrame's rows.

    A DataFrame without ``validation_data`` gets ``validation_split=0.2`` unless told
    otherwise: its metric is never computed on the training rows.

    Raises:
        InvalidInputError, InvalidTypeError: the first bad argument, named.

    Example:
        >>> import numpy as np
        >>> staged = stage_data((np.zeros((10, 2)), np.zeros(10)), None, "torch",
        ...                     validation_split=0.3)
        >>> [len(part.xs[0]) for part in load_staged(staged, None)]
        [7, 3]
    """
    fraction = _check_fraction(validation_split)
    driver_budget_mb = check_mib("driver_budget_mb", driver_budget_mb)
    train = check_input(data, "data", framework, feature_cols, label_cols)
    if train is None:
        raise InvalidInputError("`data` is required.")
    if not isinstance(train, FrameInput) and (feature_cols is not None
                                              or label_cols is not None):
        raise InvalidInputError("`feature_cols` / `label_cols` apply to DataFrame inputs only; "
                                f"`data` is {type(data).__name__}.")
    val = check_input(validation_data, "validation_data", framework, feature_cols, label_cols)
    if isinstance(train, FrameInput) != isinstance(val, FrameInput) and val is not None:
        raise InvalidTypeError(f"`data` and `validation_data` must both be DataFrames or both "
                               f"not; got {type(data).__name__} and "
                               f"{type(validation_data).__name__}.")
    if isinstance(train, FrameInput) and isinstance(val, FrameInput):
        check_same_layout(train, val)
    if fraction is not None:
        if val is not None:
            raise InvalidInputError("Pass either `validation_data` or `validation_split`, not "
                                    "both.")
        if isinstance(train, CreatorInput):
            raise InvalidInputError("`validation_split` splits numpy arrays and DataFrames; a "
                                    "data creator or DataLoader needs `validation_data`.")
    elif val is None and isinstance(train, FrameInput):
        fraction = 0.2
    return StagedData(train, val, fraction, float(driver_budget_mb))


def load_staged(staged: StagedData, target: ParquetTarget | None) -> tuple[Any, Any]:
    """Read DataFrames (or write them as Parquet to ``target``) and split numpy data.

    Returns:
        ``(train, validation)`` ready for :func:`~zoo_tune.data.prepare_input`.
    """
    if isinstance(staged.train, FrameInput):
        return load_frames(staged.train, staged.validation,
                           validation_split=staged.validation_split,
                           driver_budget_mb=staged.driver_budget_mb, target=target)
    if staged.validation_split is not None and isinstance(staged.train, LocalArrays):
        return split_arrays(staged.train, staged.validation_split)
    return staged.train, staged.validation
