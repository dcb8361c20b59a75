"""Spark task slots beside Ray on Spark: a spare executor against executors wider than the Ray
node, and the old layout with neither, side by side on Spark's ``local-cluster``.

Ray on Spark holds one Spark task per Ray worker node for the node's life, so Spark's own jobs
(reading a DataFrame given to ``fit``, staging it, the user's ``spark.read``) need a slot the
Ray nodes leave free. Candidates, each with 2 Ray worker nodes of 1 CPU (``memory="512m"``,
``object_store_memory="128m"``):

- ``spare``: ``init_context(cluster_mode="local-cluster", num_nodes=2, cores=1)``: zoo_tune's
  default ``spare_executors=1`` gives ``local-cluster[3,1,1024]``, a Ray node fills each of two
  executors of 1 core, the third runs Spark's jobs.
- ``wide``: ``master="local-cluster[2,2,1024]"``, ``spare_executors=0``,
  ``spark_conf={"spark.executor.cores": "2"}``: executors of 2 cores, each Ray node's task asks
  for 1 CPU (Ray on Spark's stage-level scheduling), so a core per executor stays free when
  the nodes land one per executor; but Spark may put both nodes in one executor (one
  single-task job per Ray node, a random executor with room).
- ``none``: ``master="local-cluster[2,1,1024]"``, ``spare_executors=0``: the old layout, every
  executor core held by a Ray node; its DataFrame read must fail (zoo_tune raises
  ``NoSparkSlotError``; the time to that error is recorded).

Every run is a fresh Python process (one Ray per process). After ``init_context`` it records
``ctx.startup_s`` and ``ctx.timings``, zoo_tune's warnings during start-up, each executor JVM
(``CoarseGrainedExecutorBackend`` of the application: ``--executor-id``, ``--cores``, RSS)
and each Ray worker node's CPUs (``ray.nodes()``), and the placement: for every
``ray.util.spark.start_ray_node`` (worker, not ``--head``) and every ``raylet`` process whose
command line names the context's Ray temp root, the executor JVM among its ancestors (psutil
parents). Then it reads the DataFrame the way ``fit`` does, ``--reads`` times: a
``--rows``-row frame (an ``array<float>`` column ``x`` of 32 seeded ``rand`` values and a
``long`` label, written once to Parquet in a temp dir by a ``local[2]`` Spark before the runs)
opened with ``spark.read.parquet`` (its schema read is a Spark job too: ``spark_read_s``) and
loaded by ``zoo_tune.data.stage_data(df, None, "torch", feature_cols=["x"],
label_cols=["label"])`` + ``load_staged(staged, None)``, what ``fit`` calls before any trial
(``fit`` also passes a Parquet target, used only over the 512 MiB driver budget; this frame is
collected either way. ``load_s``: a size/null aggregation job, the Arrow batches collected,
the seeded 20% validation split; every Spark job under zoo_tune's slot watchdog). Rows/s is
``rows / (spark_read_s + load_s)``. While it reads, every 0.5 s, psutil samples the CPU% (100
= one core) of the executor JVMs, the executors' other processes (pyspark workers), the Ray
worker nodes' processes, the Ray head's, and the driver (this Python and its JVM); the peak of
their total is reported against this machine's cores. ``spark.read.parquet`` that gets no task
slot within ``--read-wait`` seconds is cancelled (its job group) and the run goes on with the
schema given, so zoo_tune's own check is still reached.

Runs go round robin: ``wide`` ``--wide-repeat`` times (placement is random), the others
``--repeat`` times. The JSON goes to stdout (and to ``--out FILE`` too). The sampler runs
in the driver's Python, so its own cost (a process listing every 0.5 s) is in ``driver``.
The machine's other load (``load_avg_1m`` before and after every run) is in the JSON: on a
shared machine, compare runs of one call.
After ``stop_context`` the run checks that no process of its Ray nodes or executors is left
(30 s), and the parent checks again after the process exited.

    .venv/bin/python bench/spark_slots.py                   # 200 000 rows; wide x3, others x2
    .venv/bin/python bench/spark_slots.py --wide-repeat 5 --out /tmp/spark_slots.json
    .venv/bin/python bench/spark_slots.py --smoke           # one quick pass
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from _common import (
    Timer,
    claim_stdout,
    emit,
    git_state,
    local_spark,
    machine,
    markdown_table,
    run_worker,
    spark_app_markers,
    wait_processes_gone,
)

logger = logging.getLogger("spark_slots")

CANDIDATES = ("spare", "wide", "none")
NODE_MEMORY = "512m"
OBJECT_STORE = "128m"
WIDTH = 32  # floats per row of the array column
HERE = os.path.dirname(os.path.abspath(__file__))
_EXECUTOR = "CoarseGrainedExecutorBackend"


def context_kwargs(candidate: str) -> dict[str, Any]:
    """``init_context`` arguments of ``candidate``."""
    common: dict[str, Any] = {"cluster_mode": "local-cluster", "num_nodes": 2,
                              "memory": NODE_MEMORY, "object_store_memory": OBJECT_STORE}
    if candidate == "spare":
        return {**common, "cores": 1}
    if candidate == "wide":
        return {**common, "master": "local-cluster[2,2,1024]", "cores": 1,
                "spare_executors": 0, "spark_conf": {"spark.executor.cores": "2"}}
    if candidate == "none":
        return {**common, "master": "local-cluster[2,1,1024]", "spare_executors": 0}
    raise ValueError(candidate)



# --- the data: written once, before the runs ----------------------------------------------------

def make_data(path: str, rows: int) -> dict[str, Any]:
    """Write the frame as Parquet to ``path`` with a ``local[2]`` Spark (a worker's process)."""
    from pyspark.sql import functions as F

    spark = local_spark("spark_slots_data")
    try:
        with Timer() as t:
            df = spark.range(rows, numPartitions=4).select(
                F.array(*[F.rand(k).cast("float") for k in range(WIDTH)]).alias("x"),
                (F.col("id") % 10).cast("long").alias("label"))
            df.write.mode("overwrite").parquet(path)
        written = spark.read.parquet(path).count()
    finally:
        spark.stop()
    files = [f for f in os.listdir(path) if f.endswith(".parquet")]
    size = sum(os.path.getsize(os.path.join(path, f)) for f in files)
    return {"rows": written, "files": len(files), "parquet_mb": size / 2**20, "write_s": t.s}


# --- processes: executors, Ray nodes, placement, CPU -------------------------------------------

def _cmd(proc: Any) -> list[str]:
    import psutil

    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _executor_id(cmd: Sequence[str]) -> str | None:
    if not any(_EXECUTOR in part for part in cmd):
        return None
    for flag, value in zip(cmd, cmd[1:]):
        if flag == "--executor-id":
            return value
    return None


def executor_jvms(markers: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The application's executor JVMs by executor id: pid, ``--cores``, RSS in MiB."""
    import psutil

    found = {}
    for proc in psutil.process_iter(["pid", "cmdline", "memory_info"]):
        cmd = proc.info["cmdline"] or []
        line = " ".join(cmd)
        exec_id = _executor_id(cmd)
        if exec_id is None or not any(m in line for m in markers):
            continue
        cores = next((v for f, v in zip(cmd, cmd[1:]) if f == "--cores"), None)
        rss = proc.info["memory_info"].rss / 2**20 if proc.info["memory_info"] else None
        found[exec_id] = {"pid": proc.info["pid"], "cores": None if cores is None else int(cores),
                          "rss_mb": rss}
    return dict(sorted(found.items(), key=lambda kv: int(kv[0])))


def _ancestor_executor(proc: Any) -> str | None:
    """The ``--executor-id`` of the executor JVM above ``proc``, or None (the driver's)."""
    import psutil

    try:
        parents = proc.parents()
    except psutil.Error:
        return None
    for parent in parents:
        exec_id = _executor_id(_cmd(parent))
        if exec_id is not None:
            return exec_id
    return None


def placement(temp_root: str, executors: Sequence[str]) -> dict[str, Any]:
    """Ray worker nodes per executor: ``start_ray_node`` (not ``--head``) and ``raylet``
    processes under ``temp_root``, each traced to its ancestor executor JVM."""
    import psutil

    nodes = dict.fromkeys(executors, 0)
    raylets = dict.fromkeys(executors, 0)
    unplaced = {"start_ray_node": 0, "raylet": 0}
    head_raylets = 0
    for proc in psutil.process_iter(["cmdline", "name"]):
        cmd = proc.info["cmdline"] or []
        if not any(temp_root in part for part in cmd):
            continue
        is_node = "ray.util.spark.start_ray_node" in cmd and "--head" not in cmd
        is_raylet = (proc.info["name"] or "").startswith("raylet") or (
            bool(cmd) and cmd[0].endswith("/raylet"))
        if not (is_node or is_raylet):
            continue
        exec_id = _ancestor_executor(proc)
        counts, kind = (nodes, "start_ray_node") if is_node else (raylets, "raylet")
        if exec_id is None:
            if is_raylet:
                head_raylets += 1  # the head's raylet, on the driver
            else:
                unplaced[kind] += 1
            continue
        counts[exec_id] = counts.get(exec_id, 0) + 1
    return {"nodes_per_executor": nodes, "raylets_per_executor": raylets,
            "head_raylets": head_raylets, "unplaced": unplaced,
            "layout": "+".join(str(n) for n in nodes.values())}


class CpuSampler:
    """Sample, every ``interval_s``, the CPU% of this run's processes by kind.

    Kinds: ``executor_jvm`` (the executor JVMs), ``executor_other`` (their other descendants:
    pyspark workers), ``ray_nodes`` (processes of the Ray worker nodes inside the executors),
    ``ray_head`` (the Ray head's, below the driver), ``driver`` (this Python and its JVM).
    A process is of its own kind when it names the Ray temp root (a Ray process) or is an
    executor JVM, else of its parent's. CPU% is psutil's (100 = one core), per sample interval.
    """

    KINDS = ("executor_jvm", "executor_other", "ray_nodes", "ray_head", "driver")

    def __init__(self, temp_root: str, executor_pids: Sequence[int],
                 interval_s: float = 0.5) -> None:
        self.temp_root = temp_root
        self.executor_pids = set(executor_pids)
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] = []
        self._procs: dict[int, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()  # primes cpu_percent of every process
        self.samples.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _kinds(self) -> dict[int, str]:
        import psutil

        info = {p.info["pid"]: (p.info["ppid"], p.info["cmdline"] or [])
                for p in psutil.process_iter(["pid", "ppid", "cmdline"])}
        kinds: dict[int, str | None] = {}

        def kind(pid: int, depth: int = 0) -> str | None:
            if pid in kinds:
                return kinds[pid]
            if pid not in info or depth > 64:
                return None
            ppid, cmd = info[pid]
            if pid == os.getpid():
                found: str | None = "driver"
            elif pid in self.executor_pids:
                found = "executor_jvm"
            else:
                parent = kind(ppid, depth + 1) if ppid != pid else None
                if any(self.temp_root in part for part in cmd) or parent in ("ray_nodes",
                                                                             "ray_head"):
                    found = ("ray_nodes" if parent in ("executor_jvm", "executor_other",
                                                       "ray_nodes") else "ray_head")
                elif parent in ("executor_jvm", "executor_other"):
                    found = "executor_other"
                else:
                    found = parent  # driver's JVM, or None: not this run's
            kinds[pid] = found
            return found

        return {pid: k for pid in info if (k := kind(pid)) is not None}

    def _sample(self) -> None:
        import psutil

        totals = dict.fromkeys(self.KINDS, 0.0)
        for pid, kind in self._kinds().items():
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # first call: primes, returns 0
                    continue
                totals[kind] += proc.cpu_percent(None)
            except psutil.Error:
                self._procs.pop(pid, None)
        totals["total"] = sum(totals[k] for k in self.KINDS)
        totals["system"] = psutil.cpu_percent(None) * (os.cpu_count() or 1)  # whole machine
        self.samples.append(totals)

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {"samples": 0}
        peak = max(self.samples, key=lambda s: s["total"])
        return {"samples": len(self.samples), "peak_total_pct": peak["total"],
                "at_peak": {k: peak[k] for k in (*self.KINDS, "system")},
                "mean_total_pct": statistics.fmean(s["total"] for s in self.samples),
                "peak_pct": {k: max(s[k] for s in self.samples)
                             for k in (*self.KINDS, "system")},
                "machine_pct": 100 * (os.cpu_count() or 1)}


# --- one run -------------------------------------------------------------------------------------

class _Warnings(logging.Handler):
    """Keeps zoo_tune's (and Ray on Spark's) WARNING and ERROR messages."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}"[:1200])


@contextlib.contextmanager
def _cancel_after(spark: Any, wait_s: float) -> Any:
    """Run the Spark jobs inside in a job group that is cancelled after ``wait_s`` seconds;
    yields a list that gets ``True`` once it was."""
    sc = spark.sparkContext
    group = f"spark_slots-{uuid.uuid4().hex[:8]}"
    sc.setJobGroup(group, "bench/spark_slots.py: spark.read.parquet", interruptOnCancel=False)
    fired: list[bool] = []

    def cancel() -> None:
        fired.append(True)
        sc.cancelJobGroup(group)

    timer = threading.Timer(wait_s, cancel)
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)


def read_once(spark: Any, path: str, rows: int, read_wait_s: float) -> dict[str, Any]:
    """``spark.read.parquet`` then what ``fit`` does with the frame; timings, or the errors."""
    from pyspark.sql import types as T

    from zoo_tune.data import load_staged, stage_data

    out: dict[str, Any] = {"spark_read_error": None, "load_error": None}
    with Timer() as t_read:
        try:
            with _cancel_after(spark, read_wait_s) as fired:
                df = spark.read.parquet(path)
        except Exception as err:  # noqa: BLE001 - recorded: no slot for the schema job
            df = None
            why = "no task slot: cancelled" if fired else type(err).__name__
            out["spark_read_error"] = f"{why} after {read_wait_s:g} s"
    out["spark_read_s"] = t_read.s
    if df is None:  # the schema given: no Spark job before zoo_tune's own
        schema = T.StructType([T.StructField("x", T.ArrayType(T.FloatType())),
                               T.StructField("label", T.LongType())])
        df = spark.read.schema(schema).parquet(path)
    with Timer() as t_load:
        try:
            staged = stage_data(df, None, "torch", feature_cols=["x"], label_cols=["label"])
            train, val = load_staged(staged, None)
            loaded = len(train.xs[0]) + len(val.xs[0])
            assert train.xs[0].shape[1] == WIDTH and loaded == rows, (train.xs[0].shape, loaded)
        except Exception as err:  # noqa: BLE001 - `none`: NoSparkSlotError expected
            out["load_error"] = f"{type(err).__name__}: {err}"[:400]
    out["load_s"] = t_load.s
    ok = out["spark_read_error"] is None and out["load_error"] is None
    out["read_s"] = out["spark_read_s"] + out["load_s"]
    out["rows_per_s"] = rows / out["read_s"] if ok else None
    return out


def measure(candidate: str, data: str, rows: int, reads: int, read_wait_s: float,
            run: int) -> dict[str, Any]:
    """One run of ``candidate`` in this process (which must have no Ray yet)."""
    import ray

    import zoo_tune

    handler = _Warnings()
    for name in ("zoo_tune", "ray.util.spark"):
        logging.getLogger(name).addHandler(handler)
    load = os.getloadavg()[0]
    kwargs = context_kwargs(candidate)
    with Timer() as t_init:
        ctx = zoo_tune.init_context(**kwargs)
    row: dict[str, Any] = {"candidate": candidate, "run": run, "startup_s": ctx.startup_s,
                           "init_wall_s": t_init.s, "timings": dict(ctx.timings),
                           "spark_master": ctx.spark_master,
                           "ray_worker_nodes": ctx.ray_worker_nodes,
                           "init_context": {k: v for k, v in kwargs.items()}}
    try:
        from pyspark import SparkContext

        sc = SparkContext.getOrCreate()
        markers = spark_app_markers(sc)
        temp_root = ctx._spark_ray.temp_root  # zoo_tune's record of what it started
        row.update(app_id=sc.applicationId, executor_markers=markers, ray_temp_root=temp_root,
                   spark_executor_cores=sc.getConf().get("spark.executor.cores", None),
                   default_parallelism=sc.defaultParallelism)
        row["startup_warnings"] = list(handler.messages)
        row["ray_node_cpus"] = sorted(
            n["Resources"].get("CPU", 0.0) for n in ray.nodes()
            if n.get("Alive") and "node:__internal_head__" not in n.get("Resources", {}))
        executors = executor_jvms(markers)
        row["executors"] = executors
        row["executor_rss_mb"] = sum(e["rss_mb"] or 0.0 for e in executors.values())
        row["placement"] = placement(temp_root, list(executors))
        row["reads"] = []
        for _ in range(reads):
            with CpuSampler(temp_root, [e["pid"] for e in executors.values()]) as cpu:
                read = read_once(ctx.spark, data, rows, read_wait_s)
            read["cpu"] = cpu.summary()
            row["reads"].append(read)
            if read["spark_read_error"] or read["load_error"]:
                break  # no slot: a second read would only wait again
        row["executors_after_reads"] = executor_jvms(markers)
        row["warnings"] = list(handler.messages)
    finally:
        with Timer() as t_stop:
            zoo_tune.stop_context()
        row["stop_s"] = t_stop.s
    row["left_after_stop"] = wait_processes_gone([*row.get("executor_markers", []),
                                                  row.get("ray_temp_root") or ""], 30)
    row["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # before, after
    return row


# --- the parent: data, runs, table -------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", nargs="+", choices=CANDIDATES, default=list(CANDIDATES))
    parser.add_argument("--rows", type=int, default=None, help="rows (200 000; smoke 20 000)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of spare and none (default 2; smoke 1)")
    parser.add_argument("--wide-repeat", type=int, default=None,
                        help="runs of wide (default 3; smoke 1): placement is random")
    parser.add_argument("--reads", type=int, default=None,
                        help="reads per run (default 2: a fresh executor JVM's first read and "
                             "a warm one; smoke 1)")
    parser.add_argument("--read-wait", type=float, default=None,
                        help="seconds spark.read.parquet may wait for a slot before it is "
                             "cancelled (default 20; smoke 10)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--smoke", action="store_true", help="one quick pass (20 000 rows, "
                                                             "each candidate once, one read)")
    parser.add_argument("--out", default="",
                        help="write the JSON to this file too (default: stdout only, as the "
                             "other bench scripts)")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make-data", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)  # worker: the Parquet dir
    parser.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = 20_000 if args.smoke else 200_000
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 2
    if args.wide_repeat is None:
        args.wide_repeat = 1 if args.smoke else 3
    if args.reads is None:
        args.reads = 1 if args.smoke else 2
    if args.read_wait is None:
        args.read_wait = 10.0 if args.smoke else 20.0
    return args


def _worker_args(args: argparse.Namespace, candidate: str, run: int) -> list[str]:
    return ["--candidates", candidate, "--data", args.data, "--rows", str(args.rows),
            "--reads", str(args.reads), "--read-wait", str(args.read_wait), "--run", str(run)]


def _fmt_placement(rows: Sequence[dict[str, Any]]) -> str:
    return ", ".join(r["placement"]["layout"] for r in rows)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per candidate: medians over its runs, every placement seen."""
    out = []
    for candidate in dict.fromkeys(r["candidate"] for r in runs):
        mine = [r for r in runs if r["candidate"] == candidate]
        firsts = [r["reads"][0] for r in mine]
        warms = [r["reads"][-1] for r in mine if len(r["reads"]) > 1]

        def med(values: Sequence[float | None]) -> float | None:
            values = [v for v in values if v is not None]
            return statistics.median(values) if values else None

        errors = sorted({(rd["spark_read_error"] or "") + " | " + (rd["load_error"] or "")
                         for r in mine for rd in r["reads"]
                         if rd["spark_read_error"] or rd["load_error"]})
        out.append({
            "candidate": candidate, "runs": len(mine), "spark_master": mine[0]["spark_master"],
            "executor_cores": sorted({e["cores"] for r in mine for e in r["executors"].values()}),
            "executors": med([len(r["executors"]) for r in mine]),
            "ray_node_cpus": mine[0]["ray_node_cpus"],
            "startup_s": med([r["startup_s"] for r in mine]),
            "startup_s_runs": [r["startup_s"] for r in mine],
            **{k: med([r["timings"].get(k) for r in mine])
               for k in ("spark_session_s", "executors_s", "setup_ray_cluster_s", "connect_s")},
            "placements": [r["placement"]["layout"] for r in mine],
            "executor_rss_mb": med([r["executor_rss_mb"] for r in mine]),
            "executor_rss_mb_after_reads": med([sum(e["rss_mb"] or 0.0 for e in
                                                    r["executors_after_reads"].values())
                                                for r in mine]),
            "first_spark_read_s": med([rd["spark_read_s"] for rd in firsts]),
            "first_load_s": med([rd["load_s"] for rd in firsts]),
            "first_read_s": med([rd["read_s"] for rd in firsts]),
            "first_rows_per_s": med([rd["rows_per_s"] for rd in firsts]),
            "warm_read_s": med([rd["read_s"] for rd in warms]),
            "warm_rows_per_s": med([rd["rows_per_s"] for rd in warms]),
            "peak_cpu_pct": max((rd["cpu"].get("peak_total_pct", 0.0)
                                 for r in mine for rd in r["reads"]), default=None),
            "peak_executor_jvm_pct": max((rd["cpu"].get("peak_pct", {}).get("executor_jvm", 0.0)
                                          for r in mine for rd in r["reads"]), default=None),
            "peak_ray_nodes_pct": max((rd["cpu"].get("peak_pct", {}).get("ray_nodes", 0.0)
                                       for r in mine for rd in r["reads"]), default=None),
            "errors": errors,
            "warnings": sorted({w for r in mine for w in r.get("warnings", [])}),
            "left_processes": sum(len(r["left_after_stop"]) + len(r["left_after_exit"])
                                  for r in mine),
        })
    return out


def table(rows: list[dict[str, Any]], machine_pct: int) -> str:
    headers = ["candidate", "runs", "master", "executor cores", "Ray node CPUs",
               "Ray nodes per executor (each run)", "start-up s (median)", "executors s",
               "setup_ray_cluster s", "executor JVMs RSS MiB (start / after reads)",
               "first read s", "of which spark.read.parquet s", "of which zoo_tune load s",
               "first read rows/s", "warm read s",
               "warm rows/s", f"peak CPU % (of {machine_pct})", "peak executor JVMs %",
               "peak Ray nodes %", "read error", "processes left"]
    body = [[r["candidate"], r["runs"], r["spark_master"],
             "/".join(str(c) for c in r["executor_cores"]),
             "+".join(f"{c:g}" for c in r["ray_node_cpus"]), "; ".join(r["placements"]),
             r["startup_s"], r["executors_s"], r["setup_ray_cluster_s"],
             f"{r['executor_rss_mb']:.0f} / {r['executor_rss_mb_after_reads']:.0f}",
             r["first_read_s"], r["first_spark_read_s"], r["first_load_s"],
             r["first_rows_per_s"],
             r["warm_read_s"], r["warm_rows_per_s"], r["peak_cpu_pct"],
             r["peak_executor_jvm_pct"], r["peak_ray_nodes_pct"],
             _short_error(r["errors"]), r["left_processes"]] for r in rows]
    return markdown_table(headers, body)


def _short_error(errors: Sequence[str]) -> str:
    if not errors:
        return ""
    text = errors[0]
    if "NoSparkSlotError" in text:
        read = text.split(" | ")[0]
        return ("spark.read.parquet: " + read + "; " if read else "") + "load: NoSparkSlotError"
    return re.sub(r"\s+", " ", text)[:120]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[spark_slots] %(message)s")
    if args.worker and args.make_data:
        emit(make_data(args.data, args.rows), None, None)
        return 0
    if args.worker:
        logging.getLogger().setLevel(logging.WARNING)
        emit(measure(args.candidates[0], args.data, args.rows, args.reads, args.read_wait,
                     args.run), None, None)
        return 0
    data_dir = tempfile.mkdtemp(prefix="bench_spark_slots_")
    args.data = os.path.join(data_dir, "frame.parquet")
    runs: list[dict[str, Any]] = []
    try:
        logger.info("writing %d rows as Parquet to %s ...", args.rows, args.data)
        data = run_worker(__file__, ["--make-data", "--data", args.data, "--rows",
                                     str(args.rows)], args.timeout)
        logger.info("data: %s", data)
        repeats = {c: args.wide_repeat if c == "wide" else args.repeat for c in args.candidates}
        for i in range(max(repeats.values())):  # round robin: load drifts hit all alike
            for candidate in args.candidates:
                if i >= repeats[candidate]:
                    continue
                logger.info("%s (run %d/%d) ...", candidate, i + 1, repeats[candidate])
                with Timer() as t:
                    row = run_worker(__file__, _worker_args(args, candidate, i), args.timeout)
                row["process_s"] = t.s
                row["left_after_exit"] = wait_processes_gone(
                    [*row["executor_markers"], row["ray_temp_root"]], 30)
                logger.info("%s: start-up %.1f s, placement %s, reads %s", candidate,
                            row["startup_s"], row["placement"]["layout"],
                            [(round(r["read_s"], 2), r["spark_read_error"], r["load_error"])
                             for r in row["reads"]])
                runs.append(row)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    rows = summarize(runs)
    info = machine()
    result = {"benchmark": "spark_slots", "machine": info,
              "settings": {"candidates": args.candidates,
                           "init_context": {c: context_kwargs(c) for c in args.candidates},
                           "rows": args.rows, "width": WIDTH, "repeat": args.repeat,
                           "wide_repeat": args.wide_repeat, "reads": args.reads,
                           "read_wait_s": args.read_wait, "smoke": args.smoke, "data": data,
                           "time": time.time(), "git": git_state()},
              "runs": runs, "results": rows,
              "wide_placements": [r["placement"] for r in runs if r["candidate"] == "wide"]}
    text = table(rows, 100 * (info.get("nproc") or 1))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, sort_keys=True)
            f.write("\n")
        logger.info("JSON written to %s", args.out)
    emit(result, text, args.markdown)
    left = sum(r["left_processes"] for r in rows)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
