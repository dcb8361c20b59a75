"""Chaos: one tuning job run with and without real faults, side by side.

The job: ``--trials`` (16) trials x ``--epochs`` (8) of a small torch MLP (16 -> 32 -> 4, Adam,
batch 32) on synthetic 4-class data (512 training and 128 validation rows), one CPU each,
through zoo_tune ``fit`` (``max_failures=2``, the default). Every epoch ends with a custom
metric (accuracy) that appends ``"<pid> <time>"`` to ``<record dir>/epochs_<trial>`` and then
sleeps ``--epoch-s`` (2 s; smoke 0.4 s), so the trial's Ray worker process is known and the
run lasts a few minutes: with 0.4 s epochs 16 x 8 epochs, 2 at a time, take ~55 s here, over
before a second fault 20-40 s apart could come.

The job runs twice at once (``--sequential``: one after the other), each in its own driver
process (this script with ``--driver``) with its own local Ray of 2 CPUs: ``fault_free`` and
``faulty``. This process injects faults into ``faulty`` only, from a ``random.Random(--seed)``:
the first ``--gap-s`` (20-40 s) after its first epoch, then ``--gap-s`` after the previous
fault ended, cycling through the kinds available, in this order:

- ``kill``: SIGKILL of a running trial's Ray worker process (a pid from the records: a trial
  that logged an epoch in the last 2 x ``--epoch-s`` + 1.5 s and has not finished, not yet
  hit ``max_failures`` times; the pid is checked to be a ``ray::`` process under the faulty
  driver, or with ``--spark`` under an executor of the faulty run's Spark application),
- ``executor`` (only with ``--spark``): SIGKILL of the executor JVM
  (``CoarseGrainedExecutorBackend`` of the faulty run's application, found among the parents of
  such a trial's worker pid) whose Ray worker node runs that trial; the Ray node inside dies
  with it, and every trial on it counts as hit once. Never the last live executor of the run:
  with no Ray worker node left no trial could run, so the fault waits until there are 2 again
  (Spark's master starts a new executor, Ray on Spark a new Ray node in it: both are recorded),
  and
- ``freeze`` (only with ``--hdfs``): SIGSTOP of the HDFS NameNode for ``--freeze-s`` (10-20 s),
  then SIGCONT.

With ``--spark`` each driver runs ``init_context(cluster_mode="standalone", master=...,
num_nodes=2, cores=1, memory=1 GiB, object_store_memory=200 MiB)`` against a Spark standalone
cluster of its own (``scripts/spark-standalone.sh start`` with its own ``ZOO_TUNE_SPARK_RUN``
temp dir and ``ZOO_TUNE_SPARK_PORT=0``: a master and 2 workers of 1 core and 2g), so each run
has 2 Ray worker nodes of 1 CPU in 2 executors: the same 2 trials at a time as the local Ray
of 2 CPUs. The two runs still go side by side (not ``--sequential``), so they share whatever
load the machine has: on 2 cores two clusters at once (2 masters, 4 workers, 4 executors, 2
driver JVMs, 2 Ray heads, 4 Ray nodes) are heavy only while starting (``init_context`` took
70-100 s each here, both at once); during ``fit`` the trials mostly sleep in the metric and the
JVMs idle, and one after the other would double the wall time of the benchmark.

The driver samples, every second, Spark's executor ids (``SparkContext.getExecutorIds``) and
Ray's worker nodes (``ray.nodes()``) during ``fit``, so the result shows how many were alive at
the start, at the lowest and at the end, and how many ever existed (a replaced executor or Ray
node has a new id); each executor fault also records how many processes that ran under the
killed JVM were still alive 1, 5, 15 and 30 s later. Both clusters are stopped at the end
(after ``stop_context()`` in each driver).

With ``--hdfs`` each run gets its own single-node HDFS (``scripts/hdfs.sh start`` with its own
``ZOO_TUNE_HDFS_RUN`` temp dir and ``ZOO_TUNE_HDFS_PORT=0``) as ``logs_dir``, so freezing the
faulty run's NameNode leaves the fault-free run alone; both are stopped at the end. Without it
logs go to a local temp dir and nothing is frozen.

Per run: ``fit`` wall time, faults by kind, retries (sum of the trial table's ``failures``),
epochs redone (epochs the trials logged minus trials x epochs), whether every trial reached
``--epochs`` epochs and ``TERMINATED``; the ratio of faulty to fault-free wall time. At the end
it lists every process the runs started that is still alive: descendants of the drivers
(Ray, the pyspark driver JVM) and of the Spark workers (executors, the Ray nodes in them and
their workers) seen during the run, processes naming a run's Spark application id or Ray
temp root, and the Spark and HDFS daemons of its run dirs.

    .venv/bin/python bench/chaos.py --spark --hdfs     # 16 x 8, worker + executor kills, freezes
    .venv/bin/python bench/chaos.py --hdfs             # 16 x 8, worker kills + NameNode freezes
    .venv/bin/python bench/chaos.py                    # local logs, worker kills only
    .venv/bin/python bench/chaos.py --smoke            # 4 x 3, one worker kill, no HDFS
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    BENCH_ENV,
    Timer,
    claim_stdout,
    emit,
    git_state,
    machine,
    markdown_table,
    quiet_ray_logs,
    wait_processes_gone,
)

ROOT = Path(__file__).resolve().parent.parent
HDFS_SCRIPT = ROOT / "scripts" / "hdfs.sh"
SPARK_SCRIPT = ROOT / "scripts" / "spark-standalone.sh"
SPARK_WORKERS = 2  # per run: 2 workers of 1 core, one executor and one Ray node on each
KINDS = ("kill", "executor", "freeze")
RUNS = ("fault_free", "faulty")
FEATURES, CLASSES = 16, 4

# --- the job (driver process and Ray workers) ----------------------------------------------

_TRIAL: dict[str, int] = {}


def make_model(config: dict[str, Any]) -> Any:
    import torch
    from torch import nn

    _TRIAL["id"] = int(config["trial"])
    torch.manual_seed(int(config["seed"]) * 1000 + int(config["trial"]))
    return nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, CLASSES))


def slow_accuracy(y_true: Any, y_pred: Any, record_dir: str, epoch_s: float) -> float:
    """Accuracy that logs ``"<pid> <time>"`` (one call per epoch) and takes ``epoch_s``."""
    import numpy as np

    path = os.path.join(record_dir, f"epochs_{_TRIAL.get('id', 'driver')}")
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {time.time():.3f}\n")
    time.sleep(epoch_s)
    return float((np.asarray(y_pred).argmax(1) == np.asarray(y_true)).mean())


def make_data(seed: int) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.5, size=(CLASSES, FEATURES))
    y = rng.integers(0, CLASSES, size=640)
    x = (centers[y] + rng.normal(size=(640, FEATURES))).astype(np.float32)
    return (x[:512], y[:512]), (x[512:], y[512:])


class ClusterWatch:
    """In a Spark driver: every second, Spark's live executors and Ray's worker nodes.

    ``timeline`` holds ``[seconds since fit started, executors, alive Ray worker nodes]``
    whenever one of them changed; ``executors_ever`` / ``ray_nodes_ever`` count the distinct
    executor ids and Ray worker node ids ever seen (Ray lists dead nodes too).
    """

    def __init__(self) -> None:
        self.start = 0.0
        self.timeline: list[list[float]] = []
        self.executors: set[str] = set()
        self.nodes: set[str] = set()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cluster-watch", daemon=True)

    def sample(self) -> tuple[int, int]:
        import ray
        from pyspark import SparkContext

        sc = SparkContext._active_spark_context
        ids = str(sc._jsc.sc().getExecutorIds().mkString(",")) if sc is not None else ""
        executors = {i for i in ids.split(",") if i}  # ids are never reused within an app
        workers = [n for n in ray.nodes()
                   if "node:__internal_head__" not in (n.get("Resources") or {})]
        self.executors |= executors
        self.nodes |= {n["NodeID"] for n in workers}
        return len(executors), sum(1 for n in workers if n.get("Alive"))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                counts = self.sample()
                if not self.timeline or self.timeline[-1][1:] != list(counts):
                    self.timeline.append([round(time.time() - self.start, 1), *counts])
            except Exception as err:  # reported; the run goes on
                self.error = f"{type(err).__name__}: {err}"[-500:]
            self._stop.wait(1.0)

    def __enter__(self) -> ClusterWatch:
        self.start = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def report(self) -> dict[str, Any]:
        return {"timeline": self.timeline, "executors_ever": len(self.executors),
                "ray_nodes_ever": len(self.nodes), "error": self.error}


def driver(args: argparse.Namespace) -> int:
    """One run: ``fit`` on a local Ray of its own, or (``--spark``) on Ray on a Spark
    standalone cluster of its own; prints a JSON object (the trial table)."""
    import contextlib

    claim_stdout()
    from zoo_tune import AutoEstimator, hp, init_context, stop_context

    result: dict[str, Any] = {"pid": os.getpid()}
    if args.master:
        ctx = init_context(cluster_mode="standalone", master=args.master,
                           num_nodes=SPARK_WORKERS, cores=1, memory=2**30,
                           object_store_memory=200 * 2**20, app_name=f"bench_chaos_{args.name}")
    else:
        ctx = init_context(cluster_mode="local", cores=2, object_store_memory=200 * 2**20)
    quiet_ray_logs()
    result["ray_startup_s"] = ctx.startup_s
    watch: Any = contextlib.nullcontext()
    if args.master:
        from pyspark import SparkContext

        spark_ray = getattr(ctx, "_spark_ray", None)  # zoo_tune's record of what it started
        result["app_id"] = SparkContext._active_spark_context.applicationId
        result["ray_temp_root"] = getattr(spark_ray, "temp_root", None)
        result["ray_worker_nodes_at_start"] = ctx.ray_worker_nodes
        Path(args.record_dir, "context.json").write_text(json.dumps(
            {"app_id": result["app_id"], "ray_temp_root": result["ray_temp_root"]}))
        watch = ClusterWatch()
    try:
        metric = functools.partial(slow_accuracy, record_dir=args.record_dir,
                                   epoch_s=args.epoch_s)
        metric.__name__ = "acc"
        train, val = make_data(args.seed)
        est = AutoEstimator.from_torch(model_creator=make_model, optimizer="Adam",
                                       loss="CrossEntropyLoss", logs_dir=args.logs_dir,
                                       name=args.name, resources_per_trial={"cpu": 1})
        space = {"trial": hp.grid_search(list(range(args.trials))), "lr": 0.01,
                 "seed": args.seed}
        start = time.perf_counter()
        with watch:
            try:
                est.fit(train, validation_data=val, epochs=args.epochs, metric=metric,
                        metric_mode="max", search_space=space, verbose=1)
            except Exception as err:  # reported, with what the experiment folder holds
                result["error"] = f"{type(err).__name__}: {err}"[-3000:]
            result["wall_s"] = time.perf_counter() - start
        if isinstance(watch, ClusterWatch):
            result["cluster"] = watch.report()
        try:
            import pandas as pd

            table = est.get_trial_table()
            result["table"] = [
                {"trial": int(r["config/trial"]), "trial_id": str(r["trial_id"]),
                 "status": str(r["status"]), "epochs": int(r["epochs"]),
                 "history_len": len(r["acc_history"]), "failures": int(r["failures"]),
                 "best_acc": None if pd.isna(r["best_acc"]) else float(r["best_acc"]),
                 "error": None if not isinstance(r["error"], str) else r["error"][-1500:]}
                for _, r in table.iterrows()]
        except Exception as err:
            result["table_error"] = f"{type(err).__name__}: {err}"[-3000:]
    finally:
        stop_context()
    emit(result, None, None)
    return 0


# --- HDFS, records, processes (this process) -----------------------------------------------


class Hdfs:
    """A single-node HDFS of this benchmark (``scripts/hdfs.sh`` in a run dir of its own)."""

    def __init__(self, label: str) -> None:
        self.run_dir = tempfile.mkdtemp(prefix=f"bench_chaos_hdfs_{label}_")
        self.env = {**os.environ, **BENCH_ENV, "ZOO_TUNE_HDFS_RUN": self.run_dir,
                    "ZOO_TUNE_HDFS_PORT": "0"}
        self.uri: str | None = None
        self.start_s: float | None = None

    def _script(self, command: str, timeout_s: float) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(HDFS_SCRIPT), command], env=self.env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)

    def start(self) -> str:
        with Timer() as t:
            out = self._script("start", 900)
        if out.returncode != 0:
            self.stop()
            raise RuntimeError(f"hdfs.sh start failed:\n{out.stderr[-3000:]}")
        self.uri, self.start_s = out.stdout.strip().splitlines()[-1], t.s
        return self.uri

    def namenode_pid(self) -> int:
        """The NameNode's pid, checked to be this cluster's NameNode JVM."""
        import psutil

        pid = int(Path(self.run_dir, "namenode.pid").read_text())
        cmd = " ".join(psutil.Process(pid).cmdline())
        if (f"-Dzoo_tune.hdfs.run={self.run_dir} " not in cmd
                or "-Dzoo_tune.hdfs.role=namenode" not in cmd):
            raise RuntimeError(f"pid {pid} is not this benchmark's NameNode: {cmd[:300]}")
        return pid

    def stop(self) -> list[str]:
        """Stop it; return the command lines of its processes still alive after 30 s."""
        out = self._script("stop", 120)
        left = wait_processes_gone([f"-Dzoo_tune.hdfs.run={self.run_dir} "], 30)
        if out.returncode != 0:
            print(f"[chaos] hdfs.sh stop exited {out.returncode}: {out.stderr[-1000:]}",
                  file=sys.stderr, flush=True)
        if not left:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        return left


class Spark:
    """A Spark standalone cluster of this benchmark (``scripts/spark-standalone.sh`` in a run
    dir of its own, master on a free port): ``SPARK_WORKERS`` workers of 1 core."""

    def __init__(self, label: str) -> None:
        self.run_dir = tempfile.mkdtemp(prefix=f"bench_chaos_spark_{label}_")
        self.marker = f"-Dzoo_tune.spark.run={self.run_dir} "
        self.env = {**os.environ, **BENCH_ENV, "ZOO_TUNE_SPARK_RUN": self.run_dir,
                    "ZOO_TUNE_SPARK_PORT": "0", "ZOO_TUNE_PYTHON": sys.executable,
                    "PYSPARK_PYTHON": sys.executable,
                    "ZOO_TUNE_SPARK_WORKERS": str(SPARK_WORKERS),
                    "ZOO_TUNE_SPARK_WORKER_CORES": "1", "ZOO_TUNE_SPARK_WORKER_MEMORY": "2g"}
        self.master: str | None = None
        self.start_s: float | None = None

    def _script(self, command: str, timeout_s: float) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SPARK_SCRIPT), command], env=self.env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)

    def start(self) -> str:
        with Timer() as t:
            out = self._script("start", 300)
        if out.returncode != 0:
            self.stop()
            raise RuntimeError(f"spark-standalone.sh start failed:\n{out.stderr[-3000:]}")
        self.master, self.start_s = out.stdout.strip().splitlines()[-1], t.s
        return self.master

    def worker_pids(self) -> list[int]:
        """Pids of this cluster's worker JVMs (checked by their command line)."""
        import psutil

        pids = []
        for path in Path(self.run_dir).glob("worker*.pid"):
            try:
                pid = int(path.read_text())
                if self.marker in " ".join(psutil.Process(pid).cmdline()):
                    pids.append(pid)
            except (ValueError, OSError, psutil.Error):
                pass
        return pids

    def stop(self) -> list[str]:
        """Stop it; return the command lines of its daemons still alive after 30 s."""
        out = self._script("stop", 120)
        left = wait_processes_gone([self.marker], 30)
        if out.returncode != 0:
            print(f"[chaos] spark-standalone.sh stop exited {out.returncode}: "
                  f"{out.stderr[-1000:]}", file=sys.stderr, flush=True)
        if not left:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        return left


