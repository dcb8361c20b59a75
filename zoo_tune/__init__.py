"""zoo_tune: distributed hyper-parameter tuning of PyTorch and Keras models on Ray and Spark.

Example:
    >>> from zoo_tune import AutoEstimator, hp, init_context, stop_context
    >>> space = {"lr": hp.loguniform(1e-4, 1e-1)}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zoo_tune import _triton_guard

if TYPE_CHECKING:
    from zoo_tune import hp
    from zoo_tune.cluster import init_context, init_orca_context, stop_context, stop_orca_context
    from zoo_tune.estimator import AutoEstimator

# Before anything imports torch._dynamo (and with it triton): see zoo_tune._triton_guard.
_triton_guard.install()

#: Public name -> the module it lives in, imported at first use: a Ray worker that unpickles
#: one of zoo_tune's helper functions imports only what that helper needs (not Ray Tune).
_LAZY = {"AutoEstimator": "zoo_tune.estimator", "hp": "zoo_tune.hp",
         "init_context": "zoo_tune.cluster", "init_orca_context": "zoo_tune.cluster",
         "stop_context": "zoo_tune.cluster", "stop_orca_context": "zoo_tune.cluster"}

__all__ = ["AutoEstimator", "hp", "init_context", "init_orca_context", "stop_context",
           "stop_orca_context"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """The public names, imported at first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'zoo_tune' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if name == "hp" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
