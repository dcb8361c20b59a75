"""``AutoEstimator``: the user-facing facade; validate, launch Ray Tune, read results back."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import math
import numbers
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from zoo_tune import hp as hp_module
from zoo_tune._experiment import META_FILE, STATE_FILE, read_meta
from zoo_tune.data import DEFAULT_NODE_CACHE_MB
from zoo_tune.errors import (
    AlreadyFittedError,
    FitInterruptedError,
    InvalidInputError,
    InvalidTypeError,
    NotFittedError,
    StorageUnavailableError,
    TrialError,
)
from zoo_tune.estimator._backend import Backend
from zoo_tune.estimator._output import report
from zoo_tune.estimator._resume import check_resume, decide
from zoo_tune.estimator._trainable import TrialPlan, reached, run_trial
from zoo_tune.metrics import MetricSpec, check_mode, resolve_metric
from zoo_tune.results import (
    TrialRecord,
    best_trial,
    preserve_results,
    read_trials,
    trial_table,
)

logger = logging.getLogger(__name__)

DEFAULT_LOGS_DIR = "/tmp/zoo_tune_logs"


def _positive_int(name: str, value: Any, allow: tuple[int, ...] = ()) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"`{name}` must be an int, but got {value!r} of type "
                               f"{type(value).__name__}.")
    if value < 1 and value not in allow:
        extra = f" (or {', '.join(map(str, allow))})" if allow else ""
        raise InvalidInputError(f"`{name} >= 1`{extra} must hold, but got {name}={value!r}.")
    return int(value)


def _sample_config(space: Mapping[str, Any]) -> dict[str, Any]:
    from ray.tune.search.variant_generator import generate_variants

    for _, config in generate_variants(hp_module.to_ray_space(space)):
        return config
    raise InvalidInputError("`search_space` produced no configuration.")


def _check_pairing(searcher: Any, scheduler: Any, n_sampling: int,
                   space: Mapping[str, Any]) -> None:
    """Scheduler rules Ray Tune would only enforce once trials are being added."""
    from ray.tune.schedulers import HyperBandForBOHB, PopulationBasedTrainingReplay

    if isinstance(scheduler, HyperBandForBOHB) and type(searcher).__name__ != "TuneBOHB":
        raise InvalidInputError(f"scheduler='hb_bohb' must be paired with search_alg='bohb', "
                                f"but got search_alg {type(searcher).__name__}; pass "
                                f"search_alg='bohb' or another scheduler.")
    if isinstance(scheduler, PopulationBasedTrainingReplay) and (
            n_sampling != 1 or hp_module.grid_size(space) > 1):
        raise InvalidInputError("scheduler='pbt_replay' replays one trial's schedule: pass "
                                "n_sampling=1 and no hp.grid_search.")


def _clones_trials(scheduler: Any) -> bool:
    """Whether ``scheduler`` restarts trials from their latest checkpoint (PBT family)."""
    from ray.tune.schedulers import PopulationBasedTraining, PopulationBasedTrainingReplay

    return isinstance(scheduler, (PopulationBasedTraining, PopulationBasedTrainingReplay))


def _finished(epochs: int, metric: str, mode: str, threshold: float | None, trial_id: str,
              result: dict[str, Any]) -> bool:
    """Tune stopper: the trial has run its epochs or reached the metric threshold.

    It holds four plain values only: Tune pickles its stopper into every experiment snapshot.
    """
    value = result.get(metric)
    return result.get("training_iteration", 0) >= epochs or (
        value is not None and reached(float(value), threshold, mode))


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"




def _meta_core(plan: TrialPlan, space: Mapping[str, Any]) -> dict[str, Any]:
    """The stored experiment's identity: what a resuming ``fit`` must match."""
    try:
        space_json: Any = json.loads(hp_module.space_to_json(space))
    except TypeError:  # a constant JSON cannot hold; the pickled state keeps it
        space_json = repr(dict(space))
    return {"framework": plan.backend.framework, "metric": plan.metric.name,
            "mode": plan.metric.mode, "epochs": plan.epochs, "search_space": space_json}


def _setup(search_alg: Any, scheduler: Any, n_sampling: int) -> dict[str, Any]:
    """How the search was set up, beside the experiment's identity (for MLflow's params)."""
    from zoo_tune.cluster import current_context
    from zoo_tune.tracking._layout import choice_name

    ctx = current_context()
    return {"search_alg": choice_name(search_alg), "scheduler": choice_name(scheduler),
            "cluster_mode": ctx.cluster_mode if ctx is not None else "local",
            "n_sampling": n_sampling}


def _write_experiment_meta(store: Any, name: str, plan: TrialPlan,
                           space: Mapping[str, Any], finished: bool,
                           setup: Mapping[str, Any] | None = None) -> None:
    """Write what :meth:`AutoEstimator.load` and a resuming ``fit`` need.

    Written before the first trial starts (``finished`` false) and again, marked finished,
    once Ray Tune's loop has ended on its own.
    """
    import cloudpickle

    from zoo_tune.data import describe_input

    meta = {**_meta_core(plan, space), "finished": finished, "setup": dict(setup or {}),
            "data": {"data": describe_input(plan.train),
                     "validation_data": describe_input(plan.validation)}}
    if not finished:
        state = {"backend": plan.backend, "metric": plan.metric, "space": dict(space)}
        store.write_bytes(f"{name}/{STATE_FILE}", cloudpickle.dumps(state))
    store.write_bytes(f"{name}/{META_FILE}", json.dumps(meta, indent=1).encode("utf-8"))


