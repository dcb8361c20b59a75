"""``init_orca_context`` / ``stop_orca_context``: Analytics Zoo / BigDL Orca's entry points on
zoo_tune's :func:`~zoo_tune.cluster.init_context`.

Orca's parameters keep their meaning: ``cores`` / ``memory`` / ``num_nodes`` are per Spark
executor (``memory`` is the executor JVM's heap, ``extra_executor_memory_for_ray`` the Ray
node's beside it); in ``local`` mode ``cores`` are this machine's CPUs for Ray (default all)
and ``memory`` Ray's heap. Every keyword Orca takes is mapped onto ``init_context`` or refused
with an error that says what to use instead (:data:`MAPPED`, :data:`REFUSED`), before any
cluster work. Ray always starts with the context (``init_ray_on_spark`` is accepted either
way: trials need it). It returns zoo_tune's context, whose ``spark`` is the SparkSession
(Orca returned the SparkContext: ``ctx.spark.sparkContext``).

Example:
    >>> from zoo_tune import init_orca_context, stop_orca_context
    >>> ctx = init_orca_context(cluster_mode="local", cores=2, memory="2g")  # doctest: +SKIP
    >>> stop_orca_context()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from zoo_tune.cluster._context import ClusterContext, init_context, stop_context
from zoo_tune.cluster._memory import jvm_size, parse_memory
from zoo_tune.errors import InvalidInputError, InvalidTypeError, unknown_choice

logger = logging.getLogger(__name__)

#: Orca's cluster modes -> zoo_tune's (``None``: spark-submit's session if one is active,
#: else local, as Orca does).
MODES = {"local": "local", "yarn-client": "yarn-client", "yarn": "yarn-client",
         "yarn-cluster": "yarn-cluster", "standalone": "standalone",
         "spark-submit": "spark-submit", "bigdl-submit": "spark-submit"}

#: Orca keywords zoo_tune maps, and onto what.
MAPPED = {
    "conf": "spark_conf",
    "driver_cores": "spark_conf['spark.driver.cores']",
    "driver_memory": "spark_conf['spark.driver.memory'] (whole MiB)",
    "extra_executor_memory_for_ray": "memory (each Ray worker node's heap)",
    "object_store_memory": "object_store_memory",
    "extra_python_lib": "spark_conf['spark.submit.pyFiles']",
    "jars": "spark_conf['spark.jars']",
    "spark_yarn_archive": "spark_conf['spark.yarn.archive']",
    "penv_archive": "archive",
    "master": "master (standalone)",
    "hadoop_conf": "the HADOOP_CONF_DIR environment variable",
    "hadoop_user_name": "the HADOOP_USER_NAME environment variable",
    "env": "spark_conf['spark.executorEnv.<name>']",
    "spark_log_level": "the SparkContext's log level once it runs",
    "redirect_spark_log": "accepted; Spark's log stays where its log4j2 config puts it",
    "init_executor_gateway": "accepted; zoo_tune starts no BigDL gateway on executors",
    "address": "address (runtime='ray')",
}

#: Orca keywords zoo_tune refuses, with what to use instead.
REFUSED = {
    "additional_archive": "ship extra files with scripts/zoo-tune-submit --files, or read them "
                          "from hdfs://",
    "python_location": "executors run this venv's Python by path (standalone) or the packed "
                       "archive (YARN): pass penv_archive= / archive=",
    "num_ray_nodes": "zoo_tune starts one Ray node per executor: use num_nodes",
    "ray_node_cpu_cores": "a Ray node has its executor's CPUs: use cores",
    "redis_port": "Ray 2.60 has no Redis; the head's ports are Ray on Spark's",
    "redis_password": "Ray 2.60 has no Redis; the cluster is on a private network",
    "include_webui": "zoo_tune starts Ray without its dashboard",
    "system_config": "pass Ray settings as init_context(**ray_init_kwargs)",
    "extra_params": "pass Ray settings as init_context(**ray_init_kwargs)",
    "verbose": "set verbose= in fit",
    "enable_numa_binding": "not supported",
    "container_image": "Kubernetes is not supported: run Ray there with KubeRay and use "
                       "init_context(cluster_mode='ray', address=...)",
}

_LOG_LEVELS = ("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN")


def orca_to_init_context(cluster_mode: str | None = "local", runtime: str = "spark",
                         cores: int | str | None = None, memory: int | str = "2g",
                         num_nodes: int | None = None, init_ray_on_spark: bool = False,
                         **kwargs: Any) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """Orca's arguments as ``(init_context kwargs, environment to set, Spark log level)``.

    Raises:
        InvalidInputError: a mode or keyword zoo_tune does not take (saying what to use), or
            a malformed value.

    Example:
        >>> orca_to_init_context("yarn-client", cores=4, memory="10g", num_nodes=2)[0]
        ... # doctest: +NORMALIZE_WHITESPACE
        {'cluster_mode': 'yarn-client', 'cores': 4, 'num_nodes': 2, 'executor_memory': '10240m'}
    """
    if not isinstance(init_ray_on_spark, bool):
        raise InvalidTypeError(f"`init_ray_on_spark` must be a bool, but got "
                               f"{init_ray_on_spark!r}.")
    unknown = sorted(set(kwargs) - set(MAPPED) - set(REFUSED))
    if unknown:
        raise unknown_choice("init_orca_context argument", unknown[0], [*MAPPED, *REFUSED])
    refused = sorted(set(kwargs) & set(REFUSED))
    if refused:
        raise InvalidInputError(f"init_orca_context({refused[0]}=...) is not supported by "
                                f"zoo_tune: {REFUSED[refused[0]]}.")
    if runtime not in ("spark", "ray"):
        raise unknown_choice("runtime", runtime, ("spark", "ray"))
    if cores == "*":  # Orca's local default: every CPU
        cores = None
    out: dict[str, Any] = {}
    if runtime == "ray":
        if cluster_mode not in (None, "local"):
            raise InvalidInputError("runtime='ray' joins a running Ray cluster: give "
                                    "address=..., not cluster_mode.")
        out = {"cluster_mode": "ray", "address": kwargs.pop("address", "auto")}
        return _no_spark_keywords(out, kwargs), {}, None
    mode = _mode(cluster_mode)
    if "address" in kwargs:
        raise InvalidInputError("address= belongs to runtime='ray' (a running Ray cluster).")
    out["cluster_mode"] = mode
    if cores is not None:
        out["cores"] = cores
    if mode == "local":
        if num_nodes not in (None, 1):
            raise InvalidInputError(f"cluster_mode='local' runs on this machine: num_nodes "
                                    f"must be 1, but got {num_nodes!r}.")
        out["memory"] = parse_memory("memory", memory)
        if "object_store_memory" in kwargs:
            out["object_store_memory"] = kwargs.pop("object_store_memory")
        return _no_spark_keywords(out, kwargs), {}, None
    submitted = mode in ("spark-submit", "yarn-cluster")
    if num_nodes is not None or not submitted:  # Orca's default 1; spark-submit: every slot
        out["num_nodes"] = 1 if num_nodes is None else num_nodes
    if not submitted:  # under spark-submit the executors are sized on its command line
        out["executor_memory"] = jvm_size(parse_memory("memory", memory))
    if "extra_executor_memory_for_ray" in kwargs:
        out["memory"] = kwargs.pop("extra_executor_memory_for_ray")
    if "object_store_memory" in kwargs:
        out["object_store_memory"] = kwargs.pop("object_store_memory")
    if "penv_archive" in kwargs:
        out["archive"] = kwargs.pop("penv_archive")
    if "master" in kwargs:
        out["master"] = kwargs.pop("master")
    env: dict[str, str] = {}
    for key, var in (("hadoop_conf", "HADOOP_CONF_DIR"), ("hadoop_user_name", "HADOOP_USER_NAME")):
        if key in kwargs:
            value = kwargs.pop(key)
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"`{key}` must be a non-empty str, but got {value!r}.")
            env[var] = value
    level = kwargs.pop("spark_log_level", None)
    if level is not None and (not isinstance(level, str) or level.upper() not in _LOG_LEVELS):
        raise unknown_choice("spark_log_level", level, _LOG_LEVELS)
    for key in ("redirect_spark_log", "init_executor_gateway"):
        if not isinstance(kwargs.pop(key, True), bool):
            raise InvalidTypeError(f"`{key}` must be a bool.")
    spark_conf = _spark_conf(kwargs)
    if spark_conf:
        if submitted:
            raise InvalidInputError(
                f"cluster_mode={cluster_mode!r} runs on the session spark-submit configured: "
                f"set {sorted(spark_conf)} on the scripts/zoo-tune-submit command line "
                f"(--conf, --py-files), not in init_orca_context.")
        out["spark_conf"] = spark_conf
    return out, env, level and level.upper()


def _mode(cluster_mode: str | None) -> str:
    if cluster_mode is None or cluster_mode == "":
        try:
            from pyspark import SparkContext

            active = SparkContext._active_spark_context is not None
        except ImportError:
            active = False
        return "spark-submit" if active else "local"
    if not isinstance(cluster_mode, str):
        raise InvalidTypeError(f"`cluster_mode` must be a str, but got {cluster_mode!r}.")
    name = cluster_mode.lower()
    if name.startswith("k8s"):
        raise InvalidInputError(f"cluster_mode={cluster_mode!r} is not supported: zoo_tune runs "
                                f"on {sorted(set(MODES))}; on Kubernetes run Ray with KubeRay "
                                f"and use init_context(cluster_mode='ray', address=...).")
    if name not in MODES:
        raise unknown_choice("Orca cluster_mode", cluster_mode, MODES)
    return MODES[name]


def _no_spark_keywords(out: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.pop("init_executor_gateway", None)
    kwargs.pop("redirect_spark_log", None)
    if kwargs:
        raise InvalidInputError(f"{sorted(kwargs)} configure Spark, but "
                                f"cluster_mode={out['cluster_mode']!r} starts no Spark.")
    return out


def _joined(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise InvalidTypeError(f"`{key}` must be a str or a list of str, but got {value!r}.")


def _spark_conf(kwargs: dict[str, Any]) -> dict[str, str]:
    conf: dict[str, str] = {}
    given = kwargs.pop("conf", None)
    if given is not None:
        if not isinstance(given, Mapping):
            raise InvalidTypeError(f"`conf` must be a dict of Spark settings, but got "
                                   f"{type(given).__name__}.")
        conf.update({str(k): str(v) for k, v in given.items()})
    if "driver_cores" in kwargs:
        cores = kwargs.pop("driver_cores")
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise InvalidInputError(f"`driver_cores` must be an int >= 1, but got {cores!r}.")
        conf["spark.driver.cores"] = str(cores)
    if "driver_memory" in kwargs:
        conf["spark.driver.memory"] = jvm_size(parse_memory("driver_memory",
                                                            kwargs.pop("driver_memory")))
    for key, name in (("extra_python_lib", "spark.submit.pyFiles"), ("jars", "spark.jars"),
                      ("spark_yarn_archive", "spark.yarn.archive")):
        if key in kwargs:
            conf[name] = _joined(key, kwargs.pop(key))
    env = kwargs.pop("env", None)
    if env is not None:
        if not isinstance(env, Mapping):
            raise InvalidTypeError(f"`env` must be a dict of environment variables, but got "
                                   f"{env!r}.")
        conf.update({f"spark.executorEnv.{k}": str(v) for k, v in env.items()})
    return conf


def init_orca_context(cluster_mode: str | None = "local", cores: int | str | None = None,
                      memory: int | str = "2g", num_nodes: int | None = None,
                      init_ray_on_spark: bool = False, **kwargs: Any) -> ClusterContext:
    """Start the cluster as Orca's ``init_orca_context`` did, on zoo_tune's ``init_context``.

    Args:
        cluster_mode: ``"local"`` (default), ``"yarn-client"`` (or ``"yarn"``),
            ``"yarn-cluster"``, ``"standalone"``, ``"spark-submit"`` / ``"bigdl-submit"``, or
            ``None`` (the session spark-submit made, if any, else local). ``k8s-*`` is refused.
        cores: CPUs per node (local: of this machine, default all; ``"*"`` too).
        memory: Each executor's JVM heap (local: Ray's heap), int bytes or ``"2g"``.
        num_nodes: Executors, one Ray worker node each (default 1, as Orca; under
            spark-submit: every executor slot it made; local: 1).
        init_ray_on_spark: Accepted; Ray starts either way (trials need it).
        **kwargs: ``runtime`` (``"spark"``, or ``"ray"`` with ``address``) and Orca's other
            keywords, mapped as :data:`MAPPED` says or refused as :data:`REFUSED` says.

    Returns:
        The active :class:`~zoo_tune.cluster.ClusterContext`.

    Example:
        >>> ctx = init_orca_context(cluster_mode="yarn-client", cores=4, memory="10g",
        ...                         num_nodes=2, driver_memory="4g")  # doctest: +SKIP
    """
    runtime = kwargs.pop("runtime", "spark")
    settings, env, level = orca_to_init_context(cluster_mode, runtime, cores, memory,
                                                num_nodes, init_ray_on_spark, **kwargs)
    for var, value in env.items():
        if os.environ.get(var) not in (None, value):
            logger.warning("init_orca_context: %s=%s replaces %s=%s.", var, value, var,
                           os.environ[var])
        os.environ[var] = value
    ctx = init_context(**settings)
    if level and ctx.spark is not None:
        ctx.spark.sparkContext.setLogLevel(level)
    return ctx


def stop_orca_context() -> None:
    """Stop what :func:`init_orca_context` started (:func:`~zoo_tune.stop_context`).

    Example:
        >>> stop_orca_context()  # doctest: +SKIP
    """
    stop_context()
