"""Real faults on local Ray: a SIGKILLed trial worker is retried from its newest checkpoint;
an exception of the user's own code is not retried."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from zoo_tune import AutoEstimator, hp

pytestmark = [pytest.mark.usefixtures("ray_local"), pytest.mark.timeout(240)]

_TAG: dict[str, str] = {}


class Net(nn.Module):
    """A small MLP whose forward pass raises for the config tag 'bad'."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        if self.tag == "bad":
            raise ValueError("boom in the forward pass")
        return self.body(x)


def make_model(config, record_dir):
    _TAG["tag"] = config["tag"]
    with open(os.path.join(record_dir, f"built_{config['tag']}"), "a") as f:
        f.write(f"{os.getpid()}\n")
    return Net(config["tag"])


def slow_accuracy(y_true, y_pred, record_dir):
    """Accuracy that logs 'pid' per call (one call per epoch) and takes 0.3 s."""
    with open(os.path.join(record_dir, f"epochs_{_TAG['tag']}"), "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.3)
    return float((np.asarray(y_pred).argmax(1) == y_true).mean())


def _lines(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def _fit(tmp_path, blobs, tags, epochs=8, **kwargs):
    import functools

    (x, y), (xv, yv) = blobs
    record = tmp_path / "record"
    record.mkdir(exist_ok=True)
    metric = functools.partial(slow_accuracy, record_dir=str(record))
    metric.__name__ = "acc"
    est = AutoEstimator.from_torch(
        model_creator=functools.partial(make_model, record_dir=str(record)),
        optimizer="Adam", loss="CrossEntropyLoss", logs_dir=str(tmp_path / "logs"),
        name="faults", resources_per_trial={"cpu": 1})
    est.fit((x, y), validation_data=(xv, yv), epochs=epochs, metric=metric, metric_mode="max",
            search_space={"tag": hp.grid_search(tags), "lr": 0.01}, verbose=0, **kwargs)
    return est, record


def _kill_after(path, epochs, killed):
    """Background: SIGKILL the process that logged the ``epochs``-th line to ``path``."""
    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = _lines(path)
            if len(lines) >= epochs:
                killed.append(int(lines[epochs - 1]))
                os.kill(killed[-1], signal.SIGKILL)
                return
            time.sleep(0.02)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("max_failures", [2, 0])
def test_killed_worker_is_retried_from_its_newest_checkpoint(tmp_path, blobs, max_failures):
    killed: list[int] = []
    watcher = _kill_after(tmp_path / "record" / "epochs_a", 2, killed)
    (tmp_path / "record").mkdir()
    est, record = _fit(tmp_path, blobs, ["a", "b"], max_failures=max_failures)
    watcher.join(5)
    assert killed, "the watcher never saw trial a's second epoch"
    table = est.get_trial_table().set_index("config/tag")
    pids = _lines(record / "epochs_a")
    assert pids[:2] == [str(killed[0])] * 2
    if max_failures == 0:
        assert table.loc["a", "status"] == "ERROR"
        assert table.loc["b", "status"] == "TERMINATED"
        assert table.loc["a", "failures"] == 0
        assert len(pids) == 2
        return
    assert list(table["status"]) == ["TERMINATED", "TERMINATED"], table["error"].tolist()
    assert table.loc["a", "failures"] == 1 and table.loc["b", "failures"] == 0
    assert table.loc["a", "epochs"] == 8 and len(table.loc["a", "acc_history"]) == 8
    history = est.get_trial_history()
    trial_a = history[history["trial_id"] == table.loc["a", "trial_id"]]
    assert trial_a["epoch"].tolist() == list(range(1, 9))
    # The retry ran in a new process and redid at most the one epoch in flight.
    assert set(pids[2:]) == {pids[-1]} and pids[-1] != str(killed[0])
    assert len(pids) <= 8 + 1
    # Storage did not grow with epochs: the best epoch's checkpoint and the newest.
    ckpts = [d for d in os.listdir(table.loc["a", "logdir"]) if d.startswith("checkpoint_")]
    assert 1 <= len(ckpts) <= 2
    model = est.get_best_model()
    assert isinstance(model, torch.nn.Module)


def test_user_error_is_not_retried_and_shows_its_traceback(tmp_path, blobs):
    est, record = _fit(tmp_path, blobs, ["bad", "good"], epochs=3)
    table = est.get_trial_table().set_index("config/tag")
    assert table.loc["bad", "status"] == "ERROR"
    assert table.loc["good", "status"] == "TERMINATED"
    error = table.loc["bad", "error"]
    assert "ValueError: boom in the forward pass" in error
    assert "in forward" in error  # the user's own frame
    # Built once by the trial (no retry), besides fit's one check build on the driver.
    assert [p for p in _lines(record / "built_bad") if p != str(os.getpid())] != []
    assert len([p for p in _lines(record / "built_bad") if p != str(os.getpid())]) == 1
    assert table.loc["bad", "failures"] == 0
    assert len(table.loc["good", "acc_history"]) == 3
