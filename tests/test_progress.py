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
    assert re.search(r"\[zoo_tune\] 3/3 done \| 0 running \| 0 pending \| "
                     r"[0-9.]+[kM]? rows/s per trial \| best accuracy "
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
    assert re.match(r"\[zoo_tune\] 2/2 done \| 0 running \| 0 pending \| [0-9.]+[kM]? rows/s "
                    r"per trial \| best accuracy", updates[-1]), updates[-1]


def test_widget_shows_done_running_and_best_from_the_trials_statuses():
    """The notebook widget's state, driven by Ray Tune's hooks (tqdm's text bar here: the
    same ProgressWidget; tests/test_notebook.py runs the real widget in a Jupyter kernel)."""
    pytest.importorskip("tqdm")
    from types import SimpleNamespace

    from zoo_tune.progress import ProgressCallback

    trials = [SimpleNamespace(status="RUNNING", config={"lr": lr}) for lr in (0.1, 0.2, 0.3)]
    callback = ProgressCallback("accuracy", "max", 3, widget=True)
    callback.on_trial_result(1, trials, trials[1], {"accuracy": 0.8})
    assert callback.widget.bar.n == 0
    assert "3 running" in callback.widget.bar.postfix
    assert "best accuracy 0.8 {'lr': 0.2}" in callback.widget.bar.postfix
    callback.on_trial_complete(2, trials, trials[1])
    trials[1].status = "TERMINATED"
    callback.on_trial_error(3, trials, trials[0])
    trials[0].status = "ERROR"
    assert callback.widget.bar.n == 2
    assert "1 running" in callback.widget.bar.postfix and "1 error" in callback.widget.bar.postfix
    trials[2].status = "TERMINATED"
    callback.on_experiment_end(trials)
    assert callback.widget.bar.n == 3  # and closed, showing that state
    assert callback.lines and "3/3 done" in callback.lines[-1]
