"""One fit in MLflow: a parent run, one child run per trial, the best config and model.

The live path: ``fit`` builds a :class:`Tracker`, its Tune callback
(:class:`~zoo_tune.tracking.MlflowCallback`) reports each trial's start, epochs and end, and
:meth:`Tracker.finish` reconciles with the trial table read back from storage (anything the
callback did not see, the error texts) and logs the best config and model. ``zoo-tune results
<uri> --mlflow URI`` runs :meth:`Tracker.finish` alone, which gives the same layout.

Every call goes through an :class:`~zoo_tune.tracking._outbox.Outbox`: nothing here waits on
the tracking server.

Example:
    >>> tracker = Tracker("sqlite:///mlflow.db", "digits", "digits_cnn",
    ...                   params={"metric": "accuracy"}, tags={})  # doctest: +SKIP
    >>> tracker.start()  # doctest: +SKIP
    >>> tracker.finish(records, metric, best, model_dir=None)  # doctest: +SKIP
    >>> tracker.close()  # doctest: +SKIP
    0
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any

from zoo_tune.tracking._layout import (
    PARENT_TAG,
    TRIAL_TAG,
    child_params,
    epoch_metrics,
    run_status,
)
from zoo_tune.tracking._outbox import Outbox, bounded_requests

logger = logging.getLogger("zoo_tune.tracking")

#: MLflow's longest tag value; a failed trial's ``error`` tag is cut to it (the whole
#: traceback is the run's ``error.txt`` artifact).
MAX_TAG_CHARS = 8000
#: The experiment's file of MLflow run ids (parent, children), for a resumed fit.
IDS_FILE = "zoo_tune_mlflow.json"
#: Seconds :meth:`Tracker.close` waits for the server to take what is still queued.
CLOSE_TIMEOUT_S = 60.0


def _now_ms() -> int:
    return int(time.time() * 1000)


def _step(result: Mapping[str, Any]) -> int | None:
    step = result.get("epoch", result.get("training_iteration"))
    return int(step) if step is not None else None


class Tracker:
    """Log one fit to MLflow from the driver.

    Args:
        uri: The tracking URI.
        experiment: The MLflow experiment's name (created when missing).
        run_name: The parent run's name (the zoo_tune experiment's name).
        params: The parent run's params (:func:`~zoo_tune.tracking._layout.parent_params`).
        tags: More parent tags (zoo_tune's version, the experiment URI).
        close_timeout_s: How long :meth:`close` waits for unsent calls (default
            :data:`CLOSE_TIMEOUT_S`).
        save_ids: Called with the run ids as JSON bytes whenever one is created (the fit
            stores them with the experiment, as :data:`IDS_FILE`).
        restored: Run ids stored by an earlier fit of this experiment: on the same URI, a
            resumed fit (or ``zoo-tune results --mlflow``) goes on in the same parent and
            child runs instead of opening new ones.
    """

    def __init__(self, uri: str, experiment: str, run_name: str, *, params: Mapping[str, str],
                 tags: Mapping[str, str], close_timeout_s: float | None = None,
                 save_ids: Callable[[bytes], None] | None = None,
                 restored: Mapping[str, Any] | None = None) -> None:
        self.uri, self.experiment, self.run_name = uri, experiment, run_name
        self.params, self.tags = dict(params), dict(tags)
        self.close_timeout_s = CLOSE_TIMEOUT_S if close_timeout_s is None else close_timeout_s
        self.owns_parent = True
        self._save_ids = save_ids
        # Child runs an earlier fit created: their metrics on the server are read once, in
        # the sending thread, and an epoch already there is not sent again.
        self._reused: set[str] = set()
        self._logged: dict[str, set[tuple[str, int]]] = {}
        self._bounded = bounded_requests()
        self._bounded.__enter__()
        self.box = Outbox(uri, on_id=self._stored if save_ids else None)
        self._children: set[str] = set()
        self._params_queued: set[str] = set()  # trials whose params this process queued
        self.restored = bool(restored and restored.get("uri") == uri and
                             restored.get("parent"))
        if self.restored:
            assert restored is not None
            self.owns_parent = bool(restored.get("owns_parent", True))
            self.box.ids.update({"parent": restored["parent"]})
            if restored.get("experiment"):
                self.box.ids["experiment"] = restored["experiment"]
            for trial_id, run_id in dict(restored.get("children") or {}).items():
                self.box.ids[f"trial:{trial_id}"] = run_id
                self._children.add(trial_id)
                self._reused.add(trial_id)
        self._steps: dict[str, set[int]] = {}
        self._ended: dict[str, str] = {}
        self._folders: list[str] = []
        self._closed = False

    def start(self) -> None:
        """Queue the parent run; an active MLflow run on the same URI becomes the parent."""
        import mlflow

        active = mlflow.active_run()
        if self.restored:
            logger.info("MLflow: going on in the parent run %s.", self.box.ids["parent"])
            if self.owns_parent:
                self.box.put(lambda c, ids: c.update_run(ids["parent"], status="RUNNING"),
                             what="the parent's status")
        elif active is not None and mlflow.get_tracking_uri() == self.uri:
            self.owns_parent = False
            self.box.ids["parent"] = active.info.run_id
            logger.info("MLflow: the active run %s is the parent run.", active.info.run_id)
        else:
            experiment = self.experiment

            def experiment_id(client: Any, ids: dict[str, str]) -> str:
                found = client.get_experiment_by_name(experiment)
                return found.experiment_id if found is not None else \
                    client.create_experiment(experiment)

            self.box.put(experiment_id, handle="experiment", what="the experiment")
            self.box.put(lambda c, ids: c.create_run(
                ids["experiment"], run_name=self.run_name, tags=self.tags).info.run_id,
                handle="parent", what="the parent run")
        params = dict(self.params)
        self.box.put(lambda c, ids: c.log_batch(ids["parent"], params=_params(params)),
                     what="the parent's params")
        if not self.owns_parent and self.tags:
            tags = dict(self.tags)
            self.box.put(lambda c, ids: c.log_batch(ids["parent"], tags=_tags(tags)),
                         what="the parent's tags")

    def _stored(self, handle: str, value: Any) -> None:
        """Outbox hook: a parent or child run was created; store every run id."""
        if handle == "experiment" or self._save_ids is None:
            return
        ids = dict(self.box.ids)
        state = {"uri": self.uri, "parent": ids.get("parent"),
                 "experiment": ids.get("experiment"), "owns_parent": self.owns_parent,
                 "children": {k[len("trial:"):]: v for k, v in ids.items()
                              if k.startswith("trial:")}}
        self._save_ids(json.dumps(state, indent=1).encode("utf-8"))

    def _experiment_of_parent(self, client: Any, ids: dict[str, str]) -> str:
        if "experiment" not in ids:
            ids["experiment"] = client.get_run(ids["parent"]).info.experiment_id
        return ids["experiment"]

    def trial_started(self, trial_id: str, config: Mapping[str, Any]) -> None:
        """Queue a child run for the trial and its params (once, however often it restarts).

        A child run an earlier fit stored gets only its params this way: that fit may have
        died between the run's creation (its id stored) and the params.
        """
        if trial_id in self._params_queued:
            return
        self._params_queued.add(trial_id)
        params = child_params(config)

        def create(client: Any, ids: dict[str, str]) -> str:
            experiment = self._experiment_of_parent(client, ids)
            if self.restored:  # created before its id was stored (the driver died between)?
                found = client.search_runs(
                    [experiment], max_results=1,
                    filter_string=f"tags.`{TRIAL_TAG}` = '{trial_id}' and "
                                  f"tags.`{PARENT_TAG}` = '{ids['parent']}'")
                if found:
                    self._reused.add(trial_id)
                    return found[0].info.run_id
            return client.create_run(experiment, run_name=trial_id,
                                     tags={PARENT_TAG: ids["parent"], TRIAL_TAG: trial_id}
                                     ).info.run_id

        # The params in an op of their own, as the parent's are: a retry of one (the server
        # stopped after create_run went through) never creates the run twice.
        def send_params(client: Any, ids: dict[str, str]) -> None:
            run = ids[f"trial:{trial_id}"]
            todo = dict(params)
            if trial_id in self._reused:  # the dead driver may have sent some of them
                have = client.get_run(run).data.params
                todo = {k: v for k, v in todo.items() if k not in have}
            if todo:
                client.log_batch(run, params=_params(todo))

        if trial_id not in self._children:
            self._children.add(trial_id)
            self._steps[trial_id] = set()
            self.box.put(create, handle=f"trial:{trial_id}", what=f"trial {trial_id}'s run")
        self.box.put(send_params, what=f"trial {trial_id}'s params")

    def trial_result(self, trial_id: str, result: Mapping[str, Any]) -> None:
        """Queue one epoch's metrics (one ``log_batch``, step = epoch)."""
        step = _step(result)
        metrics = epoch_metrics(result)
        if step is None or not metrics or step in self._steps.setdefault(trial_id, set()):
            return
        self._steps[trial_id].add(step)
        # The report's own time, when it has one.
        stamp = int(float(result["timestamp"]) * 1000) if "timestamp" in result else _now_ms()
        def send(client: Any, ids: dict[str, str]) -> None:
            run = ids[f"trial:{trial_id}"]
            todo = dict(metrics)
            if trial_id in self._reused:
                logged = self._logged.get(trial_id)
                if logged is None:
                    logged = {(m.key, m.step) for key in metrics
                              for m in client.get_metric_history(run, key)}
                    self._logged[trial_id] = logged
                todo = {k: v for k, v in todo.items() if (k, step) not in logged}
                logged.update((k, step) for k in todo)
            if todo:
                client.log_batch(run, metrics=_metrics(todo, stamp, step))

        self.box.put(send, what=f"trial {trial_id}'s epoch {step}")

    def trial_ended(self, trial_id: str, tune_status: str, error: str | None = None) -> None:
        """Queue the child run's end: FINISHED, FAILED (with its error) or KILLED."""
        status = run_status("ERROR" if error else tune_status)
        if self._ended.get(trial_id) == status and not error:
            return
        self._ended[trial_id] = status
        key = f"trial:{trial_id}"
        if error:
            self.box.put(lambda c, ids: (c.set_tag(ids[key], "error", error[-MAX_TAG_CHARS:]),
                                         c.log_text(ids[key], error, "error.txt")),
                         what=f"trial {trial_id}'s error")
        self.box.put(lambda c, ids: c.set_terminated(ids[key], status),
                     what=f"trial {trial_id}'s status")

    def finish(self, records: list[Any], metric: Any, best: Any, model_dir: str | None,
               owned: str | None = None) -> None:
        """Reconcile every trial with the stored trial table, then log the best trial.

        Args:
            records: The trial table (:class:`~zoo_tune.results.TrialRecord`).
            metric: The :class:`~zoo_tune.metrics.MetricSpec`.
            best: The best record, or ``None``.
            model_dir: A local MLflow model folder (:func:`._model.save_model`), or
                ``None``: no model.
            owned: A local folder to remove once the model is sent (or at :meth:`close`).
        """
        if owned:
            self._folders.append(owned)
        for record in records:
            self.trial_started(record.trial_id, record.config)
            for row in record.rows:
                self.trial_result(record.trial_id, row)
            self.trial_ended(record.trial_id, record.status, record.error)
        if best is None:
            return
        value, epoch = best.best(metric)
        params = {f"best/{k}": v for k, v in child_params(best.config).items()}
        metrics = {} if value is None else {f"best_{metric.name}": float(value)}
        stamp = _now_ms()
        tags = {"zoo_tune.best_trial_id": best.trial_id, "zoo_tune.best_epoch": str(epoch)}
        config = dict(best.config)
        self.box.put(lambda c, ids: (
            c.log_batch(ids["parent"], params=_params(params), tags=_tags(tags),
                        metrics=_metrics(metrics, stamp, 0)),
            c.log_dict(ids["parent"], _jsonable(config), "best_config.json")),
            what="the best config")
        if model_dir is not None:
            def send_model(client: Any, ids: dict[str, str]) -> None:
                client.log_artifacts(ids["parent"], model_dir, "model")
                if owned:
                    shutil.rmtree(owned, ignore_errors=True)

            self.box.put(send_model, what="the best model")

    def close(self, status: str = "FINISHED") -> int:
        """End the parent run (when zoo_tune opened it), wait for the queue, stop sending.

        Args:
            status: The parent's status: ``FINISHED``, ``FAILED`` or ``KILLED``.

        Returns:
            How many calls could not be sent in time (each one is lost to MLflow; the
            experiment on storage has everything, and ``zoo-tune results <uri> --mlflow``
            logs it again).
        """
        if self._closed:
            return 0
        self._closed = True
        if self.owns_parent:
            self.box.put(lambda c, ids: c.set_terminated(ids["parent"], status),
                         what="the parent's status")
        try:
            unsent = self.box.close(self.close_timeout_s)
        finally:
            self._bounded.__exit__(None, None, None)
            for folder in self._folders:
                shutil.rmtree(folder, ignore_errors=True)
        if unsent:
            logger.warning("MLflow at %s: %d calls could not be sent within %.0f s and are "
                           "dropped; the experiment on storage is complete, and `zoo-tune "
                           "results <experiment> --mlflow %s` sends the rest.", self.uri,
                           unsent, self.close_timeout_s, self.uri)
        return unsent

    @property
    def parent_run_id(self) -> str | None:
        """The parent run's id, once the server has created it."""
        return self.box.ids.get("parent")


def _params(params: Mapping[str, str]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(k, v) for k, v in params.items()]


def _tags(tags: Mapping[str, str]) -> list[Any]:
    from mlflow.entities import RunTag

    return [RunTag(k, v) for k, v in tags.items()]


def _metrics(metrics: Mapping[str, float], stamp: int, step: int) -> list[Any]:
    from mlflow.entities import Metric

    return [Metric(k, v, stamp, step) for k, v in metrics.items()]


def _jsonable(config: Mapping[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(dict(config), default=str))
