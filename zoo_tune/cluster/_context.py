"""``init_context`` / ``stop_context``: one process-wide Ray connection, started or joined."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError, unknown_choice

logger = logging.getLogger(__name__)

#: cluster_mode -> what it does. Spark modes arrive with the Ray-on-Spark launcher.
CLUSTER_MODES: dict[str, str] = {
    "local": "start Ray on this machine (the default when fit runs without init_context)",
    "ray": "connect to a running Ray cluster at `address` (e.g. 'auto' or 'ray://host:10001')",
}

# Ray 2.60 turns token authentication on when ~/.ray/auth_token exists; a local cluster we
# start ourselves must not depend on that file (DESIGN section 4).
_RAY_ENV_DEFAULTS = {"RAY_AUTH_MODE": "disabled"}


@dataclass
class ClusterContext:
    """The cluster zoo_tune is working on.

    Attributes:
        cluster_mode: One of :data:`CLUSTER_MODES`.
        settings: The arguments ``init_context`` was called with.
        started_ray: Whether zoo_tune started Ray (and so stops it in ``stop_context``).
        startup_s: Seconds ``init_context`` took.
    """

    cluster_mode: str
    settings: dict[str, Any] = field(default_factory=dict)
    started_ray: bool = False
    startup_s: float = 0.0


_CONTEXT: ClusterContext | None = None


def current_context() -> ClusterContext | None:
    """Return the active :class:`ClusterContext`, or ``None``."""
    return _CONTEXT


def _check_positive_int(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"`{name}` must be a positive int, but got {value!r}.")
    if value < 1:
        raise InvalidInputError(f"`{name}` must be >= 1, but got {value!r}.")


class _ContextHandle(ClusterContext):
    """What ``init_context`` returns: usable as ``with init_context(...):``."""

    def __enter__(self) -> ClusterContext:
        return self

    def __exit__(self, *exc: object) -> None:
        stop_context()


def init_context(
    cluster_mode: str = "local",
    *,
    cores: int | None = None,
    memory: int | None = None,
    object_store_memory: int | None = None,
    address: str | None = None,
    **ray_init_kwargs: Any,
) -> ClusterContext:
    """Start (or join) the cluster trials run on.

    Args:
        cluster_mode: ``"local"`` (Ray on this machine) or ``"ray"`` (an existing cluster at
            ``address``).
        cores: CPUs Ray may use for trials (``local`` only; default: all of this machine's).
        memory: Bytes of heap memory for Ray's scheduler (``local`` only).
        object_store_memory: Bytes of Ray's object store (``local`` only).
        address: The Ray cluster to join (``ray`` mode only).
        **ray_init_kwargs: Passed on to ``ray.init``.

    Returns:
        The active context; ``with init_context(...):`` stops it on exit.

    Raises:
        InvalidInputError: unknown ``cluster_mode``, a setting that does not belong to it, or
            a second call with different settings while a context is active.

    Example:
        >>> with init_context(cluster_mode="local", cores=2):  # doctest: +SKIP
        ...     AutoEstimator.from_torch(...).fit(...)
    """
    global _CONTEXT
    if not isinstance(cluster_mode, str) or cluster_mode not in CLUSTER_MODES:
        raise unknown_choice("cluster_mode", cluster_mode, CLUSTER_MODES)
    _check_positive_int("cores", cores)
    _check_positive_int("memory", memory)
    _check_positive_int("object_store_memory", object_store_memory)
    if cluster_mode == "ray" and not address:
        raise InvalidInputError("cluster_mode='ray' needs `address` (e.g. 'auto' or "
                                "'ray://head:10001').")
    if cluster_mode == "local" and address:
        raise InvalidInputError("`address` belongs to cluster_mode='ray'; cluster_mode='local' "
                                "starts its own Ray.")
    settings = {"cores": cores, "memory": memory, "object_store_memory": object_store_memory,
                "address": address, **ray_init_kwargs}
    if _CONTEXT is not None:
        if (_CONTEXT.cluster_mode, _CONTEXT.settings) == (cluster_mode, settings):
            return _CONTEXT
        raise InvalidInputError(
            f"init_context was already called with cluster_mode={_CONTEXT.cluster_mode!r} and "
            f"settings {_CONTEXT.settings}; call stop_context() before starting another "
            f"(cluster_mode={cluster_mode!r}, settings {settings}).")
    start = time.monotonic()
    started = _start_ray(cluster_mode, cores, memory, object_store_memory, address,
                         ray_init_kwargs)
    _CONTEXT = _ContextHandle(cluster_mode, settings, started, time.monotonic() - start)
    logger.info("zoo_tune context %r ready in %.1f s", cluster_mode, _CONTEXT.startup_s)
    return _CONTEXT


def _start_ray(cluster_mode: str, cores: int | None, memory: int | None,
               object_store_memory: int | None, address: str | None,
               extra: dict[str, Any]) -> bool:
    import ray

    for key, value in _RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        logger.info("Using the Ray connection this process already has.")
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True, **extra}
    if cluster_mode == "ray":
        ray.init(address=address, **kwargs)
        return True
    kwargs.update(num_cpus=cores, memory=memory, object_store_memory=object_store_memory)
    ray.init(**{k: v for k, v in kwargs.items() if v is not None})
    return True


def ensure_ray() -> ClusterContext:
    """Return the active context, starting local Ray if nothing is running yet."""
    if _CONTEXT is not None:
        return _CONTEXT
    import ray

    if ray.is_initialized():
        return init_context("local")
    logger.info("No init_context: starting local Ray with this machine's CPUs.")
    return init_context("local")


def stop_context() -> None:
    """Stop what ``init_context`` started; a no-op when nothing is active."""
    global _CONTEXT
    if _CONTEXT is None:
        return
    import ray

    if _CONTEXT.started_ray and ray.is_initialized():
        ray.shutdown()
    _CONTEXT = None
