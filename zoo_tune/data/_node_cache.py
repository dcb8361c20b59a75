"""One copy of a staged table per Ray node, in the object store, read zero-copy by its trials.

The first trial on a node asks the node's cache (a zero-CPU Ray actor pinned to that node,
named after the fit and the node, made by whichever trial gets there first) for the table;
the cache reads it part by part into arrays allocated once, puts them into the node's object
store and keeps the reference. Every trial on the node then maps that one copy, as it maps
numpy inputs. A node that never runs a trial never starts a cache nor reads the table. The
driver ends the fit's caches when ``fit`` returns (:func:`release_node_caches`); a driver
killed before that leaves them to the end of its Ray cluster (``stop_context``), and a
resumed fit makes caches of its own.

Example:
    >>> xs, ys = cached_arrays(table)  # doctest: +SKIP  (inside a trial)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from zoo_tune.data._arrow import TableInput

logger = logging.getLogger(__name__)

#: Names of node cache actors start with this, then ``<fit token>:<node id>``.
ACTOR_PREFIX = "zoo_tune_node_cache"
#: The Ray namespace of the caches (a detached actor needs a named one to be found again).
NAMESPACE = "zoo_tune"


class NodeCache:
    """The actor holding a fit's tables on one node (Ray object references, by key)."""

    def __init__(self) -> None:
        self._refs: dict[str, Any] = {}

    def get(self, table: TableInput) -> list[Any]:
        """``[ref]`` of ``(xs, ys)``, read on the first call (in a list: Ray hands the
        reference over instead of the value)."""
        import ray

        if table.key not in self._refs:
            xs, ys = table.read_all()
            self._refs[table.key] = ray.put((xs, ys))
            logger.info("Node cache: %d rows (%.1f MiB) of %s", len(xs[0]),
                        sum(a.nbytes for a in xs + ys) / 2**20, table.key)
            del xs, ys
        return [self._refs[table.key]]


def _actor_name(token: str, node_id: str) -> str:
    return f"{ACTOR_PREFIX}:{token}:{node_id}"


def cached_arrays(table: TableInput) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The table's ``(xs, ys)`` from this node's cache: read-only views, no copy.

    Called inside a trial; ``table.cache_token`` names the fit.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    actor = ray.remote(NodeCache).options(
        name=_actor_name(table.cache_token, node), namespace=NAMESPACE, get_if_exists=True,
        lifetime="detached",
        num_cpus=0, max_concurrency=1,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
    (ref,) = ray.get(actor.get.remote(table))
    return ray.get(ref)


def release_node_caches(token: str) -> int:
    """End the node caches of the fit ``token`` (on the driver); how many there were.

    Example:
        >>> release_node_caches("0123abcd")  # doctest: +SKIP
        2
    """
    import ray

    if not token or not ray.is_initialized():
        return 0
    prefix = f"{ACTOR_PREFIX}:{token}:"
    ended = 0
    for entry in ray.util.list_named_actors(all_namespaces=True):  # {"name", "namespace"}
        name = entry["name"]
        if entry["namespace"] == NAMESPACE and name.startswith(prefix):
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE))
                ended += 1
            except ValueError:  # ended meanwhile
                pass
    return ended
