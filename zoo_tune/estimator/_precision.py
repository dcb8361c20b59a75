"""Mixed precision for torch trials: ``fit(precision="32" | "bf16-mixed" | "16-mixed")``.

The names are Lightning's. The weights and the optimizer stay float32 in every mode; a mixed
mode runs each trial's forward pass and loss under :func:`torch.autocast` on the trial's
device (:mod:`zoo_tune.estimator._device`), so matrix products run in the lower precision:

- ``"32"`` (default): float32 throughout, no autocast;
- ``"bf16-mixed"``: bfloat16 autocast (float32's range: no loss scaling). On a GPU it needs
  one that supports bfloat16 (Ampere or newer); ``device="auto"`` falls back to float32 there
  with one warning per trial, ``device="cuda"`` fails with
  :class:`~zoo_tune.estimator._device.DeviceUnavailableError`;
- ``"16-mixed"``: float16 autocast with a :class:`torch.amp.GradScaler` that scales the loss
  so small gradients do not underflow; its scale is saved with each checkpoint and restored
  with it.

A trial that trains on the CPU (no GPU held, or ``device="cpu"``) uses the CPU's autocast in
the same mode. Checkpoints hold float32 weights either way: ``get_best_model()`` is the float32
model on the CPU. Keras trials take only ``"32"`` (a mixed Keras policy is process-global and
would leak into the next trial a reused worker runs).

Example:
    >>> check_precision("bf16-mixed", "torch")
    'bf16-mixed'
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError
from zoo_tune.estimator._device import DeviceUnavailableError

logger = logging.getLogger(__name__)

#: ``fit(precision=...)`` values.
PRECISIONS = ("32", "bf16-mixed", "16-mixed")


def check_precision(precision: Any, framework: str) -> str:
    """Validate ``fit``'s ``precision`` for ``framework`` (no cluster needed).

    Raises:
        InvalidTypeError: not a string (``16`` instead of ``"16-mixed"``).
        InvalidInputError: not one of :data:`PRECISIONS`, or a mixed mode for Keras.
    """
    if not isinstance(precision, str):
        raise InvalidTypeError(f"`precision` must be one of {list(PRECISIONS)} (a string), "
                               f"but got {precision!r}.")
    if precision not in PRECISIONS:
        raise InvalidInputError(f"`precision` must be one of {list(PRECISIONS)}, but got "
                                f"{precision!r}.")
    if precision != "32" and framework != "torch":
        raise InvalidInputError(f"precision={precision!r} is for torch models "
                                f"(AutoEstimator.from_torch); a {framework} model takes only "
                                f"precision='32'.")
    return precision


def trial_precision(requested: str, device: str, cuda_required: bool) -> str:
    """The precision this trial trains in on ``device``, ``requested`` where it can.

    bfloat16 on a GPU without it: ``"32"`` with a warning, or, when the trial insists on
    CUDA (``device="cuda"``), :class:`~zoo_tune.estimator._device.DeviceUnavailableError`.
    """
    if requested != "bf16-mixed" or device != "cuda":
        return requested
    import torch

    if torch.cuda.is_bf16_supported():
        return requested
    why = f"{torch.cuda.get_device_name()} does not support bfloat16"
    if cuda_required:
        raise DeviceUnavailableError(f"precision='bf16-mixed' on device='cuda', but {why}. "
                                     f"Use precision='16-mixed' on this GPU.")
    logger.warning("precision='bf16-mixed', but %s: this trial trains in float32.", why)
    return "32"


def autocast(device: str, precision: str) -> Any:
    """The context the forward pass and loss run in: autocast for a mixed mode, else none."""
    if precision == "32":
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return torch.autocast(device_type=device, dtype=dtype)


def grad_scaler(device: str, precision: str) -> Any:
    """A :class:`torch.amp.GradScaler` for ``"16-mixed"``, else ``None``."""
    if precision != "16-mixed":
        return None
    import torch

    return torch.amp.GradScaler(device)
