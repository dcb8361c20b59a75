"""The Ray Tune function every trial runs: one reported iteration per epoch."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import posixpath
import tempfile
import time
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from zoo_tune.data import CreatorInput, TrialInput
from zoo_tune.errors import UserCodeError
from zoo_tune.estimator._backend import Backend, is_batched, materialize, rows_of
from zoo_tune.estimator._checkpoints import (
    CHECKPOINT_PREFIX,
    Kept,
    delete,
    read_progress,
    scan,
    superseded,
    write_progress,
)
from zoo_tune.estimator._device import trial_device
from zoo_tune.estimator._precision import trial_precision
from zoo_tune.metrics import MetricSpec
from zoo_tune.progress import ROWS_PER_S_KEY

logger = logging.getLogger(__name__)

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
        checkpoint_every_epoch: Keep every epoch's checkpoint (population based schedulers
            clone a trial from another's recent state): nothing is pruned.
        keep_checkpoints: Best-epoch checkpoints kept per trial (``None``: every improving
            epoch's), besides the newest while the trial runs.
        retry_user_errors: Let Ray Tune retry exceptions of the user's code too.
        device: ``fit``'s ``device`` (:mod:`zoo_tune.estimator._device`).
        precision: ``fit``'s ``precision`` (:mod:`zoo_tune.estimator._precision`).
    """

    backend: Backend
    train: TrialInput
    validation: TrialInput | None
    metric: MetricSpec
    epochs: int
    threshold: float | None
    cpus: int
    checkpoint_every_epoch: bool = False
    keep_checkpoints: int | None = 1
    retry_user_errors: bool = False
    device: str = "auto"
    precision: str = "32"

    @property
    def prunes(self) -> bool:
        """Whether trials delete their superseded checkpoints."""
        return not self.checkpoint_every_epoch


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
    """Train ``plan.epochs`` epochs, report the metric each epoch, keep a resumable state.

    Every epoch writes a checkpoint, so a retried trial (lost worker, node, executor or
    failed write) or a resumed run continues from the newest one; older ones that are not
    among the ``plan.keep_checkpoints`` best epochs are deleted once a newer one is on storage
    (:mod:`zoo_tune.estimator._checkpoints`). A checkpoint handed back by a scheduler (PBT
    cloning a better trial) is restored the same way, with this trial's own, possibly
    perturbed, hyper-parameters; training resumes after its epoch.

    An exception from the user's code (creators, forward pass, loss, metric) is raised as
    :class:`UserCodeError` unless ``plan.retry_user_errors``: it is deterministic, so Ray
    Tune does not retry it (:mod:`zoo_tune.estimator._retry`).
    """
    from ray import tune

    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    backend, metric = plan.backend, plan.metric
    user = functools.partial(user_code, retry=plan.retry_user_errors)
    # Before the framework's first import here: it sees only the GPUs this trial holds.
    device = trial_device(plan.device, backend.cuda_usable)
    precision = trial_precision(plan.precision, device, cuda_required=plan.device == "cuda")
    backend.set_threads(plan.cpus)
    with user("model, optimizer or loss creator"):
        state = backend.build(config, device, precision)
    seed = _trial_seed()
    train = _materialize(plan.train, config, user, seed)
    val = train if plan.validation is None else _materialize(plan.validation, config, user,
                                                             seed)
    train_rows = rows_of(train)
    start, best, kept, history = 0, None, [], []
    resumed = tune.get_checkpoint()
    if plan.prunes:  # this trial's own checkpoints (PBT hands over other trials')
        resumed, kept, names = _newest_on_storage(resumed)
        _name_past(names)
    if resumed is not None:
        with resumed.as_directory() as directory:
            backend.restore(state, directory)
            progress = read_progress(directory)
        start, best = int(progress["epoch"]), progress["best"]
        history = [list(h) for h in progress.get("history", [])]
        value = progress.get("value")
        if start >= plan.epochs or (value is not None and
                                    reached(float(value), plan.threshold, metric.mode)):
            # It had finished before the driver was lost: report its last epoch again (no
            # training) so the searcher and scheduler see its result.
            tune.report({metric.name: value, EPOCH_KEY: start, "training_iteration": start})
            return
    for epoch in range(start + 1, plan.epochs + 1):
        if is_batched(train):
            train.set_epoch(epoch)
        began = time.perf_counter()
        with user("training step (forward pass, loss or optimizer)"):
            backend.train_epoch(state, train, config)
        took = time.perf_counter() - began
        with user("evaluation (forward pass or metric)"):
            value = backend.evaluate(state, val, config, metric)
        # training_iteration = epoch, also after resuming from a newer checkpoint than the
        # one Ray Tune's last snapshot knew: schedulers and the stopper count epochs.
        result = {metric.name: value, EPOCH_KEY: epoch, "training_iteration": epoch}
        if train_rows is not None and took > 0:
            result[ROWS_PER_S_KEY] = train_rows / took
        improved = improves(value, best, metric.mode)
        if improved:
            best = value
        history = [h for h in history if h[0] < epoch] + [[epoch, value]]
        with tempfile.TemporaryDirectory(prefix="zoo_tune_ckpt_") as directory:
            backend.save(state, directory)
            write_progress(directory, epoch, value, best, improved, history, metric.name,
                           config)
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(directory))
        saved = tune.get_checkpoint()
        if plan.prunes and saved is not None:
            # The folder now holds this epoch, whatever it held before.
            kept = [k for k in kept if k.path.rstrip("/") != saved.path.rstrip("/")]
            kept.append(Kept(saved.path, epoch, value, improved))
            gone = superseded(kept, plan.keep_checkpoints)
            delete(saved.filesystem, gone)
            kept = [k for k in kept if k not in gone]
        if reached(value, plan.threshold, metric.mode):
            return


