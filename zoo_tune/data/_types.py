"""The data inputs' shared types: what the driver holds, and what a trial is given.

A leaf module (it imports nothing of zoo_tune), so that the input checks
(:mod:`zoo_tune.data._inputs`), the DataFrame layout (:mod:`zoo_tune.data._layout`) and the
estimator can all name these types without importing each other.

Example:
    >>> import numpy as np
    >>> staged = LocalArrays([np.zeros((2, 3), np.float32)], [np.zeros(2, np.int64)],
    ...                      multi_x=False, multi_y=False)
    >>> CreatorInput(creator=lambda config: [staged]).build({})[0].multi_x
    False
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ArrayInput:
    """Numpy ``(x, y)`` data held once in the Ray object store.

    Attributes:
        ref: ``ObjectRef`` of ``(xs, ys)``, two lists of arrays, or (``callers_ref``) the
            caller's own ``ObjectRef`` of ``(x, y)``.
        multi_x: ``x`` was a list of arrays (several model inputs).
        multi_y: ``y`` was a list of arrays (several model outputs).
        rows: Number of rows.
        callers_ref: ``ref`` is the caller's object, used as it is.
        nbytes: Bytes of the arrays.
    """

    ref: Any
    multi_x: bool
    multi_y: bool
    rows: int
    callers_ref: bool = False
    nbytes: int = 0

    def arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Fetch ``(xs, ys)``: read-only views on the object store, no copy."""
        import ray

        value = ray.get(self.ref)
        if not self.callers_ref:
            return value
        x, y = value
        return (list(x) if self.multi_x else [x]), (list(y) if self.multi_y else [y])


@dataclass(frozen=True)
class CreatorInput:
    """A creator ``config -> DataLoader | tf.data.Dataset``, or a ready torch ``DataLoader``."""

    creator: Callable[[dict], Any] | None = None
    loader: Any = None

    def build(self, config: dict) -> Any:
        """Return the iterable of batches for this trial's ``config``."""
        return self.loader if self.creator is None else self.creator(config)


@dataclass(frozen=True)
class LocalArrays:
    """Validated, cast numpy data still on the driver (before any cluster work).

    ``ref`` is the caller's ``ObjectRef`` when ``xs`` and ``ys`` are exactly its arrays
    (already float32/int64 and contiguous): then nothing is put again.
    """

    xs: list[np.ndarray]
    ys: list[np.ndarray]
    multi_x: bool
    multi_y: bool
    ref: Any = None
