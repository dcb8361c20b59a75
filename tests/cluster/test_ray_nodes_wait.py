"""init_context's wait for every Ray worker node asked for, after Ray on Spark returned: bounded,
and short of nodes it says how many it has (on the session's local Ray, whose one node is the
head: no worker node ever joins it)."""

from __future__ import annotations

import logging
import time

import pytest

from zoo_tune.cluster._launch_spark import alive_ray_worker_nodes, wait_for_ray_nodes


@pytest.mark.timeout(60)
def test_the_wait_for_missing_nodes_is_bounded_and_warns(ray_local, caplog):
    assert alive_ray_worker_nodes() == 0
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="zoo_tune.cluster._launch_spark"):
        assert wait_for_ray_nodes(2, timeout_s=1.5, poll_s=0.1) == 0
    assert 1.5 <= time.monotonic() - start < 10
    assert "0 of the 2 Ray worker nodes asked for are alive" in caplog.text


@pytest.mark.timeout(60)
def test_no_wait_when_the_nodes_are_there(ray_local, caplog):
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="zoo_tune.cluster._launch_spark"):
        assert wait_for_ray_nodes(0, timeout_s=30) == 0
    assert time.monotonic() - start < 5
    assert caplog.text == ""
