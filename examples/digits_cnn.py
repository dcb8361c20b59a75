"""Tune a small CNN on scikit-learn's digits (8x8 images, shipped with scikit-learn).

Run on the embedded default (local Ray, local logs dir)::

    python examples/digits_cnn.py            # full run, prints best config and accuracy
    python examples/digits_cnn.py --smoke-test
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from zoo_tune import AutoEstimator, hp, init_context, stop_context

logger = logging.getLogger("digits_cnn")


class DigitsCNN(nn.Module):
    """Two conv layers and a classifier head; outputs log-probabilities for NLLLoss."""

    def __init__(self, channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * channels * 16, hidden), nn.ReLU(),
            nn.Linear(hidden, 10), nn.LogSoftmax(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def model_creator(config: dict) -> nn.Module:
    return DigitsCNN(config["channels"], config["hidden"], config["dropout"])


Arrays = tuple[np.ndarray, np.ndarray]


def load_data(seed: int = 0) -> tuple[Arrays, Arrays]:
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=seed,
                                                      stratify=y)
    return (x_train, y_train), (x_val, y_val)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke-test", action="store_true", help="2 trials, 1 epoch")
    parser.add_argument("--logs-dir", default="/tmp/zoo_tune_logs")
    parser.add_argument("--cores", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    train, val = load_data()
    init_context(cluster_mode="local", cores=args.cores)
    try:
        est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                                       loss=nn.NLLLoss(), logs_dir=args.logs_dir,
                                       resources_per_trial={"cpu": 1},
                                       # a fixed name: running again resumes or loads it
                                       name="digits_cnn_smoke" if args.smoke_test
                                       else "digits_cnn")
        search_space = {
            "channels": hp.choice([8, 16]),
            "hidden": hp.choice([32, 64]),
            "dropout": hp.uniform(0.0, 0.3),
            "lr": hp.loguniform(1e-3, 1e-2),
            "batch_size": hp.choice([32, 64]),
        }
        est.fit(data=train, validation_data=val, search_space=search_space,
                n_sampling=2 if args.smoke_test else 6, epochs=1 if args.smoke_test else 5,
                metric="accuracy", scheduler="async_hyperband",
                scheduler_params={"grace_period": 1, "max_t": 5}, verbose=0)
        best_config = est.get_best_config()
        model = est.get_best_model()
        with torch.no_grad():
            pred = model(torch.from_numpy(val[0])).argmax(dim=1).numpy()
        accuracy = float((pred == val[1]).mean())
        logger.info("best config: %s", best_config)
        logger.info("best validation accuracy: %.4f", accuracy)
    finally:
        stop_context()


if __name__ == "__main__":
    main()
