"""The benchmark scripts run end to end with ``--smoke`` and print sane JSON.

The scripts start in parallel (they are mostly waiting on Ray start-up and worker processes),
each in its own Python process with its own Ray, and each must stop the Ray it started.
"""

from __future__ import annotations

import importlib.util
import json
import os
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
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0"}
    env.pop("RAY_ADDRESS", None)
    folder = tmp_path_factory.mktemp("bench")
    procs = {}
    for name, (script, *args) in COMMANDS.items():
        markdown = folder / f"{name}.md"
        procs[name] = (subprocess.Popen(
            [sys.executable, str(BENCH / script), *args, "--markdown", str(markdown)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=str(folder)), markdown)
    results = {}
    for name, (proc, markdown) in procs.items():
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
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
