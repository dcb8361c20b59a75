"""The best model as an MLflow model folder (pytorch or keras flavour) with a signature.

Example:
    >>> path = save_model(est.get_best_model(), "torch", [x_val[:8]], "/tmp/best")  # doctest: +SKIP
    >>> mlflow.pytorch.load_model(path)  # doctest: +SKIP
"""  # noqa: E501

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

logger = logging.getLogger("zoo_tune.tracking")

#: Rows of validation data the model signature is inferred from.
SIGNATURE_ROWS = 8


def _signature(model: Any, framework: str, xs: list[np.ndarray] | None) -> Any:
    """The model's input/output signature from a few rows, or ``None`` without data."""
    if not xs:
        return None
    from mlflow.models import infer_signature

    batch = [np.ascontiguousarray(x[:SIGNATURE_ROWS]) for x in xs]
    if framework == "torch":
        import torch

        with torch.no_grad():
            out = model(*[torch.as_tensor(b) for b in batch])
        out = out.detach().cpu().numpy() if hasattr(out, "detach") else out
    else:
        out = model.predict(batch[0] if len(batch) == 1 else batch, verbose=0)
    if isinstance(out, (list, tuple)):
        out = {f"output_{i}": np.asarray(o) for i, o in enumerate(out)}
    given = batch[0] if len(batch) == 1 else {f"input_{i}": b for i, b in enumerate(batch)}
    return infer_signature(given, out)


def save_model(model: Any, framework: str, xs: list[np.ndarray] | None, folder: str) -> str:
    """Save ``model`` as an MLflow model in ``<folder>/model``; returns that path.

    The pip requirements are the framework's installed version, given rather than inferred
    (MLflow's inference loads the model again in a subprocess: seconds per fit).

    Args:
        model: A ``torch.nn.Module`` or a ``keras.Model``.
        framework: ``"torch"`` or ``"keras"``.
        xs: Model inputs (a few rows are used) for the signature, or ``None``.
        folder: An existing local folder.
    """
    path = os.path.join(folder, "model")
    try:
        signature = _signature(model, framework, xs)
    except Exception as err:  # noqa: BLE001 - a model without a signature is still a model
        logger.warning("MLflow: no signature for the best model (%s).", err)
        signature = None
    if framework == "torch":
        import mlflow.pytorch
        import torch

        # "pickle": the whole module, loaded back as one (MLflow 3's "pt2" default traces
        # the graph and needs an input example).
        quiet = logging.getLogger("mlflow.pytorch")  # its warning about pickle, chosen here
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            mlflow.pytorch.save_model(
                model, path, signature=signature, serialization_format="pickle",
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
        finally:
            quiet.setLevel(level)
    else:
        import keras
        import mlflow.keras

        mlflow.keras.save_model(model, path, signature=signature,
                                pip_requirements=[f"keras=={keras.__version__}"])
    return path
