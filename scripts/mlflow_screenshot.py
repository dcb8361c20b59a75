"""Take the README's MLflow screenshot (run by scripts/mlflow-screenshot.sh).

Starts a local ``mlflow server``, logs a 4-trial torch fit to it (one trial fails on purpose,
so every status shows), then has headless Chromium render the experiment's runs page.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def small_model(config):
    from torch import nn

    return nn.Sequential(nn.Linear(4, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 3))


def sgd(model, config):
    import torch

    return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)


def main(out: str) -> int:
    from zoo_tune import AutoEstimator, hp, init_context, stop_context
    from zoo_tune.tracking import MlflowServer

    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(0)
    centers = np.eye(3, 4) * 2.0
    y = rng.integers(0, 3, size=400)
    x = (centers[y] + rng.normal(scale=0.6, size=(400, 4))).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="zoo_tune_screenshot_") as folder:
        server = MlflowServer(Path(folder) / "mlflow").start()
        try:
            init_context(cluster_mode="local", cores=2)
            est = AutoEstimator.from_torch(model_creator=small_model, optimizer=sgd,
                                           loss="CrossEntropyLoss",
                                           logs_dir=str(Path(folder) / "logs"),
                                           name="digits_demo")
            est.fit((x[:320], y[:320]), validation_data=(x[320:], y[320:]), epochs=3,
                    metric="accuracy", verbose=0, mlflow_uri=server.uri,
                    mlflow_experiment="zoo_tune demo",
                    search_space={"lr": hp.grid_search([0.01, 0.05, 0.2, -1.0]),
                                  "hidden": 8})
            stop_context()
            from mlflow.tracking import MlflowClient

            exp = MlflowClient(server.uri).get_experiment_by_name("zoo_tune demo")
            url = f"{server.uri}/#/experiments/{exp.experiment_id}/runs"
            subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                            "--hide-scrollbars", "--window-size=1400,700",
                            "--virtual-time-budget=20000", f"--screenshot={out}", url],
                           check=True, timeout=180, capture_output=True)
        finally:
            server.stop()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/mlflow_runs.png"))
