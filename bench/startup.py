"""Start-up time of ``init_context`` on Spark: ``standalone`` and ``local-cluster``.

Each run is a fresh Python process (one Ray per process) that imports zoo_tune, calls
``init_context(cluster_mode=MODE, num_nodes=2, cores=1, memory=1 GiB,
object_store_memory=256 MiB)``, runs one trivial Ray task per CPU (the first task on a fresh
Ray worker node starts a worker process), calls ``stop_context()`` and then checks that no
process of its cluster is left: no Ray node process under the cluster's temp root, no
executor of its Spark application, no JVM or Ray child of its own. The parent checks the
same again once the run's process has exited.

Reported per run (the JSON keeps every run; the table shows medians and the minimum):
``startup_s`` (``ClusterContext.startup_s``) and its phases from ``ClusterContext.timings``:
``spark_session_s`` (pyspark import, driver JVM, SparkSession), ``executors_s`` (until the
executors registered), ``setup_ray_cluster_s`` (``ray.util.spark.setup_ray_cluster``: Ray head
on the driver, Ray worker nodes in the executors), ``connect_s`` (``ray.init`` to the head);
``ray_sleep_s``, the fixed sleeps inside ``ray.util.spark`` on the driver during start-up
(the head's start-up wait, the 3 s polls for worker nodes; counted by wrapping that module's
``time.sleep`` in this process, nothing else changed); ``first_task_s``; ``stop_s``
(``stop_context``); ``import_s`` (``import zoo_tune, ray``) and ``process_s`` (the whole
process, as the parent saw it).

``standalone`` runs against ``--master`` if given, else against a master + 2 workers (1 core,
2 GiB each) on 127.0.0.1 that this script starts with ``scripts/spark-standalone.sh`` in a run
dir and on a port of its own, and stops at the end (its own start time is reported as
``cluster_start_s``, not part of any run). ``local-cluster`` needs no cluster:
``local-cluster[2,1,1024]``. Runs go round robin over the modes, ``--repeat`` times.

    .venv/bin/python bench/startup.py --repeat 3
    .venv/bin/python bench/startup.py --modes standalone --master spark://127.0.0.1:7077
    .venv/bin/python bench/startup.py --smoke
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from _common import (
    SparkStandalone,
    Timer,
    claim_stdout,
    emit,
    git_state,
    machine,
    markdown_table,
    merge_repeats,
    run_worker,
    wait_processes_gone,
)

MODES = ("standalone", "local-cluster")
PHASES = ("spark_session_s", "executors_s", "setup_ray_cluster_s", "connect_s")
NODE_MEMORY = 1024**3
OBJECT_STORE = 256 * 1024**2


class _SleepCounter:
    """Stands in for the ``time`` module inside ``ray.util.spark.cluster_init``: the same
    functions, but ``sleep`` calls from ``thread`` are added up in ``total_s``."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.total_s = 0.0

    def sleep(self, seconds: float) -> None:
        if threading.current_thread() is self.thread:
            self.total_s += seconds
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _count_ray_on_spark_sleeps() -> _SleepCounter:
    from ray.util.spark import cluster_init

    counter = _SleepCounter(threading.current_thread())
    cluster_init.time = counter  # this process only; Ray's behaviour is unchanged
    return counter


def _first_tasks(cpus: int) -> list[str]:
    """One trivial task per CPU, spread over the nodes; return the Ray node ids they ran on."""
    import ray

    @ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
    def node_id() -> str:
        return ray.get_runtime_context().get_node_id()

    return ray.get([node_id.remote() for _ in range(cpus)])


def _own_children() -> list[str]:
    """JVM and Ray processes still running below this process."""
    import psutil

    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "java" in cmd or "ray" in cmd:
            left.append(f"{child.pid} {cmd[:200]}")
    return left


