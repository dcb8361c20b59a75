"""Trial results and checkpoints on a real HDFS (hdfs://127.0.0.1:PORT), end to end."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from tests._helpers import sgd_creator, small_linear
from zoo_tune import AutoEstimator, hp
from zoo_tune.errors import InvalidInputError
from zoo_tune.storage import resolve_storage

pytestmark = [pytest.mark.hdfs, pytest.mark.usefixtures("ray_local")]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def client(uri):
    from hdfs_native import Client

    return Client(uri, {"dfs.client.failover.max.attempts": "3"})


def test_fit_on_hdfs_writes_trials_and_best_model_comes_from_there(hdfs_cluster, blobs):
    uri, _ = hdfs_cluster
    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss", logs_dir=f"{uri}/user/zt/runs",
                                   name="e2e")
    est.fit((x, y), validation_data=(xv, yv), epochs=2, metric="accuracy", verbose=0,
            search_space={"lr": hp.grid_search([0.0001, 0.05, 0.1]), "momentum": 0.9})
    assert est.experiment_path == f"{uri}/user/zt/runs/e2e"
    hdfs = client(uri)
    trials = sorted(s.path for s in hdfs.list_status("/user/zt/runs/e2e") if s.isdir)
    assert len(trials) == 3
    table = est.get_trial_table().set_index("logdir")
    for trial in trials:
        names = {s.path.rsplit("/", 1)[1] for s in hdfs.list_status(trial)}
        assert {"params.json", "result.json", "progress.csv"} <= names
        rows = [json.loads(line) for line in hdfs.read(f"{trial}/result.json").read().splitlines()]
        assert [r["epoch"] for r in rows] == [1, 2]
        assert [r["accuracy"] for r in rows] == table.loc[trial, "accuracy_history"]
        ckpts = [n for n in names if n.startswith("checkpoint_")]
        # The best epoch's checkpoint, and the newest (epoch 2) when that is not the best.
        best_epoch = table.loc[trial, "best_epoch"]
        assert len(ckpts) == (1 if best_epoch == 2 else 2), ckpts
    # The best model is the best checkpoint's weights, read back from HDFS.
    best = table.loc[table["best_accuracy"].idxmax()]
    saved = torch.load(io.BytesIO(hdfs.read(f"{best['checkpoint']}/model.pt").read()))
    model = est.get_best_model()
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved[key])
    # A new process opens the experiment from its URI alone.
    code = ("import json\nfrom zoo_tune import AutoEstimator\n"
            f"est = AutoEstimator.load({est.experiment_path!r})\n"
            "print(json.dumps([est.get_best_config(), len(est.get_trial_table())]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    config, count = json.loads(out.stdout.strip().splitlines()[-1])
    assert config == est.get_best_config() and count == 3


def slow_accuracy(y_true, y_pred):
    time.sleep(1.5)
    return float((np.asarray(y_pred).argmax(1) == y_true).mean())


def test_results_reach_hdfs_while_the_run_goes_on(hdfs_cluster, blobs):
    uri, _ = hdfs_cluster
    (x, y), (xv, yv) = blobs
    seen: list[float] = []
    done = threading.Event()

    def watch():
        hdfs = client(uri)
        while not done.is_set():
            try:
                for trial in hdfs.list_status("/live/run"):
                    if trial.isdir and trial.path.rsplit("/", 1)[1].startswith("trial_"):
                        lines = hdfs.read(f"{trial.path}/result.json").read().splitlines()
                        if lines:
                            seen.append(time.monotonic())
                            return
            except (FileNotFoundError, RuntimeError, OSError):
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss", logs_dir=f"{uri}/live", name="run")
    # Ray Tune uploads the driver's result files with each experiment snapshot, every ~10 s.
    est.fit((x, y), validation_data=(xv, yv), epochs=10, metric=slow_accuracy, mode="max",
            search_space={"lr": 0.05, "momentum": 0.9}, verbose=0)
    finished = time.monotonic()
    done.set()
    watcher.join(timeout=10)
    assert seen and seen[0] < finished - 2.0  # first epoch readable seconds before the end


def test_unreachable_namenode_fails_fast_before_trials(blobs):
    (x, y), _ = blobs
    est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss", logs_dir="hdfs://127.0.0.1:1/zt")
    start = time.monotonic()
    with pytest.raises(InvalidInputError, match=r"NameNode .* at 127.0.0.1:1 did not answer"):
        est.fit((x, y), metric="accuracy", search_space={"lr": 0.05, "momentum": 0.9},
                verbose=0)
    assert time.monotonic() - start < 10


def test_hdfs_without_host_needs_default_fs(hdfs_cluster, monkeypatch):
    uri, conf = hdfs_cluster
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    with pytest.raises(InvalidInputError, match="set HADOOP_CONF_DIR"):
        resolve_storage("hdfs:///user/zt")
    monkeypatch.setenv("HADOOP_CONF_DIR", conf)
    store = resolve_storage("hdfs:///user/zt/defaultfs")
    store.check_writable()
    store.write_bytes("probe.txt", b"hello")
    assert client(uri).read("/user/zt/defaultfs/probe.txt").read() == b"hello"


def test_local_path_without_permission_fails_before_trials(blobs):
    (x, y), _ = blobs
    est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss", logs_dir="/proc/zoo_tune_logs")
    with pytest.raises(InvalidInputError, match="Cannot write to '/proc/zoo_tune_logs'"):
        est.fit((x, y), metric="accuracy", search_space={"lr": 0.05, "momentum": 0.9},
                verbose=0)
