"""torch and TensorFlow in one process, in either import order, with no help from the user.

TensorFlow loaded before triton (which torch imports with ``torch._dynamo`` when a process
builds its first optimizer) used to kill the process with SIGSEGV in triton's native module.
Each order runs in a clean interpreter: this test process's ``conftest.py`` imports torch's
side first, and the subprocess must not inherit that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[2]

_COMMON = """
import numpy as np

from zoo_tune import AutoEstimator, hp, init_context, stop_context

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)


def torch_linear(config):
    import tensorflow  # the trial's process loads TensorFlow before it builds its optimizer
    import torch

    return torch.nn.Linear(4, 2)


def adam_creator(model, config):
    import torch

    return torch.optim.Adam(model.parameters(), lr=config["lr"])


def keras_dense(config):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    return model


def fit(est, name):
    est.fit((x, y), epochs=1, metric="accuracy", n_sampling=1, verbose=0, max_failures=0,
            search_space={"lr": hp.choice([0.01])})
    statuses = sorted(set(est.get_trial_table()["status"]))
    print(name, "fit:", statuses, flush=True)


def torch_fit(logs):
    est = AutoEstimator.from_torch(model_creator=torch_linear, optimizer=adam_creator,
                                   loss="CrossEntropyLoss", logs_dir=logs, name="torch")
    fit(est, "torch")


def keras_fit(logs):
    fit(AutoEstimator.from_keras(model_creator=keras_dense, logs_dir=logs, name="keras"),
        "keras")
"""

# A notebook that tried Keras first, then a torch fit whose optimizer is a creator: the driver
# builds the process's first torch optimizer after TensorFlow is loaded, and so does the trial's
# Ray worker (its model creator imports TensorFlow; the worker imports zoo_tune first).
TENSORFLOW_FIRST = """
import sys

import tensorflow as tf

tf.constant(1.0)
{common}
init_context(cluster_mode="local", cores=2, object_store_memory=200 * 1024**2)
try:
    torch_fit(sys.argv[1])
finally:
    stop_context()
print("DONE", flush=True)
"""

# torch (and triton, with its first optimizer) first, then a Keras fit.
TORCH_FIRST = """
import sys

import torch

torch.optim.Adam(torch.nn.Linear(4, 2).parameters())
{common}
init_context(cluster_mode="local", cores=2, object_store_memory=200 * 1024**2)
try:
    keras_fit(sys.argv[1])
finally:
    stop_context()
print("DONE", flush=True)
"""


def _run(script: str, logs: Path) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter: the repository on its path, not this process's
    imports (conftest's) nor its environment (only PATH, HOME, TMPDIR and LANG)."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG") if k in os.environ}
    env.update(PYTHONPATH=str(REPO), RAY_AUTH_MODE="disabled", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONFAULTHANDLER="1")
    code = script.format(common=textwrap.dedent(_COMMON))
    return subprocess.run([sys.executable, "-c", code, str(logs)], cwd=str(logs), env=env,
                          capture_output=True, text=True, timeout=280)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("order,expected", [
    ("tensorflow_first", ["torch fit: ['TERMINATED']"]),
    ("torch_first", ["keras fit: ['TERMINATED']"]),
])
def test_torch_and_tensorflow_in_one_process(tmp_path, order, expected):
    script = TENSORFLOW_FIRST if order == "tensorflow_first" else TORCH_FIRST
    proc = _run(script, tmp_path)
    stderr = "\n".join(line for line in proc.stderr.splitlines()
                       if not line.startswith("Extension modules:"))  # faulthandler's list
    detail = f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{stderr[-6000:]}"
    assert proc.returncode == 0, detail
    lines = proc.stdout.splitlines()
    assert [line for line in lines if " fit: " in line] == expected, detail
    assert lines[-1] == "DONE", detail
