"""``init_context`` / ``stop_context``: one process-wide Ray connection, started or joined.

``init_context`` only validates its arguments (before any cluster work) and dispatches to
the mode's launcher (:mod:`zoo_tune.cluster._modes` lists them); ``stop_context`` hands the
context back to the same launcher.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo_tune._spark_line import check_raydp_line
from zoo_tune.cluster import _auth, _gpus
from zoo_tune.cluster._memory import jvm_size, parse_memory
from zoo_tune.cluster._modes import (
    CLUSTER_MODES,
    SPARK_MODES,
    YARN_MODES,
    Launched,
    launcher,
)
from zoo_tune.errors import InvalidInputError, InvalidTypeError, unknown_choice

__all__ = ["CLUSTER_MODES", "SPARK_MODES", "YARN_MODES", "ClusterContext", "current_context",
           "ensure_ray", "init_context", "stop_context"]

logger = logging.getLogger(__name__)


@dataclass
class ClusterContext:
    """The cluster zoo_tune is working on.

    Attributes:
        cluster_mode: One of :data:`CLUSTER_MODES`.
        settings: The arguments ``init_context`` was called with.
        started_ray: Whether zoo_tune started Ray (and so stops it in ``stop_context``).
        startup_s: Seconds ``init_context`` took.
        ray_address: The Ray head's ``host:port`` (Spark modes) or the ``address`` joined.
        ray_worker_nodes: Alive Ray worker nodes when ``init_context`` returned (Spark modes).
        spark_master: The Spark master (Spark modes).
        archive: The Python environment archive executors run (``archive=``, YARN modes).
        spark: The SparkSession (Spark modes and ``raydp``), e.g. to build DataFrames.
        owns_spark: Whether zoo_tune created the SparkSession (and so stops it).
        auth_token_file: The ``0600`` file holding the Ray cluster's authentication token
            (a fresh one per cluster zoo_tune starts; ``None`` when ``ray_auth=False`` or when
            joining a running cluster). A client process gets in with
            ``RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=<file>``. ``stop_context`` deletes it.
        timings: Seconds per start-up phase (Spark modes: ``spark_session_s``,
            ``executors_s``, ``setup_ray_cluster_s`` (of which ``ray_head_s``: until the Ray
            head answered, polled instead of Ray's fixed 20 s sleep), ``connect_s``;
            ``yarn-client`` packing the venv: ``pack_s``; ``raydp``: ``ray_s``,
            ``raydp_init_spark_s``).
    """

    cluster_mode: str
    settings: dict[str, Any] = field(default_factory=dict)
    started_ray: bool = False
    startup_s: float = 0.0
    ray_address: str | None = None
    ray_worker_nodes: int = 0
    spark_master: str | None = None
    archive: str | None = None
    spark: Any = field(default=None, repr=False, compare=False)
    owns_spark: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    auth_token_file: str | None = None
    _ray_auth: _auth.ClusterAuth | None = field(default=None, repr=False, compare=False)
    _kerberos_env: dict[str, str | None] = field(default_factory=dict, repr=False,
                                                 compare=False)
    _spark_ray: Any = field(default=None, repr=False, compare=False)
    _launched: Launched | None = field(default=None, repr=False, compare=False)


_CONTEXT: ClusterContext | None = None


def current_context() -> ClusterContext | None:
    """Return the active :class:`ClusterContext`, or ``None``."""
    return _CONTEXT


def _check_positive_int(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"`{name}` must be a positive int, but got {value!r}.")
    if value < 1:
        raise InvalidInputError(f"`{name}` must be >= 1, but got {value!r}.")


def _check_count(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"`{name}` must be an int >= 0, but got {value!r}.")
    if value < 0:
        raise InvalidInputError(f"`{name}` must be >= 0, but got {value!r}.")


class _ContextHandle(ClusterContext):
    """What ``init_context`` returns: usable as ``with init_context(...):``."""

    def __enter__(self) -> ClusterContext:
        return self

    def __exit__(self, *exc: object) -> None:
        stop_context()


def init_context(
    cluster_mode: str = "local",
    *,
    cores: int | None = None,
    gpus: int | None = None,
    memory: int | str | None = None,
    object_store_memory: int | str | None = None,
    address: str | None = None,
    master: str | None = None,
    num_nodes: int | None = None,
    executor_memory: int | str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    app_name: str | None = None,
    archive: str | None = None,
    spare_executors: int | None = None,
    ray_auth: bool | None = None,
    principal: str | None = None,
    keytab: str | None = None,
    **ray_init_kwargs: Any,
) -> ClusterContext:
    """Start (or join) the cluster trials run on.

    Args:
        cluster_mode: One of :data:`CLUSTER_MODES`: ``"local"`` (Ray on this machine), ``"ray"``
            (an existing cluster at ``address``), or a Spark mode (``"standalone"``,
            ``"local-cluster"``, ``"spark-submit"``, ``"yarn-client"``, ``"yarn-cluster"``: Ray
            worker nodes inside Spark executors, a Ray head with no trial CPUs on the driver).
            The YARN modes need ``HADOOP_CONF_DIR`` (or ``YARN_CONF_DIR``) with yarn-site.xml;
            ``yarn-cluster`` runs only inside a script launched by ``scripts/zoo-tune-submit
            --master yarn --deploy-mode cluster``, and so does ``yarn-client`` when spark-submit
            started the driver (otherwise it creates the YARN session itself). ``"raydp"``:
            Spark on Ray (RayDP): Ray here (or at ``address``), Spark executors as Ray actors,
            the SparkSession at ``ctx.spark``; trials run on that Ray.
        cores: ``local``: CPUs Ray may use (default: all). Spark modes: CPUs of each Ray worker
            node, and ``spark.executor.cores`` (default 1; ``spark-submit``: its
            ``spark.executor.cores``, else 1). ``raydp``: cores of each Spark executor
            (default 1).
        gpus: GPUs of each Ray worker node, like ``cores`` (see :mod:`zoo_tune.cluster._gpus`).
            ``local``: Ray's ``num_gpus`` (default: the GPUs Ray finds). Spark modes: each
            executor asks Spark for them (``spark.executor.resource.gpu.amount``; on YARN
            ``yarn.io/gpu``) and each Ray node's task gets its own (Ray sets the node's
            ``CUDA_VISIBLE_DEVICES`` to them); default: what the executors have
            (``spark.executor.resource.gpu.amount`` in ``spark_conf`` or spark-submit's), 0
            where none. A trial asks for them with ``resources_per_trial={"gpu": 1}`` (or
            ``0.5`` to share one). Not for ``ray`` and ``raydp``, whose Ray has its own.
        memory: ``local``, ``raydp``: heap memory for Ray's scheduler (when zoo_tune starts
            Ray). Spark modes: heap of each Ray worker node (default 2 GiB). Every memory
            setting is an int of bytes or a size string like ``"512m"``, ``"2g"``, ``"1.5g"``
            (:mod:`zoo_tune.cluster._memory`).
        object_store_memory: Ray's object store (Spark modes: per Ray node; default a
            quarter of ``memory``, at least 128 MiB).
        address: The Ray cluster to join (``ray``; optional for ``raydp``).
        master: ``standalone``: ``"spark://host:port"`` (required). ``local-cluster``:
            ``"local-cluster[N,C,M]"`` (default built from ``num_nodes``, ``cores``,
            ``executor_memory``).
        num_nodes: Spark modes: Ray worker nodes to start, each holding one executor's
            ``cores`` CPUs (default: 2 where zoo_tune sizes the executors (``local-cluster``
            without ``master``, ``yarn-client``), else every executor's slots but the spare
            executors'). ``raydp``: Spark executors (default 1).
        executor_memory: Spark modes that create the session: ``spark.executor.memory``
            (the executor JVM's heap; Ray nodes live outside it), given to Spark in whole MiB.
            Default ``"1g"`` (``local-cluster``: M megabytes).
        spark_conf: More Spark settings for the session zoo_tune creates (``standalone``,
            ``local-cluster``, ``yarn-client``, ``raydp``); they win over zoo_tune's (``raydp``:
            ``*.extraJavaOptions`` are appended to the Java 17 options).
        app_name: The Spark application name (default ``"zoo_tune"``).
        archive: A Python environment ``.tar.gz`` (:func:`zoo_tune.cluster.pack_env`, venv-pack,
            conda-pack; a local path or an ``hdfs://`` URI) that executors unpack as
            ``./environment`` and run instead of a Python installed on the nodes. ``yarn-client``:
            default packs this venv (cached in ``~/.cache/zoo_tune/envs``). ``standalone``,
            ``local-cluster``: optional (default: executors run this venv's Python by path).
        spare_executors: Spark modes: executors beyond the Ray nodes, left to Spark's own
            jobs (reading a DataFrame in ``fit``, staging it, your ``spark.read``): a Ray node
            holds its executor's task slots for its life, so with none to spare every Spark
            job of the application would wait forever. Default 1: zoo_tune asks for
            ``num_nodes + 1`` executors (``spark.cores.max``, ``spark.executor.instances``,
            ``local-cluster[N+1,..]``). 0 gives every executor to Ray; zoo_tune's own Spark
            jobs then fail at once with ``NoSparkSlotError``.
        ray_auth: Ray token authentication of the cluster zoo_tune starts (every mode but
            ``ray``, and ``raydp`` with ``address``). Default on: a fresh random token in a
            ``0600`` file (``ctx.auth_token_file``), given to the head and to every executor's
            Ray node; clients without it are refused. ``False`` turns it off, with a warning
            (anyone who reaches the cluster's ports could then run code as you).
            ``RAY_AUTH_MODE`` in the environment does not turn it off. Joining
            (``cluster_mode="ray"``) uses your token: ``RAY_AUTH_TOKEN`` or
            ``RAY_AUTH_TOKEN_PATH``.
        principal: Kerberos principal (``"alice@REALM"``) for a Kerberos-secured HDFS (and
            YARN), with ``keytab``: every ``hdfs://`` client of zoo_tune in this process and
            in trials on this machine logs in from the keytab; ``yarn-client`` also gives
            Spark ``spark.kerberos.principal``/``keytab``, so YARN hands the containers
            delegation tokens, which trials there write with. Without them, a ``kinit`` ticket
            cache is used; none at all: ``fit`` / ``AutoEstimator.load`` on a kerberized
            ``hdfs://`` stop before any trial with ``KerberosRequiredError``. Submitted jobs
            take ``scripts/zoo-tune-submit --principal --keytab`` instead.
        keytab: The keytab file of ``principal`` (readable by you only).
        **ray_init_kwargs: Passed on to ``ray.init``.

    Returns:
        The active context; ``with init_context(...):`` stops it on exit.

    Raises:
        InvalidInputError: unknown ``cluster_mode``, a setting that does not belong to it, a
            Spark master (or YARN ResourceManager) that does not answer within 5 s, no Spark
            executor within 90 s, YARN mode without ``HADOOP_CONF_DIR``, or a second call with
            different settings while a context is active.
        MissingDependencyError: a Spark mode without pyspark installed.

    Example:
        >>> with init_context(cluster_mode="local", cores=2):  # doctest: +SKIP
        ...     AutoEstimator.from_torch(...).fit(...)
        >>> ctx = init_context(cluster_mode="standalone", master="spark://127.0.0.1:7077",
        ...                    num_nodes=2, cores=1)  # doctest: +SKIP
        >>> ctx.ray_worker_nodes, round(ctx.startup_s)  # doctest: +SKIP
        (2, 37)
    """
    global _CONTEXT
    if not isinstance(cluster_mode, str) or cluster_mode not in CLUSTER_MODES:
        raise unknown_choice("cluster_mode", cluster_mode, CLUSTER_MODES)
    _check_positive_int("cores", cores)
    _gpus.check_gpus(gpus)
    _check_positive_int("num_nodes", num_nodes)
    _check_count("spare_executors", spare_executors)
    from zoo_tune.storage import _kerberos

    _kerberos.check_credentials(principal, keytab)
    joins = cluster_mode == "ray" or (cluster_mode == "raydp" and bool(address))
    if ray_auth is not None and not isinstance(ray_auth, bool):
        raise InvalidTypeError(f"`ray_auth` must be True or False, but got {ray_auth!r}.")
    if ray_auth is not None and joins:
        raise InvalidInputError(
            f"`ray_auth` applies to a Ray cluster zoo_tune starts; cluster_mode={cluster_mode!r} "
            f"with `address` joins a running one with your token (RAY_AUTH_TOKEN or "
            f"RAY_AUTH_TOKEN_PATH).")
    if gpus is not None and cluster_mode in ("ray", "raydp"):
        raise InvalidInputError(
            f"`gpus` applies to the Ray cluster zoo_tune starts in cluster_mode 'local' or a "
            f"Spark mode; cluster_mode={cluster_mode!r} uses its Ray's own GPUs (raydp: pass "
            f"num_gpus=... on to ray.init).")
    if gpus is not None and "num_gpus" in ray_init_kwargs:
        raise InvalidInputError(f"Give the GPUs once: `gpus` or `num_gpus`, not both (got "
                                f"gpus={gpus!r}, num_gpus={ray_init_kwargs['num_gpus']!r}).")
    # One parser for every memory setting: int bytes or "512m" / "2g" / "1.5g".
    memory = None if memory is None else parse_memory("memory", memory)
    if object_store_memory is not None:
        object_store_memory = parse_memory("object_store_memory", object_store_memory)
    if cluster_mode == "ray" and not address:
        raise InvalidInputError("cluster_mode='ray' needs `address` (e.g. 'auto' or "
                                "'ray://head:10001').")
    if cluster_mode not in ("ray", "raydp") and address:
        raise InvalidInputError(f"`address` belongs to cluster_mode='ray' (and 'raydp'); "
                                f"cluster_mode={cluster_mode!r} starts its own Ray.")
    _check_spark_settings(cluster_mode, master, num_nodes, executor_memory, spark_conf,
                          app_name, archive, spare_executors)
    if executor_memory is not None:  # as Spark takes it: whole MiB ("1.5g" -> "1536m")
        executor_memory = jvm_size(parse_memory("executor_memory", executor_memory))
    settings = {"cores": cores, "gpus": gpus, "memory": memory,
                "object_store_memory": object_store_memory, "address": address,
                "ray_auth": ray_auth, "principal": principal, "keytab": keytab,
                **ray_init_kwargs}
    if cluster_mode in SPARK_MODES:
        settings.update(master=master, num_nodes=num_nodes, executor_memory=executor_memory,
                        spark_conf=dict(spark_conf or {}), app_name=app_name, archive=archive,
                        spare_executors=spare_executors)
    elif cluster_mode == "raydp":
        settings.update(num_nodes=num_nodes, executor_memory=executor_memory,
                        spark_conf=dict(spark_conf or {}), app_name=app_name)
    if _CONTEXT is not None:
        if (_CONTEXT.cluster_mode, _CONTEXT.settings) == (cluster_mode, settings):
            return _CONTEXT
        raise InvalidInputError(
            f"init_context was already called with cluster_mode={_CONTEXT.cluster_mode!r} and "
            f"settings {_CONTEXT.settings}; call stop_context() before starting another "
            f"(cluster_mode={cluster_mode!r}, settings {settings}).")
    start = time.monotonic()
    auth = _open_auth(joins, ray_auth)
    credentials = _kerberos.use_credentials(principal, keytab)
    try:
        launched = launcher(cluster_mode).start(cluster_mode, settings, ray_init_kwargs)
    except BaseException:
        auth.close()
        _kerberos.restore(credentials)
        raise
    if not launched.started_ray:  # a Ray connection this process already had: not ours
        auth.close()
    ctx = _ContextHandle(cluster_mode=cluster_mode, settings=settings,
                         started_ray=launched.started_ray, ray_address=launched.ray_address,
                         ray_worker_nodes=launched.ray_worker_nodes,
                         spark_master=launched.spark_master, archive=launched.archive,
                         spark=launched.spark, owns_spark=launched.owns_spark,
                         timings=launched.timings, auth_token_file=auth.token_file,
                         _ray_auth=auth, _kerberos_env=credentials,
                         _spark_ray=launched.handle, _launched=launched)
    ctx.startup_s = time.monotonic() - start
    _CONTEXT = ctx
    if cluster_mode in SPARK_MODES:
        _stop_at_exit()
    logger.info("zoo_tune context %r ready in %.1f s %s", cluster_mode, ctx.startup_s,
                {k: round(v, 1) for k, v in ctx.timings.items()})
    return _CONTEXT


def _open_auth(joins: bool, ray_auth: bool | None) -> _auth.ClusterAuth:
    """The token setup for a cluster zoo_tune starts, or the caller's token for one it joins
    (nothing when this process is already connected to Ray: that connection is used)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return _auth.ClusterAuth()
    if joins:
        return _auth.join_auth()
    return _auth.open_auth(ray_auth is not False)


def _check_spark_settings(cluster_mode: str, master: str | None, num_nodes: int | None,
                          executor_memory: str | None, spark_conf: Mapping[str, str] | None,
                          app_name: str | None, archive: str | None = None,
                          spare_executors: int | None = None) -> None:
    """Reject Spark settings outside the Spark modes, and malformed ones, before any work."""
    from zoo_tune.cluster import _spark, _yarn

    given = {"master": master, "num_nodes": num_nodes, "executor_memory": executor_memory,
             "spark_conf": spark_conf, "app_name": app_name, "archive": archive,
             "spare_executors": spare_executors}
    if cluster_mode == "raydp":
        stray = sorted(k for k in ("master", "archive", "spare_executors")
                       if given[k] is not None)
        if stray:
            raise InvalidInputError(f"{stray} do not apply to cluster_mode='raydp' (Spark runs "
                                    f"inside Ray: its executors are Ray actors).")
        check_raydp_line()
    elif cluster_mode not in SPARK_MODES:
        stray = sorted(k for k, v in given.items() if v is not None)
        if stray:
            raise InvalidInputError(f"{stray} belong to the Spark cluster modes "
                                    f"{list(SPARK_MODES)}, not cluster_mode={cluster_mode!r}.")
        return
    if spark_conf is not None and not isinstance(spark_conf, Mapping):
        raise InvalidTypeError(f"`spark_conf` must be a dict of Spark settings, but got "
                               f"{type(spark_conf).__name__}.")
    if app_name is not None and not isinstance(app_name, str):
        raise InvalidTypeError(f"`app_name` must be a str, but got {app_name!r}.")
    if cluster_mode == "raydp":
        return
    submitted = cluster_mode == "spark-submit" or (
        cluster_mode in YARN_MODES and _yarn.launched_by_spark_submit())
    if cluster_mode in YARN_MODES:
        if cluster_mode == "yarn-cluster" and not submitted:
            raise InvalidInputError(
                "cluster_mode='yarn-cluster' runs the driver inside a YARN container, which only "
                "spark-submit can start: launch this script with scripts/zoo-tune-submit "
                "--master yarn --deploy-mode cluster SCRIPT (or use cluster_mode='yarn-client' "
                "to keep the driver here).")
        if master is not None:
            raise InvalidInputError(
                f"cluster_mode={cluster_mode!r} takes no `master` (it is 'yarn'; the cluster is "
                f"the one HADOOP_CONF_DIR describes), but got {master!r}.")
        if not _yarn.in_yarn_container():  # a container's driver got its conf from YARN
            _yarn.hadoop_conf_dir()
    if submitted:
        stray = sorted(k for k in ("master", "executor_memory", "spark_conf", "archive")
                       if given[k] is not None)
        if stray:
            raise InvalidInputError(
                f"cluster_mode={cluster_mode!r} runs on the SparkSession spark-submit configured; "
                f"{stray} are set there (spark-submit or scripts/zoo-tune-submit --master/"
                f"--executor-memory/--conf/--archive), not in init_context.")
    if archive is not None and not submitted:
        _yarn.archive_uri(archive)
    if cluster_mode == "standalone":
        if master is None:
            raise InvalidInputError("cluster_mode='standalone' needs `master` like "
                                    "'spark://host:7077'.")
        _spark.parse_standalone(master)
    elif master is not None and (not isinstance(master, str)
                                 or _spark.parse_local_cluster(master) is None):
        raise InvalidInputError(f"cluster_mode='local-cluster' takes `master` like "
                                f"'local-cluster[2,1,1024]' (workers, cores, MB each), but got "
                                f"{master!r}.")


_AT_EXIT = False


def _stop_at_exit() -> None:
    """Stop a Ray on Spark context when the interpreter exits, even after an uncaught error.

    Ray on Spark leaves a non-daemon thread on the driver (it copies the Ray head's log), and
    Python joins such threads before ``atexit`` handlers run: a script that raised, or ended
    without ``stop_context``, would wait for it forever. ``threading._register_atexit`` runs
    before that join (``concurrent.futures`` uses it); where it is missing, ``atexit`` is used.
    """
    global _AT_EXIT
    if _AT_EXIT:
        return
    import atexit
    import threading

    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError("no threading._register_atexit")
        register(_stop_quietly)
    except RuntimeError:  # interpreter already shutting down, or no such hook
        atexit.register(_stop_quietly)
    _AT_EXIT = True


def _stop_quietly() -> None:
    if _CONTEXT is None:
        return
    logger.warning("The process is exiting with a zoo_tune context on Spark still active: "
                   "stopping it (call stop_context(), or use `with init_context(...):`).")
    try:
        stop_context()
    except Exception:  # noqa: BLE001 - exiting anyway: say what failed, do not hide the exit
        logger.exception("stop_context at exit failed")


def ensure_ray() -> ClusterContext:
    """Return the active context, starting local Ray if nothing is running yet."""
    if _CONTEXT is not None:
        return _CONTEXT
    logger.info("No init_context: using local Ray (this process's, or a new one with this "
                "machine's CPUs).")
    return init_context("local")


def stop_context() -> None:
    """Stop what ``init_context`` started; a no-op when nothing is active.

    Spark modes: shuts the Ray cluster on Spark down (head and executor-side worker nodes,
    waiting until their processes exit), disconnects this process, and stops the SparkSession
    and its driver JVM when zoo_tune created them. ``raydp``: ``raydp.stop_spark()`` (the
    executor actors and RayDP's app master), the driver JVM, then Ray if zoo_tune started it.

    Example:
        >>> stop_context()  # doctest: +SKIP
    """
    global _CONTEXT
    if _CONTEXT is None:
        return
    ctx, _CONTEXT = _CONTEXT, None
    try:
        if ctx._launched is not None:
            launcher(ctx.cluster_mode).stop(ctx._launched)
    finally:
        if ctx._ray_auth is not None:
            ctx._ray_auth.close()
        from zoo_tune.storage import _kerberos

        _kerberos.restore(ctx._kerberos_env)