def read_records(record_dir: str,
                 skip_pid: int | None = None) -> dict[int, list[tuple[int, float]]]:
    """``{trial: [(pid, time), ...]}`` from the records (lines of ``skip_pid`` dropped)."""
    records: dict[int, list[tuple[int, float]]] = {}
    for path in Path(record_dir).glob("epochs_*"):
        suffix = path.name.split("_", 1)[1]
        if not suffix.isdigit():
            continue
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2 and int(parts[0]) != skip_pid:
                rows.append((int(parts[0]), float(parts[1])))
        records[int(suffix)] = rows
    return records


class Run:
    """One driver process (``fit`` of one run) and what it started."""

    def __init__(self, label: str, args: argparse.Namespace, logs_dir: str, work: str,
                 spark: Spark | None = None) -> None:
        self.label = label
        self.spark = spark
        self._context: dict[str, Any] = {}
        self.record_dir = os.path.join(work, f"record_{label}")
        os.makedirs(self.record_dir)
        self.log_path = os.path.join(work, f"driver_{label}.log")
        self.cmd = [sys.executable, os.path.abspath(__file__), "--driver", "--name", label,
                    "--logs-dir", logs_dir, "--record-dir", self.record_dir,
                    "--trials", str(args.trials), "--epochs", str(args.epochs),
                    "--epoch-s", str(args.epoch_s), "--seed", str(args.seed)]
        if spark is not None:
            assert spark.master is not None
            self.cmd += ["--master", spark.master]
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.process_wall_s: float | None = None
        self.seen: dict[int, float] = {}  # pid -> create_time of every descendant seen
        self.timeout_s = args.timeout

    def start(self) -> None:
        env = {**os.environ, **BENCH_ENV, "PYTHONPATH": str(ROOT)}
        env.pop("RAY_ADDRESS", None)
        self._out = open(os.path.join(os.path.dirname(self.log_path), f"out_{self.label}.json"),
                         "w+", encoding="utf-8")
        self._err = open(self.log_path, "w", encoding="utf-8")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=self._err, env=env,
                                     cwd=str(ROOT))

    def alive(self) -> bool:
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            return True
        if self.process_wall_s is None:  # first seen ended (polled every <= 0.5 s)
            self.process_wall_s = time.monotonic() - self.started
        return False

    def snapshot(self) -> None:
        """Remember every live descendant of the driver (Ray's services, workers; with Spark
        its driver JVM and the Ray head) and of its Spark cluster's workers (the executors,
        the Ray nodes in them and their Ray workers)."""
        import psutil

        if not self.alive():
            return
        children = []
        for root in [self.proc.pid, *(self.spark.worker_pids() if self.spark else [])]:
            try:
                children += psutil.Process(root).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for child in children:
            try:
                self.seen.setdefault(child.pid, child.create_time())
            except psutil.NoSuchProcess:
                pass

    def context(self) -> dict[str, Any]:
        """With Spark: ``app_id`` and ``ray_temp_root``, once the driver wrote them."""
        path = Path(self.record_dir, "context.json")
        if self.spark is not None and not self._context and path.exists():
            try:
                self._context = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:  # being written
                pass
        return self._context

    def is_executor(self, proc: Any) -> bool:
        """``proc`` is an executor JVM of this run's Spark application."""
        app_id = self.context().get("app_id")
        try:
            cmd = " ".join(proc.cmdline())
        except Exception:  # gone
            return False
        return bool(app_id) and "CoarseGrainedExecutorBackend" in cmd and f" {app_id} " in (
            cmd + " ")

    def executor_of(self, pid: int) -> Any:
        """The executor JVM of this run among the parents of ``pid``, or None."""
        import psutil

        try:
            parents = psutil.Process(pid).parents()
        except psutil.NoSuchProcess:
            return None
        return next((p for p in parents if self.is_executor(p)), None)

    def executors(self) -> list[Any]:
        """Live executor JVMs of this run (children of its Spark workers)."""
        import psutil

        found = []
        for root in self.spark.worker_pids() if self.spark else []:
            try:
                found += [c for c in psutil.Process(root).children() if self.is_executor(c)]
            except psutil.NoSuchProcess:
                pass
        return found

    def ray_nodes(self) -> int:
        """Live raylets inside this run's executors (Ray worker nodes, by the process table)."""
        import psutil

        count = 0
        for jvm in self.executors():
            try:
                count += sum(1 for c in jvm.children(recursive=True) if c.name() == "raylet")
            except psutil.Error:
                pass
        return count

    def is_ray_worker(self, pid: int) -> bool:
        """``pid`` is a ``ray::`` process under this driver (not the driver itself), or with
        Spark under an executor of this run's application."""
        import psutil

        try:
            proc = psutil.Process(pid)
            title = (proc.cmdline() or [""])[0]
            ancestors = {p.pid for p in proc.parents()}
        except psutil.NoSuchProcess:
            return False
        if not title.startswith("ray::"):
            return False
        return self.proc.pid in ancestors or (
            self.spark is not None and self.executor_of(pid) is not None)

    def finish(self) -> dict[str, Any]:
        """Wait for the driver; its JSON object plus ``process_wall_s`` (and its log tail)."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout=max(1.0, self.started + self.timeout_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
        if self.process_wall_s is None:
            self.process_wall_s = time.monotonic() - self.started
        self._out.seek(0)
        lines = [line for line in self._out.read().splitlines() if line.startswith("{")]
        self._out.close()
        self._err.close()
        result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        result["returncode"] = self.proc.returncode
        result["process_wall_s"] = self.process_wall_s
        if self.proc.returncode != 0 or not lines or "error" in result:
            result["driver_log_tail"] = Path(self.log_path).read_text(
                encoding="utf-8", errors="replace")[-4000:]
        return result

    def stop(self) -> None:
        """SIGTERM (zoo_tune's graceful stop: stops the trials and its Ray), then SIGKILL of
        the driver and everything under it."""
        import psutil

        if not self.alive():
            return
        self.snapshot()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid, created in list(self.seen.items()) + [(self.proc.pid, None)]:
                try:
                    proc = psutil.Process(pid)
                    if created is None or proc.create_time() == created:
                        proc.kill()
                except psutil.NoSuchProcess:
                    pass
            self.proc.wait(timeout=30)
        self.process_wall_s = time.monotonic() - self.started

    def left(self, timeout_s: float = 30.0) -> list[str]:
        """Descendants seen during the run that are still alive (after up to ``timeout_s``)."""
        import psutil

        deadline = time.monotonic() + timeout_s
        while True:
            left = []
            for pid, created in self.seen.items():
                try:
                    proc = psutil.Process(pid)
                    if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                        left.append(f"{pid} {' '.join(proc.cmdline())[:200]}")
                except psutil.NoSuchProcess:
                    pass
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.5)


# --- the fault injector ---------------------------------------------------------------------


class Injector:
    """Faults into one run, on a seeded schedule (see the module docstring)."""

    def __init__(self, run: Run, args: argparse.Namespace, hdfs: Hdfs | None) -> None:
        self.run, self.args, self.hdfs = run, args, hdfs
        self.rng = random.Random(args.seed)
        self.kinds = itertools.cycle(
            [k for k in KINDS if k == "kill" or (k == "executor" and run.spark is not None)
             or (k == "freeze" and hdfs is not None)])
        self.events: list[dict[str, Any]] = []
        self.kills: dict[int, int] = {}  # trial -> times killed
        self.t0: float | None = None  # wall clock of the run's first epoch
        self.frozen: int | None = None  # NameNode pid while it is stopped

    def _sleep_until(self, when: float, others: Sequence[Run]) -> bool:
        """Sleep until wall time ``when`` (snapshotting processes); False if the run ended."""
        while time.time() < when:
            for r in (self.run, *others):
                r.snapshot()
            if not self.run.alive():
                return False
            time.sleep(min(0.5, max(0.0, when - time.time())))
        return self.run.alive()

    def _running(self) -> tuple[list[tuple[int, int]], dict[int, list[tuple[int, float]]]]:
        """``[(worker pid, trial), ...]`` of running trials that may be hit, and the records."""
        records = read_records(self.run.record_dir, skip_pid=self.run.proc.pid)
        now = time.time()
        latest: dict[int, tuple[int, float]] = {}  # pid -> (trial, time) of its newest epoch
        for trial, rows in records.items():
            for pid, t in rows:
                if pid not in latest or t > latest[pid][1]:
                    latest[pid] = (trial, t)
        candidates = sorted(
            (pid, trial) for pid, (trial, t) in latest.items()
            if now - t < 2 * self.args.epoch_s + 1.5 and len(records[trial]) < self.args.epochs
            and self.kills.get(trial, 0) < self.args.max_kills_per_trial
            and self.run.is_ray_worker(pid))
        return candidates, records

    def _kill(self) -> dict[str, Any] | None:
        """SIGKILL a running trial's worker; None when none is running (try again later)."""
        candidates, records = self._running()
        if not candidates:
            return None
        pid, trial = self.rng.choice(candidates)
        epochs_logged = len(records[trial])
        os.kill(pid, signal.SIGKILL)
        self.kills[trial] = self.kills.get(trial, 0) + 1
        return {"kind": "kill", "pid": pid, "trial": trial, "epochs_logged": epochs_logged}

    def _executor(self) -> dict[str, Any] | None:
        """SIGKILL the executor JVM whose Ray node runs a trial; None when no trial runs in an
        executor, or fewer than 2 executors are alive (the last one is never killed: with no
        Ray worker node left no trial could run, and the run would only time out)."""
        executors = self.run.executors()
        if len(executors) < 2:
            return None
        candidates, records = self._running()
        hosted = [(pid, trial, jvm) for pid, trial in candidates
                  if (jvm := self.run.executor_of(pid)) is not None]
        if not hosted:
            return None
        pid, trial, jvm = self.rng.choice(hosted)
        co_hosted = sorted(t for _, t, j in hosted if j.pid == jvm.pid)
        ray_nodes = self.run.ray_nodes()
        epochs_logged = len(records[trial])
        cmd = " ".join(jvm.cmdline())
        executor_id = (cmd.split("--executor-id", 1)[1].split() or [None])[0] if (
            "--executor-id" in cmd) else None
        try:
            below = [(c, c.create_time()) for c in jvm.children(recursive=True)]
        except Exception:  # noqa: BLE001 - a child ended meanwhile: count none
            below = []
        jvm.send_signal(signal.SIGKILL)
        for t in co_hosted:
            self.kills[t] = self.kills.get(t, 0) + 1
        event = {"kind": "executor", "pid": jvm.pid, "executor_id": executor_id,
                 "trial_pid": pid, "trial": trial, "trials_hosted": co_hosted,
                 "epochs_logged": epochs_logged, "executors_before": len(executors),
                 "ray_nodes_before": ray_nodes, "processes_below": len(below),
                 "below_alive_after_s": {}}
        threading.Thread(target=self._count_orphans, args=(below, event), daemon=True).start()
        return event

    @staticmethod
    def _count_orphans(below: list[tuple[Any, float]], event: dict[str, Any]) -> None:
        """How many processes that ran under the killed executor (the Python worker, the Ray
        node and its Ray workers) are still alive 1, 5, 15 and 30 s after the kill."""
        start = time.monotonic()
        for at in (1, 5, 15, 30):
            time.sleep(max(0.0, start + at - time.monotonic()))
            alive = 0
            for proc, created in below:
                try:
                    alive += proc.create_time() == created and proc.status() != "zombie"
                except Exception:  # noqa: BLE001 - gone
                    pass
            event["below_alive_after_s"][str(at)] = alive

    def _freeze(self, others: Sequence[Run]) -> dict[str, Any]:
        assert self.hdfs is not None
        pid = self.hdfs.namenode_pid()
        duration = self.rng.uniform(*self.args.freeze_s)
        print(f"[chaos] fault {len(self.events) + 1}: SIGSTOP NameNode {pid} for {duration:.1f} s",
              file=sys.stderr, flush=True)
        os.kill(pid, signal.SIGSTOP)
        self.frozen = pid
        try:
            self._sleep_until(time.time() + duration, others)
        finally:
            self.release()
        return {"kind": "freeze", "pid": pid, "duration_s": round(duration, 2)}

    def release(self) -> None:
        """SIGCONT the NameNode if it is stopped (safe to call at any time)."""
        if self.frozen is not None:
            try:
                os.kill(self.frozen, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.frozen = None

    def loop(self, others: Sequence[Run]) -> None:
        """Inject faults until the run ends (or ``--max-faults``)."""
        while self.run.alive() and self.t0 is None:
            firsts = [rows[0][1] for rows in read_records(
                self.run.record_dir, skip_pid=self.run.proc.pid).values() if rows]
            if firsts:
                self.t0 = min(firsts)
                break
            for r in (self.run, *others):
                r.snapshot()
            time.sleep(0.2)
        gap = self.rng.uniform(*self.args.gap_s)
        when = time.time() + gap
        if self.t0 is not None:
            print(f"[chaos] faulty: first epoch seen, first fault in {gap:.1f} s",
                  file=sys.stderr, flush=True)
        while self.args.max_faults is None or len(self.events) < self.args.max_faults:
            kind = next(self.kinds)
            if not self._sleep_until(when, others):
                print(f"[chaos] faulty ended before fault {len(self.events) + 1} ({kind})",
                      file=sys.stderr, flush=True)
                return
            at = time.time()
            event = None
            while event is None and self.run.alive():
                event = (self._kill() if kind == "kill" else self._executor()
                         if kind == "executor" else self._freeze(others))
                if event is None:
                    self._sleep_until(time.time() + 0.2, others)
            if event is None:
                print(f"[chaos] faulty ended while fault {len(self.events) + 1} ({kind}) "
                      f"waited {time.time() - at:.1f} s for a running trial",
                      file=sys.stderr, flush=True)
                return
            event["at_s"] = round(at - (self.t0 or at), 2)
            event["waited_s"] = round(time.time() - at, 2) if kind != "freeze" else 0.0
            self.events.append(event)
            print(f"[chaos] fault {len(self.events)}: {event}", file=sys.stderr, flush=True)
            when = time.time() + self.rng.uniform(*self.args.gap_s)

    def wait_end(self, others: Sequence[Run]) -> None:
        while any(r.alive() for r in (self.run, *others)):
            for r in (self.run, *others):
                r.snapshot()
            time.sleep(0.5)


# --- results --------------------------------------------------------------------------------


def summarize(label: str, result: dict[str, Any], run: Run, args: argparse.Namespace,
              events: list[dict[str, Any]]) -> dict[str, Any]:
    records = read_records(run.record_dir, skip_pid=result.get("pid"))
    logged = sum(len(rows) for rows in records.values())
    table = result.get("table") or []
    complete = (len(table) == args.trials and all(
        r["status"] == "TERMINATED" and r["epochs"] == args.epochs
        and r["history_len"] == args.epochs for r in table))
    faults = dict.fromkeys(KINDS, 0)
    for event in events:
        faults[event["kind"]] += 1
    cluster = None
    if "cluster" in result:  # Spark: executors and Ray worker nodes, as the driver saw them
        timeline = result["cluster"]["timeline"]
        cluster = {
            **result["cluster"],
            "executors": [row[1] for row in timeline[:1] + timeline[-1:]],
            "executors_min": min((row[1] for row in timeline), default=None),
            "ray_nodes": [row[2] for row in timeline[:1] + timeline[-1:]],
            "ray_nodes_min": min((row[2] for row in timeline), default=None),
            "app_id": result.get("app_id")}
    return {
        "run": label, "wall_s": result.get("wall_s"), "process_wall_s": result["process_wall_s"],
        "ray_startup_s": result.get("ray_startup_s"), "faults": faults, "events": events,
        "retries": sum(r["failures"] for r in table),
        "epochs_logged": logged, "epochs_redone": logged - args.trials * args.epochs,
        "epochs_logged_per_trial": {str(k): len(v) for k, v in sorted(records.items())},
        "worker_pids_per_trial": {str(k): len({p for p, _ in v})
                                  for k, v in sorted(records.items())},
        "complete": complete,
        "statuses": {s: sum(r["status"] == s for r in table)
                     for s in sorted({r["status"] for r in table})},
        "table": table, "error": result.get("error") or result.get("table_error"),
        "cluster": cluster,
        "returncode": result["returncode"],
        **({"driver_log_tail": result["driver_log_tail"]} if "driver_log_tail" in result
           else {}),
    }


def markdown(runs: dict[str, dict[str, Any]], ratio: float | None) -> str:
    spark = any(r.get("cluster") for r in runs.values())

    def start_end(r: dict[str, Any], key: str) -> str:
        c = r.get("cluster") or {}
        if not c.get(key):
            return ""
        ever = c["executors_ever" if key == "executors" else "ray_nodes_ever"]
        return f"{c[key][0]} -> {c[key + '_min']} -> {c[key][-1]} ({ever} ever)"

    rows = [[r["run"], r["wall_s"], r["faults"]["kill"],
             *([r["faults"]["executor"]] if spark else []), r["faults"]["freeze"],
             r["retries"], r["epochs_redone"], "yes" if r["complete"] else "NO",
             ", ".join(f"{k} {v}" for k, v in r["statuses"].items()),
             *([start_end(r, "executors"), start_end(r, "ray_nodes")] if spark else [])]
            for r in runs.values()]
    text = markdown_table(["run", "fit wall s", "worker kills",
                           *(["executor kills"] if spark else []), "NameNode freezes",
                           "retries (sum of failures)", "epochs redone",
                           "every trial all epochs + TERMINATED", "statuses",
                           *(["executors start -> min -> end", "Ray worker nodes start -> min "
                              "-> end"] if spark else [])], rows)
    if ratio is not None:
        text += f"\n\nfaulty / fault-free wall time: {ratio:.2f}x"
    return text


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=None, help="trials (16; smoke 4)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (8; smoke 3)")
    parser.add_argument("--epoch-s", type=float, default=None,
                        help="sleep in the metric, per epoch (2.0; smoke 0.4)")
    parser.add_argument("--seed", type=int, default=0, help="fault schedule, data, model seeds")
    parser.add_argument("--hdfs", action="store_true",
                        help="logs on HDFS (one scripts/hdfs.sh cluster per run); also freeze "
                             "the faulty run's NameNode")
    parser.add_argument("--spark", action="store_true",
                        help="each run on Ray on a Spark standalone cluster of its own "
                             f"({SPARK_WORKERS} workers x 1 core, scripts/spark-standalone.sh); "
                             "also SIGKILL executor JVMs of the faulty run")
    parser.add_argument("--gap-s", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                        help="seconds between faults (20 40; smoke 1 2)")
    parser.add_argument("--freeze-s", type=float, nargs=2, default=(10.0, 20.0),
                        metavar=("MIN", "MAX"), help="NameNode freeze length (10 20)")
    parser.add_argument("--max-faults", type=int, default=None, help="(unlimited; smoke 1)")
    parser.add_argument("--max-kills-per-trial", type=int, default=2,
                        help="never kill a trial more often (fit's max_failures: 2)")
    parser.add_argument("--sequential", action="store_true",
                        help="run fault_free first, then faulty (default: both at once)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per run (1200; smoke 150)")
    parser.add_argument("--smoke", action="store_true",
                        help="4 trials x 3 epochs, one worker kill, no HDFS, no Spark")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--logs-dir", help=argparse.SUPPRESS)
    parser.add_argument("--record-dir", help=argparse.SUPPRESS)
    parser.add_argument("--master", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke and (args.hdfs or args.spark):
        parser.error("--smoke runs without HDFS and Spark")
    args.trials = args.trials or (4 if args.smoke else 16)
    args.epochs = args.epochs or (3 if args.smoke else 8)
    args.epoch_s = args.epoch_s if args.epoch_s is not None else (0.4 if args.smoke else 2.0)
    args.gap_s = tuple(args.gap_s or ((1.0, 2.0) if args.smoke else (20.0, 40.0)))
    if args.smoke and args.max_faults is None:
        args.max_faults = 1
    args.timeout = args.timeout or (150.0 if args.smoke else 1200.0)
    if min(args.gap_s) < 0 or args.gap_s[0] > args.gap_s[1] or args.freeze_s[0] > args.freeze_s[1]:
        parser.error("--gap-s / --freeze-s: 0 <= MIN <= MAX")
    return args


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.driver:
        return driver(args)
    claim_stdout()
    signal.signal(signal.SIGTERM, _on_sigterm)  # so `timeout` still cleans up
    work = tempfile.mkdtemp(prefix="bench_chaos_")
    clusters: dict[str, Hdfs] = {}
    sparks: dict[str, Spark] = {}
    runs: dict[str, Run] = {}
    injector: Injector | None = None
    left: list[str] = []
    results: dict[str, dict[str, Any]] = {}
    done = False
    try:
        logs = {}
        for label in RUNS:
            if args.hdfs:
                clusters[label] = Hdfs(label)
                uri = clusters[label].start()  # one at a time: port 0 = first free port
                print(f"[chaos] {label}: HDFS at {uri}", file=sys.stderr, flush=True)
                logs[label] = f"{uri}/bench/chaos"
            else:
                logs[label] = os.path.join(work, f"logs_{label}")
        for label in RUNS if args.spark else ():
            sparks[label] = Spark(label)
            master = sparks[label].start()  # one at a time: port 0 = first free port
            print(f"[chaos] {label}: Spark standalone at {master} ({SPARK_WORKERS} workers x "
                  f"1 core)", file=sys.stderr, flush=True)
        runs = {label: Run(label, args, logs[label], work, sparks.get(label)) for label in RUNS}
        injector = Injector(runs["faulty"], args, clusters.get("faulty"))
        if args.sequential:
            runs["fault_free"].start()
            print("[chaos] fault_free ...", file=sys.stderr, flush=True)
            injector.wait_end([runs["fault_free"]])
            results["fault_free"] = runs["fault_free"].finish()
            runs["faulty"].start()
            print("[chaos] faulty ...", file=sys.stderr, flush=True)
            injector.loop([])
            injector.wait_end([])
        else:
            for run in runs.values():
                run.start()
            print("[chaos] fault_free and faulty at once ...", file=sys.stderr, flush=True)
            injector.loop([runs["fault_free"]])
            injector.wait_end([runs["fault_free"]])
        for label, run in runs.items():
            if label not in results:
                results[label] = run.finish()
        done = True
    finally:
        if injector is not None:
            injector.release()
        for run in runs.values():
            run.stop()
        for run in runs.values():
            left += run.left()
        for run in runs.values():  # Ray nodes (temp root) and executors (app id) of Spark runs
            markers = [run.context().get("app_id"), run.context().get("ray_temp_root")]
            left += [line for line in wait_processes_gone(markers, 30) if line not in left]
        for spark in sparks.values():
            left += spark.stop()
        for cluster in clusters.values():
            left += cluster.stop()
        if not done:
            print(f"[chaos] stopped early; driver logs and records kept in {work}"
                  + (f"; still running: {left}" if left else ""), file=sys.stderr, flush=True)
    summary_runs = {label: summarize(label, results[label], runs[label], args,
                                     injector.events if label == "faulty" else [])
                    for label in RUNS}
    shutil.rmtree(work, ignore_errors=True)
    clean, faulty = summary_runs["fault_free"], summary_runs["faulty"]
    ratio = (faulty["wall_s"] / clean["wall_s"]) if clean["wall_s"] and faulty["wall_s"] else None
    result = {
        "benchmark": "chaos", "machine": machine(),
        "settings": {"trials": args.trials, "epochs": args.epochs, "epoch_s": args.epoch_s,
                     "seed": args.seed, "hdfs": args.hdfs, "spark": args.spark,
                     "spark_workers": SPARK_WORKERS if args.spark else None,
                     "gap_s": list(args.gap_s),
                     "freeze_s": list(args.freeze_s), "max_faults": args.max_faults,
                     "max_kills_per_trial": args.max_kills_per_trial,
                     "sequential": args.sequential, "smoke": args.smoke, "time": time.time(),
                     "hdfs_start_s": {k: c.start_s for k, c in clusters.items()},
                     "spark_start_s": {k: c.start_s for k, c in sparks.items()},
                     "git": git_state()},
        "runs": summary_runs,
        "summary": {"wall_ratio": ratio, "all_complete": clean["complete"] and faulty["complete"],
                    "processes_left": left},
    }
    table = markdown(summary_runs, ratio)
    if left:
        table += f"\n\nprocesses left: {len(left)}"
    emit(result, table, args.markdown)
    ok = result["summary"]["all_complete"] and not left
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
