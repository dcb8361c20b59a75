"""A driver process for the node cache test: 4 concurrent trials read one node-cached table.

    python tests/data/_node_cache_job.py LOGS_DIR MB

One local Ray node with 4 CPUs (logical slots on this 2-core machine) and a Spark
``local[2]`` session. Two fits of 4 one-CPU trials (2 epochs), each over a Spark DataFrame
staged as Parquet (``driver_budget_mb=0``) that fits ``node_cache_mb``: first a 1 MiB table
(the processes' baseline), then an ``MB`` MiB one. While each fit runs, a thread samples
every 0.2 s what bench/data_sharing.py samples: the PSS of every
Ray process under this one (the Spark JVM left out: it made the frame), and the object
store's bytes in use (Ray's own store stats), and each trial's private mappings
(``private_mb``). One JSON line on stdout, per fit.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time

import psutil

FEATURES = 32


def _frame(spark, mb: float):
    from pyspark.sql import functions as F

    rows = max(64, int(mb * 2**20 / (FEATURES * 4 + 8)))
    return (spark.range(rows, numPartitions=4)
            .select(F.array(*[F.rand(k).cast("float") for k in range(FEATURES)]).alias("x"),
                    (F.rand(99) * 10).cast("long").alias("y"))), rows


def _model(config):
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(FEATURES, 10)


def private_mb(pid: int) -> float:
    """MiB of ``pid``'s private mappings that only it maps (its heap, its copies).

    ``psutil``'s USS also counts the pages of *shared* mappings (the object store's
    ``/dev/shm`` file) that, at that instant, no other process has touched: a trial that reads
    ahead of the others shows part of the shared table as its own. A copy of the table lands
    in a private mapping, so this counts only mappings whose permissions end in ``p``.
    """
    total_kb = 0
    private = False
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = line.split(maxsplit=2)
            if len(head) >= 2 and "-" in head[0] and len(head[1]) == 4:
                private = head[1].endswith("p")  # a mapping's header: "start-end perms ..."
            elif private and head[0] in ("Private_Clean:", "Private_Dirty:"):
                total_kb += int(head[1])
    return total_kb / 1024


class Sampler:
    """Peaks of: the object store's bytes, each trial's private memory, all Ray processes' PSS."""

    def __init__(self) -> None:
        self.root = psutil.Process()
        self.plasma_mb = 0.0
        self.trial_private: dict[int, float] = {}
        self.cache_pids: set[int] = set()
        self.ray_pss_mb = 0.0
        self.peak_parts: dict[str, float] = {}
        self.errors: list[str] = []
        self.plasma_misses = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _plasma(self) -> float:
        import ray
        from ray._private.internal_api import memory_summary  # Ray's store stats

        try:  # this job's Ray by address: the test session may run another on this machine
            summary = memory_summary(address=ray.get_runtime_context().gcs_address,
                                     stats_only=True)
        except Exception:  # noqa: BLE001 - a busy raylet: the next query counts
            self.plasma_misses += 1
            return 0.0
        found = re.search(r"Plasma memory usage (\d+) MiB", summary)
        return float(found.group(1)) if found else 0.0

    def _loop(self) -> None:
        tick = 0
        while not self._stop.is_set():
            try:
                self._sample(tick)
            except psutil.Error:  # a process ended while the tree was listed: next tick
                pass
            except Exception as err:  # noqa: BLE001 - reported, the test shows it
                self.errors.append(repr(err))
            tick += 1
            self._stop.wait(0.2)

    def _sample(self, tick: int) -> None:
        total = 0.0
        parts: dict[str, float] = {}
        for proc in self.root.children(recursive=True):
            try:
                title = (proc.cmdline() or [""])[0]
                if proc.name() == "java":
                    continue
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            total += info.pss / 2**20
            kind = ("trial" if title.startswith("ray::ImplicitFunc") else
                    "cache" if "NodeCache" in title else (title.split() or ["?"])[0][-24:])
            parts[kind] = parts.get(kind, 0.0) + info.pss / 2**20
            if title.startswith("ray::ImplicitFunc"):
                try:
                    mb = private_mb(proc.pid)
                except (FileNotFoundError, ProcessLookupError):  # it ended meanwhile
                    continue
                if mb == 0.0:  # an exiting process whose mappings are gone already
                    continue
                self.trial_private[proc.pid] = max(self.trial_private.get(proc.pid, 0.0), mb)
            if "NodeCache" in title:
                self.cache_pids.add(proc.pid)
        if total > self.ray_pss_mb:
            self.ray_pss_mb, self.peak_parts = total, parts
        if tick % 5 == 0:
            self.plasma_mb = max(self.plasma_mb, self._plasma())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _caches_left(timeout_s: float = 20.0) -> list[str]:
    """Node cache actors still listed (``ray.kill`` is asynchronous: waits for them)."""
    import ray

    deadline = time.monotonic() + timeout_s
    while True:
        left = [a["name"] for a in ray.util.list_named_actors(True)
                if a["name"].startswith("zoo_tune_node_cache")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def main(logs_dir: str, mb: float) -> None:
    from pyspark.sql import SparkSession

    from zoo_tune import AutoEstimator, hp, init_context, stop_context

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    init_context(cluster_mode="local", cores=4, object_store_memory=int(3 * mb + 200) * 2**20)
    out = {}
    try:
        for name, size in (("baseline", 1.0), ("table", mb)):
            df, rows = _frame(spark, size)
            val, _ = _frame(spark, 0.2)
            est = AutoEstimator.from_torch(model_creator=_model, optimizer="SGD",
                                           loss="CrossEntropyLoss", logs_dir=logs_dir,
                                           name=name, resources_per_trial={"cpu": 1})
            with Sampler() as sampler:
                began = time.monotonic()
                est.fit(df, validation_data=val, feature_cols=["x"], label_cols=["y"],
                        driver_budget_mb=0, epochs=2, metric="accuracy", verbose=0,
                        search_space={"lr": hp.grid_search([0.01, 0.02, 0.03, 0.04]),
                                      "batch_size": 4096})
                took = time.monotonic() - began

            with open(os.path.join(logs_dir, name, "zoo_tune_experiment.json")) as f:
                meta = json.load(f)
            table = est.get_trial_table()
            out[name] = {"rows": rows, "table_mb": meta["data"]["data"]["bytes"] / 2**20,
                         "kind": meta["data"]["data"]["kind"],
                         "statuses": sorted(set(table["status"])), "trials": len(table),
                         "plasma_peak_mb": sampler.plasma_mb,
                         "trial_private_peak_mb": sorted(sampler.trial_private.values()),
                         "trial_processes": len(sampler.trial_private),
                         "cache_processes": len(sampler.cache_pids),
                         "ray_pss_peak_mb": sampler.ray_pss_mb, "fit_s": took,
                         "sampler_errors": sampler.errors[:5],
                         "ray_pss_peak_parts_mb": {k: round(v) for k, v in
                                                   sampler.peak_parts.items()},
                         "plasma_misses": sampler.plasma_misses,
                         "caches_left": _caches_left()}
    finally:
        stop_context()
        spark.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(), float(sys.argv[2]))
