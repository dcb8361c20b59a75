"""How ``raydp`` starts: Ray here (or at ``address``), then Spark on it with RayDP.

Example:
    >>> launched = start("raydp", {"num_nodes": 1, "cores": 1}, {})  # doctest: +SKIP
    >>> launched.spark.range(3).count()  # doctest: +SKIP
    3
"""

from __future__ import annotations

import logging
import time
from typing import Any

from zoo_tune.cluster import _raydp
from zoo_tune.cluster._launch_ray import start_ray
from zoo_tune.cluster._modes import Launched

logger = logging.getLogger(__name__)


def start(cluster_mode: str, settings: dict[str, Any],
          ray_init_kwargs: dict[str, Any]) -> Launched:
    """Start (or join) Ray, then ``raydp.init_spark`` with the executors asked for."""
    address = settings.get("address")
    timings: dict[str, float] = {}
    phase = time.monotonic()
    started = start_ray("ray" if address else "local", None, settings.get("memory"),
                        settings.get("object_store_memory"), address, ray_init_kwargs)
    timings["ray_s"] = time.monotonic() - phase
    phase = time.monotonic()
    try:
        spark = _raydp.start(app_name=settings.get("app_name") or "zoo_tune",
                             num_executors=settings.get("num_nodes") or 1,
                             executor_cores=settings.get("cores") or 1,
                             executor_memory=settings.get("executor_memory") or "1g",
                             extra=settings.get("spark_conf"))
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise
    timings["raydp_init_spark_s"] = time.monotonic() - phase
    return Launched(started_ray=started, ray_address=address,
                    spark_master=spark.sparkContext.master, owns_spark=True, spark=spark,
                    timings=timings)


def stop(launched: Launched) -> None:
    """``raydp.stop_spark()`` (executor actors, app master, driver JVM), then Ray if started."""
    import ray

    try:
        _raydp.stop(launched.spark)
    finally:
        if launched.started_ray and ray.is_initialized():
            ray.shutdown()
    logger.info("Stopped Spark on Ray (RayDP).")
