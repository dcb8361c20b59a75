"""One copy of a staged table per Ray node, in the object store, read zero-copy by its trials.

The first trial on a node asks the node's cache (a zero-CPU Ray actor pinned to that node,
named after the fit and the node, made by whichever trial gets there first) for the table.
The cache reads it part by part and puts it into the node's object store in chunks of about
:data:`CHUNK_BYTES`, so it never holds more than a chunk and a part itself (the table
exists once on the node, not twice while it loads), and keeps the references. Every trial on
the node then maps those chunks, as it maps numpy inputs: one chunk is the arrays
themselves, several are a :class:`~zoo_tune.data.CachedTable`. A node that never runs a
trial never starts a cache nor reads the table. The driver ends the fit's caches when
``fit`` returns (:func:`release_node_caches`); a driver killed before that leaves them to the
end of its Ray cluster (``stop_context``), and a resumed fit makes caches of its own.

Example:
    >>> cached = cached_table(table, seed=7)  # doctest: +SKIP  (inside a trial)
"""

from __future__ import annotations

import logging
from typing import Any

from zoo_tune.data._arrow import TableInput
from zoo_tune.data._layout import Filler, Widths

logger = logging.getLogger(__name__)

#: Cast bytes of one object-store chunk of a cached table.
CHUNK_BYTES = 64 * 2**20
#: Names of node cache actors start with this, then ``<fit token>:<node id>``.
ACTOR_PREFIX = "zoo_tune_node_cache"
#: The Ray namespace of the caches (a detached actor needs a named one to be found again).
NAMESPACE = "zoo_tune"


class NodeCache:
    """The actor holding a fit's tables on one node (Ray object references, by key)."""

    def __init__(self) -> None:
        self._refs: dict[str, Any] = {}

    def get(self, table: TableInput) -> list[Any]:
        """The refs of the table's chunks (each a list of blocks, features first), read on
        the first call."""
        if table.key not in self._refs:
            self._refs[table.key] = _put_chunks(table)
        return self._refs[table.key]


def _put_chunks(table: TableInput) -> list[Any]:
    """Read ``table`` part by part into chunks of whole parts of >= CHUNK_BYTES (sized from
    the parts' row counts, allocated once, filled in place) and put each one when full."""
    import ray

    row_bytes = max(1, table.nbytes // max(1, table.rows))
    chunk_rows = max(1, CHUNK_BYTES // row_bytes)
    groups: list[list[Any]] = [[]]
    rows_in = [0]
    for part in table.parts():
        if rows_in[-1] >= chunk_rows:
            groups.append([])
            rows_in.append(0)
        groups[-1].append(part)
        rows_in[-1] += table.part_rows(part)
    refs = []
    for parts, rows in zip(groups, rows_in):
        if rows == 0:
            continue
        filler = Filler(table.layout, Widths(rows, list(table.widths)), None)
        for part in parts:
            blocks = table.read_part(part)
            if len(blocks[0]):
                filler.add(blocks)
            del blocks
        chunk = filler.result(table.multi_x, table.multi_y)[0]
        refs.append(ray.put(chunk.xs + chunk.ys))
        del chunk, filler
    _release_arrow_memory()
    logger.info("Node cache: %d rows of %s in %d chunks", sum(rows_in), table.key, len(refs))
    return refs


def _release_arrow_memory() -> None:
    """Hand Arrow's freed read buffers back to the system (the cache process stays small)."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # an old pyarrow: its pool keeps them
        pass


def _actor_name(token: str, node_id: str) -> str:
    return f"{ACTOR_PREFIX}:{token}:{node_id}"


def cached_table(table: TableInput, seed: int = 0) -> Any:
    """The table from this node's cache, as read-only views on the object store (no copy):
    ``(xs, ys)`` when it is one chunk, else a :class:`~zoo_tune.data.CachedTable`.

    Called inside a trial; ``table.cache_token`` names the fit, ``seed`` the trial.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    actor = ray.remote(NodeCache).options(
        name=_actor_name(table.cache_token, node), namespace=NAMESPACE, get_if_exists=True,
        lifetime="detached",
        num_cpus=0, max_concurrency=1,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
    chunks = ray.get(ray.get(actor.get.remote(table)))
    if len(chunks) == 1:
        blocks = chunks[0]
        return blocks[:len(table.layout.features)], blocks[len(table.layout.features):]
    from zoo_tune.data._cached_table import CachedTable

    return CachedTable(table, chunks, seed)


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
