"""The Ray on Spark start hook that gives every Ray node of a zoo_tune cluster its token.

Ray on Spark instantiates the class named by ``RAY_ON_SPARK_START_HOOK`` in the driver and
adds its :meth:`~TokenStartHook.custom_environment_variables` to the environment of the head
and of each worker node it starts in an executor (inside the Spark task that starts the
node). :mod:`zoo_tune.cluster._auth` sets the variable while a context starts; a hook the
caller had set keeps working (every call is passed on to it).

Example:
    >>> hook = TokenStartHook(is_global=False)  # doctest: +SKIP
    >>> sorted(hook.custom_environment_variables())  # doctest: +SKIP
    ['RAY_AUTH_MODE', 'RAY_AUTH_TOKEN']
"""

from __future__ import annotations

import os
from typing import Any

from ray.util.spark.start_hook_base import RayOnSparkStartHook

from zoo_tune.cluster._auth import INNER_HOOK_ENV, node_env


class TokenStartHook(RayOnSparkStartHook):
    """Adds the token (:func:`zoo_tune.cluster._auth.node_env`) to every Ray node's environment.

    Ray on Spark creates it with no arguments, as it does any hook it finds in
    ``RAY_ON_SPARK_START_HOOK``.

    Args:
        is_global: Whether the cluster is a global one (zoo_tune's never are).
    """

    def __init__(self, is_global: bool = False) -> None:
        super().__init__(is_global)
        inner = os.environ.get(INNER_HOOK_ENV)
        self._inner: Any = _load_class(inner)() if inner else None

    def get_default_temp_root_dir(self) -> str:
        """The inner hook's, else Ray's default."""
        if self._inner is not None:
            return self._inner.get_default_temp_root_dir()
        return super().get_default_temp_root_dir()

    def on_ray_dashboard_created(self, port: int) -> None:
        """Passed on to the inner hook."""
        if self._inner is not None:
            self._inner.on_ray_dashboard_created(port)

    def on_cluster_created(self, ray_cluster_handler: Any) -> None:
        """Passed on to the inner hook."""
        if self._inner is not None:
            self._inner.on_cluster_created(ray_cluster_handler)

    def on_spark_job_created(self, job_group_id: str) -> None:
        """Passed on to the inner hook."""
        if self._inner is not None:
            self._inner.on_spark_job_created(job_group_id)

    def custom_environment_variables(self) -> dict[str, str]:
        """The inner hook's variables, then the authentication ones (which win)."""
        inner = self._inner.custom_environment_variables() if self._inner is not None else {}
        return {**inner, **node_env()}


def _load_class(path: str) -> Any:
    """The class at ``"package.module.Class"``."""
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)
