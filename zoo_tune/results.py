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


@dataclass
class TrialRecord:
    """One trial as stored.

    Attributes:
        trial_id: Ray Tune's trial id.
        path: The trial folder inside the storage filesystem.
        config: The trial's (last) config.
        rows: Every reported result, in order (one per epoch).
        error: The trial's error text with its traceback, or ``None``.
        checkpoints: Kept checkpoint folder name -> the result it was reported with.
    """

    trial_id: str
    path: str
    config: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)

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


def read_trial(fs: Any, folder: str) -> TrialRecord:
    """Read one ``trial_<id>`` folder.

    Ray Tune logs every result twice (``result.json`` and ``progress.csv``). When a trial is
    paused and restarted (PBT), Ray restores each file from storage, which may lag the
    driver's copy by a few results; the longer of the two is the complete history.
    """
    import pyarrow.fs

    rows = [json.loads(line) for line in
            (_read_text(fs, posixpath.join(folder, "result.json")) or "").splitlines()
            if line.strip()]
    csv_text = _read_text(fs, posixpath.join(folder, "progress.csv")) or ""
    # One header line, one line per result; parsed only when it holds more (rare, ~7 ms).
    if len(csv_text.strip().splitlines()) - 1 > len(rows):
        rows = _csv_rows(csv_text)
    kept = {info.base_name for info in fs.get_file_info(pyarrow.fs.FileSelector(folder))
            if info.type == pyarrow.fs.FileType.Directory
            and info.base_name.startswith("checkpoint_")}
    checkpoints = {r["checkpoint_dir_name"]: r for r in rows
                   if r.get("checkpoint_dir_name") in kept}
    trial_id = posixpath.basename(folder)[len(TRIAL_PREFIX):]
    return TrialRecord(trial_id, folder, _config(fs, folder), rows,
                       _read_text(fs, posixpath.join(folder, "error.txt")), checkpoints)


def read_trials(fs: Any, experiment: str) -> list[TrialRecord]:
    """Every trial folder under the experiment folder ``experiment``, sorted by trial id."""
    import pyarrow.fs

    infos = fs.get_file_info(pyarrow.fs.FileSelector(experiment))
    folders = sorted(i.path for i in infos if i.type == pyarrow.fs.FileType.Directory
                     and i.base_name.startswith(TRIAL_PREFIX))
    return [read_trial(fs, folder) for folder in folders]


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
    ``error`` and a ``config/<name>`` column per hyper-parameter."""
    rows = []
    for record in records:
        value, epoch = record.best(metric)
        row: dict[str, Any] = {
            "trial_id": record.trial_id,
            "status": "ERROR" if record.error else "TERMINATED",
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
