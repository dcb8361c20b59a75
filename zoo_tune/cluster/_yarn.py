"""YARN modes: the Spark conf that ships the Python environment and sizes containers for Ray.

Ray on Spark runs a Ray worker node inside each executor's YARN container, next to the
executor JVM; YARN kills a container whose processes outgrow it. So besides the archive
(``spark.yarn.dist.archives=<archive>#environment``, unpacked by YARN as ``./environment`` in
every container, the application master's included) the conf asks for
``spark.executor.memoryOverhead`` = the Ray node's heap + object store + Spark's own default
overhead, and in ``cluster`` deploy mode ``spark.driver.memoryOverhead`` for the Ray head that
lives in the driver's container.

Nothing here talks to YARN: :func:`hadoop_conf_dir` and :func:`resource_managers` read the
client configuration, :func:`yarn_conf` builds the settings, and the Spark YARN client does the
rest when the SparkSession starts.

Example:
    >>> conf = yarn_conf("client", archive="hdfs:///envs/env.tar.gz", app_name="tune", cores=2,
    ...                  num_nodes=4, executor_memory="1g", node_memory=2 * 1024**3,
    ...                  object_store_memory=512 * 1024**2)
    >>> conf["spark.executor.memoryOverhead"], conf["spark.yarn.dist.archives"]
    ('2944m', 'hdfs:///envs/env.tar.gz#environment')
"""

from __future__ import annotations

import math
import os
import re
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from pathlib import Path

from zoo_tune.cluster._common import (
    ENV_ALIAS,
    ENV_PYTHON,
    SPARK_AUTH_CONF,
    WORKER_STARTUP_INTERVAL_ENV,
    WORKER_STARTUP_INTERVAL_S,
    unreachable,
)
from zoo_tune.cluster._memory import mib, parse_memory
from zoo_tune.errors import InvalidInputError

#: Spark's own executor memory overhead: max(384 MiB, 10 % of the executor memory).
SPARK_MIN_OVERHEAD_MB = 384
#: ``PATH`` of executors (and a ``cluster`` mode driver): the unpacked archive's ``bin`` (for
#: ``ray``), then the usual system dirs. Not ``./environment/bin:$PATH``: YARN's launch script
#: expands ``$PATH``, but the NodeManager starts that script (``exec setsid``) with the value
#: as written, so ``setsid`` was not found and every container exited 127 (Hadoop 3.3.4).
CONTAINER_PATH = f"./{ENV_ALIAS}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Heap of the Ray head node on the driver (matches :func:`zoo_tune.cluster._spark.start`).
HEAD_NODE_MEMORY = 512 * 1024**2
#: Ray worker nodes of a YARN session zoo_tune creates when ``num_nodes`` is not given
#: (Spark's own default ``spark.executor.instances``).
DEFAULT_NUM_NODES = 2
#: The ResourceManager's client port when yarn-site.xml gives only a host.
RM_DEFAULT_PORT = 8032

_MIB = 1024**2
_VAR = re.compile(r"\$\{([^}]+)\}")


def hadoop_conf_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The Hadoop client configuration directory YARN modes read, checked.

    ``HADOOP_CONF_DIR`` wins over ``YARN_CONF_DIR`` (Spark reads both). The directory must hold
    ``yarn-site.xml``: without it Spark's YARN client looks for a ResourceManager at
    ``0.0.0.0:8032`` and retries for minutes.

    Raises:
        InvalidInputError: neither variable set, the directory missing, or no yarn-site.xml.

    Example:
        >>> hadoop_conf_dir({"HADOOP_CONF_DIR": "/etc/hadoop/conf"})  # doctest: +SKIP
        PosixPath('/etc/hadoop/conf')
    """
    env = os.environ if environ is None else environ
    name = next((n for n in ("HADOOP_CONF_DIR", "YARN_CONF_DIR") if env.get(n)), None)
    if name is None:
        raise InvalidInputError(
            "The YARN cluster modes need HADOOP_CONF_DIR (or YARN_CONF_DIR) set to the directory "
            "with the Hadoop client configuration (yarn-site.xml, core-site.xml), e.g. "
            "export HADOOP_CONF_DIR=/etc/hadoop/conf; neither is set.")
    path = Path(env[name])
    if not path.is_dir():
        raise InvalidInputError(f"{name}={env[name]!r} is not a directory; it must name the "
                                f"Hadoop client configuration directory (yarn-site.xml, "
                                f"core-site.xml).")
    if not (path / "yarn-site.xml").is_file():
        raise InvalidInputError(
            f"{name}={env[name]!r} has no yarn-site.xml; Spark reads the ResourceManager's "
            f"address from it (without it, Spark retries 0.0.0.0:{RM_DEFAULT_PORT} for minutes).")
    return path


def read_hadoop_xml(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``name -> value`` properties of a Hadoop ``*-site.xml`` file.

    Example:
        >>> read_hadoop_xml("/etc/hadoop/conf/yarn-site.xml")  # doctest: +SKIP
        {'yarn.resourcemanager.hostname': 'rm.example.com'}
    """
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as err:
        raise InvalidInputError(f"Cannot read the Hadoop configuration {str(path)!r}: "
                                f"{err}.") from err
    props = {}
    for prop in root.iter("property"):
        name, value = prop.findtext("name"), prop.findtext("value")
        if name:
            props[name.strip()] = (value or "").strip()
    return props


