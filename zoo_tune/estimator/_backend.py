"""What a framework backend does inside a trial, and the helpers both backends share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from zoo_tune.data import ArrayInput, CreatorInput, TableInput, TrialInput
from zoo_tune.metrics import MetricSpec

DEFAULT_BATCH_SIZE = 32


class Backend(Protocol):
    """The framework-specific half of a trial; the loop lives in ``_trainable``."""

    framework: str

    def check_on_driver(self, config: dict[str, Any], metric: MetricSpec) -> None:
        """Build one model from ``config`` on the driver; raise on a wrong creator result."""

    def set_threads(self, cpus: int) -> None:
        """Use ``cpus`` threads for this trial's math."""

    def cuda_usable(self) -> tuple[bool, str]:
        """Whether the framework can use CUDA in this process, and why not."""

    def build(self, config: dict[str, Any], device: str = "cpu", precision: str = "32") -> Any:
        """Return the trial state (model, optimizer, loss) for ``config`` on ``device``
        (``"cpu"`` or ``"cuda"``, :mod:`zoo_tune.estimator._device`), training in
        ``precision`` (:mod:`zoo_tune.estimator._precision`)."""

    def train_epoch(self, state: Any, data: Any, config: dict[str, Any]) -> None:
        """Train one epoch on ``data`` (see :func:`materialize`)."""

    def evaluate(self, state: Any, data: Any, config: dict[str, Any], metric: MetricSpec) -> float:
        """Return ``metric`` on ``data``."""

    def save(self, state: Any, directory: str) -> None:
        """Write model (and optimizer) state into ``directory``."""

    def restore(self, state: Any, directory: str) -> None:
        """Load what :meth:`save` wrote into ``state``."""

    def load_model(self, config: dict[str, Any], directory: str | None) -> Any:
        """Rebuild the model for ``config`` with the weights saved in ``directory``."""


def batch_size_of(config: dict[str, Any]) -> int:
    """The trial's batch size: ``config["batch_size"]`` or 32."""
    return int(config.get("batch_size", DEFAULT_BATCH_SIZE))


def materialize(trial_input: TrialInput, config: dict[str, Any], seed: int = 0) -> Any:
    """What a backend trains on: arrays ``(xs, ys, multi_x, multi_y)`` from the object store
    (numpy inputs, node-cached tables of one chunk), a :class:`~zoo_tune.data.Batched`
    (streamed tables, node-cached ones of several chunks; ``seed`` draws their shuffled
    orders), or the creator's batches."""
    if isinstance(trial_input, TableInput) and trial_input.placement == "stream":
        from zoo_tune.data import TableStream

        return TableStream(trial_input, seed)
    if isinstance(trial_input, TableInput):
        from zoo_tune.data import cached_table

        cached = cached_table(trial_input, seed)
        if isinstance(cached, tuple):  # one chunk: the arrays themselves
            xs, ys = cached
            return xs, ys, trial_input.multi_x, trial_input.multi_y
        return cached
    if isinstance(trial_input, ArrayInput):
        xs, ys = trial_input.arrays()
        return xs, ys, trial_input.multi_x, trial_input.multi_y
    assert isinstance(trial_input, CreatorInput)
    return trial_input.build(config)


def rows_of(data: Any) -> int | None:
    """Rows :func:`materialize`'s result holds, ``None`` for a creator's batches."""
    if is_arrays(data):
        return len(data[0][0])
    return getattr(data, "rows", None) if is_batched(data) else None


def is_batched(data: Any) -> bool:
    """Whether :func:`materialize` returned batches cut from parts: a streamed table or a
    node-cached table of several chunks (:class:`~zoo_tune.data._batched.Batched`)."""
    from zoo_tune.data import Batched

    return isinstance(data, Batched)


def is_arrays(data: Any) -> bool:
    """Whether :func:`materialize` returned arrays rather than a batch iterable."""
    return isinstance(data, tuple) and len(data) == 4 and isinstance(data[2], bool)


def slices(rows: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[Any]:
    """Index batches over ``rows`` rows, in ``order`` when given."""
    for start in range(0, rows, batch_size):
        stop = min(start + batch_size, rows)
        yield slice(start, stop) if order is None else order[start:stop]


def metric_value(metric: MetricSpec, y_true: list[np.ndarray], y_pred: list[np.ndarray]) -> float:
    """``metric.fn`` on each output, averaged over outputs."""
    assert metric.fn is not None
    return float(np.mean([metric.fn(t, p) for t, p in zip(y_true, y_pred)]))
