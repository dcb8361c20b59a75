"""The Ray Tune function every trial runs: one reported iteration per epoch."""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from typing import Any

from zoo_tune.data import TrialInput
from zoo_tune.estimator._backend import Backend, materialize
from zoo_tune.metrics import MetricSpec

#: Result key holding the 1-based epoch number of a report.
EPOCH_KEY = "epoch"


@dataclass(frozen=True)
class TrialPlan:
    """Everything a trial needs besides its config; shipped once through the object store.

    Attributes:
        backend: The framework backend (holds the user's creators).
        train: Training input.
        validation: Validation input, or ``None`` to evaluate on ``train``.
        metric: The metric to report and rank by.
        epochs: Epochs per trial.
        threshold: Stop the trial once the metric reaches this value.
        cpus: CPUs per trial, used as the framework's thread count.
        checkpoint_every_epoch: Checkpoint each epoch, not only improving ones: population
            based schedulers clone a trial from its latest state.
    """

    backend: Backend
    train: TrialInput
    validation: TrialInput | None
    metric: MetricSpec
    epochs: int
    threshold: float | None
    cpus: int
    checkpoint_every_epoch: bool = False


def improves(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` beats ``best`` in ``mode``; NaN never improves."""
    if math.isnan(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


def reached(value: float, threshold: float | None, mode: str) -> bool:
    """Whether ``value`` meets ``threshold`` (``>=`` for max, ``<=`` for min)."""
    if threshold is None or math.isnan(value):
        return False
    return value >= threshold if mode == "max" else value <= threshold


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    """Train ``plan.epochs`` epochs, report the metric each epoch, checkpoint improvements.

    Only epochs that improve the trial's best metric write a checkpoint (every epoch under
    population based training), so the kept checkpoint is always the best epoch's. A
    checkpoint handed back by a scheduler (PBT cloning a better trial) is restored first,
    with this trial's own, possibly perturbed, hyper-parameters; training resumes after its
    epoch.
    """
    from ray import tune

    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    backend, metric = plan.backend, plan.metric
    backend.set_threads(plan.cpus)
    state = backend.build(config)
    train = materialize(plan.train, config)
    val = train if plan.validation is None else materialize(plan.validation, config)
    start, best = 0, None
    resumed = tune.get_checkpoint()
    if resumed is not None:
        with resumed.as_directory() as directory:
            backend.restore(state, directory)
            start, best = _read_progress(directory)
    for epoch in range(start + 1, plan.epochs + 1):
        backend.train_epoch(state, train, config)
        value = backend.evaluate(state, val, config, metric)
        result = {metric.name: value, EPOCH_KEY: epoch}
        improved = improves(value, best, metric.mode)
        if improved:
            best = value
        if improved or plan.checkpoint_every_epoch:
            with tempfile.TemporaryDirectory(prefix="zoo_tune_ckpt_") as directory:
                backend.save(state, directory)
                _write_progress(directory, epoch, value if best is None else best)
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            tune.report(result)
        if reached(value, plan.threshold, metric.mode):
            return


_PROGRESS = "progress.txt"


def _write_progress(directory: str, epoch: int, best: float) -> None:
    with open(f"{directory}/{_PROGRESS}", "w", encoding="utf-8") as f:
        f.write(f"{epoch} {best!r}")


def _read_progress(directory: str) -> tuple[int, float | None]:
    try:
        with open(f"{directory}/{_PROGRESS}", encoding="utf-8") as f:
            epoch, best = f.read().split()
        return int(epoch), float(best)
    except FileNotFoundError:
        return 0, None
