"""Shared fixtures: one real local Ray cluster for the session, small real data sets."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_local():
    """Real Ray on this machine with 2 CPUs, started by zoo_tune and stopped after the session."""
    from zoo_tune import init_context, stop_context

    ctx = init_context(cluster_mode="local", cores=2, object_store_memory=300 * 1024**2)
    yield ctx
    stop_context()


@pytest.fixture(scope="session")
def blobs():
    """A small 3-class problem a linear model learns in one or two epochs."""
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    y = rng.integers(0, 3, size=300)
    x = centers[y] + rng.normal(scale=0.6, size=(300, 4))
    return (x[:240].astype(np.float32), y[:240]), (x[240:].astype(np.float32), y[240:])
