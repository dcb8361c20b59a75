"""init_context / stop_context on real local Ray."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from zoo_tune import init_context
from zoo_tune.cluster import current_context
from zoo_tune.errors import InvalidInputError, InvalidTypeError


def test_unknown_cluster_mode_lists_valid_ones():
    with pytest.raises(InvalidInputError, match=r"Unknown cluster_mode 'lokal'.*\['local', "
                       r"'local-cluster', 'ray', 'raydp', 'spark-submit', 'standalone', "
                       r"'yarn-client', 'yarn-cluster'\]"
                       r".*Did you mean 'local'"):
        init_context(cluster_mode="lokal")


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"cores": 0}, InvalidInputError, "`cores` must be >= 1"),
        ({"cores": "2"}, InvalidTypeError, "`cores` must be a positive int"),
        ({"cluster_mode": "ray"}, InvalidInputError, "needs `address`"),
        ({"address": "auto"}, InvalidInputError, "belongs to cluster_mode='ray'"),
    ],
)
def test_bad_settings(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        init_context(**kwargs)


@pytest.mark.usefixtures("ray_local")
def test_second_init_with_other_settings_raises_same_settings_reuse():
    ctx = current_context()
    assert ctx is not None and ctx.cluster_mode == "local" and ctx.started_ray
    with pytest.raises(InvalidInputError, match="call stop_context"):
        init_context(cluster_mode="local", cores=1)
    same = init_context(cluster_mode="local", cores=2, object_store_memory=300 * 1024**2)
    assert same is ctx
    assert init_context(cluster_mode="local", cores=2, object_store_memory="300m") is ctx


def test_context_manager_starts_and_stops_ray():
    code = textwrap.dedent("""
        import os, ray
        os.environ["RAY_AUTH_MODE"] = "disabled"
        from zoo_tune import init_context
        with init_context(cluster_mode="local", cores=1) as ctx:
            assert ray.is_initialized()
            cpus = ray.cluster_resources()["CPU"]
        print(cpus, ray.is_initialized(), round(ctx.startup_s, 1) > 0)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0", "False", "True"]
