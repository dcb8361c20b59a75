"""Spark task slots beside Ray: what is left to Spark's own jobs, and a bounded wait for one.

Ray on Spark holds one Spark task for the life of each Ray worker node. A Ray node of
``cores`` CPUs fills an executor of ``cores`` cores, so when every executor holds a Ray node,
no Spark job of the application (reading a DataFrame, ``fit``'s staging, the user's own
``spark.read.parquet``) ever gets a slot, and waits forever. zoo_tune therefore starts
``spare_executors`` (default 1) executors more than Ray nodes: Ray nodes fill the others whole
(one per executor, so placement is exact), and the spare ones run Spark's jobs.

:func:`free_cpus` does that arithmetic for a running context, and
:func:`bounded_spark_jobs` runs zoo_tune's own Spark jobs under a watchdog: a job whose tasks
make no progress (none running, none finishing) for ``timeout_s`` is cancelled, and the error
says why and what to change, instead of a silent hang.

Example:
    >>> free_cpus(executors=3, executor_cores=1, ray_nodes=2, node_cpus=1)
    1
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from zoo_tune.errors import InvalidInputError

logger = logging.getLogger(__name__)

#: Seconds a Spark job of zoo_tune's may go without any task running or finishing.
SLOT_WAIT_S = 60.0
#: Environment variable that overrides :data:`SLOT_WAIT_S`.
SLOT_WAIT_ENV = "ZOO_TUNE_SPARK_SLOT_WAIT_S"

_FIX = ("Leave Spark an executor beside the Ray nodes: init_context(..., spare_executors=1) "
        "(the default) on a cluster with cores for num_nodes + 1 executors, or a smaller "
        "`num_nodes`; with scripts/zoo-tune-submit, --spare-executors 1 (or more "
        "spark.cores.max / --num-executors than Ray nodes).")


class NoSparkSlotError(InvalidInputError):
    """A Spark job of the application cannot get a task slot: Ray nodes hold them all."""


def free_cpus(*, executors: int, executor_cores: int, ray_nodes: int, node_cpus: float) -> int:
    """Executor cores left to Spark's tasks once each Ray worker node holds its own.

    Example:
        >>> free_cpus(executors=2, executor_cores=1, ray_nodes=2, node_cpus=1)
        0
    """
    return int(executors * executor_cores - ray_nodes * node_cpus)


def slot_wait_s() -> float:
    """The watchdog's bound: ``ZOO_TUNE_SPARK_SLOT_WAIT_S`` or :data:`SLOT_WAIT_S`.

    Example:
        >>> slot_wait_s() > 0
        True
    """
    raw = os.environ.get(SLOT_WAIT_ENV)
    try:
        value = float(raw) if raw else SLOT_WAIT_S
    except ValueError as err:
        raise InvalidInputError(f"{SLOT_WAIT_ENV}={raw!r} is not a number of seconds.") from err
    if value <= 0:
        raise InvalidInputError(f"{SLOT_WAIT_ENV} must be > 0 seconds, but is {raw!r}.")
    return value


def executors_registered(spark: Any) -> int:
    """Executors registered with the driver now (the driver itself not counted).

    Example:
        >>> executors_registered(spark)  # doctest: +SKIP
        3
    """
    infos = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    return max(0, len(infos) - 1)


def check_free_slot(spark: Any, what: str, *, ray_nodes: int, node_cpus: float) -> None:
    """Raise at once when ``ray_nodes`` Ray nodes on ``spark`` hold every executor core.

    Needs a known ``spark.executor.cores``; otherwise :func:`bounded_spark_jobs` only watches.

    Raises:
        NoSparkSlotError: naming the executors, the Ray nodes and what to change.

    Example:
        >>> check_free_slot(spark, "reading `data`", ray_nodes=2, node_cpus=1)  # doctest: +SKIP
    """
    conf = spark.sparkContext.getConf()
    cores = conf.get("spark.executor.cores", None)
    if cores is None or not cores.isdigit():
        return
    executors = executors_registered(spark)
    task_cpus = int(conf.get("spark.task.cpus", "1"))
    left = free_cpus(executors=executors, executor_cores=int(cores), ray_nodes=ray_nodes,
                     node_cpus=node_cpus)
    if left < task_cpus:
        raise NoSparkSlotError(
            f"Spark has no task slot for {what}: its {executors} executor(s) of {cores} "
            f"core(s) are all held by the {ray_nodes} Ray worker node(s) of "
            f"{node_cpus:g} CPU(s) (a Ray node holds its Spark task for its life), so the job "
            f"would wait forever. {_FIX}")


def _progress(tracker: Any, job_id: int) -> tuple[int, int] | None:
    """``(running, finished)`` tasks of a running job, or None once it is not running."""
    job = tracker.getJobInfo(job_id)
    if job is None or job.status not in ("RUNNING", "UNKNOWN"):
        return None
    running = finished = 0
    for stage_id in job.stageIds:
        stage = tracker.getStageInfo(stage_id)
        if stage is not None:
            running += stage.numActiveTasks
            finished += stage.numCompletedTasks + stage.numFailedTasks
    return running, finished


@contextlib.contextmanager
def bounded_spark_jobs(spark: Any, what: str, timeout_s: float | None = None, *,
                       ray_nodes: int | None = None,
                       node_cpus: float = 1.0) -> Iterator[None]:
    """Run the Spark jobs started inside under a watchdog; a starved job becomes an error.

    With ``ray_nodes`` (the Ray nodes of ``node_cpus`` CPUs zoo_tune started on ``spark``),
    :func:`check_free_slot` first raises at once when they hold every core. The jobs run in
    a job group of their own (the caller's group is restored after). A job with no task
    running and no task finishing for ``timeout_s`` (default :func:`slot_wait_s`) has no
    slot to run in: the group is cancelled and :class:`NoSparkSlotError` is raised. A long
    job whose tasks run is never interrupted.

    Raises:
        NoSparkSlotError: a job waited ``timeout_s`` for a slot, naming ``what`` and the fix.

    Example:
        >>> with bounded_spark_jobs(spark, "counting `data`", timeout_s=30):  # doctest: +SKIP
        ...     spark.range(10).count()
    """
    if ray_nodes is not None:
        check_free_slot(spark, what, ray_nodes=ray_nodes, node_cpus=node_cpus)
    bound = slot_wait_s() if timeout_s is None else timeout_s
    sc = spark.sparkContext
    saved = {key: sc.getLocalProperty(key) for key in
             ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")}
    group = f"zoo_tune-{uuid.uuid4().hex[:12]}"
    sc.setJobGroup(group, f"zoo_tune: {what}", interruptOnCancel=False)
    done = threading.Event()
    starved: list[str] = []

    def watch() -> None:
        tracker = sc.statusTracker()
        seen: dict[int, tuple[tuple[int, int], float]] = {}
        while not done.wait(0.5):
            now = time.monotonic()
            for job_id in tracker.getJobIdsForGroup(group):
                state = _progress(tracker, job_id)
                if state is None:
                    continue
                last = seen.get(job_id)
                if last is None or state != last[0] or state[0] > 0:
                    seen[job_id] = (state, now)
                elif now - last[1] >= bound:
                    starved.append(f"job {job_id} had no task running for {bound:.0f} s")
                    logger.error("zoo_tune's Spark job %d (%s) got no task slot in %.0f s; "
                                 "cancelling it.", job_id, what, bound)
                    sc.cancelJobGroup(group)
                    return

    watcher = threading.Thread(target=watch, name="zoo_tune-spark-slots", daemon=True)
    watcher.start()
    try:
        yield
    except Exception as err:
        if starved:
            raise NoSparkSlotError(
                f"Spark gave zoo_tune's job for {what} no task slot: {starved[0]}, so it was "
                f"cancelled. Every executor core is busy, most likely held by the Ray worker "
                f"nodes (each holds its Spark task for its life) or by other jobs of this "
                f"application. {_FIX} The bound is {SLOT_WAIT_ENV} (seconds).") from err
        raise
    finally:
        done.set()
        watcher.join(timeout=10)
        for key, value in saved.items():
            sc.setLocalProperty(key, value)
