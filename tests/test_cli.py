"""The zoo-tune command on a real finished experiment."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from zoo_tune import hp
from zoo_tune.cli import main


@pytest.fixture(scope="module")
def experiment(ray_local, tmp_path_factory, blobs):
    from tests._helpers import sgd_creator, small_linear
    from zoo_tune import AutoEstimator

    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss",
                                   logs_dir=str(tmp_path_factory.mktemp("cli")), name="cli")
    est.fit((x, y), validation_data=(xv, yv), epochs=2, metric="accuracy", verbose=0,
            search_space={"lr": hp.grid_search([0.0001, 0.05, 0.1]), "momentum": 0.9})
    return est


def run_main(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_results_csv_best_first(experiment, capsys):
    code, out = run_main(capsys, "results", experiment.experiment_path, "--format", "csv")
    assert code == 0
    table = pd.read_csv(io.StringIO(out.out))
    assert len(table) == 3
    assert table["best_accuracy"].tolist() == sorted(table["best_accuracy"], reverse=True)
    expected = experiment.get_trial_table()["best_accuracy"].max()
    assert table["best_accuracy"].iloc[0] == pytest.approx(expected)
    assert table["config/lr"].iloc[0] == experiment.get_best_config()["lr"]


def test_results_json_and_md(experiment, capsys):
    code, out = run_main(capsys, "results", experiment.experiment_path, "--format", "json")
    records = json.loads(out.out)
    assert code == 0 and len(records) == 3
    assert {r["trial_id"] for r in records} == set(experiment.get_trial_table()["trial_id"])
    code, out = run_main(capsys, "results", experiment.experiment_path, "--format", "md")
    assert code == 0 and out.out.count("\n") == 5 and out.out.startswith("| trial_id ")


def test_results_md_keeps_number_like_trial_ids_text():
    """A trial id of digits and "_" reads as a number to tabulate; it stays left-aligned text."""
    import pandas as pd

    from zoo_tune.cli import trials_markdown

    table = pd.DataFrame({"trial_id": ["59699_00000", "59699_00001"], "best": [0.5, 0.25]})
    lines = trials_markdown(table).splitlines()
    assert lines[0].startswith("| trial_id ") and lines[1].startswith("|:---")
    assert lines[2].startswith("| 59699_00000 |")


def test_list_names_everything(capsys):
    code, out = run_main(capsys, "list", "--format", "json")
    listing = json.loads(out.out)
    assert code == 0
    assert "skopt" in listing["search_alg"] and "pbt" in listing["scheduler"]
    assert listing["metric"]["accuracy"] == "max" and "local" in listing["cluster_mode"]


def test_bad_usage_and_missing_experiment(tmp_path):
    cmd = [sys.executable, "-m", "zoo_tune.cli"]
    out = subprocess.run([*cmd, "bogus"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "invalid choice: 'bogus'" in out.stderr
    out = subprocess.run([*cmd, "results", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--format" in out.stdout
    out = subprocess.run([*cmd, "results", str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "holds no zoo_tune experiment" in out.stderr


def test_plot_writes_non_trivial_pngs(experiment, tmp_path, capsys):
    from PIL import Image

    code, out = run_main(capsys, "plot", experiment.experiment_path, "-o", str(tmp_path))
    paths = out.out.split()
    assert code == 0
    names = sorted(p.rsplit("/", 1)[1] for p in paths)
    assert names == ["metric_vs_epoch.png", "metric_vs_lr.png", "parallel_coordinates.png",
                     "trial_timeline.png"]
    for path in paths:
        image = Image.open(path)
        assert image.size[0] >= 500 and image.size[1] >= 250
        colours = image.convert("RGB").getcolors(maxcolors=100000)
        assert colours is not None and len(colours) > 20  # drawn, not a blank canvas
    # The epoch plot draws every trial: three lines of non-background colour at least.
    epoch_png = Image.open(paths[0]).convert("RGB")
    red = sum(1 for px in epoch_png.getdata() if px[0] > 200 and px[1] < 80 and px[2] < 80)
    assert red > 100  # the highlighted best trial


def test_tensorboard_reads_metrics_and_hparams(experiment):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    table = experiment.get_trial_table()
    for _, row in table.iterrows():
        events = event_accumulator.EventAccumulator(row["logdir"])
        events.Reload()
        scalars = events.Scalars("ray/tune/accuracy")
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx(row["accuracy_history"])
        hparams = events.PluginTagToContent("hparams")
        assert b"lr" in hparams["_hparams_/experiment"]
        assert "_hparams_/session_end_info" in hparams
