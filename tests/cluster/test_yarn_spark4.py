"""Spark 4 on the test YARN: a Spark DataFrame written to and read from HDFS with the job's own
pyspark 4.3.0 session and tuned on the executors' Ray nodes in YARN containers (see
test_spark4.py for the overlay; this file sorts after test_yarn.py on purpose, see there).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request

import pytest

from tests.cluster._spark_helpers import OVERLAY
from tests.cluster.conftest import jars_on_hdfs
from tests.cluster.test_spark4 import _fit_frame

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="Spark needs Java"),
]


@pytest.fixture(scope="module")
def hdfs_spark4_jars(hdfs_cluster, tmp_path_factory):
    """Spark 4's jars on HDFS once (``spark.yarn.archive``), as conftest.hdfs_spark_jars puts
    Spark 3.5's."""
    with jars_on_hdfs(OVERLAY / "pyspark" / "jars", "spark4-jars.zip",
                      tmp_path_factory.mktemp("spark4_jars"), hdfs_cluster[0]) as uri:
        yield uri


@pytest.mark.timeout(1200)  # the first test of the package to use YARN starts it
def test_spark4_yarn_client_frame_fit(yarn_cluster, hdfs_env_archive, hdfs_spark4_jars,
                                      hdfs_cluster, spark4_env, tmp_path):
    conf, rest, run = yarn_cluster
    path = f"{hdfs_cluster[0]}/user/zt/spark4_{os.getpid()}/blobs.parquet"
    settings = {"cluster_mode": "yarn-client", "hadoop_conf_dir": conf, "num_nodes": 2,
                "cores": 1, "archive": hdfs_env_archive, "executor_memory": "512m",
                "spark_conf": {"spark.yarn.archive": hdfs_spark4_jars}}
    out = _fit_frame(settings, path, tmp_path, spark4_env, timeout=600)
    # Every trial ran in a YARN container of this application.
    app_tag = out["app_id"].replace("application_", "")
    trials = out["records"]
    assert all(r["container"] and app_tag in r["container"] for r in trials), trials
    with urllib.request.urlopen(
            f"{rest}/ws/v1/cluster/apps/{out['app_id']}", timeout=10) as r:
        app = json.load(r)["app"]
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app
