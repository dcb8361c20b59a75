"""Fixtures of the cluster tests: one real Spark standalone cluster for the whole package."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster._spark_helpers import ENV, OVERLAY, SCRIPT, standalone_cluster


@pytest.fixture(scope="package")
def spark_master(tmp_path_factory):
    """A real Spark standalone cluster (master + 2 workers x 2 cores) for tests/cluster/."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    with standalone_cluster(tmp_path_factory.mktemp("spark_standalone")) as url:
        yield url


@pytest.fixture(scope="package")
def env_archive(tmp_path_factory):
    """This venv packed by zoo_tune.cluster.pack_env (lean: see LEAN_EXCLUDE), with its time."""
    import time

    pytest.importorskip("venv_pack")
    from tests.cluster._spark_helpers import LEAN_EXCLUDE
    from zoo_tune.cluster import pack_env

    reuse = os.environ.get("ZOO_TUNE_TEST_ENV_ARCHIVE")  # inner loop: an archive packed before
    if reuse:
        yield reuse, 0.0
        return
    out = tmp_path_factory.mktemp("env_archive") / "env.tar.gz"
    start = time.monotonic()
    path = pack_env(out, exclude=LEAN_EXCLUDE)
    yield path, time.monotonic() - start
    Path(path).unlink(missing_ok=True)  # ~3 GB


@pytest.fixture(scope="package")
def spark4_env() -> dict[str, str]:
    """The environment of a Spark 4 process: the pyspark 4 overlay first on PYTHONPATH."""
    if not (OVERLAY / "pyspark").is_dir():
        pytest.fail(f"no pyspark 4 overlay at {OVERLAY}: run scripts/install.sh test")
    path = os.pathsep.join(filter(None, [str(OVERLAY), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}


YARN_SCRIPT = SCRIPT.with_name("yarn.sh")
# Fake GPUs of the test YARN's NodeManager: one for each executor of a GPU application (2 for
# Ray nodes, the spare one: Spark gives every executor the same GPUs) and one for the executor
# that replaces a killed one. Applications that ask for none run as on a YARN without GPUs.
YARN_GPUS = 4


@pytest.fixture(scope="package")
def yarn_cluster(tmp_path_factory, hdfs_cluster):
    """A real single-node YARN (scripts/yarn.sh) over the session's HDFS, which is its
    ``fs.defaultFS`` as on a real cluster (Spark stages each application there), whose
    NodeManager offers ``YARN_GPUS`` fake GPUs (``yarn.io/gpu``, ``start --gpus``):
    (HADOOP_CONF_DIR, RM REST URL, run dir). Its fake ``nvidia-smi`` is in
    ``<run dir>/gpu-bin``."""
    import psutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("YARN needs Java")
    if shutil.which("mvn") is None and not (
            Path.home() / ".cache" / "zoo_tune" / "yarn" / "lib" / ".complete").exists():
        pytest.skip("scripts/yarn.sh fetches its jars with Maven")
    run = tmp_path_factory.mktemp("yarn")
    env = {**ENV, "ZOO_TUNE_YARN_RUN": str(run), "ZOO_TUNE_YARN_DEFAULT_FS": hdfs_cluster[0]}
    start = subprocess.run(["bash", str(YARN_SCRIPT), "start", "--gpus", str(YARN_GPUS)],
                           env=env, capture_output=True, text=True, timeout=600)
    assert start.returncode == 0, start.stderr[-3000:]
    conf = start.stdout.strip().splitlines()[-1]
    rest = subprocess.run(["bash", str(YARN_SCRIPT), "rest"], env=env, capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()
    yield conf, rest, run
    stop = subprocess.run(["bash", str(YARN_SCRIPT), "stop"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    assert "killing what the containers left" not in stop.stderr, stop.stderr
    shutil.rmtree(run / "nm-local", ignore_errors=True)  # the localized archive, unpacked (GBs)
    status = subprocess.run(["bash", str(YARN_SCRIPT), "status"], env=env, capture_output=True,
                            text=True, timeout=30)
    assert status.returncode == 3, status.stdout
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"])
            if str(run) in " ".join(p.info["cmdline"] or ())]
    assert not left, left


@pytest.fixture(scope="package")
def hdfs_env_archive(env_archive, hdfs_cluster):
    """``env_archive`` put on HDFS once: YARN localizes it from there for every application
    (no per-job upload), as users are told to do."""
    from hdfs_native import Client

    path = _put_on_hdfs(env_archive[0], hdfs_cluster[0])
    yield hdfs_cluster[0] + path
    Client(hdfs_cluster[0]).delete(path)  # ~3 GB in the DataNode


def _put_on_hdfs(local, uri: str) -> str:
    """Copy the file ``local`` to ``/envs/<its name>`` on the HDFS at ``uri``; that path."""
    from hdfs_native import Client

    path = f"/envs/{Path(local).name}"
    with open(local, "rb") as src, Client(uri).create(path) as dst:
        while chunk := src.read(8 * 1024**2):
            dst.write(chunk)
    return path


@pytest.fixture(scope="package")
def hdfs_spark_jars(hdfs_cluster, tmp_path_factory):
    """pyspark's own jars zipped and put on HDFS once, for ``spark.yarn.archive``: what a YARN
    user sets so that spark-submit does not zip and upload ``SPARK_HOME/jars`` (322 MB) for
    every application."""
    import pyspark

    with jars_on_hdfs(Path(pyspark.__file__).parent / "jars", "spark-jars.zip",
                      tmp_path_factory.mktemp("spark_jars"), hdfs_cluster[0]) as uri:
        yield uri


@contextlib.contextmanager
def jars_on_hdfs(jars: Path, name: str, folder: Path, uri: str) -> Iterator[str]:
    """The jars of the folder ``jars`` zipped (stored: jars are compressed already) as
    ``folder/name``, put on the HDFS at ``uri`` and the local zip removed; yields the zip's
    ``hdfs://`` URI and deletes it from HDFS after."""
    import zipfile

    from hdfs_native import Client

    local = folder / name
    with zipfile.ZipFile(local, "w", zipfile.ZIP_STORED) as zf:
        for jar in sorted(jars.glob("*.jar")):
            zf.write(jar, jar.name)  # Spark wants the jars at the archive's root
    path = _put_on_hdfs(local, uri)
    local.unlink()
    try:
        yield uri + path
    finally:
        Client(uri).delete(path)


@pytest.fixture(scope="package")
def hdfs_digits(hdfs_cluster):
    """scikit-learn's digits as a Parquet dataset on HDFS, the way a batch job finds its data:
    ``pixels`` (64 floats, an array column) and ``label``; ``train.parquet`` (2 files, 1347
    rows) and ``validation.parquet`` (450 rows). Yields the two ``hdfs://`` URIs."""
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from hdfs_native import Client
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    client = Client(hdfs_cluster[0])
    uris = []
    for name, lo, hi, files in (("train", 0, 1347, 2), ("validation", 1347, len(y), 1)):
        bounds = np.linspace(lo, hi, files + 1).astype(int)
        for i in range(files):
            part = slice(bounds[i], bounds[i + 1])
            table = pa.table({"pixels": pa.array(list(x[part]), pa.list_(pa.float32())),
                              "label": pa.array(y[part])})
            buf = io.BytesIO()
            pq.write_table(table, buf)
            with client.create(f"/data/digits/{name}.parquet/part-{i:05d}.parquet") as f:
                f.write(buf.getvalue())
        uris.append(f"{hdfs_cluster[0]}/data/digits/{name}.parquet")
    yield tuple(uris)
    client.delete("/data/digits", True)
