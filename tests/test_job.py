"""zoo-tune run JOB.yaml: validation with line numbers, and a real job end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from zoo_tune import hp
from zoo_tune.errors import InvalidInputError
from zoo_tune.job import load_job

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(tmp_path, text, name="job.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_shipped_example_job_is_valid():
    job = load_job(os.path.join(ROOT, "conf", "digits_job.yaml"))
    assert job.search_space["lr"] == hp.loguniform(0.001, 0.01)
    assert job.search_space["channels"] == hp.choice([8, 16])
    assert job.search_space["hidden"] == hp.grid_search([32, 64])


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("model: m:f\ndata: m:d\nsearch_space: {lr: 0.1}\nepochs: 3\n",
         r"line 4, key 'epochs': unknown key. Valid keys: \['cluster', 'data'"),
        ("model: m:f\ndata: m:d\nsearch_space: {lr: 0.1}\nfit:\n  epoch: 3\n",
         r"line 5, key 'fit.epoch': unknown fit argument. Valid: \[.*'epochs'"),
        ("model: m:f\ndata: m:d\nsearch_space:\n  lr: {uniform: [1, 0.1]}\n",
         r"line 4, key 'search_space.lr': hp.uniform: `lower < upper` must hold"),
        ("model: m:f\nsearch_space: {lr: 0.1}\n", r"missing required key 'data'"),
        ("model: m:f\ndata: [\n", r"not valid YAML"),
        ("model: m:f\ndata: m:d\nframework: jax\nsearch_space: {lr: 0.1}\n",
         r"line 3, key 'framework': must be 'torch' or 'keras'"),
    ],
)
def test_malformed_jobs_name_line_and_key(tmp_path, text, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        load_job(write(tmp_path, text))


def test_cli_reports_malformed_job_and_exits_1(tmp_path):
    job = write(tmp_path, "model: m:f\ndata: m:d\nsearch_space: {lr: 0.1}\nbogus: 1\n")
    out = subprocess.run([sys.executable, "-m", "zoo_tune.cli", "run", job],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "line 4, key 'bogus'" in out.stderr


def test_yaml_job_runs_end_to_end(tmp_path):
    (tmp_path / "tiny_job.py").write_text(textwrap.dedent("""
        import numpy as np
        import torch

        def model(config):
            return torch.nn.Sequential(torch.nn.Linear(4, config["hidden"]), torch.nn.ReLU(),
                                       torch.nn.Linear(config["hidden"], 2))

        def data():
            rng = np.random.default_rng(0)
            x = rng.normal(size=(128, 4)).astype("float32")
            y = (x[:, 0] > 0).astype("int64")
            return (x[:96], y[:96]), (x[96:], y[96:])
    """))
    job = write(tmp_path, f"""
        framework: torch
        model: tiny_job:model
        optimizer: Adam
        loss: CrossEntropyLoss
        data: tiny_job:data
        logs_dir: {tmp_path / "logs"}
        name: yaml_run
        cluster: {{cluster_mode: local, cores: 2, memory: 2g, object_store_memory: 200m}}
        search_space:
          hidden: {{grid_search: [4, 8]}}
          lr: {{loguniform: [0.01, 0.1]}}
        fit: {{epochs: 2, metric: accuracy, verbose: 0}}
    """)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    out = subprocess.run([sys.executable, "-m", "zoo_tune.cli", "run", job], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"experiment: {tmp_path / 'logs' / 'yaml_run'}" in out.stdout
    assert "best config: {'hidden': " in out.stdout
    assert len([d for d in os.listdir(tmp_path / "logs" / "yaml_run")
                if d.startswith("trial_")]) == 2
