"""Ray on Spark: a Ray head on the driver and Ray worker nodes inside Spark executors.

The Spark cluster modes of :func:`zoo_tune.init_context` (``standalone``, ``local-cluster``,
``spark-submit``) create or reuse a SparkSession, then start Ray with
``ray.util.spark.setup_ray_cluster``. pyspark is imported only here, and only when such a mode
is asked for, so ``import zoo_tune`` stays light.

Example:
    >>> from zoo_tune import init_context, stop_context
    >>> ctx = init_context(cluster_mode="standalone", master="spark://127.0.0.1:7077",
    ...                    num_nodes=2, cores=1, memory=2 * 1024**3)  # doctest: +SKIP
    >>> ctx.ray_worker_nodes  # doctest: +SKIP
    2
    >>> stop_context()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo_tune._spark_line import refuse_connect
from zoo_tune.cluster import _gpus, _job_server_guard
from zoo_tune.cluster._common import (
    ENV_ALIAS,
    ENV_PYTHON,
    SPARK_AUTH_CONF,
    WORKER_STARTUP_INTERVAL_ENV,
    WORKER_STARTUP_INTERVAL_S,
    is_loopback,
    unreachable,
)
from zoo_tune.cluster._spark_slots import executors_registered, free_cpus
from zoo_tune.errors import InvalidInputError, MissingDependencyError

logger = logging.getLogger(__name__)

#: Seconds a TCP connect to the Spark master may take before ``init_context`` gives up.
MASTER_CONNECT_TIMEOUT_S = 5.0

#: Seconds to wait for the first Spark executor to register before giving up.
EXECUTOR_TIMEOUT_S = 90.0

#: Seconds to wait for the spare executors once the Ray nodes' ones registered.
SPARE_TIMEOUT_S = 15.0

#: Ray worker node heap memory (bytes) when ``memory`` is not given.
DEFAULT_NODE_MEMORY = 2 * 1024**3

#: Smallest object store Ray accepts (ray_constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES).
_MIN_OBJECT_STORE = 75 * 1024**2


# Ray on Spark sleeps a fixed 20 s after starting the head (cluster_init._RAY_HEAD_STARTUP_TIMEOUT,
# no setting or environment variable for it), then checks once that the head's port is open;
# and it looks at the worker count every 3 s. With this on (the default), zoo_tune makes the
# sleep 0 and the check poll the port every 0.2 s for the same 20 s, and looks every 0.5 s.
# These are private names of ray.util.spark.cluster_init: when they are not there, Ray's own
# waits stay. ZOO_TUNE_RAY_ON_SPARK_POLL=0 keeps Ray's waits.
_POLL_ENV = "ZOO_TUNE_RAY_ON_SPARK_POLL"

_LOCAL_CLUSTER = re.compile(r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]$")
_SPARK_URL = re.compile(r"^spark://(.+)$")


@dataclass
class SparkRay:
    """What :func:`start` started, for :func:`stop`.

    Attributes:
        spark: The SparkSession.
        owns_spark: Whether zoo_tune created the SparkSession (and so stops it).
        address: The Ray head's ``host:port``.
        temp_root: The root of every Ray node's temp dir (zoo_tune's own, removed on stop).
        worker_nodes: How many Ray worker nodes were asked for (None: all free slots).
        node_sizes: Per Ray worker node: ``{"CPU": .., "GPU": .., "memory": ..,
            "object_store_memory": ..}``.
        timings: Seconds spent in each start-up phase.
        token_refresher: What passes new delegation tokens to the nodes (a kerberized YARN:
            :mod:`zoo_tune.cluster._token_refresh`), stopped first by :func:`stop`.
    """

    spark: Any
    owns_spark: bool
    address: str
    temp_root: str
    worker_nodes: int | None
    node_sizes: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    token_refresher: Any = None


def parse_local_cluster(master: str) -> tuple[int, int, int] | None:
    """Return ``(workers, cores, memory_mb)`` of a ``local-cluster[N,C,M]`` master, else None.

    Example:
        >>> parse_local_cluster("local-cluster[2,1,1024]")
        (2, 1, 1024)
    """
    match = _LOCAL_CLUSTER.match(master.strip())
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def parse_standalone(master: str) -> list[tuple[str, int]]:
    """Return the ``(host, port)`` pairs of a ``spark://h1:p1[,h2:p2]`` master URL.

    Raises:
        InvalidInputError: not a ``spark://host:port`` URL.

    Example:
        >>> parse_standalone("spark://127.0.0.1:7077")
        [('127.0.0.1', 7077)]
    """
    match = _SPARK_URL.match(master.strip()) if isinstance(master, str) else None
    hosts: list[tuple[str, int]] = []
    for part in (match[1].split(",") if match else []):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            hosts = []
            break
        hosts.append((host.strip("[]"), int(port)))
    if not hosts:
        raise InvalidInputError(f"cluster_mode='standalone' needs `master` like "
                                f"'spark://host:7077', but got {master!r}.")
    return hosts


def check_master_answers(hosts: list[tuple[str, int]],
                         timeout_s: float = MASTER_CONNECT_TIMEOUT_S) -> None:
    """Raise unless at least one Spark master accepts a TCP connection within ``timeout_s``.

    Raises:
        InvalidInputError: naming every address tried and why it failed.

    Example:
        >>> check_master_answers([("127.0.0.1", 7077)])  # doctest: +SKIP
    """
    errors = unreachable(hosts, timeout_s)
    if not errors:
        return
    raise InvalidInputError(
        f"No Spark master answers at {', '.join(errors)} (tried for {timeout_s:.0f} s each). "
        f"Start one (scripts/spark-standalone.sh start) or fix `master`.")


def _venv_bin() -> str:
    return os.path.dirname(sys.executable)


def _path_with_venv() -> str:
    path = os.environ.get("PATH", "")
    venv_bin = _venv_bin()
    return path if path.split(os.pathsep)[:1] == [venv_bin] else venv_bin + os.pathsep + path


def _path_without_venv() -> str:
    venv_bin = _venv_bin()
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and p != venv_bin)


def spark_conf(master: str, *, app_name: str, cores: int, executors: int | None,
               executor_memory: str, extra: Mapping[str, str] | None = None,
               archive: str | None = None) -> dict[str, str]:
    """The Spark conf zoo_tune creates a SparkSession with (Ray on Spark's needs included).

    With ``archive`` (a packed environment, see :func:`zoo_tune.cluster.pack_env`) Spark ships
    it to every executor (``spark.archives``, unpacked as ``./environment``), and executors run
    its Python and its ``bin`` (``ray``) instead of this process's venv.

    Example:
        >>> conf = spark_conf("local-cluster[2,1,1024]", app_name="t", cores=1, executors=2,
        ...                   executor_memory="512m")
        >>> conf["spark.executor.cores"]
        '1'
    """
    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.executor.cores": str(cores),
        "spark.executor.memory": executor_memory,
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        # Ray nodes in executors run `ray start` from PATH: the venv's bin must come first.
        "spark.executorEnv.PATH": _path_with_venv(),
        f"spark.executorEnv.{WORKER_STARTUP_INTERVAL_ENV}":
            os.environ.get(WORKER_STARTUP_INTERVAL_ENV, WORKER_STARTUP_INTERVAL_S),
        "spark.ui.showConsoleProgress": "false",
        # A Ray worker node holds its task for the cluster's lifetime: never speculate on it.
        "spark.speculation": "false",
    }
    if archive is not None:

        conf.update({
            "spark.archives": f"{archive}#{ENV_ALIAS}",
            "spark.pyspark.python": ENV_PYTHON,
            "spark.executorEnv.PYSPARK_PYTHON": ENV_PYTHON,
            # The executor's working dir holds ./environment; the driver's venv stays out.
            "spark.executorEnv.PATH": f"./{ENV_ALIAS}/bin{os.pathsep}{_path_without_venv()}",
        })
    if executors is not None and master.startswith("spark://"):
        conf["spark.cores.max"] = str(cores * executors)
    conf.update(_auth_conf(master, extra or {}))
    host = master
    if master.startswith("spark://"):
        host = parse_standalone(master)[0][0]
    if master.startswith("local-cluster[") or is_loopback(host):
        # Executors on this machine reach the driver (and the Ray head) on loopback.
        conf.setdefault("spark.driver.host", "127.0.0.1")
        conf.setdefault("spark.driver.bindAddress", "127.0.0.1")
    conf.update(extra or {})
    return conf


def _auth_conf(master: str, extra: Mapping[str, str]) -> dict[str, str]:
    """Spark RPC authentication and encryption where zoo_tune has the secret.

    ``local-cluster``: a fresh random secret (its master and workers run in the driver's JVM
    with the driver's conf; executors get it from their worker, never on a command line).
    ``standalone``: the cluster's own secret is needed; when ``spark_conf`` or
    ``spark-defaults.conf`` has it, encryption is added, else a warning says the cluster's RPC
    is open (README "Security").
    """
    if master.startswith("local-cluster["):
        import secrets

        return {**SPARK_AUTH_CONF, "spark.authenticate.secret": secrets.token_hex(32)}
    if master.startswith("spark://"):
        if "spark.authenticate.secret" in extra or _spark_defaults().get(
                "spark.authenticate", "").lower() == "true":
            return dict(SPARK_AUTH_CONF)
        logger.warning(
            "The standalone cluster at %s gets no Spark RPC authentication from zoo_tune: it "
            "needs the cluster's own secret (spark.authenticate.secret in spark_conf, or "
            "spark.authenticate with the secret in spark-defaults.conf; scripts/"
            "spark-standalone.sh prints such a conf dir with `conf`).", master)
    return {}


def _spark_defaults() -> dict[str, str]:
    """``spark-defaults.conf`` of ``SPARK_CONF_DIR`` (what Spark's launcher reads), else {}."""
    conf_dir = os.environ.get("SPARK_CONF_DIR")
    if not conf_dir:
        return {}
    path = os.path.join(conf_dir, "spark-defaults.conf")
    values: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(None, 1)
                if len(parts) == 2 and not parts[0].startswith("#"):
                    values[parts[0]] = parts[1].strip()
    except OSError:
        return {}
    return values


def _import_spark() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise MissingDependencyError(
            "The Spark cluster modes need pyspark: pip install 'zoo_tune[spark]' (or "
            "pip install 'pyspark>=3.5,<5': Spark 3.5 and 4.x).") from err
    return SparkSession


def get_session(cluster_mode: str, conf: Mapping[str, str] | None) -> tuple[Any, bool]:
    """Return ``(SparkSession, created_by_us)``: the active one, or one built from ``conf``.

    ``spark-submit`` mode takes the session spark-submit configured (``getOrCreate`` with no
    settings of ours); the other modes create one, or reuse an active one on the same master.

    Raises:
        InvalidInputError: an active SparkSession runs on another master, or is a Spark Connect
            session (no SparkContext to start Ray on).

    Example:
        >>> spark, created = get_session("spark-submit", None)  # doctest: +SKIP
    """
    session_cls = _import_spark()
    active = session_cls.getActiveSession()
    if active is not None:
        refuse_connect(active, "The active SparkSession")
    if cluster_mode == "spark-submit" or conf is None:
        if active is not None:
            return active, False
        session = session_cls.builder.getOrCreate()
        refuse_connect(session, "The SparkSession spark-submit configured")
        return session, False
    if active is not None:
        if active.sparkContext.master != conf["spark.master"]:
            raise InvalidInputError(
                f"A SparkSession on master {active.sparkContext.master!r} is already active; "
                f"cluster_mode={cluster_mode!r} wants {conf['spark.master']!r}. Stop it, or "
                f"use cluster_mode='spark-submit' to run on the active session.")
        logger.info("Reusing the active SparkSession on %s.", conf["spark.master"])
        return active, False
    builder = session_cls.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    # pyspark's SparkContext takes the executors' Python from PYSPARK_PYTHON when it starts.
    # A cluster on this machine (the driver bound to loopback): the driver JVM's web UIs
    # (Spark's, and local-cluster's master and workers') listen on loopback too, not on every
    # interface (Spark binds them to SPARK_LOCAL_IP, else 0.0.0.0).
    env = {"PYSPARK_PYTHON": conf.get("spark.pyspark.python", sys.executable)}
    if conf.get("spark.driver.bindAddress") == "127.0.0.1" and "SPARK_LOCAL_IP" not in os.environ:
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return builder.getOrCreate(), True
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_for_executors(spark: Any, wanted: int, timeout_s: float = EXECUTOR_TIMEOUT_S) -> int:
    """Wait until ``wanted`` executors registered (at least one within ``timeout_s``).

    Returns:
        The number of executors registered.

    Raises:
        InvalidInputError: no executor at all after ``timeout_s`` (a master with no free
            workers would otherwise make the first Spark job wait forever).

    Example:
        >>> wait_for_executors(spark, 2)  # doctest: +SKIP
        2
    """
    deadline = time.monotonic() + timeout_s
    count = executors_registered(spark)
    while count < wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        count = executors_registered(spark)
    if count == 0:
        conf = spark.sparkContext.getConf()
        gpus = conf.get(_gpus.EXECUTOR_GPUS, None)
        gpu_note = f", {_gpus.EXECUTOR_GPUS}={gpus}" if gpus else ""
        raise InvalidInputError(
            f"No Spark executor registered with master {spark.sparkContext.master!r} within "
            f"{timeout_s:.0f} s (spark.executor.cores={conf.get('spark.executor.cores', None)}, "
            f"spark.executor.memory={conf.get('spark.executor.memory', None)}{gpu_note})"
            f". Check that the master has live workers with that many free cores and that much "
            f"free memory{' and GPUs' if gpu_note else ''}.")
    if count < wanted:
        logger.warning("Only %d of %d Spark executors registered within %.0f s; Ray worker "
                       "nodes will start on those.", count, wanted, timeout_s)
    return count


def start(spark: Any, owns_spark: bool, *, num_nodes: int | None, cores: int,
          memory: int, object_store_memory: int,
          ray_temp_root: str | None = None, spare_executors: int = 1,
          gpus: int = 0) -> SparkRay:
    """Start a Ray cluster on ``spark``: head on the driver (no CPUs), workers in executors.

    Args:
        spark: The SparkSession.
        owns_spark: Whether zoo_tune created ``spark``.
        num_nodes: Ray worker nodes (None: the slots of every executor but the spare ones).
        cores: CPUs of each Ray worker node (one Spark task of that many CPUs holds it).
        memory: Heap memory of each Ray worker node, bytes.
        object_store_memory: Object store of each Ray worker node (and of the head), bytes.
        ray_temp_root: Root of the Ray nodes' temp dirs (default: a new short dir in /tmp).
        spare_executors: Executors left to Spark's own jobs (see
            :mod:`zoo_tune.cluster._spark_slots`); waited for beside the Ray nodes' ones.
        gpus: GPUs of each Ray worker node: its Spark task asks for them and the node gets
            the addresses Spark gave it (:mod:`zoo_tune.cluster._gpus`).

    Returns:
        What to hand to :func:`stop`.

    Example:
        >>> info = start(spark, True, num_nodes=2, cores=1, memory=2**31,
        ...              object_store_memory=2**28)  # doctest: +SKIP
    """
    from ray.util import spark as ray_spark

    timings: dict[str, float] = {}
    begin = time.monotonic()
    if num_nodes is None:
        num_nodes = _nodes_beside_spare(spark, cores, spare_executors)
    else:
        _wait_for_ray_and_spare(spark, _executors_needed(spark, num_nodes, cores),
                                spare_executors)
    timings["executors_s"] = time.monotonic() - begin
    _warn_without_spare(spark, num_nodes, cores)
    # Unix socket paths of Ray nodes live under this root: keep it short (108-byte limit).
    temp_root = ray_temp_root or tempfile.mkdtemp(prefix="ztr-", dir="/tmp")
    node_sizes = {"CPU": float(cores), "GPU": float(gpus), "memory": float(memory),
                  "object_store_memory": float(object_store_memory)}
    kwargs: dict[str, Any] = {
        "max_worker_nodes": num_nodes,
        "num_cpus_worker_node": cores,
        "num_gpus_worker_node": gpus,
        "memory_worker_node": memory,
        "object_store_memory_worker_node": object_store_memory,
        "num_cpus_head_node": 0,
        "num_gpus_head_node": 0,
        "memory_head_node": 512 * 1024**2,
        "object_store_memory_head_node": object_store_memory,
        # The dashboard needs ray[default]; without it Ray waits 60 s for it to come up.
        "head_node_options": {"include_dashboard": False, "disable_usage_stats": None},
        "worker_node_options": {"disable_usage_stats": None},
        "ray_temp_root_dir": temp_root,
    }
    logger.info("Starting Ray on Spark (%s): %s", spark.sparkContext.master, kwargs)
    phase = time.monotonic()
    _job_server_guard.install(spark)
    try:
        with _poll_instead_of_fixed_waits() as polled:
            address, _remote = ray_spark.setup_ray_cluster(**kwargs)
    except BaseException:
        _job_server_guard.uninstall()
        shutil.rmtree(temp_root, ignore_errors=True)
        raise
    timings["setup_ray_cluster_s"] = time.monotonic() - phase
    timings.update(polled)
    logger.info("setup_ray_cluster took %.1f s (%s)", timings["setup_ray_cluster_s"],
                "head polled" if polled else "Ray's fixed 20 s head wait")
    return SparkRay(spark, owns_spark, address, temp_root, num_nodes, node_sizes, timings)


@contextlib.contextmanager
def _poll_instead_of_fixed_waits() -> Iterator[dict[str, float]]:
    """Within: Ray on Spark polls for its head instead of sleeping 20 s (see ``_POLL_ENV``).

    Yields a dict that gets ``ray_head_s`` (seconds until the head's port answered) when the
    polling is on, and stays empty when Ray's own fixed waits run.
    """
    from ray.util.spark import cluster_init

    names = ("_RAY_HEAD_STARTUP_TIMEOUT", "is_port_in_use",
             "_RAY_CLUSTER_STARTUP_PROGRESS_CHECKING_INTERVAL")
    saved = {name: getattr(cluster_init, name, None) for name in names}
    usable = (isinstance(saved["_RAY_HEAD_STARTUP_TIMEOUT"], (int, float))
              and callable(saved["is_port_in_use"])
              and isinstance(saved["_RAY_CLUSTER_STARTUP_PROGRESS_CHECKING_INTERVAL"],
                             (int, float)))
    found: dict[str, float] = {}
    if os.environ.get(_POLL_ENV, "1") == "0" or not usable:
        yield found
        return
    bound, port_open = float(saved["_RAY_HEAD_STARTUP_TIMEOUT"]), saved["is_port_in_use"]

    def head_port_open(host: str, port: int) -> bool:
        start = time.monotonic()
        while not port_open(host, port):
            if time.monotonic() - start >= bound:
                return False
            time.sleep(0.2)
        found["ray_head_s"] = time.monotonic() - start
        logger.info("Ray head answered on %s:%d after %.1f s", host, port, found["ray_head_s"])
        return True

    cluster_init._RAY_HEAD_STARTUP_TIMEOUT = 0
    cluster_init.is_port_in_use = head_port_open
    cluster_init._RAY_CLUSTER_STARTUP_PROGRESS_CHECKING_INTERVAL = 0.5
    try:
        yield found
    finally:
        for name, value in saved.items():
            setattr(cluster_init, name, value)


def _wait_for_ray_and_spare(spark: Any, needed: int, spare: int) -> None:
    """Wait for the Ray nodes' executors (:data:`EXECUTOR_TIMEOUT_S`), then at most
    :data:`SPARE_TIMEOUT_S` more for the spare ones (and any others the settings ask for): a
    cluster without cores for them is not kept waiting long (``_warn_without_spare`` then
    says what Spark's jobs will meet)."""
    expected = _expected_executors(spark)  # never wait for executors that cannot come

    def capped(wanted: int) -> int:
        return wanted if expected is None else max(1, min(wanted, expected))

    count = wait_for_executors(spark, capped(needed))
    # The spare ones, and any more the settings ask for (wider executors hold several nodes).
    rest = max(capped(needed + spare), expected or 0)
    if count >= capped(needed) and rest > count:
        wait_for_executors(spark, rest, timeout_s=SPARE_TIMEOUT_S)


def _expected_executors(spark: Any) -> int | None:
    """Executors the session's settings ask for, when they say (YARN instances, cores.max,
    a local-cluster master's workers)."""
    conf = spark.sparkContext.getConf()
    local = parse_local_cluster(spark.sparkContext.master)
    if local is not None:
        per_executor = int(conf.get("spark.executor.cores", "1") or 1)
        return local[0] * max(1, local[1] // max(1, per_executor))
    instances = conf.get("spark.executor.instances", None)
    if instances and instances.isdigit():
        return int(instances)
    cores_max, cores = conf.get("spark.cores.max", None), conf.get("spark.executor.cores", None)
    if cores_max and cores and cores_max.isdigit() and cores.isdigit() and int(cores) > 0:
        return int(cores_max) // int(cores)
    return None


def _nodes_beside_spare(spark: Any, cores: int, spare: int,
                        settle_s: float = 3.0) -> int:
    """Ray nodes for ``num_nodes=None``: every executor's slots but the ``spare`` ones'.

    Waits for the executors the settings ask for (else until the count held ``settle_s``).
    """
    expected = _expected_executors(spark)
    count = wait_for_executors(spark, expected or 1)
    if expected is None:
        stable_since = time.monotonic()
        deadline = stable_since + EXECUTOR_TIMEOUT_S
        while time.monotonic() - stable_since < settle_s and time.monotonic() < deadline:
            time.sleep(0.2)
            now = executors_registered(spark)
            if now != count:
                count, stable_since = now, time.monotonic()
    slots = _slots_per_executor(spark, cores)
    nodes = (count - spare) * slots
    if nodes < 1:
        logger.warning("%d executor(s) registered and %d are to be spare for Spark's jobs: "
                       "starting one Ray node per executor slot instead (%d).", count, spare,
                       count * slots)
        nodes = count * slots
    logger.info("num_nodes not given: %d Ray node(s) of %d CPU(s) on %d executor(s), %d spare",
                nodes, cores, count, spare)
    return nodes


def _warn_without_spare(spark: Any, num_nodes: int, cores: int) -> None:
    """Warn when the Ray nodes will hold every executor core (Spark's jobs would starve)."""
    conf = spark.sparkContext.getConf()
    per_executor = conf.get("spark.executor.cores", None)
    if per_executor is None or not per_executor.isdigit():
        return
    executors = executors_registered(spark)  # after the wait for the spare ones
    left = free_cpus(executors=executors, executor_cores=int(per_executor),
                     ray_nodes=num_nodes, node_cpus=cores)
    if left < int(conf.get("spark.task.cpus", "1")):
        logger.warning(
            "%d Ray node(s) of %d CPU(s) will hold all %d executor(s) of %s core(s): no Spark "
            "job of this application (a DataFrame given to fit, your own spark.read) can get "
            "a task slot until stop_context. Give Spark a spare executor (spare_executors=1, "
            "with cluster cores for it) or lower num_nodes.", num_nodes, cores, executors,
            per_executor)


def _slots_per_executor(spark: Any, cores: int) -> int:
    """Ray nodes of ``cores`` CPUs one executor holds (``spark.executor.cores // cores``)."""
    per_executor = int(spark.sparkContext.getConf().get("spark.executor.cores", str(cores)))
    return max(1, per_executor // max(1, cores))


def _executors_needed(spark: Any, num_nodes: int, cores: int) -> int:
    return -(-num_nodes // _slots_per_executor(spark, cores))


def ray_node_processes(temp_root: str) -> list[Any]:
    """Live processes of Ray nodes whose command line names ``temp_root``.

    Example:
        >>> ray_node_processes("/tmp/ztr-abc")  # doctest: +SKIP
        []
    """
    try:
        import psutil
    except ImportError:
        return []
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_root in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.Error, TypeError):
            continue
    return found


def stop(info: SparkRay, timeout_s: float = 30.0) -> None:
    """Shut Ray on Spark down, stop the SparkSession if zoo_tune made it, wait for the nodes.

    Ray nodes in executors exit once their Spark job is cancelled (the task's Python worker is
    killed and the node's watchdog sees its parent die); this waits up to ``timeout_s`` for every
    process under the cluster's temp root to exit, then kills what is left.

    Example:
        >>> stop(info)  # doctest: +SKIP
    """
    import ray
    from ray.util import spark as ray_spark

    if info.token_refresher is not None:
        info.token_refresher.stop()
    if ray.is_initialized():
        ray.shutdown()
    try:
        ray_spark.shutdown_ray_cluster()
    except RuntimeError as err:  # none active: it failed to start, or someone shut it down
        logger.debug("shutdown_ray_cluster: %s", err)
    _job_server_guard.uninstall()
    if info.owns_spark:
        info.spark.stop()
        _stop_gateway(info.spark)
    deadline = time.monotonic() + timeout_s
    left = ray_node_processes(info.temp_root)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = ray_node_processes(info.temp_root)
    for proc in left:
        logger.warning("Killing Ray process %d left after %.0f s: %s", proc.pid, timeout_s,
                       " ".join(proc.info["cmdline"] or ())[:200])
        try:
            proc.kill()
        except Exception:  # noqa: BLE001 - it may have exited meanwhile
            pass
    shutil.rmtree(info.temp_root, ignore_errors=True)


def _stop_gateway(spark: Any) -> None:
    """End the driver JVM that pyspark launched for this process.

    ``SparkSession.stop`` leaves pyspark's gateway JVM running until Python exits; that JVM
    exits on EOF of its stdin (``PythonGatewayServer``). Only called when zoo_tune created the
    session; a gateway that spark-submit started (no ``proc``) is left alone.
    """
    context_cls = type(spark.sparkContext)
    gateway = getattr(context_cls, "_gateway", None)
    proc = getattr(gateway, "proc", None)
    if gateway is None or proc is None:
        return
    try:
        gateway.shutdown()
    except Exception as err:  # noqa: BLE001 - best effort: the JVM may be gone already
        logger.debug("py4j gateway shutdown: %s", err)
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=15)
    except Exception:  # noqa: BLE001 - it did not exit on EOF: end it
        proc.kill()
    context_cls._gateway = None
    context_cls._jvm = None
