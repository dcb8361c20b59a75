"""``fit(precision=...)``: checked before any cluster work, then torch autocast (and, for
``"16-mixed"``, a loss scaler kept in the checkpoints) in each trial
(:mod:`zoo_tune.estimator._precision`).

This machine has no GPU: the trials here train on the CPU, whose autocast runs the same
modes; what a GPU changes (its own autocast kernels, bfloat16 support) is the device check's
(scripts/gpu-check.sh).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from torch import nn

from tests._helpers import sgd_creator
from zoo_tune import AutoEstimator, hp
from zoo_tune.errors import InvalidInputError, InvalidTypeError, UserCodeError
from zoo_tune.estimator import _precision
from zoo_tune.estimator._device import DeviceUnavailableError
from zoo_tune.estimator._precision import PRECISIONS, check_precision, trial_precision
from zoo_tune.estimator._torch import TorchBackend
from zoo_tune.metrics import resolve_metric

LOW = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16, "32": torch.float32}


class DtypeProbe(nn.Module):
    """Passes its input on and appends ``<pid> <dtype> <autocast on>`` to ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, x):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {x.dtype} {torch.is_autocast_enabled(x.device.type)}\n")
        return x


def probed(config):
    """A small MLP that records the dtype its hidden layer computes in."""
    return nn.Sequential(nn.Linear(4, 8), DtypeProbe(config["probe"]), nn.ReLU(),
                         nn.Linear(8, 3))


def probe_lines(path, pid=None):
    with open(path, encoding="utf-8") as f:
        lines = [line.split() for line in f]
    return {(dtype, on) for p, dtype, on in lines if pid is None or int(p) != pid}


# ---------------------------------------------------------------- checked on the driver


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_is_valid_for_torch(precision):
    assert check_precision(precision, "torch") == precision


@pytest.mark.parametrize("precision, framework, error, match", [
    ("fp16", "torch", InvalidInputError,
     r"must be one of \['32', 'bf16-mixed', '16-mixed'\], but got 'fp16'"),
    (16, "torch", InvalidTypeError, r"\(a string\), but got 16"),
    (None, "torch", InvalidTypeError, "but got None"),
    ("bf16-mixed", "keras", InvalidInputError,
     r"is for torch models .* a keras model takes only precision='32'"),
])
def test_bad_precisions(precision, framework, error, match):
    with pytest.raises(error, match=match) as info:
        check_precision(precision, framework)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, ValueError if error is InvalidInputError else TypeError)


def test_keras_takes_only_32():
    assert check_precision("32", "keras") == "32"


def test_fit_checks_precision_before_cluster_work(tmp_path, blobs):
    (x, y), _ = blobs
    est = AutoEstimator.from_torch(model_creator=probed, optimizer="SGD",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path), name="never")
    with pytest.raises(InvalidInputError, match="`precision` must be one of"):
        est.fit((x, y), search_space={"probe": "unused"}, precision="half", verbose=0)
    assert not (tmp_path / "never").exists()  # nothing written, no trial started


# ---------------------------------------------------------------- chosen in the trial


def test_cpu_trials_keep_the_requested_precision():
    for precision in PRECISIONS:
        assert trial_precision(precision, "cpu", cuda_required=False) == precision