def measure(mode: str, master: str | None, nodes: int, cores: int) -> dict[str, Any]:
    """One start-up and stop of ``mode`` in this process (which must have no Ray yet)."""
    with Timer() as t_import:
        import ray

        import zoo_tune
    sleeps = _count_ray_on_spark_sleeps()
    kwargs: dict[str, Any] = {"num_nodes": nodes, "cores": cores, "memory": NODE_MEMORY,
                              "object_store_memory": OBJECT_STORE}
    if mode == "standalone":
        kwargs["master"] = master
    ctx = zoo_tune.init_context(cluster_mode=mode, **kwargs)
    row: dict[str, Any] = {"mode": mode, "startup_s": ctx.startup_s,
                           "import_s": t_import.s, "ray_sleep_s": sleeps.total_s,
                           "spark_master": ctx.spark_master,
                           "ray_worker_nodes": ctx.ray_worker_nodes,
                           "ray_cpus": ray.cluster_resources().get("CPU", 0.0)}
    row.update({phase: ctx.timings.get(phase) for phase in PHASES})
    row.update(ctx.timings)  # and any finer phase zoo_tune reports (ray_head_s: head up)
    row["other_s"] = ctx.startup_s - sum(ctx.timings.get(p) or 0.0 for p in PHASES)
    try:
        from pyspark import SparkContext

        row["app_id"] = SparkContext.getOrCreate().applicationId
        spark_ray = getattr(ctx, "_spark_ray", None)  # zoo_tune's record of what it started
        row["ray_temp_root"] = getattr(spark_ray, "temp_root", None)
        with Timer() as t_task:
            ran_on = _first_tasks(nodes * cores)
        row["first_task_s"] = t_task.s
        row["first_task_nodes"] = len(set(ran_on))
    finally:
        with Timer() as t_stop:
            zoo_tune.stop_context()
        row["stop_s"] = t_stop.s
    row["ray_initialized_after_stop"] = ray.is_initialized()
    markers = [row["app_id"], row["ray_temp_root"]]
    deadline = time.monotonic() + 30
    left = wait_processes_gone(markers, 30)
    while _own_children() and time.monotonic() < deadline:
        time.sleep(0.5)
    row["left_after_stop"] = left + _own_children()
    return row


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--master", help="a running standalone master (spark://host:port); "
                                         "default: start one here (master + 2 workers)")
    parser.add_argument("--nodes", type=int, default=2, help="num_nodes (Ray worker nodes)")
    parser.add_argument("--cores", type=int, default=1, help="cores of each Ray worker node")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per mode, round robin (default 3; smoke: 1)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--smoke", action="store_true", help="one run per mode")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 3
    return args


def _run(args: argparse.Namespace, mode: str, master: str | None) -> dict[str, Any]:
    """One run of ``mode`` in a fresh process; then check its processes are gone."""
    worker_args = ["--modes", mode, "--nodes", str(args.nodes), "--cores", str(args.cores)]
    if master:
        worker_args += ["--master", master]
    with Timer() as t:
        row = run_worker(__file__, worker_args, args.timeout)
    row["process_s"] = t.s
    row["left_after_exit"] = wait_processes_gone([row["app_id"], row["ray_temp_root"]], 30)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    headers = ["mode", "runs", "start-up s (median)", "start-up s (min)", "Spark session s",
               "executors s", "setup_ray_cluster s", "of which Ray head up s",
               "of which sleeps in ray.util.spark s", "connect s", "first task s",
               "stop_context s", "processes left"]
    body = [[r["mode"], r["repeats"], r["startup_s"], r["startup_s_min"],
             r["spark_session_s"], r["executors_s"], r["setup_ray_cluster_s"],
             r.get("ray_head_s"), r["ray_sleep_s"], r["connect_s"], r["first_task_s"], r["stop_s"],
             r["left_processes"]] for r in rows]
    return markdown_table(headers, body)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        emit(measure(args.modes[0], args.master, args.nodes, args.cores), None, None)
        return 0
    runs: list[dict[str, Any]] = []
    cluster = (SparkStandalone(args.master, workers=args.nodes, cores=args.cores)
               if "standalone" in args.modes else None)
    with cluster or contextlib.nullcontext():
        for repeat in range(args.repeat):  # round robin: load drifts hit every mode alike
            for mode in args.modes:
                print(f"[startup] {mode} (run {repeat + 1}/{args.repeat}) ...",
                      file=sys.stderr, flush=True)
                master = cluster.master if cluster is not None else None
                runs.append(_run(args, mode, master if mode == "standalone" else None))
    rows = merge_repeats(runs, ("mode",), wall_key="startup_s")
    for row in rows:  # every process left behind by any run of the mode, not a median
        row["left_processes"] = sum(len(r["left_after_stop"]) + len(r["left_after_exit"])
                                    for r in runs if r["mode"] == row["mode"])
    result = {
        "benchmark": "startup",
        "machine": machine(),
        "settings": {"modes": args.modes, "nodes": args.nodes, "cores": args.cores,
                     "memory": NODE_MEMORY, "object_store_memory": OBJECT_STORE,
                     "repeat": args.repeat, "smoke": args.smoke, "master": args.master,
                     "cluster_start_s": cluster and cluster.start_s, "time": time.time(),
                     "git": git_state()},
        "runs": runs,
        "results": rows,
    }
    emit(result, table(rows), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
