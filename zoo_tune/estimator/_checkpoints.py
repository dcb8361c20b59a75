"""A trial's checkpoints on storage: its best epochs for ``get_best_model``, plus its newest.

Every epoch writes a checkpoint, so a trial whose worker, node or executor dies is retried
from the epoch it had finished (at most one epoch is redone), and a resumed run finds each
trial's newest state (a finished trial's last epoch included, so it is not run again).
Storage does not grow with epochs: once a newer checkpoint is on storage, the trial deletes
every older one that is neither among its ``keep`` best (improving) epochs nor the newest,
so a trial holds at most ``keep + 1`` checkpoints, ``keep`` when its last epoch is its best.
Each checkpoint carries ``zoo_tune_progress.json`` (``epoch``, ``value``, ``best``,
``improved``), which is how a retried trial knows which folders are which.

Example:
    >>> kept = [Kept("c0", 1, 0.5, True), Kept("c1", 2, 0.6, True), Kept("c2", 3, 0.4, False)]
    >>> [k.path for k in superseded(kept, keep=1)]
    ['c0']
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from dataclasses import dataclass
from typing import Any

from zoo_tune.results import PROGRESS_FILE, is_complete

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint_"


@dataclass(frozen=True)
class Kept:
    """One checkpoint of a trial on storage.

    Attributes:
        path: The folder inside the storage filesystem.
        epoch: The 1-based epoch it holds.
        value: That epoch's metric.
        improved: Whether that epoch improved the trial's best metric.
    """

    path: str
    epoch: int
    value: float
    improved: bool


def write_progress(directory: str, epoch: int, value: float, best: float | None,
                   improved: bool, history: list[list[float]] | None = None,
                   metric: str | None = None, config: dict[str, Any] | None = None) -> None:
    """Write :data:`PROGRESS_FILE` into a local checkpoint folder before it is reported.

    ``history`` is ``[[epoch, value], ...]`` up to this epoch: the trial's metric history
    survives on storage with its newest checkpoint, even where Ray Tune's ``result.json``
    lags (:func:`zoo_tune.results.read_trial` fills the gaps from it); ``config`` (as JSON,
    odd values as their ``repr``) likewise stands in for a ``params.pkl`` that never reached
    storage. ``files`` (name -> size of every other file in the folder) lets a reader tell a
    complete checkpoint from one whose upload was cut short.
    """
    files = {name: os.path.getsize(os.path.join(directory, name))
             for name in sorted(os.listdir(directory))
             if name != PROGRESS_FILE and os.path.isfile(os.path.join(directory, name))}
    with open(os.path.join(directory, PROGRESS_FILE), "w", encoding="utf-8") as f:
        json.dump({"files": files, "epoch": epoch, "value": value, "best": best,
                   "improved": improved, "metric": metric,
                   "history": history or [[epoch, value]], "config": config or {}}, f,
                  default=repr)


def read_progress(directory: str) -> dict[str, Any]:
    """The progress a local checkpoint folder holds (``epoch`` 0 when it holds none)."""
    try:
        with open(os.path.join(directory, PROGRESS_FILE), encoding="utf-8") as f:
            return dict(json.load(f))
    except FileNotFoundError:
        return {"epoch": 0, "value": None, "best": None, "improved": False}


def list_kept(fs: Any, trial_folder: str) -> list[Kept]:
    """Every zoo_tune checkpoint under ``trial_folder`` on ``fs``, oldest epoch first."""
    return scan(fs, trial_folder)[0]


def scan(fs: Any, trial_folder: str) -> tuple[list[Kept], list[str]]:
    """One listing of ``trial_folder``: its complete zoo_tune checkpoints (oldest epoch
    first) and the names of every ``checkpoint_*`` folder there, cut short ones included."""
    import pyarrow.fs

    try:
        infos = fs.get_file_info(pyarrow.fs.FileSelector(trial_folder))
    except (OSError, RuntimeError):  # nothing written yet
        return [], []
    folders = [i for i in infos if i.type == pyarrow.fs.FileType.Directory
               and i.base_name.startswith(CHECKPOINT_PREFIX)]
    kept = []
    for info in folders:
        try:
            with fs.open_input_stream(posixpath.join(info.path, PROGRESS_FILE)) as f:
                progress = json.loads(f.read().decode("utf-8"))
        except (OSError, RuntimeError, ValueError):  # half-written or foreign: leave it be
            continue
        if not is_complete(fs, info.path, progress):  # cut short: never loaded, never counted
            continue
        kept.append(Kept(info.path, int(progress["epoch"]), float(progress["value"]),
                         bool(progress["improved"])))
    return sorted(kept, key=lambda k: (k.epoch, k.path)), sorted(i.base_name for i in folders)


def superseded(kept: list[Kept], keep: int | None) -> list[Kept]:
    """The checkpoints of ``kept`` (oldest first) that may go.

    Kept are the ``keep`` newest improving epochs (all improving ones for ``None``), which
    are the ``keep`` best, and the newest checkpoint, from which a retry or resume goes on.
    """
    improving = [k for k in kept if k.improved]
    stay = set(map(id, improving if keep is None else improving[-keep:] if keep else []))
    if kept:
        stay.add(id(kept[-1]))
    return [k for k in kept if id(k) not in stay]


def delete(fs: Any, checkpoints: list[Kept]) -> None:
    """Delete ``checkpoints`` from ``fs``; a failure is logged, never raised."""
    for k in checkpoints:
        try:
            fs.delete_dir(k.path)
        except (OSError, RuntimeError) as err:
            logger.warning("Could not delete superseded checkpoint %s: %s", k.path, err)
