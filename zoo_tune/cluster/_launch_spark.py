"""How ``standalone``, ``local-cluster`` and ``spark-submit`` start: a SparkSession (created
or found), Ray worker nodes in its executors, a Ray head on the driver, this process
connected. :func:`run_ray_on` is the part the YARN modes share (:mod:`._launch_yarn`).

Example:
    >>> launched = start("standalone", {"master": "spark://127.0.0.1:7077", "num_nodes": 2,
    ...                                 "cores": 1}, {})  # doctest: +SKIP
    >>> launched.ray_worker_nodes  # doctest: +SKIP
    2
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from zoo_tune.cluster import _gpus, _spark, _token_refresh, _yarn
from zoo_tune.cluster._common import WORKER_STARTUP_INTERVAL_ENV, WORKER_STARTUP_INTERVAL_S
from zoo_tune.cluster._memory import mib, parse_memory
from zoo_tune.cluster._modes import Launched
from zoo_tune.errors import InvalidInputError

logger = logging.getLogger(__name__)

#: Executors beyond the Ray nodes, left to Spark's own jobs, when not set
#: (see :mod:`zoo_tune.cluster._spark_slots`).
DEFAULT_SPARE_EXECUTORS = 1

#: Seconds to wait, once Ray on Spark has returned, for every Ray worker node asked for to be
#: alive. Ray's own wait returns as soon as it counts enough alive nodes once (one may be
#: restarting then), or after 120 s in which no new node came.
RAY_NODES_TIMEOUT_S = 60.0


def start(cluster_mode: str, settings: dict[str, Any],
          ray_init_kwargs: dict[str, Any]) -> Launched:
    """Create (or, for ``spark-submit``, find) the SparkSession and start Ray on it."""
    prepare_driver(cluster_mode)
    master, cores, num_nodes = settings["master"], settings["cores"], settings["num_nodes"]
    executor_memory = settings["executor_memory"]
    spare = settings.get("spare_executors")
    spare = DEFAULT_SPARE_EXECUTORS if spare is None else spare
    memory, object_store = node_sizes(settings)
    archive = settings["archive"] and _yarn.archive_uri(settings["archive"])
    submitted = cluster_mode == "spark-submit"
    per_worker = 1  # local-cluster: executors of `cores` CPUs per worker
    if cluster_mode == "standalone":
        _spark.check_master_answers(_spark.parse_standalone(master))
    elif cluster_mode == "local-cluster":
        if master is None:
            mb = mib(parse_memory("executor_memory", executor_memory or "1g"))
            num_nodes = num_nodes or 2
            master = f"local-cluster[{num_nodes + spare},{cores or 1},{mb}]"
        workers, worker_cores, worker_mb = _spark.parse_local_cluster(master) or (2, 1, 1024)
        per_worker = max(1, worker_cores // (cores or worker_cores))
        num_nodes = num_nodes or max(1, (workers - spare) * per_worker)
        cores = cores or worker_cores
        executor_memory = executor_memory or f"{worker_mb}m"
    conf = None
    if not submitted:
        cores = cores or 1
        conf = _spark.spark_conf(master, app_name=settings["app_name"] or "zoo_tune",
                                 cores=cores,
                                 executors=None if num_nodes is None else num_nodes + spare,
                                 executor_memory=executor_memory or "1g",
                                 extra=settings["spark_conf"], archive=archive)
        _gpus.add_gpu_conf(conf, settings.get("gpus"), kind=cluster_mode,
                           executors_per_worker=per_worker)
    timings: dict[str, float] = {}
    phase = time.monotonic()
    spark, owns_spark = _spark.get_session(cluster_mode, conf)
    timings["spark_session_s"] = time.monotonic() - phase
    return run_ray_on(spark, owns_spark, settings, ray_init_kwargs, submitted=submitted,
                      cores=cores, num_nodes=num_nodes, memory=memory,
                      object_store=object_store, archive=archive, timings=timings)


def stop(launched: Launched) -> None:
    """Shut Ray on Spark down (head and worker nodes, waiting for their processes), disconnect,
    and stop the SparkSession and its driver JVM if the launcher created them."""
    _spark.stop(launched.handle)
    logger.info("Stopped Ray on Spark (%s).", launched.spark_master)


def prepare_driver(cluster_mode: str) -> None:
    """Environment the driver's Ray needs; refuse a process already connected to Ray.

    (Ray's authentication environment is :mod:`zoo_tune.cluster._auth`'s, set before.)
    """
    # Ray on Spark reads this when ray.util.spark is first imported (driver and executors).
    os.environ.setdefault(WORKER_STARTUP_INTERVAL_ENV, WORKER_STARTUP_INTERVAL_S)
    # The head node runs `ray start` from PATH: the venv's ray, not another one.
    os.environ["PATH"] = _spark._path_with_venv()
    import ray

    if ray.is_initialized():
        raise InvalidInputError(
            f"cluster_mode={cluster_mode!r} starts its own Ray cluster, but this process is "
            f"already connected to Ray (not through init_context): call ray.shutdown() first.")


def _conf_int(conf: Any, key: str) -> int | None:
    """An int setting scripts/zoo-tune-submit passed (``spark.zoo_tune.*``), else None."""
    value = conf.get(key, None)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise InvalidInputError(f"Spark setting {key}={value!r} must be an int >= 0.")
    return int(value)


def node_sizes(settings: dict[str, Any]) -> tuple[int, int]:
    """``(heap, object store)`` bytes of each Ray worker node, from ``settings`` or defaults."""
    memory = settings["memory"] or _spark.DEFAULT_NODE_MEMORY
    return memory, settings["object_store_memory"] or max(memory // 4, 128 * 1024**2)


def run_ray_on(spark: Any, owns_spark: bool, settings: dict[str, Any],
               ray_init_kwargs: dict[str, Any], *, submitted: bool, cores: int | None,
               num_nodes: int | None, memory: int, object_store: int, archive: str | None,
               timings: dict[str, float]) -> Launched:
    """Start Ray worker nodes in ``spark``'s executors and connect this process.

    A session spark-submit configured (``submitted``) gives the archive and, unless
    ``settings`` do, the Ray node sizes ``scripts/zoo-tune-submit`` sized the executors for.
    On failure, what was started is stopped before the error propagates.
    """
    import ray

    conf = spark.sparkContext.getConf()
    if submitted:
        archive = conf.get("spark.yarn.dist.archives", None) or conf.get("spark.archives", None)
        memory = settings["memory"] or int(conf.get("spark.zoo_tune.nodeMemory", str(memory)))
        object_store = settings["object_store_memory"] or int(conf.get(
            "spark.zoo_tune.objectStoreMemory", str(max(memory // 4, 128 * 1024**2))))
    if cores is None:
        cores = int(conf.get("spark.executor.cores", "1"))
    gpus = _gpus.node_gpus(conf, settings.get("gpus"),
                           max(1, int(conf.get("spark.executor.cores", str(cores))) // cores))
    spare = settings.get("spare_executors")
    if submitted:
        num_nodes = num_nodes or _conf_int(conf, "spark.zoo_tune.numNodes")
        if spare is None:
            spare = _conf_int(conf, "spark.zoo_tune.spareExecutors")
    spare = DEFAULT_SPARE_EXECUTORS if spare is None else spare
    info = None
    try:
        info = _spark.start(spark, owns_spark, num_nodes=num_nodes, cores=cores, gpus=gpus,
                            memory=memory, object_store_memory=object_store,
                            spare_executors=spare)
        timings.update(info.timings)
        phase = time.monotonic()
        ray.init(address=info.address, **{"log_to_driver": True, **ray_init_kwargs})
        timings["connect_s"] = time.monotonic() - phase
        # A kerberized YARN: Spark's new delegation tokens reach the trials' token files too.
        info.token_refresher = _token_refresh.start(spark)
        phase = time.monotonic()
        workers = wait_for_ray_nodes(info.worker_nodes or 0)
        timings["ray_nodes_wait_s"] = time.monotonic() - phase
    except BaseException:
        if info is not None:
            _spark.stop(info)
        elif owns_spark:
            spark.stop()
        raise
    return Launched(started_ray=True, ray_address=info.address, ray_worker_nodes=workers,
                    spark_master=spark.sparkContext.master, archive=archive, spark=spark,
                    owns_spark=owns_spark, timings=timings, handle=info)


def alive_ray_worker_nodes() -> int:
    """How many Ray worker nodes (not the head) of the connected cluster are alive."""
    import ray

    return sum(1 for n in ray.nodes()
               if n.get("Alive") and "node:__internal_head__" not in n.get("Resources", {}))


def wait_for_ray_nodes(wanted: int, timeout_s: float = RAY_NODES_TIMEOUT_S,
                       poll_s: float = 0.5) -> int:
    """Wait until ``wanted`` Ray worker nodes are alive, at most ``timeout_s``; how many are.

    Fewer after ``timeout_s`` is a warning, not an error: the trials run on the nodes there
    are, and Ray on Spark keeps starting the others.

    Example:
        >>> wait_for_ray_nodes(2)  # doctest: +SKIP
        2
    """
    deadline = time.monotonic() + timeout_s
    count = alive_ray_worker_nodes()
    first = count
    while count < wanted and time.monotonic() < deadline:
        time.sleep(poll_s)
        count = alive_ray_worker_nodes()
    if count < wanted:
        logger.warning("%d of the %d Ray worker nodes asked for are alive after %.0f s more "
                       "than Ray on Spark waited; trials run on those, the others may join.",
                       count, wanted, timeout_s)
    elif first < wanted:
        logger.info("%d of %d Ray worker nodes were alive when Ray on Spark returned; all "
                    "were after a further wait.", first, wanted)
    return count
