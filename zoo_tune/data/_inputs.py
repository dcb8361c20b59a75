"""Validation and object-store placement of ``fit``'s ``data`` and ``validation_data``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from zoo_tune.data._arrow import ParquetInput, RayBlocksInput, TableInput
from zoo_tune.data._layout import FrameInput, check_frame, is_frame
from zoo_tune.data._types import ArrayInput, CreatorInput, LocalArrays
from zoo_tune.errors import InvalidInputError, InvalidTypeError

#: ``fit``'s default ``node_cache_mb``: a staged table up to this many MiB (cast size) is
#: held once per Ray node; a bigger one is streamed.
DEFAULT_NODE_CACHE_MB = 2048.0


TrialInput = Union[ArrayInput, CreatorInput, ParquetInput, RayBlocksInput]


def _as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        arr = value
    elif hasattr(value, "__array__") or isinstance(value, (list, tuple)):
        arr = np.asarray(value)
    else:
        raise InvalidTypeError(f"`{what}` must be a numpy array (or a list of arrays for several "
                               f"inputs/outputs), but got {type(value).__name__}.")
    if arr.ndim == 0:
        raise InvalidInputError(f"`{what}` must have at least one dimension (one row per "
                                f"sample), but got a scalar {arr!r}.")
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise InvalidTypeError(f"`{what}` must hold numbers, but has dtype {arr.dtype}.")
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr)


def _as_arrays(value: Any, what: str) -> tuple[list[np.ndarray], bool]:
    if isinstance(value, list) and value and all(
        isinstance(v, np.ndarray) or hasattr(v, "__array__") for v in value
    ):
        return [_as_array(v, f"{what}[{i}]") for i, v in enumerate(value)], True
    return [_as_array(value, what)], False


def _split_xy(data: Sequence[Any], name: str) -> tuple[list[np.ndarray], list[np.ndarray],
                                                          bool, bool]:
    if len(data) != 2:
        raise InvalidInputError(f"`{name}` as a tuple must be (x, y), but has {len(data)} "
                                f"items.")
    xs, multi_x = _as_arrays(data[0], f"{name} x")
    ys, multi_y = _as_arrays(data[1], f"{name} y")
    rows = {len(a) for a in xs + ys}
    if len(rows) != 1:
        raise InvalidInputError(f"x and y of `{name}` must have the same number of rows, but "
                                f"got x: {[len(a) for a in xs]}, y: {[len(a) for a in ys]}.")
    if rows == {0}:
        raise InvalidInputError(f"`{name}` has no rows.")
    return xs, ys, multi_x, multi_y


def _is_object_ref(data: Any) -> bool:
    cls = type(data)
    return cls.__name__ == "ObjectRef" and cls.__module__.startswith("ray")


def _check_object_ref(ref: Any, name: str) -> LocalArrays:
    """An ``ObjectRef`` of ``(x, y)``: checked on zero-copy views, reused when already cast."""
    import ray

    value = ray.get(ref)
    if not isinstance(value, (tuple, list)):
        raise InvalidTypeError(f"`{name}` is an ObjectRef, which must hold an (x, y) tuple of "
                               f"numpy arrays, but it holds {type(value).__name__}.")
    xs, ys, multi_x, multi_y = _split_xy(value, name)
    given = list(value[0]) if multi_x else [value[0]]
    given += list(value[1]) if multi_y else [value[1]]
    same = all(a is b for a, b in zip(xs + ys, given))
    return LocalArrays(xs, ys, multi_x, multi_y, ref if same else None)


def _is_torch_loader(data: Any) -> bool:
    try:
        from torch.utils.data import DataLoader
    except ImportError:  # pragma: no cover - torch is present whenever from_torch is used
        return False
    return isinstance(data, DataLoader)


def check_input(data: Any, name: str, framework: str, feature_cols: Any = None,
                label_cols: Any = None) -> LocalArrays | CreatorInput | FrameInput | None:
    """Validate ``data`` without touching the cluster; cast numpy data once.

    Args:
        data: ``(x, y)``, a Ray ``ObjectRef`` of ``(x, y)`` (used as it is when its arrays
            are float32/int64 already: the data is then never copied), a creator, a torch
            ``DataLoader``, a pandas or Spark DataFrame, or ``None``.
        name: The ``fit`` parameter's name, for error messages.
        framework: ``"torch"`` or ``"keras"``.
        feature_cols: DataFrame feature columns (see :mod:`zoo_tune.data._frames`).
        label_cols: DataFrame label columns.

    Returns:
        The staged input for :func:`prepare_input` (a DataFrame is only checked against its
        schema here: :func:`~zoo_tune.data.load_frames` reads it), or ``None`` when ``data``
        is ``None``.

    Raises:
        InvalidTypeError: a kind of data the framework does not take.
        InvalidInputError: a malformed ``(x, y)`` tuple or DataFrame columns.
    """
    if data is None:
        return None
    if _is_object_ref(data):
        return _check_object_ref(data, name)
    if is_frame(data):
        return check_frame(data, name, feature_cols, label_cols)
    if isinstance(data, (tuple, list)):
        return LocalArrays(*_split_xy(data, name))
    if framework == "torch" and _is_torch_loader(data):
        return CreatorInput(loader=data)
    if callable(data):
        return CreatorInput(creator=data)
    kinds = ("an (x, y) tuple of numpy arrays, a creator config -> DataLoader, a torch "
             "DataLoader, or a pandas/Spark DataFrame") if framework == "torch" else (
             "an (x, y) tuple of numpy arrays, a creator config -> tf.data.Dataset, or a "
             "pandas/Spark DataFrame")
    raise InvalidTypeError(f"`{name}` must be {kinds}, but got {type(data).__name__}.")


def split_arrays(staged: LocalArrays, fraction: float) -> tuple[LocalArrays, LocalArrays]:
    """Hold out ``round(rows * fraction)`` rows, chosen by a seeded permutation, for validation.

    Example:
        >>> staged = check_input((np.arange(10.0), np.arange(10)), "data", "torch")
        >>> [len(part.xs[0]) for part in split_arrays(staged, 0.2)]
        [8, 2]
    """
    from zoo_tune.data._layout import split_mask

    mask = split_mask(len(staged.xs[0]), fraction)
    assert mask is not None

    def take(rows: np.ndarray) -> LocalArrays:
        return LocalArrays([a[rows] for a in staged.xs], [a[rows] for a in staged.ys],
                           staged.multi_x, staged.multi_y)

    return take(~mask), take(mask)


def prepare_input(staged: LocalArrays | CreatorInput | TableInput | None,
                  node_cache_mb: float = DEFAULT_NODE_CACHE_MB, token: str = ""
                  ) -> TrialInput | None:
    """Make staged input readable by trials: numpy data goes into the object store once.

    A staged table (Parquet, Ray blocks) whose cast size fits ``node_cache_mb`` is read once
    per Ray node into the object store (``placement="node_cache"``); a bigger one is streamed
    (``"stream"``). ``token`` names the fit's node caches. Creators and loaders travel as
    they are.

    Example:
        >>> trial_input = prepare_input(check_input((x, y), "data", "torch"))  # doctest: +SKIP
    """
    if isinstance(staged, LocalArrays):
        import ray

        nbytes = sum(a.nbytes for a in staged.xs + staged.ys)
        if staged.ref is not None:
            return ArrayInput(staged.ref, staged.multi_x, staged.multi_y, len(staged.xs[0]),
                              callers_ref=True, nbytes=nbytes)
        ref = ray.put((staged.xs, staged.ys))
        return ArrayInput(ref, staged.multi_x, staged.multi_y, len(staged.xs[0]),
                          nbytes=nbytes)
    if isinstance(staged, TableInput):
        placement = "node_cache" if staged.nbytes <= node_cache_mb * 2**20 else "stream"
        return dataclasses.replace(staged, placement=placement, cache_token=token)
    return staged


def describe_input(trial_input: Any) -> dict[str, Any] | None:
    """What a trial input is, for the experiment's metadata file.

    Example:
        >>> describe_input(None) is None
        True
    """
    if trial_input is None:
        return None
    if isinstance(trial_input, TableInput):
        out = {"kind": trial_input.placement, "rows": trial_input.rows,
               "bytes": trial_input.nbytes}
        if isinstance(trial_input, ParquetInput):
            return {**out, "source": "parquet", "uri": trial_input.uri}
        assert isinstance(trial_input, RayBlocksInput)
        return {**out, "source": "ray_blocks", "blocks": len(trial_input.refs)}
    if isinstance(trial_input, ArrayInput):
        return {"kind": "arrays", "rows": trial_input.rows, "bytes": trial_input.nbytes}
    if isinstance(trial_input, LocalArrays):
        return {"kind": "arrays", "rows": len(trial_input.xs[0]),
                "bytes": sum(a.nbytes for a in trial_input.xs + trial_input.ys)}
    return {"kind": "loader" if trial_input.creator is None else "creator"}


def sample_rows(trial_input: Any, rows: int = 8) -> list[np.ndarray] | None:
    """The first ``rows`` rows of each model input of an array input or a table (a model
    signature's example), or ``None`` for creators and loaders.

    Example:
        >>> sample_rows(LocalArrays([np.zeros((20, 3))], [np.zeros(20)], False, False))[0].shape
        (8, 3)
    """
    if isinstance(trial_input, ArrayInput):
        xs, _ = trial_input.arrays()
        return [np.array(x[:rows]) for x in xs]
    if isinstance(trial_input, LocalArrays):
        return [np.array(x[:rows]) for x in trial_input.xs]
    if isinstance(trial_input, TableInput):  # the first part only
        parts = trial_input.parts()
        if parts:
            blocks = trial_input.read_part(parts[0])
            return [np.array(b[:rows]) for b in blocks[:len(trial_input.layout.features)]]
    return None
