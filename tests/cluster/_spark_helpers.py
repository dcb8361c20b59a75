"""Shared by the tests that run real Spark: the environment, a script prelude, a runner.

Only one Ray may run per process, and the session-wide ``ray_local`` fixture may hold one, so
every test that starts Ray runs its body in a fresh Python (``subprocess``) and asserts on the
JSON it prints last.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

from zoo_tune.cluster import GPU_ONLY

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "spark-standalone.sh"
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0",
       "PYSPARK_PYTHON": sys.executable}

# pyspark 4 for the Spark 4 tests: an overlay directory that scripts/install.sh test fills
# (the venv itself is the Spark 3.5 line), put first on PYTHONPATH (fixture spark4_env).
OVERLAY = Path(sys.executable).resolve().parents[1] / "overlays" / "pyspark4"
if not OVERLAY.is_dir():  # a venv of the project's own always has it
    OVERLAY = Path(sys.prefix) / "overlays" / "pyspark4"
SPARK4 = "4.3.0"

# What every script below starts with: quiet logs, the lines that prove where things ran.
PRELUDE = """
import json, logging, os, sys, time
logging.basicConfig(level=logging.WARNING)
logging.getLogger("zoo_tune").setLevel(logging.INFO)
os.environ["RAY_AUTH_MODE"] = "disabled"


def ours_left(temp_root, app_id, timeout=30.0):
    '''Ray processes under temp_root, executors of app_id, JVM/ray children of this process.'''
    import psutil

    me = psutil.Process()
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or ())
            if (temp_root and temp_root in cmd) or (app_id and app_id in cmd
                                                   and "ExecutorBackend" in cmd):
                left.append(cmd[:160])
        for child in me.children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "java" in cmd or "ray" in cmd:
                left.append(cmd[:160])
        if not left or time.monotonic() > deadline:
            return sorted(set(left))
        time.sleep(0.5)


def auth_clients(address, token_file, timeout=90):
    '''Three Ray clients joining ``address`` side by side, each in a fresh Python with no Ray
    environment of ours: without a token, with a wrong one, with ``token_file``.
    {name: {"rc", "invalid_token" (Ray said so), "cpus" (what the cluster showed it)}}.'''
    import subprocess

    code = ("import ray; ray.init(address=%r, log_to_driver=False); "
            "print('CPUS', ray.cluster_resources().get('CPU'))" % address)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    base["HOME"] = os.path.dirname(token_file)  # no ~/.ray/auth_token to fall back on
    clients = {"none": {}, "wrong": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64},
               "token_file": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_file}}
    procs = {name: subprocess.Popen([sys.executable, "-c", code], env={**base, **env},
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, env in clients.items()}
    seen = {}
    for name, proc in procs.items():
        try:
            out = proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0] + "TIMEOUT"
        cpus = [line.split()[1] for line in out.splitlines() if line.startswith("CPUS ")]
        seen[name] = {"rc": proc.returncode, "invalid_token": "InvalidAuthToken" in out,
                      "cpus": cpus[0] if cpus else None, "tail": out[-300:]}
    return seen


def token_exposure(token_file, *roots):
    '''Files under ``roots`` (logs, event logs) that contain the token, and the file's mode.'''
    token = open(token_file).read().strip()
    found = []
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as f:
                        if token.encode() in f.read():
                            found.append(path)
                except OSError:
                    pass
    return {"mode": oct(os.stat(token_file).st_mode & 0o777), "found_in": found}
