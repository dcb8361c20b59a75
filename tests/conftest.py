"""Shared fixtures: one real local Ray cluster for the session, small real data sets."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests import _groups, _timing

# The test process imports TensorFlow and torch in whatever order its tests do: zoo_tune's
# import keeps triton out once TensorFlow is loaded (zoo_tune/_triton_guard.py,
# tests/estimator/test_import_order.py).

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# Every Spark process of the tests (drivers, executors, YARN application masters) reads
# tests/spark-conf/spark-defaults.conf: its JVMs run with C1 only (see there). A SPARK_CONF_DIR
# of the caller's own wins.
os.environ.setdefault("SPARK_CONF_DIR", os.path.join(os.path.dirname(__file__), "spark-conf"))


@pytest.fixture(scope="session")
def ray_local():
    """Real Ray on this machine with 2 CPUs, started by zoo_tune and stopped after the session."""
    from zoo_tune import init_context, stop_context

    ctx = init_context(cluster_mode="local", cores=2, object_store_memory=300 * 1024**2)
    yield ctx
    stop_context()


@pytest.fixture(scope="session")
def blobs():
    """A small 3-class problem a linear model learns in one or two epochs."""
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    y = rng.integers(0, 3, size=300)
    x = centers[y] + rng.normal(scale=0.6, size=(300, 4))
    return (x[:240].astype(np.float32), y[:240]), (x[240:].astype(np.float32), y[240:])


@pytest.fixture
def small_job(tmp_path, blobs):
    """Run a small real tuning job (torch MLP on blobs) with the given fit arguments."""
    from tests._helpers import SMALL_SPACE_BOUNDS, sgd_creator, small_linear
    from zoo_tune import AutoEstimator, hp

    def run(name="job", **fit_kwargs):
        (x, y), (xv, yv) = blobs
        est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                       loss="CrossEntropyLoss", logs_dir=str(tmp_path),
                                       name=name)
        args = {"epochs": 2, "n_sampling": 4, "metric": "accuracy", "verbose": 0,
                "search_space": {k: hp.uniform(*b) for k, b in SMALL_SPACE_BOUNDS.items()}}
        args.update(fit_kwargs)
        est.fit((x, y), validation_data=(xv, yv), **args)
        return est

    return run


@pytest.fixture(scope="session")
def hdfs_cluster(tmp_path_factory):
    """A real single-node HDFS (scripts/hdfs.sh) for the session: (uri, conf dir)."""
    import shutil
    import subprocess
    from pathlib import Path

    pytest.importorskip("hdfs_native")
    if shutil.which("java") is None:
        pytest.skip("scripts/hdfs.sh needs Java")
    script = Path(__file__).resolve().parents[1] / "scripts" / "hdfs.sh"
    run = tmp_path_factory.mktemp("hdfs_session")
    env = {**os.environ, "ZOO_TUNE_HDFS_RUN": str(run), "ZOO_TUNE_HDFS_PORT": "0"}
    start = subprocess.run(["bash", str(script), "start"], env=env, capture_output=True,
                           text=True, timeout=900)
    assert start.returncode == 0, start.stderr[-3000:]
    yield start.stdout.strip().splitlines()[-1], str(run / "conf")
    subprocess.run(["bash", str(script), "stop"], env=env, capture_output=True, timeout=120)


# --- CI diagnostics: the lowest free disk space seen, and what is left running at the end ---
# (a run once ended with the NameNode in safe mode because the disk filled up). Under
# pytest-xdist these hooks run in the controller, which sees every worker's tests start and end;
# each worker sends the threads it has left at its end.
_DISK: dict = {"min_free": None, "when": ""}
_RUNNING: dict[str, str] = {}  # group -> the test it runs now
_WORKER_THREADS: dict[str, list] = {}


def _free_disk(config) -> int:
    """Free bytes on the file system of pytest's base temp dir (gone once all passed)."""
    import shutil
    from pathlib import Path

    path = Path(config._tmp_path_factory.getbasetemp())
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def _sample_disk(config, stop) -> None:
    while not stop.wait(5.0):
        try:
            free = _free_disk(config)
        except Exception:  # noqa: BLE001 - diagnostics only
            continue
        if _DISK["min_free"] is None or free < _DISK["min_free"]:
            _DISK["min_free"] = free
            _DISK["when"] = ", ".join(sorted(_RUNNING.values()))


def _threads_alive() -> list[str]:
    import threading

    return sorted(t.name for t in threading.enumerate()
                  if t is not threading.current_thread()
                  and t.name != "zt-disk-sampler" and not t.name.startswith("execnet"))


def pytest_configure(config):
    import threading

    _timing.session_started()
    stop = threading.Event()
    config._zt_disk_stop = stop
    if not hasattr(config, "workerinput"):  # the controller (or the only process) samples
        threading.Thread(target=_sample_disk, args=(config, stop), name="zt-disk-sampler",
                         daemon=True).start()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):  # scripts/test.sh: three groups side by side
    return _groups.make_scheduler(config, log)


def pytest_runtest_logstart(nodeid, location):
    _RUNNING[_groups.group_of(nodeid)] = nodeid  # one worker per group


def pytest_runtest_logfinish(nodeid, location):
    if _RUNNING.get(_groups.group_of(nodeid)) == nodeid:
        del _RUNNING[_groups.group_of(nodeid)]


def pytest_runtest_logreport(report):
    _timing.record(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: tell the controller
        session.config.workeroutput["zt_threads"] = _threads_alive()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):  # pytest-xdist, in the controller
    _WORKER_THREADS[node.gateway.id] = node.workeroutput.get("zt_threads", [])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    config._zt_disk_stop.set()
    free = _free_disk(config)
    low = _DISK["min_free"]
    disk = (f"disk: {free / 1e9:.1f} GB free at the end, lowest "
            f"{(low if low is not None else free) / 1e9:.1f} GB ({_DISK['when'] or '-'})")
    alive = {"main": _threads_alive(), **_WORKER_THREADS}
    left = {k: v for k, v in alive.items() if v}
    _timing.write_report(terminalreporter.write_line,
                         f"{disk}; threads alive at the end: {left or 'none'}")
