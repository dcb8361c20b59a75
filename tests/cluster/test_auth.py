"""Ray token authentication of the clusters zoo_tune starts, and joining one with a token.

The Ray on Spark modes are checked where their fits run (``test_spark.py`` standalone,
``test_yarn_cluster.py`` yarn-client: ``assert_token_auth``); here ``local`` (the default
mode), the opt-out, joining (``cluster_mode="ray"``), and the token file's life.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from tests.cluster._spark_helpers import ENV, run_script
from tests.cluster.test_spark import assert_token_auth
from zoo_tune import init_context
from zoo_tune.cluster import _auth
from zoo_tune.errors import InvalidInputError, InvalidTypeError

AUTH_ENV = (_auth.MODE_ENV, _auth.TOKEN_ENV, _auth.TOKEN_PATH_ENV, _auth.HOOK_ENV)


@pytest.fixture
def clean_auth_env(monkeypatch):
    """No Ray authentication setting of the caller's (restored after the test)."""
    for key in AUTH_ENV:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.usefixtures("clean_auth_env")
def test_token_file_private_and_environment_restored(monkeypatch):
    monkeypatch.setenv(_auth.TOKEN_ENV, "the-callers-own")  # hidden while ours is on
    monkeypatch.setenv(_auth.MODE_ENV, "disabled")
    auth = _auth.open_auth(True)
    path = auth.token_file
    assert path is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    token = open(path).read()
    assert len(token) == 64 and int(token, 16) >= 0  # 256 random bits, hex
    assert os.environ[_auth.MODE_ENV] == "token" and os.environ[_auth.TOKEN_PATH_ENV] == path
    assert _auth.TOKEN_ENV not in os.environ
    assert os.environ[_auth.HOOK_ENV] == _auth.HOOK_CLASS
    assert _auth.node_env() == {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    assert _auth.open_auth(True).token_file != path or pytest.fail("tokens are per cluster")
    auth.close()
    assert not os.path.exists(os.path.dirname(path))
    assert os.environ[_auth.TOKEN_ENV] == "the-callers-own"
    assert os.environ[_auth.MODE_ENV] == "disabled"
    auth.close()  # idempotent


@pytest.mark.usefixtures("clean_auth_env")
def test_opt_out_warns_and_nodes_get_disabled(caplog):
    with caplog.at_level("WARNING", logger="zoo_tune.cluster._auth"):
        auth = _auth.open_auth(False)
    try:
        assert auth.token_file is None
        assert "WITHOUT token authentication" in caplog.text
        assert _auth.node_env() == {"RAY_AUTH_MODE": "disabled"}
    finally:
        auth.close()
    assert _auth.MODE_ENV not in os.environ and _auth.HOOK_ENV not in os.environ


@pytest.mark.usefixtures("clean_auth_env")
def test_a_callers_start_hook_is_kept(monkeypatch):
    pytest.importorskip("ray")
    from zoo_tune.cluster._ray_hook import TokenStartHook

    monkeypatch.setenv(_auth.HOOK_ENV, "tests.cluster.test_auth.CallersHook")
    auth = _auth.open_auth(True)
    try:
        env = TokenStartHook().custom_environment_variables()
        assert env["CALLERS"] == "1" and env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"] == open(auth.token_file).read()
        assert TokenStartHook().get_default_temp_root_dir() == "/tmp/callers"
    finally:
        auth.close()
    assert os.environ[_auth.HOOK_ENV] == "tests.cluster.test_auth.CallersHook"


class CallersHook:
    """A start hook a caller had set (as Databricks does)."""

    def get_default_temp_root_dir(self) -> str:
        return "/tmp/callers"

    def custom_environment_variables(self) -> dict[str, str]:
        return {"CALLERS": "1", "RAY_AUTH_MODE": "disabled"}


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"ray_auth": "yes"}, InvalidTypeError, "`ray_auth` must be True or False, but got 'yes'"),
        ({"cluster_mode": "ray", "address": "auto", "ray_auth": False}, InvalidInputError,
         r"`ray_auth` applies to a Ray cluster zoo_tune starts.*RAY_AUTH_TOKEN"),
    ],
)
def test_bad_ray_auth(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        init_context(**kwargs)
    assert issubclass(error, RuntimeError)


LOCAL = """
import numpy as np
import ray

from zoo_tune import AutoEstimator, hp, init_context, stop_context

home = os.environ["HOME"]
rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=200)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(200, 4))).astype(np.float32)


def model_creator(config):
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


ctx = init_context("local", cores=2)
token_file = ctx.auth_token_file
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="SGD",
                               loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                               name="auth")
est.fit((x, y), epochs=1, n_sampling=2, metric="accuracy",
        search_space={"lr": hp.uniform(0.01, 0.1)}, verbose=0)
statuses = est.get_trial_table()["status"].tolist()
clients = auth_clients(ctx.ray_address, token_file)
exposure = token_exposure(token_file, ray._private.worker._global_node.get_session_dir_path())
exposure["in_spark_ui"] = False  # no Spark in this mode
stop_context()
out = {"statuses": statuses, "clients": clients, "exposure": exposure,
       "token_file_left": os.path.exists(token_file),
       "dot_ray": os.path.exists(os.path.join(home, ".ray"))}

ctx = init_context("local", cores=1, ray_auth=False)
out["opt_out_file"] = ctx.auth_token_file
out["opt_out_clients"] = auth_clients(ctx.ray_address, token_file="/nonexistent/t")
stop_context()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_local_cluster_admits_only_its_token_and_opt_out_admits_all(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = run_script(LOCAL, tmp_path, env={"HOME": str(home)}, timeout=300)
    assert out["statuses"] == ["TERMINATED"] * 2
    assert_token_auth(out)
    assert out["dot_ray"] is False  # nothing written to (or read from) ~/.ray
    # ray_auth=False: no token file, and a client with no token gets in (the opt-out is real).
    assert out["opt_out_file"] is None
    assert out["opt_out_clients"]["none"]["rc"] == 0, out["opt_out_clients"]
    assert out["opt_out_clients"]["none"]["cpus"] == "1.0"


@pytest.mark.slow
def test_joining_a_token_cluster_says_it_wants_the_token(tmp_path):
    """``cluster_mode="ray"`` against a cluster started with ``ray start --head`` in token
    mode: no token -> an error naming the token; ``RAY_AUTH_TOKEN_PATH`` alone -> joined."""
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable))
    assert ray_bin, "the venv has no `ray`"
    token_file = _auth.write_token("ab" * 32)
    import tempfile

    temp = tempfile.mkdtemp(prefix="ztr-", dir="/tmp")  # Unix socket paths: 108 bytes at most
    head_env = {**ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_file,
                "HOME": str(tmp_path)}
    port = str(_free_port())
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}",
                             "--num-cpus=1", "--include-dashboard=false", f"--temp-dir={temp}",
                             "--disable-usage-stats"], env=head_env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "head.log", "w"))
    try:
        _wait_for_port(int(port), head, tmp_path / "head.log")
        code = ("import json, os\nfrom zoo_tune import init_context, stop_context\n"
                "from zoo_tune.cluster._launch_ray import RayJoinError\n"
                f"try:\n    ctx = init_context('ray', address='127.0.0.1:{port}')\n"
                "    import ray\n    print(json.dumps({'cpus': ray.cluster_resources()['CPU']}))\n"
                "    stop_context()\n"
                "except RayJoinError as err:\n    print(json.dumps({'error': str(err)}))\n")
        base = {k: v for k, v in ENV.items() if not k.startswith("RAY_")}
        base["HOME"] = str(tmp_path)
        runs = {}
        for name, extra in (("none", {}), ("path_only", {"RAY_AUTH_TOKEN_PATH": token_file})):
            proc = subprocess.run([sys.executable, "-c", code], env={**base, **extra},
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr[-3000:]
            runs[name] = proc.stdout.strip().splitlines()[-1]
        assert "require a token; this process sent no token" in runs["none"], runs
        assert "RAY_AUTH_TOKEN_PATH" in runs["none"], runs
        assert runs["path_only"] == '{"cpus": 1.0}', runs
    finally:
        head.terminate()  # `ray start --block` stops the head's processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(os.path.dirname(token_file), ignore_errors=True)
    left = _processes_under(temp)
    shutil.rmtree(temp, ignore_errors=True)
    assert left == []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log, timeout: float = 60) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"ray start --head exited: {log.read_text()[-2000:]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the Ray head did not listen on {port} within {timeout} s")


def _processes_under(root, timeout: float = 30) -> list[str]:
    """Command lines of processes that mention ``root`` (Ray's temp dir), after a grace."""
    import time

    import psutil

    deadline = time.monotonic() + timeout
    while True:
        left = [" ".join(p.info["cmdline"] or ())[:160]
                for p in psutil.process_iter(["cmdline"])
                if str(root) in " ".join(p.info["cmdline"] or ())]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def test_spark_auth_conf_per_master(tmp_path, monkeypatch, caplog):
    """local-cluster: a fresh secret each session; standalone: authentication only with the
    cluster's secret (given, or in SPARK_CONF_DIR's spark-defaults.conf), else a warning."""
    from zoo_tune.cluster import _spark

    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    one = _spark.spark_conf("local-cluster[2,1,1024]", app_name="t", cores=1, executors=2,
                            executor_memory="512m")
    two = _spark.spark_conf("local-cluster[2,1,1024]", app_name="t", cores=1, executors=2,
                            executor_memory="512m")
    assert one["spark.authenticate"] == "true" and one["spark.network.crypto.enabled"] == "true"
    assert len(one["spark.authenticate.secret"]) == 64
    assert one["spark.authenticate.secret"] != two["spark.authenticate.secret"]
    opted_out = _spark.spark_conf("local-cluster[2,1,1024]", app_name="t", cores=1,
                                  executors=2, executor_memory="512m",
                                  extra={"spark.authenticate": "false"})
    assert opted_out["spark.authenticate"] == "false"  # the caller's settings win
    with caplog.at_level("WARNING", logger="zoo_tune.cluster._spark"):
        plain = _spark.spark_conf("spark://127.0.0.1:7077", app_name="t", cores=1, executors=2,
                                  executor_memory="512m")
    assert "spark.authenticate" not in plain and "needs the cluster's own secret" in caplog.text
    (tmp_path / "spark-defaults.conf").write_text(
        "# the cluster's\nspark.authenticate   true\nspark.authenticate.secret s3cret\n")
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    secured = _spark.spark_conf("spark://127.0.0.1:7077", app_name="t", cores=1, executors=2,
                                executor_memory="512m")
    assert secured["spark.authenticate"] == "true"
    assert secured["spark.network.crypto.enabled"] == "true"
    assert "spark.authenticate.secret" not in secured  # Spark reads it from the defaults


@pytest.mark.parametrize(
    ("path", "client", "expected"),
    [
        ("/create_node", "127.0.0.1", True),         # the autoscaler beside the head
        ("/create_node", "::ffff:192.0.2.2", True),  # this machine, IPv4-mapped
        ("/create_node", "10.0.0.7", False),         # an executor's host may not start nodes
        ("/terminate_node", "10.0.0.7", False),
        ("/query_nodes", "10.0.0.7", False),
        ("/notify_task_launched", "10.0.0.7", True),  # a Ray node's own calls
        ("/check_node_id_availability", "10.0.0.7", True),
        ("/notify_task_launched", "10.9.9.9", False),  # not a host of the application
    ],
)
def test_job_server_guard_allows_only_the_clusters_calls(path, client, expected):
    from zoo_tune.cluster._job_server_guard import allowed

    assert allowed(path, client, {"127.0.0.1", "192.0.2.2"}, {"10.0.0.7"}) is expected
