"""The benchmark scripts run end to end with ``--smoke`` and print sane JSON.

The scripts start in parallel (they are mostly waiting on Ray start-up and worker processes),
each in its own Python process with its own Ray, and each must stop the Ray it started.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("ray.tune")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "bench"
HAS_OPTUNA = importlib.util.find_spec("optuna") is not None
OVERHEAD_CONTENDERS = ["zoo_tune", "ray_reuse", "ray_default", "ideal"] + (
    ["optuna"] if HAS_OPTUNA else [])
COMMANDS = {
    "overhead": ["overhead.py", "--smoke", "--contenders", *OVERHEAD_CONTENDERS],
    "data_sharing": ["data_sharing.py", "--smoke"],
    "asha_vs_fifo": ["asha_vs_fifo.py", "--smoke"],
}
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Run every smoke benchmark at once; ``{name: (returncode, stdout, stderr, markdown)}``."""
    return run_at_once(COMMANDS, tmp_path_factory.mktemp("bench"), {}, TIMEOUT_S)


def run_at_once(commands, folder, extra_env, timeout_s):
    """Start every ``{name: (script, *args)}`` at once in ``folder``; wait for each.

    Returns ``{name: (returncode, stdout, stderr, markdown)}``.
    """
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0", **extra_env}
    env.pop("RAY_ADDRESS", None)
    procs = {}
    for name, (script, *args) in commands.items():
        markdown = folder / f"{name.replace(':', '_')}.md"
        procs[name] = (subprocess.Popen(
            [sys.executable, str(BENCH / script), *args, "--markdown", str(markdown)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=str(folder)), markdown)
    results = {}
    for name, (proc, markdown) in procs.items():
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        text = markdown.read_text() if markdown.exists() else ""
        results[name] = (proc.returncode, out, err, text)
    return results


def _result(outputs, name):
    code, out, err, markdown = outputs[name]
    assert code == 0, f"{name} exited {code}:\n{err[-4000:]}"
    lines = out.strip().splitlines()
    assert len(lines) == 1, f"{name} printed more than one line on stdout:\n{out[-2000:]}"
    assert markdown.startswith("| "), markdown
    result = json.loads(lines[0])
    assert result["benchmark"] == name
    assert result["machine"]["nproc"] >= 1 and result["machine"]["cpu_model"] is not None
    return result


def _positive(*values):
    for value in values:
        assert isinstance(value, (int, float)) and value > 0, values


def test_overhead(outputs):
    result = _result(outputs, "overhead")
    rows = {r["contender"]: r for r in result["results"]}
    assert set(rows) == set(OVERHEAD_CONTENDERS)
    n = result["settings"]["trials"][0]
    for name, row in rows.items():
        assert row["trials"] == n
        assert row["epochs_run"] == n * result["settings"]["epochs"], name
        _positive(row["wall_s"], row["trials_per_s"], row["driver_peak_rss_mb"], row["ideal_s"])
        assert row["overhead_ms_per_trial"] is not None
    for name in ("zoo_tune", "ray_reuse", "ray_default"):
        _positive(rows[name]["ray_startup_s"])
        # trials through Ray cost more than the plain loop
        assert rows[name]["wall_s"] > rows["ideal"]["wall_s"]
    assert rows["ideal"]["overhead_ms_per_trial"] == 0
    _positive(rows["ideal"]["train_ms_per_trial"])


def test_data_sharing(outputs):
    result = _result(outputs, "data_sharing")
    base, data = result["runs"]["baseline"], result["runs"]["dataset"]
    for run in (base, data):
        _positive(run["peak_total_mb"], run["dataset_mb"], run["fit_s"], run["samples"])
        assert set(run["peak_parts_mb"]) == {"driver", "ray", "worker"}
        assert run["trials"] == result["settings"]["trials"]
        assert run["max_busy_workers"] >= 1
    assert data["dataset_mb"] > base["dataset_mb"]
    summary = result["summary"]
    assert isinstance(summary["goal_met"], bool)
    for key in ("added_mb", "added_x_dataset", "baseline_peak_mb", "peak_total_mb"):
        assert isinstance(summary[key], float)
    _positive(summary["baseline_peak_mb"], summary["peak_total_mb"])


def test_asha_vs_fifo(outputs):
    result = _result(outputs, "asha_vs_fifo")
    fifo, asha = result["runs"]["fifo"], result["runs"]["asha"]
    configs = result["settings"]["configs"]
    assert fifo["trials"] == asha["trials"] == configs
    assert fifo["epochs_total"] == configs * result["settings"]["epochs"]
    assert configs <= asha["epochs_total"] <= fifo["epochs_total"]
    for run in (fifo, asha):
        assert 0 < run["best_accuracy"] <= 1
        _positive(run["wall_s"], run["best_epoch"])
    assert isinstance(result["summary"]["goal_met"], bool)
    _positive(result["summary"]["epoch_share"])


# --- Spark: start-up of init_context and Hyperopt's SparkTrials against zoo_tune --------------
# Both need Java and pyspark. Three processes run at the same time (mostly waiting on Ray on
# Spark's fixed sleeps), apart from the scripts above: startup.py in local-cluster mode,
# spark_peers.py with both contenders (one after the other, each in its own Python process, on
# the one standalone cluster the script starts and stops with scripts/spark-standalone.sh, where
# zoo_tune runs in standalone mode, so that path is covered too) and big_data.py.
SPARK_COMMANDS = {
    # --auth on: one cluster start (the on/off comparison is the benchmark's, not the smoke's)
    "startup": ["startup.py", "--smoke", "--modes", "local-cluster", "--auth", "on"],
    "spark_peers": ["spark_peers.py", "--smoke", "--contenders", "zoo_tune", "hyperopt_queue"],
    # Petastorm lives outside the venv (scripts/petastorm-site.sh) and Ray Data's start-up
    # is the slowest part: the smoke runs the in-memory reference and zoo_tune's two paths.
    "big_data": ["big_data.py", "--smoke", "--contenders", "numpy", "zoo_tune_stream",
                 "zoo_tune_cache"],
}
SPARK_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def spark_outputs(tmp_path_factory):
    """Run the Spark smoke benchmarks at once; like ``outputs``."""
    pytest.importorskip("pyspark")
    pytest.importorskip("hyperopt")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    return run_at_once(SPARK_COMMANDS, tmp_path_factory.mktemp("bench_spark"),
                       {"PYSPARK_PYTHON": sys.executable}, SPARK_TIMEOUT_S)


@pytest.mark.timeout(SPARK_TIMEOUT_S + 120)  # the first test to ask runs the fixture
def test_startup(spark_outputs):
    result = _result(spark_outputs, "startup")
    assert result["settings"]["auth"] == "on"
    (row,) = result["results"]
    assert row["mode"] == "local-cluster" and row["repeats"] == 1
    # 2 Ray nodes and the spare executor zoo_tune leaves to Spark's jobs
    assert row["spark_master"] == "local-cluster[3,1,1024]"
    assert row["ray_worker_nodes"] == 2 and row["ray_cpus"] == 2
    phases = [row[p] for p in ("spark_session_s", "executors_s", "setup_ray_cluster_s",
                               "connect_s")]
    _positive(row["startup_s"], row["stop_s"], row["first_task_s"], row["import_s"], *phases)
    assert sum(phases) <= row["startup_s"] + 1e-6 and row["other_s"] >= 0
    assert row["process_s"] > row["startup_s"] + row["stop_s"]
    assert 0 <= row["ray_sleep_s"] <= row["setup_ray_cluster_s"]
    assert row["first_task_nodes"] >= 1
    # stop_context left nothing: no Ray node process, executor, JVM or Ray child
    assert row["left_processes"] == 0 and row["ray_initialized_after_stop"] is False
    assert row["startup_s_runs"] == [row["startup_s"]]
    # ray_auth reached init_context (the smoke's RAY_AUTH_MODE=disabled does not turn
    # zoo_tune's authentication off): a token file, and token mode in every Ray node's process
    assert row["ray_auth_passed"] is True and row["auth_token_file_set"] is True
    assert row["ray_auth_mode_env"] == "token"
    assert set(row["ray_node_auth_modes"]) == {"token"}, row["ray_node_auth_modes"]


@pytest.mark.timeout(SPARK_TIMEOUT_S + 120)
@pytest.mark.parametrize("contender", ["zoo_tune", "hyperopt_queue"])
def test_spark_peers(spark_outputs, contender):
    result = _result(spark_outputs, "spark_peers")
    settings = result["settings"]
    (n,) = settings["trials"]
    rows = {r["contender"]: r for r in result["results"]}
    assert set(rows) == {"zoo_tune", "hyperopt_queue", "ideal"}
    assert settings["master"] is None and settings["cluster_start_s"] > 0
    row = rows[contender]
    assert row["trials"] == n and row["epochs_run"] == n * settings["epochs"]
    _positive(row["startup_s"], row["stop_s"], row["trials_per_s"], rows["ideal"]["wall_s"])
    assert row["wall_s"] > rows["ideal"]["wall_s"]  # a Ray trial or Spark job costs more
    assert row["wall_with_startup_s"] == pytest.approx(row["startup_s"] + row["wall_s"])
    assert row["overhead_with_startup_ms_per_trial"] > row["overhead_ms_per_trial"] > 0
    assert row["left_processes"] == 0, row  # stop_context / spark.stop left nothing
    phases = row["startup_phases"]
    top = ["spark_session_s", "executors_s"]  # zoo_tune may add finer ones (ray_head_s)
    if contender == "zoo_tune":
        top += ["setup_ray_cluster_s", "connect_s"]
    assert set(top) <= set(phases) and min(phases.values()) > 0
    assert sum(phases[p] for p in top) <= row["startup_s"] + 1e-6
    if contender != "zoo_tune":
        assert 1 <= row["executor_pids"] <= n


@pytest.mark.timeout(420)
def test_chaos(tmp_path):
    """bench/chaos.py --smoke, on its own (two drivers side by side): one worker SIGKILLed."""
    outputs = run_at_once({"chaos": ["chaos.py", "--smoke"]}, tmp_path, {}, 360)
    result = _result(outputs, "chaos")
    faulty = result["runs"]["faulty"]
    assert faulty["faults"]["kill"] == 1 and faulty["retries"] == 1, faulty
    assert result["summary"]["all_complete"] is True, result["summary"]
    assert result["summary"]["processes_left"] == [], result["summary"]


@pytest.mark.timeout(SPARK_TIMEOUT_S + 120)
def test_big_data(spark_outputs):
    result = _result({"big_data": spark_outputs["big_data"]}, "big_data")
    rows = result["results"]
    assert set(rows) == {"numpy", "zoo_tune_stream"}
    for name, row in rows.items():
        assert "error" not in row, (name, row.get("error"))
        _positive(row["rows_per_s"], row["peak_total_pss_mb"])
    stream = rows["zoo_tune_stream"]
    assert stream["data_kind"] == "stream" and stream["trials"] == 1
    assert stream["rows"] == rows["numpy"]["rows"]
    assert stream["x_numpy"] == pytest.approx(stream["rows_per_s"] / rows["numpy"]["rows_per_s"])
    _positive(*stream["trial_peak_rss_mb"])
    memory = result["memory"]
    assert memory["cache_data_kind"] == "node_cache" and "error" not in memory
    assert [run["data_kind"] for run in memory["runs"]] == ["node_cache", "node_cache"]
    assert memory["table_mb"] > memory["baseline_mb"]
    for key in ("cache_added_mb", "cache_added_x_table", "cache_added_without_jvm_mb"):
        assert isinstance(memory[key], float)
    summary = result["summary"]
    assert summary["stream_data_kind"] == "stream"
    assert isinstance(summary["stream_x_numpy_goal_met"], bool)