@pytest.fixture
def gpu_without_bf16(monkeypatch):
    """torch's answers on a GPU older than Ampere (mocked: this machine has no GPU)."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")


def test_bf16_on_a_gpu_without_it_falls_back_to_32_with_a_warning(gpu_without_bf16, caplog):
    caplog.set_level(logging.WARNING, logger=_precision.__name__)
    assert trial_precision("bf16-mixed", "cuda", cuda_required=False) == "32"
    assert [r.getMessage() for r in caplog.records] == [
        "precision='bf16-mixed', but Tesla T4 does not support bfloat16: this trial trains "
        "in float32."]
    assert trial_precision("16-mixed", "cuda", cuda_required=False) == "16-mixed"


def test_bf16_on_a_gpu_without_it_fails_where_cuda_is_required(gpu_without_bf16):
    with pytest.raises(DeviceUnavailableError, match="Tesla T4 does not support bfloat16. "
                       "Use precision='16-mixed'") as info:
        trial_precision("bf16-mixed", "cuda", cuda_required=True)
    assert isinstance(info.value, UserCodeError)


# ---------------------------------------------------------------- the torch state


@pytest.mark.parametrize("precision", PRECISIONS)
def test_training_runs_under_autocast_and_weights_stay_float32(tmp_path, blobs, precision):
    (x, y), (xv, yv) = blobs
    probe = str(tmp_path / "probe")
    config = {"probe": probe, "lr": 0.1, "momentum": 0.9}
    backend = TorchBackend(probed, sgd_creator, "CrossEntropyLoss")
    torch.manual_seed(0)
    state = backend.build(config, "cpu", precision)
    data = ([x], [y], False, False)
    for _ in range(3):
        backend.train_epoch(state, data, config)
    assert probe_lines(probe) == {(str(LOW[precision]), str(precision != "32"))}
    os.remove(probe)
    accuracy = backend.evaluate(state, ([xv], [yv], False, False), config,
                                resolve_metric("accuracy"))
    assert probe_lines(probe) == {(str(LOW[precision]), str(precision != "32"))}
    assert accuracy > 0.9  # it learned, in every precision (0.95 to 1.0 over 20 seeds)
    assert {p.dtype for p in state.model.parameters()} == {torch.float32}
    assert (state.scaler is not None) == (precision == "16-mixed")


def test_16_mixed_loss_scale_is_checkpointed_and_restored(tmp_path, blobs):
    (x, y), _ = blobs
    config = {"probe": str(tmp_path / "probe"), "lr": 0.1}
    backend = TorchBackend(probed, "SGD", "CrossEntropyLoss")
    state = backend.build(config, "cpu", "16-mixed")
    backend.train_epoch(state, ([x], [y], False, False), config)
    state.scaler.update(new_scale=1024.0)  # a scale a fresh scaler (65536) does not have
    backend.save(state, str(tmp_path))
    assert (tmp_path / "grad_scaler.pt").exists()
    fresh = backend.build(config, "cpu", "16-mixed")
    assert fresh.scaler.get_scale() == 65536.0
    backend.restore(fresh, str(tmp_path))
    assert fresh.scaler.get_scale() == 1024.0
    # A float32 trial's checkpoint holds no scaler; a 16-mixed trial restoring it (PBT
    # cloning across configs) starts from a fresh scale.
    plain = tmp_path / "plain"
    plain.mkdir()
    backend.save(backend.build(config, "cpu", "32"), str(plain))
    assert sorted(os.listdir(plain)) == ["model.pt", "optimizer.pt"]
    backend.restore(fresh, str(plain))
    assert fresh.scaler.get_scale() == 1024.0


# ---------------------------------------------------------------- real trials on local Ray


@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_fit_trains_every_trial_in_the_precision(tmp_path, blobs, precision):
    (x, y), (xv, yv) = blobs
    probe = str(tmp_path / "probe")
    est = AutoEstimator.from_torch(model_creator=probed, optimizer=sgd_creator,
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path),
                                   name=f"mixed_{precision}")
    est.fit((x, y), validation_data=(xv, yv), epochs=3, metric="accuracy", n_sampling=1,
            search_space={"lr": hp.grid_search([0.05, 0.1]), "momentum": 0.9, "probe": probe},
            verbose=0, precision=precision)
    table = est.get_trial_table()
    assert set(table["status"]) == {"TERMINATED"} and len(table) == 2
    # Every forward pass in the trials' processes ran under autocast in the low precision.
    assert probe_lines(probe, pid=os.getpid()) == {(str(LOW[precision]), "True")}
    assert table["best_accuracy"].max() > 0.9
    if precision == "16-mixed":
        for path in table["checkpoint"]:
            assert os.path.exists(os.path.join(path, "grad_scaler.pt"))
    # The driver's best model is float32 and predicts as well in float32.
    model = est.get_best_model()
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    with torch.no_grad():
        pred = model(torch.from_numpy(xv)).numpy().argmax(1)
    assert float(np.mean(pred == yv)) == pytest.approx(table["best_accuracy"].max(), abs=0.05)
