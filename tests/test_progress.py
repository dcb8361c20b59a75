"""Live progress during fit: a refreshing line on a TTY, log lines otherwise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from zoo_tune import hp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.usefixtures("ray_local")
def test_non_tty_progress_is_plain_lines(small_job, capfd):
    small_job(name="progress", verbose=1, n_sampling=1,
              search_space={"lr": hp.grid_search([0.0001, 0.05, 0.1]), "momentum": 0.9})
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines()
             if line.startswith("[zoo_tune]") and " done " in line]  # not the summary
    assert lines, err[-2000:]
    assert "\r" not in "".join(lines)
    assert re.search(r"\[zoo_tune\] 3/3 done \| 0 running \| 0 pending \| best accuracy "
                     r"[0-9.]+ \{'lr': [0-9.]+, 'momentum': 0.9\} \| 0:00:\d\d elapsed",
                     lines[-1])
    assert any("1/3 done" in line and "left" in line for line in lines)
    assert "Trial Status" not in err  # Ray Tune's tables stay quiet at verbose=1


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a pty")
def test_tty_progress_rewrites_one_line(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {ROOT!r})
        os.environ["RAY_AUTH_MODE"] = "disabled"
        import numpy as np
        import torch
        from zoo_tune import AutoEstimator, hp, init_context

        def small_linear(config):
            return torch.nn.Linear(4, 2)

        def sgd_creator(model, config):
            return torch.optim.SGD(model.parameters(), lr=config["lr"])

        init_context(cores=2)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32"); y = (x[:, 0] > 0).astype("int64")
        est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                       loss="CrossEntropyLoss", logs_dir={str(tmp_path)!r})
        est.fit((x, y), epochs=2, metric="accuracy", verbose=1,
                search_space={{"lr": hp.grid_search([0.01, 0.1])}})
    """))
    out = subprocess.run(["script", "-qec", f"{sys.executable} {job}", "/dev/null"],
                         capture_output=True, timeout=300)  # bytes: keep the \r
    stdout = out.stdout.decode("utf-8", errors="replace")
    assert out.returncode == 0, stdout[-3000:]
    updates = re.findall(r"\r\x1b\[K(\[zoo_tune\][^\r\n]*)", stdout)
    assert len(updates) >= 3  # rewritten in place, several times
    assert updates[-1].startswith("[zoo_tune] 2/2 done | 0 running | 0 pending | best accuracy")
