"""Fixtures of the cluster tests: one real Spark standalone cluster for the whole package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.cluster._spark_helpers import ENV, SCRIPT


@pytest.fixture(scope="package")
def spark_master(tmp_path_factory):
    """A real Spark standalone cluster (master + 2 workers x 1 core) for tests/cluster/."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    run = tmp_path_factory.mktemp("spark_standalone")
    env = {**ENV, "ZOO_TUNE_SPARK_RUN": str(run), "ZOO_TUNE_SPARK_PORT": "0",
           "ZOO_TUNE_PYTHON": sys.executable, "ZOO_TUNE_SPARK_WORKER_MEMORY": "2g"}
    start = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert start.returncode == 0, start.stderr[-3000:]
    url = start.stdout.strip().splitlines()[-1]
    assert url.startswith("spark://127.0.0.1:")
    yield url
    stop = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    status = subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True,
                            text=True, timeout=30)
    assert status.returncode == 3, status.stdout


@pytest.fixture(scope="package")
def env_archive(tmp_path_factory):
    """This venv packed by zoo_tune.cluster.pack_env (lean: see LEAN_EXCLUDE), with its time."""
    import time

    pytest.importorskip("venv_pack")
    from tests.cluster._spark_helpers import LEAN_EXCLUDE
    from zoo_tune.cluster import pack_env

    out = tmp_path_factory.mktemp("env_archive") / "env.tar.gz"
    start = time.monotonic()
    path = pack_env(out, exclude=LEAN_EXCLUDE)
    return path, time.monotonic() - start
