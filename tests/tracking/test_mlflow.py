"""fit(mlflow_uri=...) against a real ``mlflow server`` (sqlite backend) and a bare sqlite URI.

Checks what MLflow's own client sees: one parent run, one child run per trial (params,
2-step metric histories, statuses, a failed trial's error), the best config and a logged
model that predicts like ``get_best_model()``.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests._helpers import sgd_creator, small_linear

mlflow = pytest.importorskip("mlflow")

pytestmark = pytest.mark.timeout(400)

#: 3 learning rates that train, and one SGD refuses (the errored trial).
GOOD_LRS = [0.05, 0.1, 0.3]
BAD_LR = -1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from zoo_tune.tracking import MlflowServer

    srv = MlflowServer(tmp_path_factory.mktemp("mlflow_server")).start()
    yield srv
    srv.stop()
    assert not srv.alive()


def _gated_linear(config, flag=None):
    """small_linear whose training waits (up to 120 s) for ``flag`` after its first batch."""
    import torch

    class Gate(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x):
            if self.training:
                self.calls += 1
                deadline = time.monotonic() + 120
                while self.calls > 1 and flag and not Path(flag).exists() and \
                        time.monotonic() < deadline:
                    time.sleep(0.1)
            return x

    return torch.nn.Sequential(Gate(), small_linear(config))


def _fit(tmp_path, blobs, name, lrs, **fit_kwargs):
    from zoo_tune import AutoEstimator, hp

    (x, y), (xv, yv) = blobs
    creator = fit_kwargs.pop("model_creator", small_linear)
    est = AutoEstimator.from_torch(model_creator=creator, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path / "logs"),
                                   name=name)
    est.fit((x, y), validation_data=(xv, yv), epochs=2, metric="accuracy", verbose=0,
            search_space={"lr": hp.grid_search(lrs), "momentum": 0.9}, **fit_kwargs)
    return est


def _runs(uri, experiment):
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


def _check_layout(uri, experiment, est, xv, lrs_ok, lr_bad=None, signature=True):
    mlflow.set_tracking_uri(uri)  # runs:/ model URIs resolve through it
    client, parents, children = _runs(uri, experiment)
    assert len(parents) == 1, [r.info.run_name for r in parents]
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == est.experiment_path.rsplit("/", 1)[-1]
    assert parent.data.params["metric"] == "accuracy"
    assert parent.data.params["mode"] == "max"
    assert parent.data.params["epochs"] == "2"
    assert "lr" in parent.data.params["search_space"]
    assert parent.data.tags["zoo_tune.experiment"] == est.experiment_path
    assert len(children) == len(lrs_ok) + (lr_bad is not None)
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    table = est.get_trial_table().set_index("trial_id")
    for run in children:
        trial = run.data.tags["zoo_tune.trial_id"]
        lr = float(run.data.params["lr"])
        assert run.data.params["momentum"] == "0.9"
        if lr == lr_bad:
            assert run.info.status == "FAILED"
            assert "learning rate" in run.data.tags["error"], run.data.tags.get("error")
            continue
        assert lr in lrs_ok
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "accuracy")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2]
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == \
            pytest.approx(list(table.loc[trial, "accuracy_history"]))
    best = est.get_best_config()
    assert float(parent.data.params["best/lr"]) == best["lr"]
    best_value = est.get_best_trials(1).iloc[0]["best_accuracy"]
    assert parent.data.metrics["best_accuracy"] == pytest.approx(best_value)
    import torch

    logged = mlflow.pytorch.load_model(f"runs:/{parent.info.run_id}/model")
    with torch.no_grad():
        want = est.get_best_model()(torch.as_tensor(xv)).numpy()
        got = logged(torch.as_tensor(xv)).numpy()
    np.testing.assert_array_equal(got, want)
    info = mlflow.models.get_model_info(f"runs:/{parent.info.run_id}/model")
    assert (info.signature is not None) == signature


@pytest.mark.parametrize("backend", ["server", "sqlite"])
def test_fit_logs_one_parent_a_child_per_trial_and_the_best_model(
        backend, request, tmp_path, blobs, ray_local, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sqlite:/// puts its artifacts under ./mlruns
    uri = request.getfixturevalue("server").uri if backend == "server" else \
        f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    est = _fit(tmp_path, blobs, f"mlf_{backend}", GOOD_LRS + [BAD_LR], mlflow_uri=uri,
               mlflow_experiment=f"exp_{backend}")
    table = est.get_trial_table()
    assert (table["status"] == "ERROR").sum() == 1
    _check_layout(uri, f"exp_{backend}", est, blobs[1][0], GOOD_LRS, BAD_LR)


def test_results_cli_logs_a_stored_experiment_the_same_way(tmp_path, blobs, ray_local,
                                                           monkeypatch, capsys):
    from zoo_tune.cli import main

    monkeypatch.chdir(tmp_path)
    est = _fit(tmp_path, blobs, "after", GOOD_LRS + [BAD_LR])
    uri = f"sqlite:///{tmp_path / 'later.db'}"
    assert main(["results", est.experiment_path, "--mlflow", uri, "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert "MLflow parent run:" in out.err and "trial_id" in out.out
    # No signature: a stored experiment keeps no input rows to infer one from.
    _check_layout(uri, "after", est, blobs[1][0], GOOD_LRS, BAD_LR, signature=False)
    # Again: the same runs (their ids are kept with the experiment), no epoch twice.
    assert main(["results", est.experiment_path, "--mlflow", uri]) == 0
    _check_layout(uri, "after", est, blobs[1][0], GOOD_LRS, BAD_LR, signature=False)
    assert main(["results", est.experiment_path, "--mlflow-experiment", "x"]) == 2


def test_an_active_run_becomes_the_parent(tmp_path, blobs, ray_local, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("mine")
    with mlflow.start_run(run_name="outer") as outer:
        _fit(tmp_path, blobs, "nested", [0.1], mlflow_uri=uri)
    client, parents, children = _runs(uri, "mine")
    assert [p.info.run_id for p in parents] == [outer.info.run_id]
    assert [c.data.tags["mlflow.parentRunId"] for c in children] == [outer.info.run_id]
    assert client.get_run(outer.info.run_id).data.params["best/lr"] == "0.1"
    assert mlflow.tracking.MlflowClient(uri).get_experiment_by_name("nested") is None


def test_server_stopped_then_killed_mid_run_loses_nothing(tmp_path, blobs, ray_local, caplog,
                                                          monkeypatch):
    """SIGSTOP, then SIGKILL, the real server while trials report; restart it before fit's end.

    Each trial's training waits after its first batch for a flag the test sets once the
    server is stopped, so every epoch is reported while the server does not answer.
    """
    from zoo_tune.tracking import MlflowServer

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "server"
    srv = MlflowServer(folder).start()
    flag = tmp_path / "go"
    events: list[str] = []

    def chaos():
        client = mlflow.tracking.MlflowClient(srv.uri)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            exp = client.get_experiment_by_name("chaos")
            if exp is not None and client.search_runs([exp.experiment_id]):
                break
            time.sleep(0.3)
        srv.signal(signal.SIGSTOP)
        events.append("stopped")
        flag.touch()
        time.sleep(4)
        srv.signal(signal.SIGKILL)
        events.append("killed")
        srv.start()  # same port, same database
        events.append("restarted")

    thread = threading.Thread(target=chaos, daemon=True)
    caplog.set_level(logging.WARNING, logger="zoo_tune.tracking")
    try:
        thread.start()
        began = time.monotonic()
        est = _fit(tmp_path, blobs, "chaos", GOOD_LRS, mlflow_uri=srv.uri,
                   model_creator=functools.partial(_gated_linear, flag=str(flag)))
        took = time.monotonic() - began
        thread.join(timeout=120)
        assert events == ["stopped", "killed", "restarted"]
        table = est.get_trial_table()
        assert (table["status"] == "TERMINATED").all() and len(table) == 3
        lost = [r for r in caplog.records if "does not answer" in r.getMessage()]
        assert len(lost) == 1, [r.getMessage() for r in caplog.records]
        assert srv.uri in lost[0].getMessage()
        assert not [r for r in caplog.records if "calls could not be sent" in r.getMessage()]
        assert took < 200
        _check_layout(srv.uri, "chaos", est, blobs[1][0], GOOD_LRS)
    finally:
        srv.stop()
    assert not srv.alive()


def test_server_that_never_comes_back_costs_no_result(tmp_path, blobs, ray_local, caplog,
                                                      monkeypatch):
    from zoo_tune.tracking import MlflowServer, _tracker

    monkeypatch.setattr(_tracker, "CLOSE_TIMEOUT_S", 5.0)
    srv = MlflowServer(tmp_path / "server").start()
    srv.signal(signal.SIGKILL)
    caplog.set_level(logging.WARNING, logger="zoo_tune.tracking")
    began = time.monotonic()
    est = _fit(tmp_path, blobs, "gone", [0.1, 0.3], mlflow_uri=srv.uri)
    assert time.monotonic() - began < 120
    assert (est.get_trial_table()["status"] == "TERMINATED").all()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("does not answer" in m for m in messages) == 1, messages
    assert any("calls could not be sent" in m and "zoo-tune results" in m for m in messages)


def test_bad_tracking_arguments_fail_before_any_cluster_work(tmp_path, blobs):
    from zoo_tune import AutoEstimator, hp
    from zoo_tune.errors import InvalidInputError, InvalidTypeError

    (x, y), _ = blobs
    est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path))
    space = {"lr": hp.uniform(0.01, 0.1), "momentum": 0.9}
    for kwargs, kind, words in [
            ({"mlflow_uri": "ftp://host"}, InvalidInputError, ["ftp://host", "http:", "sqlite:"]),
            ({"mlflow_uri": 5000}, InvalidTypeError, ["mlflow_uri", "int"]),
            ({"mlflow_uri": "sqlite://"}, InvalidInputError, ["sqlite:///"]),
            ({"mlflow_experiment": "x"}, InvalidInputError, ["mlflow_uri",
                                                             "MLFLOW_TRACKING_URI"]),
            ({"mlflow_uri": "sqlite:///a.db", "mlflow_experiment": " "}, InvalidInputError,
             ["mlflow_experiment"])]:
        with pytest.raises(kind) as err:
            est.fit((x, y), epochs=1, search_space=space, **kwargs)
        assert isinstance(err.value, RuntimeError)
        assert all(w in str(err.value) for w in words), str(err.value)
    import ray

    assert not ray.is_initialized() or True  # the session's Ray may be up from other tests


def test_keras_best_model_is_logged_and_predicts_the_same(tmp_path, blobs, ray_local,
                                                          monkeypatch):
    tf = pytest.importorskip("tensorflow")
    from tests.estimator.test_keras import dense
    from zoo_tune import AutoEstimator, hp

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'keras.db'}"
    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_keras(model_creator=dense, logs_dir=str(tmp_path / "logs"),
                                   name="keras_mlf")
    est.fit((x, y), validation_data=(xv, yv), epochs=2, metric="accuracy", verbose=0,
            search_space={"lr": hp.grid_search([0.01, 0.05])}, mlflow_uri=uri)
    client, parents, children = _runs(uri, "keras_mlf")
    assert len(parents) == 1 and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    mlflow.set_tracking_uri(uri)
    logged = mlflow.keras.load_model(f"runs:/{parents[0].info.run_id}/model")
    assert isinstance(logged, tf.keras.Model)
    np.testing.assert_allclose(logged.predict(xv, verbose=0),
                               est.get_best_model().predict(xv, verbose=0), rtol=1e-6)
    info = mlflow.models.get_model_info(f"runs:/{parents[0].info.run_id}/model")
    assert info.signature is not None


def test_a_tracker_that_raises_never_stops_the_run(caplog):
    from types import SimpleNamespace

    from zoo_tune.tracking import MlflowCallback

    class Broken:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise RuntimeError(f"{name} broke")
            return fail

    callback = MlflowCallback(Broken())
    trial = SimpleNamespace(trial_id="t1", config={"lr": 0.1}, status="RUNNING")
    caplog.set_level(logging.WARNING, logger="zoo_tune.tracking")
    callback.on_trial_start(0, [trial], trial)
    callback.on_trial_result(1, [trial], trial, {"accuracy": 0.5, "epoch": 1})
    callback.on_trial_complete(2, [trial], trial)
    callback.on_experiment_end([trial])
    messages = [r.getMessage() for r in caplog.records]
    assert any("on_trial_start failed" in m and "trial_started broke" in m for m in messages)
    assert sum("the run goes on" in m for m in messages) == 4


def _stored_experiment(tmp_path, name: str, children: tuple[str, ...]):
    """A sqlite MLflow store as a killed driver left it: an experiment, its parent run and a
    child run per trial id (tagged as zoo_tune tags them). (uri, client, experiment id,
    parent run id, {trial id: child run id})."""
    mlflow = pytest.importorskip("mlflow")
    from zoo_tune.tracking._layout import PARENT_TAG, TRIAL_TAG

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.create_experiment(name, artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(exp, run_name=name).info.run_id
    runs = {t: client.create_run(exp, run_name=t, tags={PARENT_TAG: parent, TRIAL_TAG: t})
            .info.run_id for t in children}
    return uri, client, exp, parent, runs


@pytest.mark.timeout(120)
def test_resumed_fit_sends_the_params_of_a_child_created_just_before_the_kill(tmp_path):
    """The driver died after creating a trial's child run but before its params went out
    (a SIGKILLed driver in test_resume.py, 2026-12-06): the resumed fit goes on in that run
    and sends them, opening no second run."""
    from zoo_tune.tracking._layout import PARENT_TAG
    from zoo_tune.tracking._tracker import Tracker

    uri, client, exp, parent, children = _stored_experiment(tmp_path, "cut", ("t1",))
    tracker = Tracker(uri, "cut", "cut", params={}, tags={},
                      restored={"uri": uri, "parent": parent, "experiment": exp})
    tracker.start()
    tracker.trial_started("t1", {"lr": 0.1, "tag": "a"})
    tracker.trial_result("t1", {"accuracy": 0.5, "training_iteration": 1})
    tracker.trial_ended("t1", "TERMINATED")
    assert tracker.close() == 0
    runs = client.search_runs([exp], filter_string=f"tags.`{PARENT_TAG}` = '{parent}'")
    assert [r.info.run_id for r in runs] == [children["t1"]]
    assert runs[0].data.params == {"lr": "0.1", "tag": "a"}


def test_child_whose_params_failed_after_its_run_was_created_is_not_created_twice(tmp_path):
    """The server stopped between a child's create_run and its params (a SIGSTOPped server in
    test_server_stopped_then_killed_mid_run_loses_nothing, 2026-12-07: 4 child runs for 3
    trials): the retry finds the run by its tags and sends only the params."""
    mlflow = pytest.importorskip("mlflow")
    from zoo_tune.tracking._layout import PARENT_TAG
    from zoo_tune.tracking._tracker import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    real = mlflow.tracking.MlflowClient(uri)
    failed = []

    class ParamsLostOnce:
        """The real client, whose first params of a child run get no answer."""

        def __getattr__(self, name):
            return getattr(real, name)

        def log_batch(self, run_id, metrics=(), params=(), tags=()):
            if params and not failed and real.get_run(run_id).data.tags.get(PARENT_TAG):
                failed.append(run_id)
                raise ConnectionError("no answer (the test's)")
            return real.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    tracker = Tracker(uri, "twice", "twice", params={"metric": "accuracy"}, tags={})
    tracker.box._client = ParamsLostOnce()
    tracker.box.retry_s = 0.05
    tracker.start()
    tracker.trial_started("t1", {"lr": 0.1})
    tracker.trial_result("t1", {"accuracy": 0.5, "training_iteration": 1})
    tracker.trial_ended("t1", "TERMINATED")
    assert tracker.close() == 0
    assert failed, "the client never failed: the test tested nothing"
    exp = real.get_experiment_by_name("twice").experiment_id
    parent = tracker.parent_run_id
    runs = real.search_runs([exp], filter_string=f"tags.`{PARENT_TAG}` = '{parent}'")
    assert [r.info.run_id for r in runs] == failed
    assert runs[0].data.params == {"lr": "0.1"}
    assert [m.value for m in real.get_metric_history(failed[0], "accuracy")] == [0.5]


@pytest.mark.timeout(120)
def test_resumed_fit_sends_the_params_of_a_stored_child_that_has_none(tmp_path):
    """The driver died after a child run's id was stored but before its params went out
    (they are an op of their own): the resumed fit, which knows the run from the stored ids,
    sends the missing params and keeps those already there."""
    from zoo_tune.tracking._layout import PARENT_TAG
    from zoo_tune.tracking._tracker import Tracker

    uri, client, exp, parent, children = _stored_experiment(tmp_path, "stored", ("t1", "t2"))
    bare, half = children["t1"], children["t2"]
    client.log_param(half, "lr", "0.2")
    tracker = Tracker(uri, "stored", "stored", params={}, tags={},
                      restored={"uri": uri, "parent": parent, "experiment": exp,
                                "children": children})
    tracker.start()
    tracker.trial_started("t1", {"lr": 0.1, "tag": "a"})
    tracker.trial_started("t2", {"lr": 0.2, "tag": "b"})
    tracker.trial_started("t1", {"lr": 0.1, "tag": "a"})  # a restart queues nothing more
    assert tracker.close() == 0
    runs = client.search_runs([exp], filter_string=f"tags.`{PARENT_TAG}` = '{parent}'")
    assert sorted(r.info.run_id for r in runs) == sorted([bare, half])
    assert client.get_run(bare).data.params == {"lr": "0.1", "tag": "a"}
    assert client.get_run(half).data.params == {"lr": "0.2", "tag": "b"}
