"""PyTorch backend: build model, optimizer and loss from a config; train, evaluate, save."""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo_tune.errors import InvalidInputError, InvalidTypeError, did_you_mean
from zoo_tune.estimator._backend import (
    batch_size_of,
    is_arrays,
    is_batched,
    metric_value,
    slices,
)
from zoo_tune.estimator._precision import autocast, grad_scaler
from zoo_tune.metrics import MetricSpec

DEFAULT_LR = 1e-3
_WEIGHTS = "model.pt"
_OPTIMIZER = "optimizer.pt"
_SCALER = "grad_scaler.pt"


def _optimizer_names() -> list[str]:
    import torch

    return sorted(n for n, c in vars(torch.optim).items()
                  if inspect.isclass(c) and issubclass(c, torch.optim.Optimizer)
                  and c is not torch.optim.Optimizer)


def _loss_names() -> list[str]:
    import torch

    base = torch.nn.modules.loss._Loss
    return sorted(n for n, c in vars(torch.nn).items()
                  if inspect.isclass(c) and issubclass(c, base) and not n.startswith("_"))


def check_optimizer(optimizer: Any) -> None:
    """Raise unless ``optimizer`` is a ``torch.optim`` class name or a creator callable."""
    if isinstance(optimizer, str):
        names = _optimizer_names()
        if optimizer not in names:
            raise InvalidInputError(f"Unknown optimizer {optimizer!r}: `optimizer` must be a "
                                    f"torch.optim class name among {names}, or a creator "
                                    f"(model, config) -> torch.optim.Optimizer."
                                    f"{did_you_mean(optimizer, names)}")
    elif not callable(optimizer):
        raise InvalidTypeError(f"`optimizer` must be a torch.optim class name or a creator "
                               f"(model, config) -> Optimizer, but got {optimizer!r}.")


def check_loss(loss: Any) -> None:
    """Raise unless ``loss`` is a ``torch.nn`` loss name, a loss module, or a creator."""
    import torch

    if isinstance(loss, str):
        names = _loss_names()
        if loss not in names:
            raise InvalidInputError(f"Unknown loss {loss!r}: `loss` must be a torch.nn loss "
                                    f"class name among {names}, a loss instance, or a creator "
                                    f"config -> loss.{did_you_mean(loss, names)}")
    elif not (isinstance(loss, torch.nn.Module) or callable(loss)):
        raise InvalidTypeError(f"`loss` must be a torch.nn loss name, a loss instance or a "
                               f"creator config -> loss, but got {loss!r}.")


def _to_tensors(arrays: list[np.ndarray]) -> list[Any]:
    import torch

    with warnings.catch_warnings():  # object-store arrays are read-only; we never write them
        warnings.simplefilter("ignore", UserWarning)
        return [torch.from_numpy(a) for a in arrays]


def _split_batch(batch: Any) -> tuple[list[Any], list[Any]]:
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise InvalidInputError("A data-creator batch must be (x, y) or (x1, ..., xn, y), but got "
                                f"{type(batch).__name__}.")
    *xs, y = batch
    if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
        xs = list(xs[0])
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    return list(xs), ys


@dataclass
class TorchState:
    """One trial's model, optimizer and loss (and the tensors of numpy data), on ``device``,
    trained in ``precision`` (:mod:`zoo_tune.estimator._precision`; ``scaler``: the
    ``"16-mixed"`` loss scaler)."""

    model: Any
    optimizer: Any
    loss: Any
    tensors: dict[int, Any]
    device: str = "cpu"
    precision: str = "32"
    scaler: Any = None

    def autocast(self) -> Any:
        """The context the forward pass and the loss run in."""
        return autocast(self.device, self.precision)

    def to_device(self, tensors: list[Any]) -> list[Any]:
        """``tensors`` on the trial's device: pinned, then copied without blocking (CUDA)."""
        if self.device == "cpu":
            return tensors
        import torch

        return [_pinned(t).to(self.device, non_blocking=True)
                if isinstance(t, torch.Tensor) else t for t in tensors]


def _to_numpy(tensor: Any) -> np.ndarray:
    """A model output as numpy; an autocast output (bfloat16, which numpy lacks, or float16)
    as float32, the dtype the metric would get without autocast."""
    import torch

    out = tensor.detach().cpu()
    if out.dtype in (torch.bfloat16, torch.float16):
        out = out.float()
    return out.numpy()


