"""Trial results read back from storage, and the trial table built from them.

Everything here reads what Ray Tune and zoo_tune wrote under ``<logs_dir>/<name>/``
(``trial_<id>/params.pkl``, ``result.json``, ``error.txt``, ``checkpoint_*``), so it works
the same during a run, after it, and from a new process (:meth:`AutoEstimator.load`).

Example:
    >>> table = est.get_trial_table()  # doctest: +SKIP
    >>> table.sort_values("best_accuracy", ascending=False).head()  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import math
import posixpath
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from zoo_tune.metrics import MetricSpec

TRIAL_PREFIX = "trial_"
#: What zoo_tune writes into each checkpoint folder (epoch, metric, history; see
#: ``zoo_tune.estimator._checkpoints``).
PROGRESS_FILE = "zoo_tune_progress.json"
#: Copies of a trial's ``result.json`` taken before a resume (Ray Tune starts a new one for
#: a trial its last snapshot knew no checkpoint of, which would replace the stored file).
PREVIOUS_RESULTS = "zoo_tune_results_before_resume_{}.json"


@dataclass
class TrialRecord:
    """One trial as stored.

    Attributes:
        trial_id: Ray Tune's trial id.
        path: The trial folder inside the storage filesystem.
        config: The trial's (last) config.
        rows: Every reported result, in order (one per epoch).
        error: The error text with its traceback of a trial that ended failed, else ``None``.
        checkpoints: Kept checkpoint folder name -> the result it was reported with.
        status: Ray Tune's status from the newest experiment snapshot (``TERMINATED``,
            ``ERROR``; ``PENDING``/``RUNNING``/``PAUSED`` in an interrupted run).
        failures: How often the trial was retried after a failure.
        failure_log: Ray Tune's ``error.txt``: every failure, retried ones included.
    """

    trial_id: str
    path: str
    config: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "TERMINATED"
    failures: int = 0
    failure_log: str | None = None

    def history(self, metric: MetricSpec) -> list[float]:
        """The metric of every epoch (NaN where a row lacks it)."""
        return [float(r.get(metric.name, math.nan)) for r in self.rows]

    def best(self, metric: MetricSpec) -> tuple[float | None, int | None]:
        """``(best value, its 1-based epoch)``, NaN ignored; ``(None, None)`` if none."""
        pick = max if metric.mode == "max" else min
        valid = [(v, i + 1) for i, v in enumerate(self.history(metric)) if not math.isnan(v)]
        if not valid:
            return None, None
        value = pick(v for v, _ in valid)
        return value, next(i for v, i in valid if v == value)

    def best_checkpoint(self, metric: MetricSpec) -> str | None:
        """Path of the kept checkpoint with the best metric, or ``None``."""
        scored = [(float(r[metric.name]), name) for name, r in self.checkpoints.items()
                  if metric.name in r]
        if not scored:
            return None
        pick = max if metric.mode == "max" else min
        return posixpath.join(self.path, pick(scored)[1])


def _read_text(fs: Any, path: str) -> str | None:
    import pyarrow.fs

    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as f:
        return f.read().decode("utf-8", errors="replace")


def _config(fs: Any, folder: str) -> dict[str, Any]:
    import cloudpickle
    import pyarrow.fs

    pkl = posixpath.join(folder, "params.pkl")
    if fs.get_file_info(pkl).type != pyarrow.fs.FileType.NotFound:
        with fs.open_input_stream(pkl) as f:
            return dict(cloudpickle.loads(f.read()))
    return json.loads(_read_text(fs, posixpath.join(folder, "params.json")) or "{}")


def _csv_rows(text: str) -> list[dict[str, Any]]:
    frame = pd.read_csv(io.StringIO(text))
    return [{k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
            for row in frame.to_dict(orient="records")]


def _json_rows(text: str | None) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (text or "").splitlines() if line.strip()]


def is_complete(fs: Any, checkpoint: str, progress: dict[str, Any]) -> bool:
    """Whether every file ``progress["files"]`` lists is in ``checkpoint`` at its size.

    A checkpoint folder is uploaded file by file; a write cut short (a DataNode lost, the
    storage gone) leaves one that must not be loaded. Folders written before zoo_tune
    recorded ``files`` count as complete.
    """
    import pyarrow.fs

    files = progress.get("files")
    if not files:
        return True
    try:
        infos = fs.get_file_info([posixpath.join(checkpoint, n) for n in sorted(files)])
    except (OSError, RuntimeError):
        return False
    return all(i.type == pyarrow.fs.FileType.File and i.size == files[i.base_name]
               for i in infos)


def _progress_if_complete(fs: Any, checkpoint: str) -> dict[str, Any] | None:
    """The checkpoint's progress (``{}`` when it has none), or ``None`` when cut short."""
    text = _read_text(fs, posixpath.join(checkpoint, PROGRESS_FILE))
    if text is None:  # not zoo_tune's, or from before it wrote one: Ray's own rows decide
        return {}
    try:
        progress = dict(json.loads(text))
    except ValueError:  # the progress file itself was cut short
        return None
    return progress if is_complete(fs, checkpoint, progress) else None