"""


@contextlib.contextmanager
def standalone_cluster(run: Path, **env: str) -> Iterator[str]:
    """A real Spark standalone cluster (``scripts/spark-standalone.sh``, master + 2 workers x
    2 cores x 2g) with its run dir ``run`` and extra environment ``env`` (e.g. a PYTHONPATH
    with another pyspark, SPARK_WORKER_OPTS); yields the master URL. Stopped after, and
    ``status`` must then find nothing of it running."""
    env = {**ENV, "ZOO_TUNE_SPARK_RUN": str(run), "ZOO_TUNE_SPARK_PORT": "0",
           "ZOO_TUNE_PYTHON": sys.executable, "ZOO_TUNE_SPARK_WORKER_MEMORY": "2g", **env}
    start = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert start.returncode == 0, start.stderr[-3000:]
    url = start.stdout.strip().splitlines()[-1]
    assert url.startswith("spark://127.0.0.1:"), url
    try:
        yield url
    finally:
        stop = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True,
                              text=True, timeout=120)
        shutil.rmtree(run / "work", ignore_errors=True)  # executors' unpacked archives (GBs)
        status = subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True,
                                text=True, timeout=30)
    assert stop.returncode == 0, stop.stderr
    assert status.returncode == 3, status.stdout


def run_script(body: str, tmp_path: Path, *args: str, timeout: float = 240,
               env: dict[str, str] | None = None) -> dict:
    """Run PRELUDE + body in a fresh Python (``ENV`` and ``env``); return the JSON of its last
    stdout line."""
    script = tmp_path / "job.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    start = time.monotonic()
    try:
        out = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                             text=True, timeout=timeout, env={**ENV, **(env or {})}, cwd=tmp_path)
    except subprocess.TimeoutExpired as err:  # say where it was: the tails of its output
        tails = [(stream or b"")[-limit:].decode(errors="replace")
                 for stream, limit in ((err.stdout, 3000), (err.stderr, 6000))]
        raise AssertionError(f"{script.name} ran past {timeout} s", *tails) from None
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-6000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - start
    return result

# What trials on Spark executors never import: left out of the test archive (2.9 GB of a
# 7.7 GB venv). scikit-learn and SciPy stay: examples/spark_submit_tune.py's driver imports
# them in a yarn-cluster run. Patterns are relative to the venv (venv-pack's).
# The number of files counts as much as the bytes: a NodeManager without Hadoop's native
# library (as here) forks a `chmod` for each file and directory it unpacks (FSDownload's
# changePermissions through RawLocalFileSystem.setPermission), so the docs site's theme
# (material: 14.7k files), MLflow, the Jupyter kernel and the pyspark 4 / bayes_opt overlays
# stay out too (scikit-learn imports narwhals: it stays): 57k entries -> 27.5k, 3.5 GB ->
# 2.95 GB, the first YARN container's localization 186 s -> 113 s (alone, 2026-12-06).
LEAN_EXCLUDE = [
    f"lib/*/site-packages/{name}{tail}"
    for name in ("tensorflow*", "keras", "pyspark", "raydp", "clang", "plotly", "_plotly_utils",
                 "statsmodels", "jedi", "matplotlib", "ax",
                 "botorch*", "gpytorch", "pymoo", "GPy", "gpy.libs", "sqlalchemy", "fontTools",
                 "tensorboard*", "h5py*", "optuna", "nevergrad",
                 "IPython", "pyro", "skopt", "hyperopt", "ruff", "pip", "setuptools", "alembic",
                 "linear_operator", "ml_dtypes", "pandas/tests", "torch/include",
                 "pyarrow/include", "ray/jars", "*/tests",
                 # driver-side tools: the docs site, MLflow's server and client, Jupyter
                 "material*", "mkdocs*", "pymdown*", "babel*", "mlflow*", "graphql*",
                 "debugpy*", "build", "prompt_toolkit*", "tornado*", "zmq",
                 "pyzmq*", "gunicorn*", "docker*", "werkzeug*", "flask*", "huey*",
                 "ipykernel*", "nbformat*", "nbclient*", "jupyter*", "ipywidgets*",
                 "widgetsnbextension*", "sqlparse*")
    for tail in ("", "/*")
] + ["overlays", "overlays/*"] + list(GPU_ONLY)  # triton: GPU kernels, 0.7 GB never imported
