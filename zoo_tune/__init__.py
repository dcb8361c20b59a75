"""zoo_tune: distributed hyper-parameter tuning of PyTorch and Keras models on Ray and Spark.

Example:
    >>> from zoo_tune import AutoEstimator, hp, init_context, stop_context
    >>> space = {"lr": hp.loguniform(1e-4, 1e-1)}
"""

from __future__ import annotations

from zoo_tune import _triton_guard, hp
from zoo_tune.cluster import init_context, init_orca_context, stop_context, stop_orca_context
from zoo_tune.estimator import AutoEstimator

# Before anything imports torch._dynamo (and with it triton): see zoo_tune._triton_guard.
_triton_guard.install()

__all__ = ["AutoEstimator", "hp", "init_context", "init_orca_context", "stop_context",
           "stop_orca_context"]
__version__ = "0.1.0"
