"""How ``yarn-client`` and ``yarn-cluster`` start: Ray worker nodes in YARN containers that
run a shipped Python environment archive.

``yarn-client`` from a plain Python session: check ``HADOOP_CONF_DIR`` and that the
ResourceManager answers, pack this venv unless ``archive=`` names one (``pack_s``), create
the YARN SparkSession (:func:`zoo_tune.cluster._yarn.yarn_conf`: executor sizes and memory
overhead for the Ray node each holds; a YARN on loopback gets the driver on 127.0.0.1). A
driver spark-submit started (``yarn-cluster`` always, ``yarn-client`` under
``scripts/zoo-tune-submit``) uses the session spark-submit configured. Then the shared part:
:func:`zoo_tune.cluster._launch_spark.run_ray_on`.

Example:
    >>> launched = start("yarn-client", {"num_nodes": 2, "cores": 1, ...}, {})  # doctest: +SKIP
    >>> launched.spark_master  # doctest: +SKIP
    'yarn'
"""

from __future__ import annotations

import os
import time
from typing import Any

from zoo_tune.cluster import _gpus, _spark, _yarn
from zoo_tune.cluster._common import is_loopback
from zoo_tune.cluster._launch_spark import (
    DEFAULT_SPARE_EXECUTORS,
    node_sizes,
    prepare_driver,
    run_ray_on,
)
from zoo_tune.cluster._launch_spark import stop as stop_ray_on_spark
from zoo_tune.cluster._modes import Launched
from zoo_tune.errors import InvalidInputError


def start(cluster_mode: str, settings: dict[str, Any],
          ray_init_kwargs: dict[str, Any]) -> Launched:
    """Create (``yarn-client``) or find (under spark-submit) the YARN session, start Ray."""
    prepare_driver(cluster_mode)
    cores, num_nodes = settings["cores"], settings["num_nodes"]
    memory, object_store = node_sizes(settings)
    submitted = _yarn.launched_by_spark_submit()
    archive = settings["archive"] and _yarn.archive_uri(settings["archive"])
    timings: dict[str, float] = {}
    conf = None
    if not submitted:  # yarn-client from a Python session
        conf_dir = _yarn.hadoop_conf_dir()
        _yarn.check_resource_manager_answers(conf_dir)
        if archive is None:
            from zoo_tune.cluster._pack import pack_env

            phase = time.monotonic()
            archive = pack_env()
            timings["pack_s"] = time.monotonic() - phase
        cores = cores or 1
        num_nodes = num_nodes or _yarn.DEFAULT_NUM_NODES
        spare = settings.get("spare_executors")
        conf = _yarn.yarn_conf("client", archive=archive,
                               app_name=settings["app_name"] or "zoo_tune", cores=cores,
                               num_nodes=num_nodes,
                               spare_executors=DEFAULT_SPARE_EXECUTORS if spare is None else spare,
                               executor_memory=settings["executor_memory"] or "1g",
                               node_memory=memory, object_store_memory=object_store,
                               extra=settings["spark_conf"])
        _gpus.add_gpu_conf(conf, settings.get("gpus"), kind="yarn")
        if settings.get("principal"):
            # Spark logs in from the keytab, gets HDFS delegation tokens for the containers,
            # and renews them for as long as the application runs.
            conf.setdefault("spark.kerberos.principal", settings["principal"])
            conf.setdefault("spark.kerberos.keytab", os.path.abspath(settings["keytab"]))
            krb5_conf = os.environ.get("KRB5_CONFIG")
            if krb5_conf and "java.security.krb5.conf" not in conf.get(
                    "spark.driver.extraJavaOptions", ""):
                # Java reads no KRB5_CONFIG: the driver JVM gets the realm's krb5.conf named.
                conf["spark.driver.extraJavaOptions"] = (
                    conf.get("spark.driver.extraJavaOptions", "")
                    + f" -Djava.security.krb5.conf={krb5_conf}").strip()
        if all(is_loopback(host) for host, _ in _yarn.resource_managers(conf_dir)):
            # A YARN on this machine: containers reach the driver (and Ray head) on loopback.
            conf.setdefault("spark.driver.host", "127.0.0.1")
            conf.setdefault("spark.driver.bindAddress", "127.0.0.1")
    phase = time.monotonic()
    spark, owns_spark = _spark.get_session(cluster_mode, conf)
    timings["spark_session_s"] = time.monotonic() - phase
    try:
        _yarn.check_session(spark, cluster_mode.split("-", 1)[1])
    except InvalidInputError:
        if owns_spark:
            spark.stop()
        raise
    return run_ray_on(spark, owns_spark, settings, ray_init_kwargs, submitted=submitted,
                      cores=cores, num_nodes=num_nodes, memory=memory,
                      object_store=object_store, archive=archive, timings=timings)


def stop(launched: Launched) -> None:
    """Stop Ray on Spark and, if this driver created it, the YARN application (SUCCEEDED)."""
    stop_ray_on_spark(launched)
