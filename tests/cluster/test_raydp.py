"""``raydp`` mode: Spark on Ray with RayDP (Java 17 options from DESIGN section 4).

RayDP can hang (``ray.data.from_spark`` without the Java 17 options kills an actor, then waits
forever), so the real run is a subprocess with a hard timeout. Processes it leaves are found
by a tag in their environment, which every process Ray, RayDP and Spark start inherits.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

import pytest

from tests.cluster._spark_helpers import run_script
from zoo_tune import init_context
from zoo_tune.cluster import _raydp
from zoo_tune.errors import InvalidInputError

DESIGN_PACKAGES = {
    "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio",
    "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "sun.nio.ch",
    "sun.nio.cs", "sun.security.action", "sun.util.calendar", "java.math", "java.text",
    "java.time", "java.util.regex", "java.lang.ref",
}


def test_raydp_configs_open_every_design_package_in_all_three_jvms():
    configs = _raydp.raydp_configs({"spark.driver.extraJavaOptions": "-Xss4m",
                                    "spark.sql.shuffle.partitions": "4"})
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
                "spark.ray.raydp_app_master.extraJavaOptions"):
        opts = configs[key].split()
        opened = {o.split("/", 1)[1].split("=")[0] for o in opts if o.startswith("--add-opens=")}
        assert opened == DESIGN_PACKAGES, key
        assert all(o.endswith("=ALL-UNNAMED") for o in opts if o.startswith("--add-opens="))
    assert configs["spark.driver.extraJavaOptions"].endswith(" -Xss4m")  # appended, not lost
    assert configs["spark.sql.shuffle.partitions"] == "4"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"master": "spark://h:1"}, r"\['master'\] do not apply to cluster_mode='raydp'"),
        ({"archive": "e.tar.gz"}, r"\['archive'\] do not apply to cluster_mode='raydp'"),
        ({"executor_memory": "lots"}, "must be an int of bytes or a size string"),
        ({"num_nodes": 0}, "`num_nodes` must be >= 1"),
    ],
)
def test_bad_raydp_settings_fail_before_cluster_work(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        init_context(cluster_mode="raydp", **kwargs)


@pytest.mark.parametrize("version", ["4.0.0", "4.3.0", "5.0.0"])
def test_raydp_refused_on_spark_4_naming_the_spark_and_what_to_do(version):
    from zoo_tune._spark_line import check_raydp_line

    with pytest.raises(InvalidInputError) as err:
        check_raydp_line(version)
    for part in (f"pyspark {version}", "Spark 3.5", "zoo_tune[raydp]", "'yarn-client'"):
        assert part in str(err.value), str(err.value)
    check_raydp_line("3.5.7")  # RayDP's line (this venv's: test_raydp_dataframe_... runs it)


RAYDP_RUN = """
import psutil
import ray

from zoo_tune import init_context, stop_context

tag = sys.argv[1]
os.environ["ZOO_TUNE_TEST_TAG"] = tag  # inherited by Ray, RayDP's JVMs and Spark executors


def ours(timeout=0.0):
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if proc.pid == os.getpid():
                continue
            try:
                if proc.environ().get("ZOO_TUNE_TEST_TAG") == tag:
                    found.append(" ".join(proc.info["cmdline"] or ())[:120])
            except psutil.Error:
                continue
        if not found or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.5)


t = time.monotonic()
ctx = init_context(cluster_mode="raydp", cores=1, num_nodes=1, executor_memory="512m",
                   memory=1024**3, object_store_memory=256 * 1024**2)
startup_s = time.monotonic() - t
running = ours()
conf = dict(ctx.spark.sparkContext.getConf().getAll())
df = ctx.spark.createDataFrame([(i, i * 0.5, f"r{i}") for i in range(100)], ["id", "x", "name"])
df = df.repartition(3)
t = time.monotonic()
rows = ray.data.from_spark(df).take_all()
from_spark_s = time.monotonic() - t

# A RayDP DataFrame feeds a tuning run: its rows go to Ray's object store, not the driver.
import numpy as np
from torch import nn

from zoo_tune import AutoEstimator, hp
from zoo_tune.data import _spark_frames


def refuse(*_args, **_kwargs):
    raise AssertionError("raydp mode collected the frame on the driver")


_spark_frames.collect_batches = refuse
rng = np.random.default_rng(0)
labels = rng.integers(0, 3, size=240)
points = np.eye(3)[labels] * 2 + rng.normal(scale=0.5, size=(240, 3))
train = ctx.spark.createDataFrame([(points[i].tolist(), int(labels[i])) for i in range(240)],
                                  "features array<double>, label long").repartition(3)
est = AutoEstimator.from_torch(
    model_creator=lambda config: nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 3)),
    optimizer="Adam", loss="CrossEntropyLoss", logs_dir=sys.argv[2], name="raydp")
t = time.monotonic()
est.fit(train, feature_cols=["features"], label_cols=["label"], epochs=3, metric="accuracy",
        search_space={"lr": hp.grid_search([0.05, 0.1])}, verbose=0)
fit_s = time.monotonic() - t
with open(os.path.join(sys.argv[2], "raydp", "zoo_tune_experiment.json")) as f:
    fit_data = json.load(f)["data"]
best_accuracy = float(est.get_trial_table()["best_accuracy"].max())
t = time.monotonic()
stop_context()
stop_s = time.monotonic() - t
print(json.dumps({
    "startup_s": startup_s, "timings": ctx.timings, "from_spark_s": from_spark_s,
    "stop_s": stop_s, "rows": sorted([r["id"], r["x"], r["name"]] for r in rows),
    "fit_s": fit_s, "fit_data": fit_data, "best_accuracy": best_accuracy,
    "executor_opts": conf.get("spark.executor.extraJavaOptions"),
    "master_opts": conf.get("spark.ray.raydp_app_master.extraJavaOptions"),
    "spark_master": ctx.spark_master, "java_running": [c for c in running if "java" in c],
    "left": ours(timeout=30), "ray_initialized": ray.is_initialized(),
}))
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                    reason="RayDP needs Java")
def test_raydp_dataframe_to_ray_dataset_feeds_a_tuning_run_and_clean_stop(tmp_path):
    pytest.importorskip("raydp")
    start = time.monotonic()
    out = run_script(RAYDP_RUN, tmp_path, uuid.uuid4().hex, str(tmp_path / "logs"), timeout=300)
    assert out["rows"] == [[i, i * 0.5, f"r{i}"] for i in range(100)]
    # The tuning run read the frame from Ray's object store (the seeded 20% split of it).
    data, val = out["fit_data"]["data"], out["fit_data"]["validation_data"]
    assert data["source"] == val["source"] == "ray_blocks"
    assert data["kind"] == val["kind"] == "node_cache" and data["rows"] + val["rows"] == 240
    assert out["best_accuracy"] > 0.9
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in out["executor_opts"]
    assert "--add-opens=java.base/java.lang.ref=ALL-UNNAMED" in out["master_opts"]
    assert out["spark_master"].startswith("ray://")
    assert out["java_running"], "RayDP's JVMs should have been found while running"
    assert out["left"] == [] and out["ray_initialized"] is False
    assert time.monotonic() - start < 300
