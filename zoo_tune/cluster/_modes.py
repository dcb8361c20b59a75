"""The cluster modes, and the small interface each mode's launcher implements.

One launcher module per way of starting Ray, each with ``start`` and ``stop``:

- :mod:`._launch_ray`: ``local`` (Ray on this machine) and ``ray`` (join a running cluster);
- :mod:`._launch_spark`: ``standalone``, ``local-cluster`` and ``spark-submit`` (Ray worker
  nodes in Spark executors);
- :mod:`._launch_yarn`: ``yarn-client`` and ``yarn-cluster`` (the same, in YARN containers
  running a shipped environment archive);
- :mod:`._launch_raydp`: ``raydp`` (Spark on Ray).

:func:`zoo_tune.cluster.init_context` validates its arguments and dispatches to one of them;
no launcher imports ``_context``.

Example:
    >>> launcher_module("yarn-client")
    'zoo_tune.cluster._launch_yarn'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

#: cluster_mode -> what it does.
CLUSTER_MODES: dict[str, str] = {
    "local": "start Ray on this machine (the default when fit runs without init_context)",
    "ray": "connect to a running Ray cluster at `address` (e.g. 'auto' or 'ray://host:10001')",
    "standalone": "create a SparkSession on a Spark standalone master (`master='spark://h:p'`) "
                  "and start Ray worker nodes in its executors",
    "local-cluster": "Spark's local-cluster[N,C,M] master on this machine (no setup), Ray worker "
                     "nodes in its executors",
    "spark-submit": "use the SparkSession spark-submit (or the caller) configured, Ray worker "
                    "nodes in its executors",
    "yarn-client": "driver here, Ray worker nodes in YARN containers running a shipped Python "
                   "environment archive (HADOOP_CONF_DIR names the cluster)",
    "yarn-cluster": "driver (and Ray head) in the YARN application master: inside a script "
                    "launched by scripts/zoo-tune-submit --master yarn --deploy-mode cluster",
    "raydp": "Spark on Ray (RayDP): local Ray (or the one at `address`), Spark executors as Ray "
             "actors, the SparkSession at ctx.spark; trials run on that Ray",
}

#: The YARN modes (the Python environment travels as an archive).
YARN_MODES = ("yarn-client", "yarn-cluster")

#: The modes that start Ray on Spark executors.
SPARK_MODES = ("standalone", "local-cluster", "spark-submit", *YARN_MODES)

_LAUNCHERS = {"local": "_launch_ray", "ray": "_launch_ray", "standalone": "_launch_spark",
              "local-cluster": "_launch_spark", "spark-submit": "_launch_spark",
              "yarn-client": "_launch_yarn", "yarn-cluster": "_launch_yarn",
              "raydp": "_launch_raydp"}


@dataclass
class Launched:
    """What a launcher started: the facts ``init_context``'s context reports, and a handle
    its ``stop`` needs.

    Attributes:
        started_ray: Whether the launcher started Ray (and so stops it).
        ray_address: The Ray head's ``host:port`` (Spark modes) or the ``address`` joined.
        ray_worker_nodes: Alive Ray worker nodes once started (Spark modes).
        spark_master: The Spark master (Spark modes, ``raydp``).
        archive: The Python environment archive executors run.
        spark: The SparkSession (Spark modes, ``raydp``).
        owns_spark: Whether the launcher created the SparkSession (and so stops it).
        timings: Seconds per start-up phase.
        handle: The launcher's own state for ``stop`` (Ray on Spark's cluster info).
    """

    started_ray: bool = False
    ray_address: str | None = None
    ray_worker_nodes: int = 0
    spark_master: str | None = None
    archive: str | None = None
    spark: Any = field(default=None, repr=False)
    owns_spark: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    handle: Any = field(default=None, repr=False)


class Launcher(Protocol):
    """A launcher module: ``start`` the mode's cluster, ``stop`` what it started."""

    def start(self, cluster_mode: str, settings: dict[str, Any],
              ray_init_kwargs: dict[str, Any]) -> Launched:
        """Start (or join) the cluster for ``cluster_mode`` with validated ``settings``."""

    def stop(self, launched: Launched) -> None:
        """Stop what ``start`` started (a no-op for what it only joined)."""


def launcher_module(cluster_mode: str) -> str:
    """The module that starts ``cluster_mode`` (one of :data:`CLUSTER_MODES`)."""
    return f"zoo_tune.cluster.{_LAUNCHERS[cluster_mode]}"


def launcher(cluster_mode: str) -> Launcher:
    """The launcher module of ``cluster_mode``, imported on first use (pyspark only then)."""
    import importlib

    return importlib.import_module(launcher_module(cluster_mode))  # type: ignore[return-value]
