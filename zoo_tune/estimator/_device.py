"""Where a trial trains: ``fit(device="auto" | "cpu" | "cuda")`` against the GPUs it holds.

Ray gives a trial that asks for GPUs (``resources_per_trial={"gpu": 1}``, or ``0.5`` to share
one) its own GPU ids and sets ``CUDA_VISIBLE_DEVICES`` to them, so ``cuda`` in the trial is
its GPU. A trial that holds none would still see its node's GPUs (Ray 2.60 leaves the
variable alone at zero GPUs): :func:`trial_device` hides them, so no trial trains on a GPU
another trial holds. Then:

- ``"cpu"``: the CPU (and the trial's GPUs hidden from the framework too);
- ``"cuda"``: the trial's GPU; a trial without one, or where CUDA does not work (no driver,
  a CPU build of the framework), fails at once with :class:`DeviceUnavailableError`, which
  is not retried;
- ``"auto"`` (default): ``"cuda"`` when the trial holds a GPU and CUDA works, else the CPU,
  with one warning per trial when it holds a GPU it cannot use.

Example:
    >>> check_device("auto", {"cpu": 1})
    'auto'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError, UserCodeError

logger = logging.getLogger(__name__)

#: ``fit(device=...)`` values.
DEVICES = ("auto", "cpu", "cuda")

_VISIBLE = "CUDA_VISIBLE_DEVICES"


class DeviceUnavailableError(UserCodeError):
    """``fit(device="cuda")`` in a trial with no usable GPU: the configuration is wrong for
    where the trial runs, and a retry would meet the same (so it is not retried)."""


def check_device(device: Any, resources: Mapping[str, float]) -> str:
    """Validate ``fit``'s ``device`` against ``resources_per_trial`` (no cluster needed).

    Raises:
        InvalidTypeError: not a string.
        InvalidInputError: not one of :data:`DEVICES`, or ``"cuda"`` without a ``gpu`` in
            ``resources_per_trial`` (Ray would give the trials no GPU).
    """
    if not isinstance(device, str):
        raise InvalidTypeError(f"`device` must be one of {list(DEVICES)}, but got {device!r}.")
    if device not in DEVICES:
        hint = (" A trial's GPU is the one Ray gives it: use 'cuda'."
                if device.startswith("cuda:") else "")
        raise InvalidInputError(f"`device` must be one of {list(DEVICES)}, but got "
                                f"{device!r}.{hint}")
    if device == "cuda" and not resources.get("gpu"):
        raise InvalidInputError(
            f"device='cuda' needs GPUs for the trials: resources_per_trial={dict(resources)} "
            f"asks for none. Add 'gpu' (e.g. {{'cpu': 1, 'gpu': 1}}, or 0.5 to share one), or "
            f"use device='auto'.")
    return device


def held_gpu_ids() -> list[str]:
    """The GPU ids Ray gave the running trial (``[]`` outside Ray or with none)."""
    try:
        import ray

        if not ray.is_initialized():
            return []
        return [str(i) for i in ray.get_gpu_ids()]
    except Exception:  # noqa: BLE001 - outside a Ray worker: no GPUs held
        return []


def trial_device(requested: str, cuda_usable: Callable[[], tuple[bool, str]],
                 gpu_ids: list[str] | None = None) -> str:
    """The device this trial trains on, ``"cpu"`` or ``"cuda"``; GPUs it may not use hidden.

    Call it before the framework first touches CUDA in this process (a hidden GPU stays
    visible to a framework that already initialized CUDA).

    Args:
        requested: ``fit``'s ``device`` (checked by :func:`check_device`).
        cuda_usable: The framework's check: ``(usable, why not)``.
        gpu_ids: The trial's GPU ids (default: Ray's, :func:`held_gpu_ids`).

    Raises:
        DeviceUnavailableError: ``"cuda"`` without a usable GPU.
    """
    ids = held_gpu_ids() if gpu_ids is None else gpu_ids
    if not ids or requested == "cpu":
        os.environ[_VISIBLE] = ""  # not the node's GPUs, which other trials hold
        if requested == "cuda":
            raise DeviceUnavailableError(
                "device='cuda', but Ray gave this trial no GPU id (it runs outside a Ray "
                "trial, or its resources_per_trial asks for no 'gpu').")
        return "cpu"
    os.environ[_VISIBLE] = ",".join(ids)  # what Ray set; kept explicit for reused workers
    usable, why = cuda_usable()
    if usable:
        return "cuda"
    if requested == "cuda":
        raise DeviceUnavailableError(
            f"device='cuda', but CUDA is not usable in this trial ({why}; it holds GPU "
            f"{','.join(ids)}). Use device='auto' to fall back to the CPU.")
    logger.warning("This trial holds GPU %s, but CUDA is not usable here (%s): it trains on "
                   "the CPU (device='auto'; device='cuda' would fail instead).",
                   ",".join(ids), why)
    return "cpu"


def torch_cuda_usable() -> tuple[bool, str]:
    """Whether torch can use CUDA here, and why not."""
    import torch

    if not torch.cuda.is_available():
        built = getattr(torch.version, "cuda", None)
        return False, ("torch.cuda.is_available() is False" +
                       ("" if built else ": this torch is a CPU build"))
    return True, ""


def tensorflow_cuda_usable() -> tuple[bool, str]:
    """Whether TensorFlow sees a GPU here, and why not."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        built = tf.test.is_built_with_cuda()
        return False, ("TensorFlow lists no GPU" +
                       ("" if built else ": this TensorFlow has no CUDA support"))
    return True, ""