def resource_managers(conf_dir: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """The ``(host, port)`` of every ResourceManager ``yarn-site.xml`` names (HA: each rm-id).

    Example:
        >>> resource_managers("/etc/hadoop/conf")  # doctest: +SKIP
        [('rm.example.com', 8032)]
    """
    props = read_hadoop_xml(Path(conf_dir) / "yarn-site.xml")

    def get(key: str, default: str | None = None) -> str | None:
        value = props.get(key, default)
        for _ in range(5):  # ${other.key} substitution, as Hadoop's Configuration does
            if value is None or "${" not in value:
                break
            value = _VAR.sub(lambda m: props.get(m[1], os.environ.get(m[1], "")), value)
        return value

    ids = [""]
    if (get("yarn.resourcemanager.ha.enabled") or "").lower() == "true":
        ids = [f".{i.strip()}" for i in (get("yarn.resourcemanager.ha.rm-ids") or "").split(",")
               if i.strip()] or [""]
    found = []
    for suffix in ids:
        host = get(f"yarn.resourcemanager.hostname{suffix}") or get(
            "yarn.resourcemanager.hostname", "0.0.0.0")
        address = get(f"yarn.resourcemanager.address{suffix}") or f"{host}:{RM_DEFAULT_PORT}"
        name, _, port = address.rpartition(":")
        found.append((name or address, int(port) if port.isdigit() else RM_DEFAULT_PORT))
    return found


def check_resource_manager_answers(conf_dir: str | os.PathLike[str],
                                   timeout_s: float = 5.0) -> None:
    """Raise unless a ResourceManager named in yarn-site.xml accepts a TCP connection.

    Spark's YARN client would otherwise retry for many minutes.

    Raises:
        InvalidInputError: naming each address tried, why it failed, and the file read.

    Example:
        >>> check_resource_manager_answers("/etc/hadoop/conf")  # doctest: +SKIP
    """

    errors = unreachable(resource_managers(conf_dir), timeout_s)
    if not errors:
        return
    raise InvalidInputError(
        f"No YARN ResourceManager answers at {', '.join(errors)} (tried for {timeout_s:.0f} s "
        f"each; from {Path(conf_dir) / 'yarn-site.xml'}). Check that YARN runs and that "
        f"HADOOP_CONF_DIR names this cluster's client configuration.")


def launched_by_spark_submit() -> bool:
    """Whether this Python is a driver that spark-submit started (its JVM is already up).

    Example:
        >>> launched_by_spark_submit()  # doctest: +SKIP
        False
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def in_yarn_container() -> bool:
    """Whether this process runs inside a YARN container (YARN sets ``CONTAINER_ID``)."""
    return "CONTAINER_ID" in os.environ


def check_session(spark: object, deploy_mode: str) -> None:
    """Raise unless ``spark`` runs on YARN in ``deploy_mode`` (a spark-submit launched driver).

    Example:
        >>> check_session(spark, "cluster")  # doctest: +SKIP
    """
    conf = spark.sparkContext.getConf()  # type: ignore[attr-defined]
    master = spark.sparkContext.master  # type: ignore[attr-defined]
    actual = conf.get("spark.submit.deployMode", "client")
    if master != "yarn" or actual != deploy_mode:
        raise InvalidInputError(
            f"cluster_mode='yarn-{deploy_mode}' needs a driver on YARN in {deploy_mode} deploy "
            f"mode, but this one runs on master={master!r} with deployMode={actual!r}. Launch "
            f"with scripts/zoo-tune-submit --master yarn --deploy-mode {deploy_mode}, or use "
            f"cluster_mode='spark-submit' to take whatever spark-submit configured.")


def memory_overhead_mb(executor_memory_mb: int, node_memory: int, object_store_memory: int) -> int:
    """``spark.executor.memoryOverhead`` in MiB for an executor that holds one Ray node.

    Spark's default overhead (max(384 MiB, 10 % of the executor heap), for the JVM's off-heap
    use and the PySpark worker) plus the Ray node's heap and object store, which live in the
    same container but outside the JVM.

    Example:
        >>> memory_overhead_mb(1024, 2 * 1024**3, 512 * 1024**2)
        2944
    """
    spark_own = max(SPARK_MIN_OVERHEAD_MB, math.ceil(0.10 * executor_memory_mb))
    return spark_own + math.ceil((node_memory + object_store_memory) / _MIB)


def archive_uri(archive: str) -> str:
    """``archive`` checked and made absolute (a local path) or kept (a URI like ``hdfs://``).

    Raises:
        InvalidInputError: not ``.tar.gz``/``.tgz``, or a local file that does not exist.

    Example:
        >>> archive_uri("hdfs:///envs/env.tar.gz")
        'hdfs:///envs/env.tar.gz'
    """
    from zoo_tune.cluster._pack import ARCHIVE_SUFFIXES

    if not isinstance(archive, str) or not archive.endswith(ARCHIVE_SUFFIXES):
        raise InvalidInputError(
            f"`archive` must be a .tar.gz or .tgz Python environment (from "
            f"zoo_tune.cluster.pack_env, venv-pack or conda-pack), but got {archive!r}.")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", archive) and not archive.startswith("file://"):
        return archive
    local = Path(archive[len("file://"):] if archive.startswith("file://") else archive)
    if not local.is_file():
        raise InvalidInputError(f"`archive` {archive!r} does not exist. Build one with "
                                f"zoo_tune.cluster.pack_env() or give an hdfs:// URI.")
    return str(local.absolute())


def yarn_conf(
    deploy_mode: str,
    *,
    archive: str,
    app_name: str,
    cores: int,
    num_nodes: int | None,
    executor_memory: str,
    node_memory: int,
    object_store_memory: int,
    extra: Mapping[str, str] | None = None,
    spare_executors: int = 1,
) -> dict[str, str]:
    """The Spark conf of a YARN session whose executors hold Ray nodes and run the archive.

    Args:
        deploy_mode: ``"client"`` (driver here) or ``"cluster"`` (driver in the YARN
            application master; only through spark-submit).
        archive: The environment archive (``archive_uri``'s result): a local path, which the
            YARN client uploads, or an ``hdfs://`` URI.
        app_name: ``spark.app.name``.
        cores: ``spark.executor.cores`` (= CPUs of each Ray worker node).
        num_nodes: Ray worker nodes: ``spark.executor.instances`` is ``num_nodes +
            spare_executors`` (None: Spark's default instances).
        executor_memory: ``spark.executor.memory`` (the JVM heap only).
        node_memory: Heap bytes of each Ray worker node.
        object_store_memory: Object store bytes of each Ray node.
        extra: More settings; they win.
        spare_executors: Executors beyond the Ray nodes, for Spark's own jobs
            (:mod:`zoo_tune.cluster._spark_slots`).

    Returns:
        Spark settings, key -> value.

    Example:
        >>> yarn_conf("cluster", archive="hdfs:///e.tar.gz", app_name="t", cores=1,
        ...           num_nodes=2, executor_memory="1g", node_memory=2**30,
        ...           object_store_memory=2**28)["spark.yarn.appMasterEnv.PYSPARK_PYTHON"]
        './environment/bin/python'
    """

    if deploy_mode not in ("client", "cluster"):
        raise InvalidInputError(f"`deploy_mode` must be 'client' or 'cluster', but got "
                                f"{deploy_mode!r}.")
    env = {
        "PATH": CONTAINER_PATH,
        "PYSPARK_PYTHON": ENV_PYTHON,
        WORKER_STARTUP_INTERVAL_ENV: os.environ.get(WORKER_STARTUP_INTERVAL_ENV,
                                                     WORKER_STARTUP_INTERVAL_S),
    }
    heap_mb = mib(parse_memory("executor_memory", executor_memory))
    overhead = memory_overhead_mb(heap_mb, node_memory, object_store_memory)
    conf = {
        "spark.master": "yarn",
        "spark.submit.deployMode": deploy_mode,
        "spark.app.name": app_name,
        "spark.yarn.dist.archives": f"{archive}#{ENV_ALIAS}",
        "spark.pyspark.python": ENV_PYTHON,
        "spark.executor.cores": str(cores),
        "spark.executor.memory": executor_memory,
        "spark.executor.memoryOverhead": f"{overhead}m",
        # A Ray worker node holds its executor for the cluster's lifetime.
        "spark.dynamicAllocation.enabled": "false",
        "spark.speculation": "false",
        "spark.ui.showConsoleProgress": "false",
        # YARN gives the application its secret: Spark's RPC (and the Ray token in the tasks
        # that start Ray nodes) authenticated and encrypted.
        **SPARK_AUTH_CONF,
    }
    if num_nodes is not None:
        conf["spark.executor.instances"] = str(num_nodes + spare_executors)
        conf["spark.zoo_tune.numNodes"] = str(num_nodes)
    conf["spark.zoo_tune.spareExecutors"] = str(spare_executors)
    conf.update({f"spark.executorEnv.{k}": v for k, v in env.items()})
    if deploy_mode == "client":
        conf["spark.pyspark.driver.python"] = sys.executable
    else:
        # The driver, and the Ray head on it, run in the application master's container.
        conf.update({f"spark.yarn.appMasterEnv.{k}": v for k, v in env.items()})
        head = SPARK_MIN_OVERHEAD_MB + math.ceil((HEAD_NODE_MEMORY + object_store_memory) / _MIB)
        conf["spark.driver.memoryOverhead"] = f"{head}m"
    conf.update(extra or {})
    return conf
