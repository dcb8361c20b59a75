"""init_orca_context / stop_orca_context: Orca's parameters mapped onto init_context, or
refused with what to use instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo_tune.cluster._orca import MAPPED, REFUSED, orca_to_init_context
from zoo_tune.errors import InvalidInputError, InvalidTypeError

ROOT = Path(__file__).resolve().parents[2]


def test_orca_yarn_client_call_from_the_docs():
    settings, env, level = orca_to_init_context("yarn-client", cores=4, memory="10g",
                                                num_nodes=2)
    assert settings == {"cluster_mode": "yarn-client", "cores": 4, "num_nodes": 2,
                        "executor_memory": "10240m"}
    assert env == {} and level is None


def test_local_mode_memory_is_rays_heap_and_cores_default_to_all():
    settings, _, _ = orca_to_init_context("local", cores="*", memory="2g",
                                          object_store_memory="300m")
    assert settings == {"cluster_mode": "local", "memory": 2 * 1024**3,
                        "object_store_memory": "300m"}


def test_every_mapped_keyword_lands_where_the_table_says():
    settings, env, level = orca_to_init_context(
        "standalone", cores=1, memory="1.5g", num_nodes=2, master="spark://h:7077",
        driver_cores=2, driver_memory="4g", extra_executor_memory_for_ray="3g",
        object_store_memory="512m", extra_python_lib=["a.py", "b.zip"], jars="x.jar",
        spark_yarn_archive="hdfs:///spark.zip", penv_archive="/tmp/env.tar.gz",
        env={"OMP_NUM_THREADS": 1}, conf={"spark.task.cpus": 1}, hadoop_conf="/etc/hadoop",
        hadoop_user_name="zt", spark_log_level="warn", redirect_spark_log=True,
        init_executor_gateway=False, init_ray_on_spark=True)
    assert settings == {
        "cluster_mode": "standalone", "cores": 1, "num_nodes": 2, "executor_memory": "1536m",
        "memory": "3g", "object_store_memory": "512m", "archive": "/tmp/env.tar.gz",
        "master": "spark://h:7077",
        "spark_conf": {"spark.task.cpus": "1", "spark.driver.cores": "2",
                       "spark.driver.memory": "4096m", "spark.submit.pyFiles": "a.py,b.zip",
                       "spark.jars": "x.jar", "spark.yarn.archive": "hdfs:///spark.zip",
                       "spark.executorEnv.OMP_NUM_THREADS": "1"}}
    assert env == {"HADOOP_CONF_DIR": "/etc/hadoop", "HADOOP_USER_NAME": "zt"}
    assert level == "WARN"
    assert {"conf", "driver_memory", "penv_archive", "spark_log_level"} <= set(MAPPED)


def test_modes_orca_names_and_none():
    assert orca_to_init_context("yarn")[0]["cluster_mode"] == "yarn-client"
    assert orca_to_init_context("bigdl-submit")[0] == {"cluster_mode": "spark-submit"}
    assert orca_to_init_context(None)[0]["cluster_mode"] == "local"  # no SparkContext here
    assert orca_to_init_context(runtime="ray", cluster_mode=None, address="ray://h:10001")[0] \
        == {"cluster_mode": "ray", "address": "ray://h:10001"}


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_each_refused_keyword_says_what_to_use_instead(key):
    with pytest.raises(InvalidInputError, match=rf"init_orca_context\({key}=\.\.\.\) is not "
                       rf"supported by zoo_tune: ") as info:
        orca_to_init_context("standalone", master="spark://h:1", **{key: 1})
    assert REFUSED[key] in str(info.value)


@pytest.mark.parametrize("call,error,pattern", [
    ({"cluster_mode": "k8s-client"}, InvalidInputError, "KubeRay"),
    ({"cluster_mode": "mesos"}, InvalidInputError, "Unknown Orca cluster_mode 'mesos'"),
    ({"cluster_mode": "local", "num_nodes": 2}, InvalidInputError, "num_nodes must be 1"),
    ({"cluster_mode": "local", "memory": "2 gigs"}, InvalidInputError, "`memory` must be"),
    ({"cluster_mode": "local", "jars": "x.jar"}, InvalidInputError, "starts no Spark"),
    ({"cluster_mode": "spark-submit", "conf": {"a": "b"}}, InvalidInputError,
     "zoo-tune-submit command line"),
    ({"cluster_mode": "standalone", "driver_memory": "lots"}, InvalidInputError,
     "`driver_memory` must be"),
    ({"cluster_mode": "standalone", "spark_log_level": "LOUD"}, InvalidInputError,
     "Unknown spark_log_level 'LOUD'"),
    ({"cluster_mode": "standalone", "jars": 3}, InvalidTypeError, "`jars` must be a str"),
    ({"cluster_mode": "local", "executor_cores": 2}, InvalidInputError,
     "Unknown init_orca_context argument 'executor_cores'"),
    ({"runtime": "tf"}, InvalidInputError, "Unknown runtime 'tf'"),
    ({"init_ray_on_spark": "yes"}, InvalidTypeError, "`init_ray_on_spark` must be a bool"),
])
def test_bad_calls_are_clear_errors_before_any_work(call, error, pattern):
    with pytest.raises(error, match=pattern):
        orca_to_init_context(**call)


ORCA_SCRIPT = """
import json, sys
import torch._dynamo  # before TensorFlow, as tests/conftest.py does
import numpy as np
import ray
from tests._helpers import sgd_creator, small_linear
from zoo_tune import AutoEstimator, hp, init_orca_context, stop_orca_context

ctx = init_orca_context(cluster_mode="local", cores=2, memory="2g", num_nodes=1,
                        init_ray_on_spark=True, object_store_memory="200m")
resources = ray.cluster_resources()
rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=240)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(240, 4))).astype(np.float32)
est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                               loss="CrossEntropyLoss", logs_dir=sys.argv[1], name="orca")
est.fit((x[:200], y[:200]), validation_data=(x[200:], y[200:]), epochs=2, n_sampling=2,
        metric="accuracy", search_space={"lr": hp.uniform(0.05, 0.2), "momentum": 0.9},
        verbose=0)
table = est.get_trial_table()
stop_orca_context()
print(json.dumps({"cpus": resources.get("CPU"), "memory": resources.get("memory"),
                  "store": resources.get("object_store_memory"),
                  "statuses": table["status"].tolist(), "connected": ray.is_initialized()}))
"""


@pytest.mark.timeout(300)
def test_an_orca_style_script_runs_unchanged(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    out = subprocess.run([sys.executable, "-c", ORCA_SCRIPT, str(tmp_path / "logs")],
                         capture_output=True, text=True, timeout=280, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["cpus"] == 2 and got["memory"] == 2 * 1024**3
    assert got["store"] == 200 * 1024**2
    assert got["statuses"] == ["TERMINATED", "TERMINATED"] and not got["connected"]