def _pinned(tensor: Any) -> Any:
    """A page-locked copy of a CPU tensor (so the copy to the GPU is asynchronous)."""
    if tensor.device.type != "cpu" or tensor.is_pinned():
        return tensor
    return tensor.pin_memory()


class TorchBackend:
    """Trains a ``torch.nn.Module`` from ``model_creator(config)``.

    Args:
        model_creator: ``config -> torch.nn.Module``.
        optimizer: A creator ``(model, config) -> Optimizer`` or a ``torch.optim`` class name
            (learning rate ``config["lr"]``, default 1e-3).
        loss: A loss instance, a creator ``config -> loss``, or a ``torch.nn`` loss class name.
    """

    framework = "torch"

    def __init__(self, model_creator: Callable[[dict], Any], optimizer: Any, loss: Any) -> None:
        self.model_creator = model_creator
        self.optimizer = optimizer
        self.loss = loss

    def _model(self, config: dict[str, Any]) -> Any:
        import torch

        model = self.model_creator(config)
        if not isinstance(model, torch.nn.Module):
            raise InvalidTypeError(f"Expected `model_creator` to return a torch.nn.Module. "
                                   f"Received: {model!r} of type {type(model).__name__}.")
        return model

    def _optimizer(self, model: Any, config: dict[str, Any]) -> Any:
        import torch

        if isinstance(self.optimizer, str):
            cls = getattr(torch.optim, self.optimizer)
            return cls(model.parameters(), lr=config.get("lr", DEFAULT_LR))
        opt = self.optimizer(model, config)
        if not isinstance(opt, torch.optim.Optimizer):
            raise InvalidTypeError(f"Expected the `optimizer` creator to return a "
                                   f"torch.optim.Optimizer. Received: {opt!r} of type "
                                   f"{type(opt).__name__}.")
        return opt

    def _loss(self, config: dict[str, Any]) -> Any:
        import torch

        if isinstance(self.loss, str):
            return getattr(torch.nn, self.loss)()
        if isinstance(self.loss, torch.nn.Module):
            return self.loss
        if inspect.isclass(self.loss):
            return self.loss()
        made = self.loss(config)
        if not callable(made):
            raise InvalidTypeError(f"Expected the `loss` creator to return a loss callable. "
                                   f"Received: {made!r} of type {type(made).__name__}.")
        return made

    def check_on_driver(self, config: dict[str, Any], metric: MetricSpec) -> None:
        if metric.source == "framework":
            raise InvalidInputError(f"Unknown metric {metric.name!r} for a torch model: use a "
                                    f"built-in metric name or a callable f(y_true, y_pred).")
        model = self._model(config)
        self._loss(config)
        # A creator is checked by calling it. A class name was checked by from_torch, and the
        # first torch optimizer a process builds imports torch._dynamo (~2 s of every fit).
        if not isinstance(self.optimizer, str):
            self._optimizer(model, config)

    def set_threads(self, cpus: int) -> None:
        import torch

        torch.set_num_threads(max(1, cpus))

    def cuda_usable(self) -> tuple[bool, str]:
        from zoo_tune.estimator._device import torch_cuda_usable

        return torch_cuda_usable()

    def build(self, config: dict[str, Any], device: str = "cpu",
              precision: str = "32") -> TorchState:
        """The model moved to ``device`` before the optimizer is built (it holds the moved
        parameters), and a loss module (class weights) moved with it; float32 weights in
        every ``precision``, a loss scaler for ``"16-mixed"``."""
        model = self._model(config).to(device)
        loss = self._loss(config)
        if device != "cpu" and hasattr(loss, "to"):
            loss = loss.to(device)
        return TorchState(model, self._optimizer(model, config), loss, {}, device, precision,
                          grad_scaler(device, precision))

    def _batches(self, state: TorchState, data: Any, batch_size: int, shuffle: bool) -> Any:
        import torch

        if is_batched(data):  # numpy batches of a streamed or chunked table, as tensors
            for xs, ys in data.batches(batch_size, shuffle):
                yield state.to_device(_to_tensors(xs)), state.to_device(_to_tensors(ys))
            return
        if not is_arrays(data):
            for batch in data:
                xs, ys = _split_batch(batch)
                yield state.to_device(xs), state.to_device(ys)
            return
        xs, ys, _, _ = data
        key = id(xs[0])
        if key not in state.tensors:
            state.tensors[key] = (_to_tensors(xs), _to_tensors(ys))
        txs, tys = state.tensors[key]
        order = torch.randperm(len(txs[0])) if shuffle else None
        for idx in slices(len(txs[0]), batch_size, order):
            yield state.to_device([t[idx] for t in txs]), state.to_device([t[idx] for t in tys])

    @staticmethod
    def _loss_value(state: TorchState, outputs: Any, ys: list[Any]) -> Any:
        outs = list(outputs) if len(ys) > 1 else [outputs]
        total = 0
        for out, y in zip(outs, ys):
            if y.dim() == 1 and out.dim() == 2 and out.shape[1] == 1 and y.is_floating_point():
                y = y.unsqueeze(1)
            total = total + state.loss(out, y)
        return total

    def train_epoch(self, state: TorchState, data: Any, config: dict[str, Any]) -> None:
        state.model.train()
        for xs, ys in self._batches(state, data, batch_size_of(config), shuffle=True):
            state.optimizer.zero_grad()
            with state.autocast():
                loss = self._loss_value(state, state.model(*xs), ys)
            if state.scaler is None:
                loss.backward()
                state.optimizer.step()
            else:  # float16: scaled so small gradients survive, unscaled before the step
                state.scaler.scale(loss).backward()
                state.scaler.step(state.optimizer)
                state.scaler.update()

    def evaluate(self, state: TorchState, data: Any, config: dict[str, Any],
                 metric: MetricSpec) -> float:
        import torch

        state.model.eval()
        preds: list[list[np.ndarray]] = []
        trues: list[list[np.ndarray]] = []
        loss_sum, rows = 0.0, 0
        with torch.no_grad(), state.autocast():
            for xs, ys in self._batches(state, data, max(batch_size_of(config), 256), False):
                outputs = state.model(*xs)
                n = len(ys[0])
                if metric.fn is None:
                    loss_sum += float(self._loss_value(state, outputs, ys)) * n
                else:
                    outs = list(outputs) if len(ys) > 1 else [outputs]
                    preds.append([_to_numpy(o) for o in outs])
                    trues.append([y.detach().cpu().numpy() for y in ys])
                rows += n
        if rows == 0:
            raise InvalidInputError("The evaluation data yielded no batches.")
        if metric.fn is None:
            return loss_sum / rows
        return metric_value(metric, [np.concatenate(c) for c in zip(*trues)],
                            [np.concatenate(c) for c in zip(*preds)])

    def save(self, state: TorchState, directory: str) -> None:
        """Weights as CPU tensors (a checkpoint of a GPU trial loads on a CPU-only driver),
        the optimizer's state and a ``"16-mixed"`` trial's loss scale."""
        import torch

        weights = {k: v.detach().cpu() for k, v in state.model.state_dict().items()}
        torch.save(weights, os.path.join(directory, _WEIGHTS))
        torch.save(state.optimizer.state_dict(), os.path.join(directory, _OPTIMIZER))
        if state.scaler is not None:
            torch.save(state.scaler.state_dict(), os.path.join(directory, _SCALER))

    def restore(self, state: TorchState, directory: str) -> None:
        """Load weights and optimizer state, keeping this config's optimizer settings.

        A scheduler may restore another trial's checkpoint under a perturbed config (PBT):
        the moment buffers come from the checkpoint, ``lr`` and friends from the config.
        """
        import torch

        where = state.device  # a checkpoint a GPU trial wrote, restored on the CPU or back
        state.model.load_state_dict(torch.load(os.path.join(directory, _WEIGHTS),
                                               map_location=where))
        fresh = [{k: v for k, v in group.items() if k != "params"}
                 for group in state.optimizer.param_groups]
        state.optimizer.load_state_dict(torch.load(os.path.join(directory, _OPTIMIZER),
                                                   map_location=where))
        for group, settings in zip(state.optimizer.param_groups, fresh):
            group.update(settings)
        scaler = os.path.join(directory, _SCALER)
        if state.scaler is not None and os.path.exists(scaler):  # else: a fresh scale
            state.scaler.load_state_dict(torch.load(scaler))

    def load_model(self, config: dict[str, Any], directory: str | None) -> Any:
        """The model on the CPU, whichever device its trial trained on."""
        import torch

        model = self._model(config)
        if directory is not None:
            model.load_state_dict(torch.load(os.path.join(directory, _WEIGHTS),
                                             map_location="cpu"))
        model.eval()
        return model