def _unlogged_epochs(progress: dict[str, Any],
                     rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for epochs the newest checkpoint's history holds but ``rows`` lack.

    Ray Tune's driver writes ``result.json`` and copies it to remote storage every few
    seconds; a driver killed (or a storage lost) in between loses the newest rows, while
    each trial's newest checkpoint carries its whole metric history.
    """
    name = progress.get("metric")
    seen = {r.get("epoch") for r in rows}
    return [{"epoch": int(e), "training_iteration": int(e), name: v}
            for e, v in progress.get("history", []) if name and int(e) not in seen]


def preserve_results(fs: Any, experiment: str) -> None:
    """Copy each trial's ``result.json`` aside (:data:`PREVIOUS_RESULTS`) before a resume."""
    import pyarrow.fs

    for info in fs.get_file_info(pyarrow.fs.FileSelector(experiment)):
        if info.type != pyarrow.fs.FileType.Directory or \
                not info.base_name.startswith(TRIAL_PREFIX):
            continue
        text = _read_text(fs, posixpath.join(info.path, "result.json"))
        if not text:
            continue
        done = [i for i in fs.get_file_info(pyarrow.fs.FileSelector(info.path))
                if i.base_name.startswith(PREVIOUS_RESULTS.split("{")[0])]
        target = posixpath.join(info.path, PREVIOUS_RESULTS.format(f"{len(done):03d}"))
        with fs.open_output_stream(target) as f:
            f.write(text.encode("utf-8"))


def _one_per_epoch(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row reported for each epoch, in epoch order.

    A retried trial reports again the epoch it was in when its worker was lost (and, after
    a resume, epochs newer than its newest checkpoint): the newest report is the one whose
    state training continued from.
    """
    by_epoch: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = row.get("epoch", row.get("training_iteration"))
        by_epoch.pop(key, None)
        by_epoch[key] = row
    if None in by_epoch:
        return rows
    # Sorted even without repeats: epochs only the checkpoint's history holds (lost from
    # result.json with a killed driver) come last in ``rows``.
    return sorted(by_epoch.values(), key=lambda r: r.get("epoch", r.get("training_iteration")))


def read_trial(fs: Any, folder: str, state: dict[str, Any] | None = None) -> TrialRecord:
    """Read one ``trial_<id>`` folder.

    Ray Tune logs every result twice (``result.json`` and ``progress.csv``). When a trial is
    paused and restarted (PBT), Ray restores each file from storage, which may lag the
    driver's copy by a few results; the longer of the two is the complete history.

    Args:
        fs: The storage filesystem.
        folder: The trial folder.
        state: The trial's ``status`` and ``num_failures`` from Ray Tune's experiment
            snapshot (:func:`read_trial_states`); without it a trial with an ``error.txt``
            counts as failed.
    """
    import pyarrow.fs

    rows = _json_rows(_read_text(fs, posixpath.join(folder, "result.json")))
    csv_text = _read_text(fs, posixpath.join(folder, "progress.csv")) or ""
    # One header line, one line per result; parsed only when it holds more (rare, ~7 ms).
    if len(csv_text.strip().splitlines()) - 1 > len(rows):
        rows = _csv_rows(csv_text)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(folder))
    previous = sorted(i.path for i in infos if i.type == pyarrow.fs.FileType.File
                      and i.base_name.startswith(PREVIOUS_RESULTS.split("{")[0]))
    rows = [r for p in previous for r in _json_rows(_read_text(fs, p))] + rows
    # Each checkpoint's progress is read once: to skip folders cut short, and the newest's
    # history and config below.
    progresses = {name: _progress_if_complete(fs, posixpath.join(folder, name))
                  for name in sorted(i.base_name for i in infos
                                     if i.type == pyarrow.fs.FileType.Directory
                                     and i.base_name.startswith("checkpoint_"))}
    kept = [name for name, progress in progresses.items() if progress is not None]
    checkpoints = {r["checkpoint_dir_name"]: r for r in rows
                   if r.get("checkpoint_dir_name") in kept}
    # The newest epoch's (names follow epochs unless Ray's counter lagged storage).
    progress = max((progresses[n] for n in kept), default={},
                   key=lambda p: int(p.get("epoch") or 0))
    rows = _one_per_epoch(rows + _unlogged_epochs(progress, rows))
    trial_id = posixpath.basename(folder)[len(TRIAL_PREFIX):]
    log = _read_text(fs, posixpath.join(folder, "error.txt"))
    status = (state or {}).get("status") or ("ERROR" if log else "TERMINATED")
    failures = int((state or {}).get("num_failures") or (1 if log else 0))
    if status == "ERROR":
        failures = max(0, failures - 1)  # the last failure ended it; the others were retried
    # Ray Tune copies params.pkl to remote storage with its periodic sync; each checkpoint
    # carries the config too, for a run whose storage went away before that sync.
    config = _config(fs, folder) or dict(progress.get("config") or {})
    return TrialRecord(trial_id, folder, config, rows,
                       log if status == "ERROR" else None, checkpoints, status, failures, log)


def read_trial_states(fs: Any, experiment: str) -> dict[str, dict[str, Any]]:
    """``trial_id -> {"status", "num_failures"}`` from Ray Tune's newest experiment snapshot.

    Empty when there is none (a run killed before Ray Tune's first snapshot).
    """
    import pyarrow.fs

    infos = fs.get_file_info(pyarrow.fs.FileSelector(experiment))
    snapshots = sorted(i.path for i in infos if i.type == pyarrow.fs.FileType.File
                       and i.base_name.startswith("experiment_state-")
                       and i.base_name.endswith(".json"))
    if not snapshots:
        return {}
    try:
        state = json.loads(_read_text(fs, snapshots[-1]) or "{}")
        states = {}
        for trial_json, metadata_json in state.get("trial_data", []):
            trial, metadata = json.loads(trial_json), json.loads(metadata_json)
            states[str(trial["trial_id"])] = {"status": trial.get("status"),
                                              "num_failures": metadata.get("num_failures", 0)}
        return states
    except (ValueError, KeyError, TypeError):  # a snapshot of another shape: fall back
        return {}


def read_trials(fs: Any, experiment: str,
                states: dict[str, dict[str, Any]] | None = None) -> list[TrialRecord]:
    """Every trial folder under the experiment folder ``experiment``, sorted by trial id.

    ``states`` (``trial_id -> {"status", "num_failures"}``, from the run that just ended)
    overrule Ray Tune's newest experiment snapshot.
    """
    import pyarrow.fs

    infos = fs.get_file_info(pyarrow.fs.FileSelector(experiment))
    folders = sorted(i.path for i in infos if i.type == pyarrow.fs.FileType.Directory
                     and i.base_name.startswith(TRIAL_PREFIX))
    states = {**read_trial_states(fs, experiment), **(states or {})}
    return [read_trial(fs, folder, states.get(posixpath.basename(folder)[len(TRIAL_PREFIX):]))
            for folder in folders]


def best_trial(records: list[TrialRecord], metric: MetricSpec) -> TrialRecord | None:
    """The trial whose best epoch is best; failed trials are ranked too (their epochs ran)."""
    scored = [(r.best(metric)[0], i) for i, r in enumerate(records)]
    scored = [(v, i) for v, i in scored if v is not None]
    if not scored:
        return None
    pick = max if metric.mode == "max" else min
    return records[pick(scored, key=lambda pair: pair[0])[1]]


def trial_table(records: list[TrialRecord], metric: MetricSpec) -> pd.DataFrame:
    """One row per trial: ``trial_id``, ``status``, ``config``, ``epochs``,
    ``<metric>_history``, ``best_<metric>``, ``best_epoch``, ``checkpoint``, ``logdir``,
    ``error``, ``failures`` (retries used) and a ``config/<name>`` column per hyper-parameter."""
    rows = []
    for record in records:
        value, epoch = record.best(metric)
        row: dict[str, Any] = {
            "trial_id": record.trial_id,
            "status": record.status,
            "failures": record.failures,
            "config": record.config,
            "epochs": len(record.rows),
            f"{metric.name}_history": record.history(metric),
            f"best_{metric.name}": value,
            "best_epoch": epoch,
            "checkpoint": record.best_checkpoint(metric),
            "logdir": record.path,
            "error": record.error,
        }
        row.update({f"config/{k}": v for k, v in record.config.items()})
        rows.append(row)
    return pd.DataFrame(rows)
