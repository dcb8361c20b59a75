"""What fit prints: verbose=0 nothing but failed-trial warnings, verbose=1 zoo_tune's line and
summary only; captured from the real file descriptors of a separate driver process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

JOB = """
import sys
import torch._dynamo  # before TensorFlow, as tests/conftest.py does
import numpy as np
import torch
from zoo_tune import AutoEstimator, hp


def model(config):
    if config["tag"] == "bad":
        raise ValueError("this width is broken")
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=240)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(240, 4))).astype(np.float32)
est = AutoEstimator.from_torch(model_creator=model, optimizer="Adam", loss="CrossEntropyLoss",
                               logs_dir=sys.argv[2], name="out")
est.fit((x[:200], y[:200]), validation_data=(x[200:], y[200:]), epochs=2, metric="accuracy",
        search_space={"tag": hp.grid_search(["a", "bad", "c"]), "lr": 0.01},
        verbose=int(sys.argv[1]))
"""

# A line Ray relays from a worker process: "(pid=N) ..." or "(Name pid=N) ...", maybe colored.
RAY_WORKER_LINE = re.compile(r"^(\x1b\[\d+m)?\((\w+ )?pid=\d+[,)]")

RAY_NOISE = ("Configuration for experiment", "View detailed results", "TensorBoard",
             "Trial Status", "INFO", "Wrote the latest version", "Started a local Ray")


def _run(verbose: int, tmp_path: Path) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    job = tmp_path / "job.py"  # a file, so that tracebacks show its source lines
    job.write_text(JOB)
    out = subprocess.run([sys.executable, str(job), str(verbose), str(tmp_path / "logs")],
                         capture_output=True, text=True, timeout=280, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout, out.stderr


@pytest.mark.timeout(300)
def test_verbose_0_prints_only_the_failed_trials_warning(tmp_path):
    stdout, stderr = _run(0, tmp_path)
    assert stdout == ""
    assert not [n for n in RAY_NOISE if n in stderr], stderr[-3000:]
    assert stderr.count("failed:\n") == 1, stderr[-3000:]
    first = re.search(r"^Trial \w+ failed:\n", stderr, re.MULTILINE)
    assert first, stderr[:500]
    # Nothing of the driver's own comes first. What Ray relays from a dying worker process may:
    # an interpreter's shutdown note ("Exception ignored in: <function WeakSet._remove ...>",
    # CI at 135567a) or a worker's crash report, every line tagged "(pid=N)" (abseil's "Mutex
    # corrupt" SIGABRT of an idle worker, 2026-12-06); neither is zoo_tune's output.
    before = stderr[:first.start()]
    assert not before or before.startswith("Exception ignored in") or all(
        RAY_WORKER_LINE.match(line) for line in before.splitlines()), stderr[:500]
    # The trial's own traceback, down to the line that raised.
    assert 'raise ValueError("this width is broken")' in stderr
    assert "[zoo_tune]" not in stderr


@pytest.mark.timeout(300)
def test_verbose_1_prints_the_progress_line_and_a_summary_only(tmp_path):
    stdout, stderr = _run(1, tmp_path)
    assert stdout == ""
    lines = stderr.splitlines()
    assert lines and all(line.startswith("[zoo_tune]") for line in lines), stderr[-3000:]
    progress = [line for line in lines if " done" in line]
    for line in progress:  # consistent at every moment: done + running + pending = total
        done, total, running, pending = map(int, re.search(
            r"(\d+)/(\d+) done.*?\| (\d+) running \| (\d+) pending", line).groups())
        assert done + running + pending == total == 3, line
    assert re.search(r"3/3 done \(1 error\) \| 0 running \| 0 pending", progress[-1])
    summary = lines[len(progress):]
    assert re.fullmatch(r"\[zoo_tune\] best accuracy [0-9.]+ \(trial \w+, epoch [12]\): "
                        r"\{'tag': '[ac]', 'lr': 0.01\}", summary[0]), summary
    assert summary[1] == ("[zoo_tune] 1 failed trial (tracebacks in the trial table's 'error' "
                          "column):")
    assert re.fullmatch(r"\[zoo_tune\]   \w+: The model, optimizer or loss creator raised "
                        r"ValueError: this width is broken", summary[2]), summary
    assert summary[3] == f"[zoo_tune] experiment: {tmp_path / 'logs' / 'out'}"
