"""Where trials run: start, reuse and stop the Ray cluster zoo_tune works on.

Example:
    >>> from zoo_tune import init_context, stop_context
    >>> init_context(cluster_mode="local", cores=2)  # doctest: +SKIP
    >>> stop_context()  # doctest: +SKIP
"""

from zoo_tune.cluster._context import (
    CLUSTER_MODES,
    YARN_MODES,
    ClusterContext,
    current_context,
    ensure_ray,
    init_context,
    stop_context,
)
from zoo_tune.cluster._orca import init_orca_context, stop_orca_context
from zoo_tune.cluster._pack import GPU_ONLY, pack_env
from zoo_tune.cluster._resources import check_fits_a_node, normalize_resources

__all__ = [
    "CLUSTER_MODES",
    "YARN_MODES",
    "ClusterContext",
    "check_fits_a_node",
    "normalize_resources",
    "GPU_ONLY",
    "pack_env",
    "current_context",
    "ensure_ray",
    "init_context",
    "init_orca_context",
    "stop_context",
    "stop_orca_context",
]
