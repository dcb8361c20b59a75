"""The ``AutoEstimator`` facade and the torch / keras trial loops behind it."""

from zoo_tune.estimator._auto import AutoEstimator

__all__ = ["AutoEstimator"]
