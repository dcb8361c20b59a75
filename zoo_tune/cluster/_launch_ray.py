"""How ``local`` and ``ray`` start: Ray on this machine, or a running Ray cluster joined.

Example:
    >>> launched = start("local", {"cores": 2}, {})  # doctest: +SKIP
    >>> stop(launched)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from typing import Any

from zoo_tune.cluster._common import RAY_ENV_DEFAULTS
from zoo_tune.cluster._modes import Launched

logger = logging.getLogger(__name__)


def start(cluster_mode: str, settings: dict[str, Any],
          ray_init_kwargs: dict[str, Any]) -> Launched:
    """``ray.init`` here (``local``) or at ``settings["address"]`` (``ray``)."""
    started = start_ray(cluster_mode, settings.get("cores"), settings.get("memory"),
                        settings.get("object_store_memory"), settings.get("address"),
                        ray_init_kwargs)
    return Launched(started_ray=started, ray_address=settings.get("address"))


def stop(launched: Launched) -> None:
    """``ray.shutdown()`` if this launcher connected (a Ray found connected is left alone)."""
    import ray

    if launched.started_ray and ray.is_initialized():
        ray.shutdown()


def start_ray(cluster_mode: str, cores: int | None, memory: int | None,
              object_store_memory: int | None, address: str | None,
              extra: dict[str, Any]) -> bool:
    """Connect this process to Ray; whether it made the connection (``False``: it had one).

    Args:
        cluster_mode: ``"ray"`` joins ``address``; anything else starts Ray here.
        cores: CPUs of a Ray started here (default: all).
        memory: Heap bytes for Ray's scheduler (``ray.init(_memory=...)``).
        object_store_memory: Bytes of the object store.
        address: The cluster to join (``ray``).
        extra: More ``ray.init`` arguments.
    """
    import ray

    for key, value in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        logger.info("Using the Ray connection this process already has.")
        return False
    # Ray's INFO lines ("Started a local Ray instance.") only when asked for.
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                              "logging_level": logging.WARNING, **extra}
    if cluster_mode == "ray":
        ray.init(address=address, **kwargs)
        return True
    # ray.init takes the schedulable heap memory as `_memory` (there is no `memory` argument).
    kwargs.update(num_cpus=cores, _memory=memory, object_store_memory=object_store_memory)
    ray.init(**{k: v for k, v in kwargs.items() if v is not None})
    return True