@dataclasses.dataclass(frozen=True)
class _CheckedFit:
    """``fit``'s arguments once checked: the staged data, the trial plan and the search."""

    staged: Any
    plan: TrialPlan
    space: Mapping[str, Any]
    searcher: Any
    sched: Any
    n_sampling: int
    time_budget_s: float | None
    verbose: int
    node_cache_mb: float
    max_failures: int
    mlflow_uri: str | None
    mlflow_experiment: str | None


class AutoEstimator:
    """Distributed hyper-parameter tuning of a PyTorch or Keras model on Ray Tune.

    Build one with :meth:`from_torch` or :meth:`from_keras`, call :meth:`fit` once, then read
    :meth:`get_best_model`, :meth:`get_best_config` and :meth:`get_trial_table`.

    Example:
        >>> est = AutoEstimator.from_torch(model_creator=make_model, optimizer="Adam",
        ...                                loss="CrossEntropyLoss")  # doctest: +SKIP
        >>> est.fit((x, y), validation_data=(xv, yv), epochs=2, metric="accuracy",
        ...         search_space={"lr": hp.loguniform(1e-4, 1e-1)}, n_sampling=4)  # doctest: +SKIP
        >>> est.get_best_config()  # doctest: +SKIP
        {'lr': 0.0031...}
    """

    def __init__(self, backend: Backend, *, logs_dir: str = DEFAULT_LOGS_DIR,
                 resources_per_trial: Mapping[str, float] | None = None,
                 name: str | None = None, remote_dir: str | None = None,
                 keep_checkpoints: int | None = 1) -> None:
        from zoo_tune.cluster import normalize_resources

        for key, value in (("logs_dir", logs_dir), ("name", name), ("remote_dir", remote_dir)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidTypeError(f"`{key}` must be a non-empty string, but got {value!r}.")
        from zoo_tune.storage import resolve_storage

        self._setup: dict[str, Any] = {}  # searcher, scheduler, cluster mode (fit's metadata)
        self._storage = resolve_storage(remote_dir or logs_dir)  # scheme checked up front
        self.backend = backend
        self.logs_dir = logs_dir
        self.remote_dir = remote_dir
        self.name = name
        self.resources_per_trial = normalize_resources(resources_per_trial)
        if keep_checkpoints is not None:
            keep_checkpoints = _positive_int("keep_checkpoints", keep_checkpoints)
        self.keep_checkpoints = keep_checkpoints
        self._records: list[TrialRecord] | None = None
        self._metric: MetricSpec | None = None
        self._best: TrialRecord | None = None
        self._experiment_dir: str | None = None
        self._search_space: dict[str, Any] | None = None
        self.experiment_path: str | None = None

    @classmethod
    def from_torch(cls, *, model_creator: Callable[[dict], Any], optimizer: Any, loss: Any,
                   logs_dir: str = DEFAULT_LOGS_DIR,
                   resources_per_trial: Mapping[str, float] | None = None,
                   name: str | None = None, remote_dir: str | None = None,
                   keep_checkpoints: int | None = 1) -> AutoEstimator:
        """An estimator for a PyTorch model.

        Args:
            model_creator: ``config -> torch.nn.Module``.
            optimizer: A creator ``(model, config) -> torch.optim.Optimizer`` or a
                ``torch.optim`` class name such as ``"Adam"`` (learning rate ``config["lr"]``,
                default 1e-3).
            loss: A loss instance (``nn.NLLLoss()``), a creator ``config -> loss``, or a
                ``torch.nn`` loss class name (``"BCELoss"``).
            logs_dir: Where trial results and checkpoints go.
            resources_per_trial: ``{"cpu": n}`` (also ``gpu``, ``memory``); ``n`` is the
                trial's torch thread count too. ``{"cpu": 1, "gpu": 1}``: each trial holds a
                GPU of its own (``0.5``: two trials share one); see ``fit``'s ``device``.
            name: The experiment's folder under ``logs_dir`` (default: timestamped).
            remote_dir: When set, results and checkpoints are stored here instead.
            keep_checkpoints: Best-epoch checkpoints kept per trial (default 1; ``None``
                keeps every improving epoch's). Population based schedulers keep all.

        Raises:
            InvalidInputError: unknown optimizer or loss name (valid names listed).
        """
        from zoo_tune.estimator._torch import TorchBackend, check_loss, check_optimizer

        if not callable(model_creator):
            raise InvalidTypeError(f"`model_creator` must be callable config -> nn.Module, "
                                   f"but got {model_creator!r}.")
        check_optimizer(optimizer)
        check_loss(loss)
        return cls(TorchBackend(model_creator, optimizer, loss), logs_dir=logs_dir,
                   resources_per_trial=resources_per_trial, name=name, remote_dir=remote_dir,
                   keep_checkpoints=keep_checkpoints)

    @classmethod
    def from_keras(cls, *, model_creator: Callable[[dict], Any],
                   logs_dir: str = DEFAULT_LOGS_DIR,
                   resources_per_trial: Mapping[str, float] | None = None,
                   name: str | None = None, remote_dir: str | None = None,
                   keep_checkpoints: int | None = 1) -> AutoEstimator:
        """An estimator for a ``tf.keras`` model.

        Args:
            model_creator: ``config -> keras.Model``, compiled (loss, optimizer, metrics).
            logs_dir: Where trial results and checkpoints go.
            resources_per_trial: ``{"cpu": n}`` (also ``gpu``, ``memory``); ``n`` is
                TensorFlow's thread count too; with ``gpu`` TensorFlow sees only the trial's
                GPUs.
            name: The experiment's folder under ``logs_dir`` (default: timestamped).
            remote_dir: When set, results and checkpoints are stored here instead.
            keep_checkpoints: Best-epoch checkpoints kept per trial (default 1; ``None``
                keeps every improving epoch's). Population based schedulers keep all.
        """
        from zoo_tune.estimator._keras import KerasBackend

        if not callable(model_creator):
            raise InvalidTypeError(f"`model_creator` must be callable config -> keras.Model, "
                                   f"but got {model_creator!r}.")
        return cls(KerasBackend(model_creator), logs_dir=logs_dir,
                   resources_per_trial=resources_per_trial, name=name, remote_dir=remote_dir,
                   keep_checkpoints=keep_checkpoints)

    def fit(
        self,
        data: Any,
        epochs: int = 1,
        validation_data: Any = None,
        metric: str | Callable[..., float] | None = None,
        metric_mode: str | None = None,
        metric_threshold: float | None = None,
        n_sampling: int = 1,
        search_space: Mapping[str, Any] | None = None,
        search_alg: Any = None,
        search_alg_params: Mapping[str, Any] | None = None,
        scheduler: Any = None,
        scheduler_params: Mapping[str, Any] | None = None,
        feature_cols: list[str] | None = None,
        label_cols: list[str] | None = None,
        mode: str | None = None,
        time_budget_s: float | None = None,
        verbose: int = 1,
        validation_split: float | None = None,
        driver_budget_mb: float = 512.0,
        node_cache_mb: float = DEFAULT_NODE_CACHE_MB,
        max_failures: int = 2,
        retry_user_errors: bool = False,
        resume: bool | str = "auto",
        mlflow_uri: str | None = None,
        mlflow_experiment: str | None = None,
        device: str = "auto",
        precision: str = "32",
    ) -> AutoEstimator:
        """Run the tuning job: ``n_sampling`` trials per grid point, ``epochs`` epochs each.

        Every argument is checked before any cluster work; a failed check leaves the
        estimator usable.

        Args:
            data: ``(x, y)`` numpy arrays (lists of arrays for several inputs/outputs), a
                creator ``config -> DataLoader`` (torch) / ``tf.data.Dataset`` (keras), a
                torch ``DataLoader``, a pandas / Spark DataFrame with ``feature_cols`` and
                ``label_cols``, or a Ray ``ObjectRef`` of ``(x, y)`` (used as it is when
                already float32/int64: the data is then never copied).
            epochs: Epochs per trial (one Ray Tune iteration each).
            validation_data: Same kinds as ``data``. Without it: ``validation_split`` of
                ``data`` when given (DataFrames: 0.2 by default), else the metric is computed
                on ``data``.
            metric: A built-in metric name (see :mod:`zoo_tune.metrics`), a Keras compiled
                metric name (with ``metric_mode``), or ``f(y_true, y_pred) -> float`` (with
                ``metric_mode``). Default ``"loss"``.
            metric_mode: ``"min"`` or ``"max"``; built-in metrics know theirs.
            metric_threshold: A trial stops once its metric reaches this value.
            n_sampling: Trials per grid point; ``-1`` samples until ``time_budget_s`` ends.
            search_space: ``{name: hp.* | constant}``.
            search_alg: A name of :data:`zoo_tune.search.SEARCH_ALGS` or a Ray Tune Searcher.
            search_alg_params: The search algorithm's own arguments besides metric and mode.
            scheduler: A name of :data:`zoo_tune.schedulers.SCHEDULERS` or a TrialScheduler.
            scheduler_params: The scheduler's own arguments besides metric and mode.
            feature_cols: DataFrame columns the model takes: one entry per model input, a
                column name (scalar, array or vector column) or a list of scalar columns
                stacked into one input. See :mod:`zoo_tune.data._layout` for the type rules.
            label_cols: DataFrame target columns, one entry per model output (same rules).
            mode: Alias of ``metric_mode`` (the Orca manual uses it).
            time_budget_s: Stop starting new trials after this many seconds.
            verbose: 0: nothing but a warning per failed trial (with its traceback); 1:
                one compact progress line on stderr (rewritten in a terminal, a log line
                every 30 s otherwise) and a summary at the end (best value and config,
                failed trials with the first line of each error, the experiment's path); 2:
                also Ray Tune's own tables and messages (:mod:`._output`).
            validation_split: Without ``validation_data``: the fraction of ``data``'s rows
                held out for validation, chosen with a fixed seed (numpy arrays and
                DataFrames).
            driver_budget_mb: A Spark DataFrame whose cast size (rows x row bytes) is over
                this many MiB is written as Parquet to ``<experiment>/data`` by the executors
                and read there by the trials, instead of passing through the driver.
            node_cache_mb: Such a staged table (or RayDP's Ray blocks) of at most this many
                MiB (cast size) is read once per Ray node that runs a trial, into its object
                store, and shared zero-copy by the node's trials; a bigger one is streamed
                row group by row group each epoch, shuffled per trial and epoch, so a trial
                never holds it (see README "Big data").
            max_failures: Retries per trial after a failure the cluster caused (its worker
                process died, its Ray node or Spark executor was lost, a checkpoint write
                failed); each retry resumes from the trial's newest checkpoint, so at most
                one epoch is redone. ``-1``: unlimited; ``0``: no retries.
            retry_user_errors: Retry exceptions raised by the user's own code too
                (creators, forward pass, loss, metric). By default such a trial fails at
                once with its traceback: the error would only repeat.
            resume: ``"auto"`` continues the unfinished experiment stored under
                ``<logs_dir>/<name>`` (and loads a finished one instead of re-running it),
                else starts a new one; ``True`` insists on continuing one; ``False`` refuses
                a folder that already holds one. Needs a fixed ``name``.
            mlflow_uri: Log the fit to MLflow (:mod:`zoo_tune.tracking`):
                ``http(s)://host:port``, ``sqlite:///path.db``, ``databricks`` or
                ``file:///folder``. One parent run per fit (an active run on that URI is the
                parent), a child run per trial, the best config, value and model on the
                parent. Sent from the driver; a tracking server that is down or slow never
                fails or stalls the fit. ``MLFLOW_TRACKING_URI`` alone does not switch it on.
            mlflow_experiment: The MLflow experiment (default: the estimator's ``name``).
            device: Where each trial trains (:mod:`zoo_tune.estimator._device`): ``"auto"``
                (default) the GPU the trial holds (``resources_per_trial={"gpu": 1}``, or
                ``0.5`` to share one) when CUDA works there, else the CPU with one warning
                per trial; ``"cuda"`` the trial's GPU, a trial without a usable one fails
                (not retried); ``"cpu"`` the CPU. torch moves the model, the loss and every
                batch (pinned, copied without blocking); Keras sees only the trial's GPUs.
                Checkpoints load on a CPU-only driver: ``get_best_model()`` is on the CPU.
            precision: torch only (:mod:`zoo_tune.estimator._precision`): ``"32"``
                (default); ``"bf16-mixed"`` or ``"16-mixed"`` run each trial's forward pass
                and loss under ``torch.autocast`` in bfloat16 / float16 (``"16-mixed"``
                with a loss scaler saved in its checkpoints), on the trial's GPU or CPU;
                weights stay float32.

        Returns:
            ``self``.

        Raises:
            AlreadyFittedError: the estimator already holds a successful run.
            InvalidInputError, InvalidTypeError: bad input (before any cluster work),
                including a ``resume`` that does not match the stored experiment.
            TrialError: every trial failed; carries the first failure's traceback.
            FitInterruptedError: SIGINT or SIGTERM stopped the run after the experiment
                state was saved; ``fit(..., resume=True)`` continues it.
        """
        checked = self._check_fit(
            data, validation_data, epochs, metric, metric_mode, metric_threshold, n_sampling,
            search_space, search_alg, search_alg_params, scheduler, scheduler_params,
            feature_cols, label_cols, mode, time_budget_s, verbose, validation_split,
            driver_budget_mb, node_cache_mb, max_failures, retry_user_errors, resume,
            mlflow_uri, mlflow_experiment, device, precision)
        name, where, action = self._decide(checked, resume)
        if action == "load":
            logger.info("%s holds this experiment, finished: loading it, not re-running it.",
                        where)
            self._open(self._storage, name, checked.plan.metric, dict(checked.space))
            return self
        plan = self._read_data(checked.plan, checked.staged, name, checked.node_cache_mb,
                               reuse=action == "resume")
        return self._ship_and_run(plan, checked, name, where, action, search_alg, scheduler)

    def _check_fit(self, data: Any, validation_data: Any, epochs: Any, metric: Any,
                   metric_mode: Any, metric_threshold: Any, n_sampling: Any,
                   search_space: Any, search_alg: Any, search_alg_params: Any,
                   scheduler: Any, scheduler_params: Any, feature_cols: Any, label_cols: Any,
                   mode: Any, time_budget_s: Any, verbose: Any, validation_split: Any,
                   driver_budget_mb: Any, node_cache_mb: Any, max_failures: Any,
                   retry_user_errors: Any, resume: Any, mlflow_uri: Any,
                   mlflow_experiment: Any, device: Any = "auto",
                   precision: Any = "32") -> _CheckedFit:
        """``fit``'s first step: every argument checked and the data staged on the driver,
        before any cluster work."""
        if self._records is not None:
            raise AlreadyFittedError("This AutoEstimator already holds a finished fit; create a "
                                     "new one with AutoEstimator.from_torch/from_keras to tune "
                                     "again.")
        from zoo_tune.data import check_mib, stage_data
        from zoo_tune.estimator._device import check_device
        from zoo_tune.estimator._precision import check_precision
        from zoo_tune.tracking import check_tracking

        device = check_device(device, self.resources_per_trial)
        precision = check_precision(precision, self.backend.framework)

        mlflow_uri, mlflow_experiment = check_tracking(mlflow_uri, mlflow_experiment)
        staged = stage_data(data, validation_data, self.backend.framework,
                            feature_cols=feature_cols, label_cols=label_cols,
                            validation_split=validation_split,
                            driver_budget_mb=driver_budget_mb)
        node_cache_mb = check_mib("node_cache_mb", node_cache_mb)
        plan, space, searcher, sched = self._validate(
            staged, epochs, metric, metric_mode, metric_threshold, n_sampling,
            search_space, search_alg, search_alg_params, scheduler, scheduler_params,
            mode, time_budget_s, verbose)
        max_failures = _positive_int("max_failures", max_failures, allow=(-1, 0))
        if not isinstance(retry_user_errors, bool):
            raise InvalidTypeError(f"`retry_user_errors` must be a bool, but got "
                                   f"{retry_user_errors!r}.")
        check_resume(resume)
        plan = dataclasses.replace(plan, retry_user_errors=retry_user_errors, device=device,
                                   precision=precision)
        return _CheckedFit(staged=staged, plan=plan, space=space, searcher=searcher,
                           sched=sched, n_sampling=n_sampling, time_budget_s=time_budget_s,
                           verbose=verbose, node_cache_mb=node_cache_mb,
                           max_failures=max_failures, mlflow_uri=mlflow_uri,
                           mlflow_experiment=mlflow_experiment)

    def _decide(self, checked: _CheckedFit, resume: Any) -> tuple[str, str, str]:
        """``fit``'s second step: the experiment's name and folder, and whether this ``fit``
        starts it (``"fresh"``), continues it (``"resume"``) or loads it (``"load"``)."""
        name = self.name or time.strftime("zoo_tune_%Y%m%d-%H%M%S")
        where = f"{self._storage.uri.rstrip('/')}/{name}"
        action = decide(resume, read_meta(self._storage, name),
                        _meta_core(checked.plan, checked.space), where)
        return name, where, action

    def _ship_and_run(self, plan: TrialPlan, checked: _CheckedFit, name: str, where: str,
                      action: str, search_alg: Any, scheduler: Any) -> AutoEstimator:
        """``fit``'s last steps: the data to the cluster, the trials, the results collected;
        the node caches released whatever happens."""
        # Rebinding drops the driver's cast copy of numpy data once it is in the object store.
        token = uuid.uuid4().hex[:12]
        try:
            plan = self._ship(plan, checked.node_cache_mb, token)
            return self._fit_shipped(plan, checked.space, checked.searcher, checked.sched,
                                     checked.n_sampling, checked.time_budget_s,
                                     checked.verbose, name, where, action,
                                     checked.max_failures, search_alg, scheduler,
                                     checked.mlflow_uri, checked.mlflow_experiment)
        finally:
            from zoo_tune.data import release_node_caches

            release_node_caches(token)

    def _fit_shipped(self, plan: TrialPlan, space: Mapping[str, Any], searcher: Any,
                     sched: Any, n_sampling: int, time_budget_s: float | None, verbose: int,
                     name: str, where: str, action: str, max_failures: int, search_alg: Any,
                     scheduler: Any, mlflow_uri: str | None,
                     mlflow_experiment: str | None) -> AutoEstimator:
        """The rest of :meth:`fit` once the inputs are where trials read them."""
        self._setup = _setup(search_alg, scheduler, n_sampling)
        tracker = None
        if mlflow_uri is not None:
            from zoo_tune.tracking import IDS_FILE, start_tracker

            tracker = start_tracker(mlflow_uri, mlflow_experiment or name, name, where,
                                    {**_meta_core(plan, space), "setup": self._setup},
                                    self._storage, f"{name}/{IDS_FILE}",
                                    restore=action == "resume")
        status = "FAILED"
        try:
            self._run(plan, space, searcher, sched, n_sampling, time_budget_s, verbose, name,
                      max_failures=max_failures, restore=action == "resume", tracker=tracker)
            self._open(self._storage, name, plan.metric, dict(space), self._final.states)
            if tracker is not None:
                from zoo_tune.data import sample_rows
                from zoo_tune.tracking._log import finish_tracker

                rows_of = plan.validation if plan.validation is not None else plan.train
                finish_tracker(tracker, self, lambda: sample_rows(rows_of))
            status = "FINISHED"
        except FitInterruptedError:
            status = "KILLED"
            raise
        except TrialError:
            if tracker is not None and self._records is not None:  # every trial failed
                try:
                    tracker.finish(self._records, plan.metric, None, None)
                except Exception as err:  # noqa: BLE001 - the fit's own error matters
                    logger.warning("MLflow: the failed trials could not be queued (%s).", err)
            raise
        finally:
            if tracker is not None:
                tracker.close(status)
        report(verbose, self._records, self._best, plan.metric, self.experiment_path)
        return self

    def _open(self, store: Any, name: str, metric: MetricSpec, space: dict[str, Any],
              states: dict[str, dict[str, Any]] | None = None) -> None:
        """Read the experiment ``name`` under ``store`` back: trial table, best trial.

        ``states``: the trials' final status and failures from this process's Ray Tune
        run, which overrule the experiment snapshot's.
        """
        self._experiment_dir = store.join(name)
        self.experiment_path = f"{store.uri.rstrip('/')}/{name}"
        self._metric, self._search_space = metric, space
        self._records = read_trials(store.filesystem, self._experiment_dir, states)
        self._best = self._pick_best(self._records, metric)

    def _validate(self, staged: Any, epochs: Any, metric: Any,
                  metric_mode: Any, metric_threshold: Any, n_sampling: Any, search_space: Any,
                  search_alg: Any, search_alg_params: Any, scheduler: Any,
                  scheduler_params: Any, mode: Any,
                  time_budget_s: Any, verbose: Any) -> tuple[TrialPlan, Any, Any, Any]:
        from zoo_tune.schedulers import create_scheduler
        from zoo_tune.search import create_search_alg

        if mode is not None:
            check_mode(mode)
            check_mode(metric_mode)
            if metric_mode is not None and metric_mode != mode:
                raise InvalidInputError(f"`mode` is an alias of `metric_mode`; got both with "
                                        f"different values ({mode!r}, {metric_mode!r}).")
            metric_mode = mode
        check_mode(metric_mode)
        spec = resolve_metric(metric, metric_mode)
        epochs = _positive_int("epochs", epochs)
        n_sampling = _positive_int("n_sampling", n_sampling, allow=(-1,))
        if n_sampling == -1 and time_budget_s is None:
            raise InvalidInputError("`n_sampling=-1` samples without end: pass `time_budget_s` "
                                    "to bound the run, or a positive `n_sampling`.")
        if metric_threshold is not None and (isinstance(metric_threshold, bool) or
                                             not isinstance(metric_threshold, numbers.Real)):
            raise InvalidTypeError(f"`metric_threshold` must be a number, but got "
                                   f"{metric_threshold!r}.")
        if metric_threshold is not None and not math.isfinite(metric_threshold):
            raise InvalidInputError(f"`metric_threshold` must be finite, but got "
                                    f"{metric_threshold!r}.")
        if time_budget_s is not None:
            if isinstance(time_budget_s, bool) or not isinstance(time_budget_s, numbers.Real):
                raise InvalidTypeError(f"`time_budget_s` must be a number of seconds, but got "
                                       f"{time_budget_s!r}.")
            if not (math.isfinite(time_budget_s) and time_budget_s > 0):
                raise InvalidInputError(f"`time_budget_s > 0` must hold (finite), but got "
                                        f"time_budget_s={time_budget_s!r}.")
        if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or \
                verbose not in (0, 1, 2):
            raise InvalidInputError(f"`verbose` must be 0, 1 or 2, but got {verbose!r}.")
        if search_space is None:
            raise InvalidInputError("`search_space` is required: a dict such as "
                                    "{'lr': hp.loguniform(1e-4, 1e-1)}.")
        hp_module.validate_space(search_space)
        self._storage.check_writable()
        searcher = create_search_alg(search_alg, search_alg_params, spec.name, spec.mode,
                                     n_sampling)
        sched = create_scheduler(scheduler, scheduler_params, spec.name, spec.mode, epochs,
                                 search_space)
        _check_pairing(searcher, sched, n_sampling, search_space)
        self.backend.check_on_driver(_sample_config(search_space), spec)
        plan = TrialPlan(self.backend, staged.train, staged.validation, spec, epochs,
                         None if metric_threshold is None else float(metric_threshold),
                         max(1, int(self.resources_per_trial["cpu"])),
                         checkpoint_every_epoch=_clones_trials(sched),
                         keep_checkpoints=self.keep_checkpoints)
        return plan, search_space, searcher, sched

    def _read_data(self, plan: TrialPlan, staged: Any, name: str, node_cache_mb: float,
                   reuse: bool) -> TrialPlan:
        """Read DataFrames (Parquet for big Spark ones) and split: the last step before Ray.

        ``reuse``: a resumed fit reads what its first run staged when the frame is unchanged.
        """
        from zoo_tune.data import ParquetTarget, load_staged

        store = self._storage
        target = ParquetTarget(f"{store.uri.rstrip('/')}/{name}/data", store.join(name, "data"),
                               store.fs, store.scheme, stream_over_bytes=node_cache_mb * 2**20,
                               reuse=reuse)
        train, val = load_staged(staged, target)
        return dataclasses.replace(plan, train=train, validation=val)

    def _ship(self, plan: TrialPlan, node_cache_mb: float, token: str) -> TrialPlan:
        """Start (or join) Ray, check a trial fits a node, put the data in the object store
        (numpy) or decide where trials read a staged table (node cache or stream)."""
        from zoo_tune.cluster import check_fits_a_node, ensure_ray
        from zoo_tune.data import prepare_input

        ensure_ray()
        check_fits_a_node(self.resources_per_trial)
        return dataclasses.replace(
            plan, train=prepare_input(plan.train, node_cache_mb, token),
            validation=prepare_input(plan.validation, node_cache_mb, token))

    def _run(self, plan: TrialPlan, space: Mapping[str, Any], searcher: Any, sched: Any,
             n_sampling: int, time_budget_s: float | None, verbose: int, name: str, *,
             max_failures: int, restore: bool, tracker: Any = None) -> None:
        from ray import tune

        from zoo_tune.estimator import _retry, _snapshot
        from zoo_tune.estimator._interrupt import graceful_stop
        from zoo_tune.estimator._output import ray_output, silent_reporter
        from zoo_tune.estimator._restore import with_tolerant_restore

        ray_resources = {k: v for k, v in self.resources_per_trial.items() if v}
        trainable = tune.with_resources(
            with_tolerant_restore(tune.with_parameters(run_trial, plan=plan)), ray_resources)
        store = self._storage
        metric = plan.metric
        _write_experiment_meta(store, name, plan, space, finished=False, setup=self._setup)
        _retry.install()
        _snapshot.install()
        total = hp_module.grid_size(space) * n_sampling if n_sampling > 0 else None
        if restore:
            preserve_results(store.filesystem, store.join(name))
            tuner = tune.Tuner.restore(store.join(name), trainable, resume_unfinished=True,
                                       resume_errored=False, restart_errored=False,
                                       param_space=hp_module.to_ray_space(space),
                                       storage_filesystem=store.fs)
            # Tuner.restore brings back the stored run config, searcher and scheduler; the
            # callbacks and failure settings are this fit's (streams do not pickle).
            run_config = tuner._local_tuner.get_run_config()
            run_config.verbose = 1 if verbose == 2 else 0
            run_config.progress_reporter = silent_reporter(verbose)
            run_config.failure_config = tune.FailureConfig(max_failures=max_failures)
            run_config.callbacks = self._callbacks(
                plan, tuner._local_tuner._tune_config.scheduler, metric, total, verbose,
                tracker)
            logger.info("Resuming the experiment at %s/%s.", store.uri.rstrip("/"), name)
        else:
            run_config = tune.RunConfig(
                name=name, storage_path=store.path, storage_filesystem=store.fs,
                # verbose=1: zoo_tune's one-line progress; 2: Ray Tune's tables as well.
                verbose=1 if verbose == 2 else 0,
                progress_reporter=silent_reporter(verbose),
                callbacks=self._callbacks(plan, sched, metric, total, verbose, tracker),
                failure_config=tune.FailureConfig(max_failures=max_failures),
                # The trial ends itself too; telling Tune lets it stop a finished trial before
                # a scheduler acts on its last result (PBT would otherwise clone into it).
                stop=functools.partial(_finished, plan.epochs, metric.name, metric.mode,
                                       plan.threshold),
                # Ray keeps every checkpoint (num_to_keep forces an experiment snapshot per
                # checkpoint); each trial deletes its own superseded ones (_checkpoints).
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=None, checkpoint_score_attribute=metric.name,
                    checkpoint_score_order=metric.mode))
            tuner = tune.Tuner(
                trainable, param_space=hp_module.to_ray_space(space),
                tune_config=tune.TuneConfig(
                    num_samples=n_sampling, search_alg=searcher, scheduler=sched,
                    reuse_actors=True, time_budget_s=time_budget_s,
                    trial_dirname_creator=_trial_dirname),
                run_config=run_config)
        with graceful_stop() as stop, ray_output(verbose):
            try:
                tuner.fit()
            except StorageUnavailableError:
                from zoo_tune.cluster import stop_context

                stop_context()
                raise
        self._experiment_dir = store.join(name)
        self.experiment_path = f"{store.uri.rstrip('/')}/{name}"
        if stop.signum is not None:
            from zoo_tune.cluster import stop_context

            stop_context()
            raise FitInterruptedError(
                f"fit stopped by {stop.name}: the trials were stopped and the experiment "
                f"state saved at {self.experiment_path}; run the same fit with "
                f"name={name!r} (resume='auto' or True) to continue it.", stop.signum)
        _write_experiment_meta(store, name, plan, space, finished=True, setup=self._setup)

    def _callbacks(self, plan: TrialPlan, sched: Any, metric: MetricSpec, total: int | None,
                   verbose: int, tracker: Any = None) -> list[Any]:
        """The Tune callbacks of a run; the first one keeps the scheduler's state."""
        from zoo_tune.estimator._final_states import FinalStates
        from zoo_tune.estimator._scheduler_state import SchedulerState

        self._final = FinalStates()
        callbacks: list[Any] = [SchedulerState(sched), self._final]
        watched = getattr(getattr(self._storage.fs, "handler", None), "uri", None)
        if watched:  # bounded storage (hdfs://): end the run on a long outage
            from zoo_tune.estimator._watch import StorageWatch

            callbacks.append(StorageWatch(watched))
        if plan.prunes:  # the last epoch's pruning: Tune stops a trial inside its report
            from zoo_tune.estimator._pruner import CheckpointPruner

            callbacks.append(CheckpointPruner(plan.keep_checkpoints))
        if tracker is not None:
            from zoo_tune.tracking import MlflowCallback

            callbacks.append(MlflowCallback(tracker))
        if verbose:
            from zoo_tune.progress import ProgressCallback

            callbacks.append(ProgressCallback(metric.name, metric.mode, total))
        return callbacks

    @staticmethod
    def _pick_best(records: list[TrialRecord], metric: MetricSpec) -> TrialRecord:
        failed = [r for r in records if r.error]
        best = best_trial([r for r in records if not r.error], metric)
        if best is None:
            if failed:
                raise TrialError(f"All {len(failed)} trials failed; the first failure (trial "
                                 f"{failed[0].trial_id}, {failed[0].path}):\n{failed[0].error}")
            raise TrialError(f"No trial reported the metric {metric.name!r}.")
        return best

    @classmethod
    def load(cls, uri: str) -> AutoEstimator:
        """Open a finished (or interrupted) experiment from its folder or URI alone.

        Args:
            uri: The experiment folder, ``<logs_dir>/<name>`` (``experiment_path``).

        Returns:
            A fitted estimator: trial table, best config and best model are readable;
            ``fit`` raises on it.

        Raises:
            InvalidInputError: ``uri`` holds no zoo_tune experiment.

        Example:
            >>> est = AutoEstimator.load("/tmp/zoo_tune_logs/digits_cnn")  # doctest: +SKIP
            >>> est.get_best_config()  # doctest: +SKIP
        """
        import cloudpickle

        from zoo_tune.storage import resolve_storage

        store = resolve_storage(uri)
        if not store.exists(STATE_FILE):
            raise InvalidInputError(f"{uri!r} holds no zoo_tune experiment: expected "
                                    f"{STATE_FILE} and Ray Tune's experiment_state-*.json "
                                    f"there (pass <logs_dir>/<name>).")
        state = cloudpickle.loads(store.read_bytes(STATE_FILE))
        parent, name = store.uri.rstrip("/").rsplit("/", 1)
        est = cls(state["backend"], logs_dir=parent, name=name)
        est._open(resolve_storage(parent), name, state["metric"], state["space"])
        return est

    def _require_fit(self, what: str) -> None:
        if self._records is None:
            raise NotFittedError(f"{what} needs a finished fit: call fit(...) first.")

    def get_best_config(self) -> dict[str, Any]:
        """The config of the trial with the best metric (best epoch), as a new dict.

        Raises:
            NotFittedError: before a successful ``fit``.
        """
        self._require_fit("get_best_config()")
        return copy.deepcopy(dict(self._best.config))

    def get_best_model(self) -> Any:
        """The best trial's model with the weights of its best epoch.

        Returns:
            A ``torch.nn.Module`` (in eval mode) or a ``keras.Model``.

        Raises:
            NotFittedError: before a successful ``fit``.
        """
        self._require_fit("get_best_model()")
        assert self._metric is not None and self._best is not None
        checkpoint = self._best.best_checkpoint(self._metric)
        if checkpoint is None:
            return self.backend.load_model(self.get_best_config(), None)
        if self._storage.scheme == "local":
            return self.backend.load_model(self.get_best_config(), checkpoint)
        import pyarrow.fs

        with tempfile.TemporaryDirectory(prefix="zoo_tune_best_") as local:
            pyarrow.fs.copy_files(checkpoint, local, source_filesystem=self._storage.fs,
                                  destination_filesystem=pyarrow.fs.LocalFileSystem())
            return self.backend.load_model(self.get_best_config(), local)

    def get_trial_table(self) -> pd.DataFrame:
        """Every trial: id, status, config, per-epoch metric, best value and epoch, checkpoint.

        Raises:
            NotFittedError: before a successful ``fit``.
        """
        self._require_fit("get_trial_table()")
        assert self._metric is not None and self._records is not None
        return trial_table(self._records, self._metric)

    def get_best_trials(self, k: int = 1) -> pd.DataFrame:
        """The ``k`` best trials' rows of :meth:`get_trial_table`, best first.

        Raises:
            NotFittedError: before a successful ``fit``.
        """
        k = _positive_int("k", k)
        table = self.get_trial_table()
        assert self._metric is not None
        column = f"best_{self._metric.name}"
        return table.sort_values(column, ascending=self._metric.mode == "min",
                                 na_position="last").head(k).reset_index(drop=True)

    def get_trial_history(self) -> pd.DataFrame:
        """Every trial's every epoch: ``trial_id``, ``epoch`` and everything it reported.

        Raises:
            NotFittedError: before a successful ``fit``.
        """
        self._require_fit("get_trial_history()")
        assert self._records is not None
        rows = [{"trial_id": r.trial_id, **{k: v for k, v in row.items() if k != "config"}}
                for r in self._records for row in r.rows]
        return pd.DataFrame(rows)

    def get_search_space(self) -> dict[str, Any]:
        """The search space ``fit`` used (``hp`` values), e.g. for :func:`hp.space_to_json`."""
        self._require_fit("get_search_space()")
        return dict(self._search_space or {})
