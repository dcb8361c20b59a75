"""``fit(device=...)``: checked before any cluster work, then resolved in each trial against
the GPUs Ray gave it (:mod:`zoo_tune.estimator._device`).

The trial-side choice is tested here with the two facts it reads passed in (the trial's GPU
ids, whether CUDA works), since this machine has none; tests/cluster/test_gpus.py runs it in
real trials on Ray nodes that hold (discovered, fake) GPUs, and scripts/gpu-check.sh on a real
one.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from torch import nn

from zoo_tune import AutoEstimator, hp
from zoo_tune.errors import InvalidInputError, InvalidTypeError, UserCodeError
from zoo_tune.estimator import _device
from zoo_tune.estimator._device import (
    DeviceUnavailableError,
    check_device,
    torch_cuda_usable,
    trial_device,
)
from zoo_tune.estimator._retry import is_user_error
from zoo_tune.estimator._torch import TorchBackend

X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)


def linear(config):
    return nn.Linear(4, 2)


# ---------------------------------------------------------------- checked on the driver


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_valid_devices_without_gpus(device):
    assert check_device(device, {"cpu": 1}) == device


def test_cuda_needs_gpus_in_resources_per_trial():
    assert check_device("cuda", {"cpu": 1, "gpu": 0.5}) == "cuda"
    with pytest.raises(InvalidInputError, match=r"device='cuda' needs GPUs for the trials: "
                       r"resources_per_trial=\{'cpu': 1\} asks for none") as info:
        check_device("cuda", {"cpu": 1})
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("device, error, match", [
    ("gpu", InvalidInputError, r"must be one of \['auto', 'cpu', 'cuda'\], but got 'gpu'"),
    ("cuda:1", InvalidInputError, "the one Ray gives it: use 'cuda'"),
    (0, InvalidTypeError, "but got 0"),
    (None, InvalidTypeError, "but got None"),
])
def test_bad_devices(device, error, match):
    with pytest.raises(error, match=match) as info:
        check_device(device, {"cpu": 1, "gpu": 1})
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("device, resources, match", [
    ("GPU", None, "`device` must be one of"),
    ("cuda", None, "device='cuda' needs GPUs"),
    ("cuda", {"cpu": 1, "gpu": 0}, "device='cuda' needs GPUs"),
])
def test_fit_checks_device_before_cluster_work(tmp_path, device, resources, match):
    est = AutoEstimator.from_torch(model_creator=linear, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path),
                                   name="never", resources_per_trial=resources)
    with pytest.raises(InvalidInputError, match=match):
        est.fit((X, Y), search_space={"lr": hp.choice([0.01])}, device=device, verbose=0)
    assert not (tmp_path / "never").exists()  # nothing written, no trial started


# ---------------------------------------------------------------- chosen in the trial


@pytest.fixture
def visible(monkeypatch):
    """The trial's ``CUDA_VISIBLE_DEVICES`` as Ray on a GPU node leaves it (the node's)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    return lambda: os.environ["CUDA_VISIBLE_DEVICES"]


def usable(ok, why="no driver"):
    calls = []

    def check():
        calls.append(1)
        return ok, "" if ok else why

    check.calls = calls
    return check


def test_trial_without_gpu_trains_on_cpu_and_sees_none(visible):
    check = usable(True)
    assert trial_device("auto", check, gpu_ids=[]) == "cpu"
    assert visible() == "" and check.calls == []  # the node's GPUs are other trials'


def test_trial_with_usable_gpu_trains_on_it(visible):
    for requested in ("auto", "cuda"):
        assert trial_device(requested, usable(True), gpu_ids=["1"]) == "cuda"
        assert visible() == "1"


def test_cpu_keeps_a_held_gpu_hidden(visible):
    check = usable(True)
    assert trial_device("cpu", check, gpu_ids=["1"]) == "cpu"
    assert visible() == "" and check.calls == []


def test_auto_falls_back_to_cpu_with_one_warning(visible, caplog):
    caplog.set_level(logging.WARNING, logger=_device.__name__)
    assert trial_device("auto", usable(False, "torch.cuda.is_available() is False"),
                        gpu_ids=["1"]) == "cpu"
    warnings = [r.getMessage() for r in caplog.records if r.name == _device.__name__]
    assert warnings == ["This trial holds GPU 1, but CUDA is not usable here "
                        "(torch.cuda.is_available() is False): it trains on the CPU "
                        "(device='auto'; device='cuda' would fail instead)."]


@pytest.mark.parametrize("gpu_ids, match", [
    (["1"], r"CUDA is not usable in this trial \(no driver; it holds GPU 1\)"),
    ([], "Ray gave this trial no GPU id"),
])
def test_cuda_without_a_usable_gpu_fails_and_is_not_retried(visible, gpu_ids, match):
    with pytest.raises(DeviceUnavailableError, match=match) as info:
        trial_device("cuda", usable(False), gpu_ids=gpu_ids)
    assert isinstance(info.value, UserCodeError) and is_user_error(info.value)


def test_torch_says_why_cuda_is_not_usable_here():
    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    ok, why = torch_cuda_usable()
    assert ok is False and why.startswith("torch.cuda.is_available() is False")


# ---------------------------------------------------------------- torch state and checkpoints


def test_torch_state_on_cpu_and_checkpoints_load_on_cpu(tmp_path, monkeypatch):
    backend = TorchBackend(linear, "SGD", "CrossEntropyLoss")
    state = backend.build({"lr": 0.1}, "cpu")
    assert state.device == "cpu" and next(state.model.parameters()).device.type == "cpu"
    batch = [torch.ones(2, 4)]
    assert state.to_device(batch) is batch  # nothing copied on the CPU
    backend.save(state, str(tmp_path))
    weights = torch.load(tmp_path / "model.pt")
    assert all(t.device.type == "cpu" for t in weights.values())
    seen = []
    real_load = torch.load

    def load(*args, **kwargs):  # the real torch.load, its map_location noted
        seen.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", load)
    backend.restore(state, str(tmp_path))
    model = backend.load_model({"lr": 0.1}, str(tmp_path))
    # A GPU trial's checkpoint: back onto the trial's device, onto the CPU for the driver.
    assert seen == ["cpu", "cpu", "cpu"]
    assert torch.equal(model.weight, state.model.weight)
