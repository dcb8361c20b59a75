"""How ``local`` and ``ray`` start: Ray on this machine, or a running Ray cluster joined.

Example:
    >>> launched = start("local", {"cores": 2}, {})  # doctest: +SKIP
    >>> stop(launched)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

from zoo_tune.cluster import _auth
from zoo_tune.cluster._modes import Launched
from zoo_tune.errors import InvalidInputError

logger = logging.getLogger(__name__)


def start(cluster_mode: str, settings: dict[str, Any],
          ray_init_kwargs: dict[str, Any]) -> Launched:
    """``ray.init`` here (``local``, ``settings["gpus"]`` as ``num_gpus``) or at
    ``settings["address"]`` (``ray``)."""
    extra = dict(ray_init_kwargs)
    if settings.get("gpus") is not None:  # Ray's own count of this machine's GPUs otherwise
        extra["num_gpus"] = settings["gpus"]
    started = start_ray(cluster_mode, settings.get("cores"), settings.get("memory"),
                        settings.get("object_store_memory"), settings.get("address"), extra)
    address = settings.get("address")
    if cluster_mode == "local" and started:
        import ray

        address = ray.get_runtime_context().gcs_address  # what another client joins
    return Launched(started_ray=started, ray_address=address)


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

    if ray.is_initialized():
        logger.info("Using the Ray connection this process already has.")
        return False
    # Ray's INFO lines ("Started a local Ray instance.") only when asked for.
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                              "logging_level": logging.WARNING, **extra}
    if cluster_mode == "ray":
        join(address, kwargs)
        return True
    # ray.init takes the schedulable heap memory as `_memory` (there is no `memory` argument).
    kwargs.update(num_cpus=cores, _memory=memory, object_store_memory=object_store_memory)
    ray.init(**{k: v for k, v in kwargs.items() if v is not None})
    return True


class RayJoinError(InvalidInputError):
    """The Ray cluster at ``address`` could not be joined (unreachable, or it wants a token)."""


def join(address: str | None, kwargs: dict[str, Any]) -> None:
    """``ray.init(address=...)``; a refusal says whether a token was given and how to give one.

    Ray reports a missing or wrong token only in its log (``InvalidAuthToken``), after 20 s of
    retries, as a ``ConnectionError``: the error raised here names token authentication.
    """
    import ray

    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as err:
        given = ("this process sent no token" if not _auth.has_token() else
                 "this process sent the token from RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH, and "
                 "the cluster refused it or did not answer")
        raise RayJoinError(
            f"Could not join the Ray cluster at {address!r}: {err}. Ray clusters (2.52+, and "
            f"every cluster zoo_tune starts) require a token; {given}. Give the cluster's token "
            f"with RAY_AUTH_TOKEN_PATH=<file> (a zoo_tune cluster's is ctx.auth_token_file) or "
            f"RAY_AUTH_TOKEN=<token>; 'InvalidAuthToken' in Ray's log above means the token is "
            f"missing or wrong, otherwise check the address.") from err