def _trial_storage() -> tuple[Any, str | None]:
    """``(filesystem, trial folder)`` of the running trial, from Ray's session."""
    try:
        from ray.train._internal.session import get_session

        storage = get_session().storage
        return storage.storage_filesystem, storage.trial_fs_path
    except (ImportError, AttributeError):  # Ray's private names moved: Ray's checkpoint only
        return None, None


def _newest_on_storage(given: Any) -> tuple[Any, list[Kept], list[str]]:
    """The newest of this trial's checkpoints on storage (else ``given``), all complete ones,
    and the names of every checkpoint folder there (cut short ones included).

    Ray Tune restores the checkpoint its newest experiment snapshot names, or none; a driver
    killed between snapshots leaves newer ones on storage (and the named one may be pruned).
    """
    from ray import tune

    if given is not None:
        fs, folder = given.filesystem, posixpath.dirname(given.path.rstrip("/"))
    else:
        fs, folder = _trial_storage()
    if folder is None:
        return given, [], []
    kept, names = scan(fs, folder)
    if not kept or (given is not None and kept[-1].path.rstrip("/") == given.path.rstrip("/")):
        return given, kept, names
    return tune.Checkpoint(kept[-1].path, filesystem=fs), kept, names


def _name_past(names: list[str]) -> None:
    """Make this trial's next checkpoint folder's name newer than every one on storage.

    Ray Tune names checkpoints ``checkpoint_<index>`` from a counter its experiment snapshot
    restores; a driver killed after a trial persisted a checkpoint but before the next
    snapshot restores a counter that lags storage, and the resumed (or retried) trial's next
    checkpoint would be written into the folder of an older epoch, which the pruning of
    superseded checkpoints then deleted: the trial ended with an epoch missing (issue 11).
    """
    indexes = [i for i in map(_index, names) if i is not None]
    if not indexes:
        return
    try:
        from ray.train._internal.session import get_session

        storage = get_session().storage
        if storage.current_checkpoint_index < max(indexes):
            storage.current_checkpoint_index = max(indexes)  # the next report adds one
    except (ImportError, AttributeError):  # Ray's private names moved: Ray's own counter
        logger.warning("Cannot set Ray Tune's checkpoint counter; a resumed trial may reuse "
                       "a checkpoint folder name.")


def _index(name: str) -> int | None:
    """``N`` of a ``checkpoint_N`` folder name, else ``None``."""
    digits = name[len(CHECKPOINT_PREFIX):]
    return int(digits) if name.startswith(CHECKPOINT_PREFIX) and digits.isdigit() else None


def _trial_seed() -> int:
    """A seed of this trial's own (its id's CRC), for the shuffled order of streamed data."""
    try:
        from ray import tune

        trial_id = tune.get_context().get_trial_id() or ""
    except (ImportError, AttributeError, RuntimeError):  # outside a Tune session
        trial_id = ""
    return zlib.crc32(trial_id.encode("utf-8"))


def _materialize(trial_input: TrialInput, config: dict[str, Any], user: Any,
                 seed: int) -> Any:
    """:func:`materialize`; a creator's exception is the user's, a storage read's is not."""
    if isinstance(trial_input, CreatorInput):
        with user("data creator"):
            return materialize(trial_input, config, seed)
    return materialize(trial_input, config, seed)


@contextlib.contextmanager
def user_code(what: str, retry: bool = False) -> Iterator[None]:
    """Raise an exception of the user's code inside this block as :class:`UserCodeError`.

    Args:
        what: Which part of the user's code runs here, for the message.
        retry: Re-raise the exception unchanged instead, so Ray Tune retries it like a
            lost worker (``fit(retry_user_errors=True)``).
    """
    try:
        yield
    except Exception as err:
        if retry or isinstance(err, UserCodeError):
            raise
        raise UserCodeError(f"The {what} raised {type(err).__name__}: {err}\n"
                            f"{traceback.format_exc()}") from err
