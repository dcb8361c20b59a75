"""Data bigger than memory: epoch throughput and memory of zoo_tune's Parquet streaming and
node cache, against in-memory numpy, Petastorm and Ray Data (issue 15).

One table, generated on Spark's executors (``spark.range`` with seeded ``rand`` columns cast
to float: ``--features`` float32 columns ``f0..`` plus an int64 label ``floor(f0 * 10)``), so
no driver ever holds it; its size is its cast size, rows x (4 x features + 8) bytes. Every
contender trains the same torch model (``features -> 64 -> 10`` MLP, ReLU, SGD, cross
entropy, batch ``--batch-size``, one torch thread) for ``--epochs`` epochs (2) over all its
rows, each contender in its own Python process (``run_worker``), one after the other; rows/s
is the last epoch's training rows over its wall time (batch loading and model steps, nothing
else; a first epoch also pays the loader's start: Ray Data's actors and read workers, say).
``--isolation shared`` (``--smoke``'s default) runs zoo_tune's three fits (stream, cache
baseline, cache table) in one process, on one Spark session and one Ray.

Part 1, throughput and per-process RSS (``--gb`` GiB, 4 by default):

- ``numpy``: the Parquet loaded (untimed) into one ``(rows, features)`` float32 array and the
  label array; a plain torch loop over shuffled index slices. The in-memory reference.
- ``zoo_tune_stream``: ``AutoEstimator.from_torch(...).fit(spark_df, feature_cols=[[f0..]],
  label_cols=["label"], validation_data=<small frame>, node_cache_mb=--node-cache-mb,
  driver_budget_mb=0)`` on ``init_context(cluster_mode="local")``, one trial of one CPU: the
  table is over ``node_cache_mb``, so the trial streams it from ``<logs_dir>/<name>/data/``
  row group by row group. Its rows/s is what the trial reports (``rows_per_s``); the
  experiment file must say ``"kind": "stream"``.
- ``petastorm``: ``make_spark_converter(spark_df)`` (timed apart), then one
  ``converter.make_torch_dataloader(batch_size=..., num_epochs=1)`` per epoch.
- ``ray_data``: ``ray.data.read_parquet(<the Parquet>).iter_torch_batches(batch_size=...)``
  per epoch, on ``ray.init(num_cpus=--cores)`` in the contender's process.

Petastorm and Ray Data run with their loaders' defaults (no row shuffle); numpy and zoo_tune
shuffle. Petastorm and Ray Data yield one tensor per column; the batch is ``torch.stack``-ed
into ``(batch, features)`` as part of the timed loop.

Part 2, memory of concurrent trials (``zoo_tune_cache``): ``--trials`` trials of one CPU each
at once (``init_context(cores=--trials)``) on a ``--cache-gb`` GiB frame (1 by default) that
fits ``node_cache_mb`` (``max(2048, 1.1 x table)``), so it is cached once in Ray's object store
and shared; the experiment file must say ``"kind": "node_cache"``. The same run with a
``--baseline-mb`` table gives the processes' own memory; the ratio is (peak - baseline peak) /
table (goal <= 1.3).

Memory: a thread samples every process of the contender's tree (itself, Spark's JVM, Ray's
services, Ray workers) every ``--interval`` s: PSS summed over the tree (``MemorySampler``:
shared pages, the object store included, count once), and each process's peak RSS. The
training process is the contender's own process (numpy, Petastorm, Ray Data; Ray Data's read
tasks run in other Ray workers, listed apart) or each Ray Tune trial worker (zoo_tune; goal:
every one under ``--rss-goal-mb``, 1024).

Goals (issue 15), all from one run, side by side: zoo_tune_stream >= 0.8 x numpy's rows/s and
ahead of Petastorm's; each trial's peak RSS < 1 GiB; zoo_tune_cache's added memory <= 1.3 x
the table. A contender that fails (a missing package, an API that is not there yet) gets a row
with its ``error``; the others still run. Each worker's stderr is kept under
``<work-dir>/logs/`` (with ``--keep`` or ``--work-dir``: the default temp dir is removed).

    .venv/bin/python bench/big_data.py                       # 4 GiB stream, 1 GiB x 4 trials
    .venv/bin/python bench/big_data.py --contenders numpy zoo_tune_stream --gb 2
    .venv/bin/python bench/big_data.py --contenders zoo_tune_cache --cache-gb 1 --trials 4
    .venv/bin/python bench/big_data.py --smoke               # 20 MiB tables, 2 trials (~3 min)

Petastorm (0.13.1, the newest) does not import with pyarrow >= 16 (``No module named
'pyarrow.filesystem'``; uber/petastorm#806, unmaintained) and pins ``setuptools<70``, so it is
not in zoo_tune's venv: ``scripts/petastorm-site.sh`` installs it with pyarrow 14.0.2, numpy
1.26 and pandas 2.1 into ``~/.cache/zoo_tune/petastorm-site``, which this script puts first on
the Petastorm worker's ``PYTHONPATH`` only (torch and pyspark from the venv). Without that
folder the petastorm row reports the import error. The loader is Petastorm's
``BatchedDataLoader`` (``data_loader_fn``), its fast path.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from _common import (
    MemorySampler,
    Timer,
    claim_stdout,
    classify,
    emit,
    git_state,
    local_spark,
    machine,
    markdown_table,
    quiet_ray_logs,
    run_worker,
)

SEED = 0
#: Where scripts/petastorm-site.sh installs Petastorm by default.
PETASTORM_SITE = os.path.expanduser("~/.cache/zoo_tune/petastorm-site")
CLASSES = 10
HIDDEN = 64
LR = 0.05
THROUGHPUT = ("numpy", "zoo_tune_stream", "petastorm", "ray_data")
CONTENDERS = (*THROUGHPUT, "zoo_tune_cache")
#: Parquet row group and file sizes the shared table is written with (zoo_tune's own staging
#: uses the same: 16 MiB row groups, files of about 128 MiB).
ROW_GROUP_BYTES = 16 * 2**20
FILE_BYTES = 128 * 2**20
GOAL_VS_NUMPY = 0.8
GOAL_MEMORY_X = 1.3
VALIDATION_ROWS = 8192
#: Seconds a worker gets past ``--timeout`` to stop its Ray and Spark before it is killed.
GRACE_S = 120


# --- the data and the model --------------------------------------------------------------


def row_bytes(features: int) -> int:
    """Cast bytes of one row: float32 features and an int64 label."""
    return 4 * features + 8


def rows_for(mb: float, features: int) -> int:
    """Rows of a table of ``mb`` MiB cast size (at least 1024)."""
    return max(1024, int(mb * 2**20 / row_bytes(features)))


def table_mb(rows: int, features: int) -> float:
    return rows * row_bytes(features) / 2**20


def feature_names(features: int) -> list[str]:
    return [f"f{i}" for i in range(features)]


def spark_session(app: str) -> Any:
    """A local Spark session (``local[2]``, 1 GiB driver heap: no frame is collected)."""
    return local_spark(app, {"spark.driver.memory": "1g"})


def make_frame(spark: Any, rows: int, features: int, seed: int = SEED) -> Any:
    """The table as a Spark DataFrame computed on the executors (never on the driver).

    The partitioning depends on the size only, so the same (rows, features, seed) gives the
    same rows in every process: ``rand(seed)`` is seeded per partition.
    """
    from pyspark.sql import functions as F

    partitions = max(1, math.ceil(rows * row_bytes(features) / FILE_BYTES))
    return spark.range(0, rows, numPartitions=partitions).select(
        *(F.rand(seed=seed + i).cast("float").alias(name)
          for i, name in enumerate(feature_names(features))),
        F.floor(F.rand(seed=seed) * CLASSES).cast("long").alias("label"))


def make_model(config: dict[str, Any]) -> Any:
    """The model every contender trains (torch seeded, so every contender starts equal)."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    return nn.Sequential(nn.Linear(int(config["features"]), HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, CLASSES))


class Trainer:
    """The in-process contenders' training step (what zoo_tune's torch backend does)."""

    def __init__(self, features: int) -> None:
        import torch

        torch.set_num_threads(1)
        self.model = make_model({"features": features})
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.loss = torch.nn.CrossEntropyLoss()
        self.model.train()

    def step(self, x: Any, y: Any) -> None:
        self.optimizer.zero_grad()
        self.loss(self.model(x), y).backward()
        self.optimizer.step()


def timed_epochs(epochs: int, run_epoch: Callable[[], int]) -> dict[str, Any]:
    """Run ``run_epoch() -> rows`` ``epochs`` times; rows/s of each and of the last."""
    seconds, rows = [], []
    for epoch in range(epochs):
        with Timer() as t:
            rows.append(run_epoch())
        seconds.append(t.s)
        print(f"[big_data]   epoch {epoch + 1}: {rows[-1]} rows in {t.s:.2f} s", file=sys.stderr,
              flush=True)
    rates = [r / s for r, s in zip(rows, seconds)]
    return {"epoch_s": seconds, "epoch_rows": rows, "epoch_rows_per_s": rates,
            "rows_per_s": rates[-1]}


# --- memory of the process tree ----------------------------------------------------------


class TreeSampler(MemorySampler):
    """:class:`MemorySampler` (PSS summed over the tree, at its peak split by kind) that also
    keeps each process's peak RSS and titles, and counts Spark's JVM as its own kind
    (``jvm``, not Ray's services)."""

    def __init__(self, interval_s: float = 0.2) -> None:
        super().__init__(interval_s)
        self.procs: dict[int, dict[str, Any]] = {}
        self.peak_ray_mb = 0.0  # the peak of the sum without Spark's JVM

    def sample(self) -> tuple[float, dict[str, float], dict[str, int]]:
        psutil = self._psutil
        parts = {"driver": 0.0, "ray": 0.0, "worker": 0.0, "jvm": 0.0}
        counts = {"driver": 0, "ray": 0, "worker": 0, "busy": 0, "jvm": 0}
        worker_uss = 0.0
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            tree = [self.root]
        for proc in tree:
            try:
                info = proc.memory_full_info()
                argv = proc.cmdline()
                name = proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            kind = classify(proc, self.root.pid)
            if kind == "ray" and name == "java":
                kind = "jvm"
            counts[kind] += 1
            parts["worker" if kind == "busy" else kind] += info.pss / 2**20
            if kind in ("worker", "busy"):
                worker_uss += info.uss / 2**20
            title = ((argv[0] if argv else "") or name)[:80]
            rec = self.procs.setdefault(proc.pid, {"pid": proc.pid, "titles": [], "kinds": [],
                                                   "peak_rss_mb": 0.0})
            rec["peak_rss_mb"] = max(rec["peak_rss_mb"], info.rss / 2**20)
            if title not in rec["titles"]:
                rec["titles"].append(title)
            if kind not in rec["kinds"]:
                rec["kinds"].append(kind)
        total = sum(parts.values())
        self.peak_ray_mb = max(self.peak_ray_mb, total - parts["jvm"])
        parts["worker_uss"] = worker_uss
        return total, parts, counts

    def summary(self) -> dict[str, Any]:
        """Peak total PSS, its parts, and the peak RSS of the driver and of busy Ray workers."""
        driver = self.procs.get(self.root.pid, {}).get("peak_rss_mb")
        busy = sorted((p for p in self.procs.values()
                       if "busy" in p["kinds"] and p["peak_rss_mb"] > 0),  # 0: exiting
                      key=lambda p: -p["peak_rss_mb"])
        return {"peak_total_pss_mb": self.peak_mb, "peak_parts_mb": self.peak_parts,
                "peak_without_jvm_mb": self.peak_ray_mb,
                "peak_worker_uss_mb": self.peak_worker_uss_mb, "samples": self.samples,
                "max_busy_workers": self.max_busy_workers,
                "process_peak_rss_mb": driver, "busy_workers": busy}


def trial_processes(sampler: TreeSampler) -> list[dict[str, Any]]:
    """The Ray Tune trial workers (a function trainable runs as ``ray::ImplicitFunc``)."""
    return [p for p in sampler.summary()["busy_workers"]
            if any(t.startswith("ray::ImplicitFunc") for t in p["titles"])]


# --- the contenders (each runs in its own worker process) -------------------------------


def run_generate(args: argparse.Namespace) -> dict[str, Any]:
    """Write the table once as Parquet (for numpy and Ray Data) with Spark's executors."""
    spark = spark_session("big_data_generate")
    try:
        with Timer() as t:
            (make_frame(spark, args.rows, args.features).write.mode("overwrite")
             .option("parquet.block.size", ROW_GROUP_BYTES).parquet(args.parquet))
    finally:
        spark.stop()
    files = [f for f in os.listdir(args.parquet) if f.endswith(".parquet")]
    disk = sum(os.path.getsize(os.path.join(args.parquet, f)) for f in files)
    return {"contender": "generate", "rows": args.rows, "files": len(files), "write_s": t.s,
            "parquet_mb": disk / 2**20, "table_mb": table_mb(args.rows, args.features)}


def _load_numpy(path: str, features: int) -> tuple[Any, Any]:
    """The Parquet into one float32 matrix and the label vector, batch by batch (no second
    whole-table copy)."""
    import numpy as np
    import pyarrow.dataset as pds

    dataset = pds.dataset(path, format="parquet")
    rows = dataset.count_rows()
    x = np.empty((rows, features), dtype=np.float32)
    y = np.empty(rows, dtype=np.int64)
    at = 0
    names = feature_names(features)
    for batch in dataset.to_batches(columns=[*names, "label"]):
        n = batch.num_rows
        for j, name in enumerate(names):
            x[at:at + n, j] = batch.column(name).to_numpy()
        y[at:at + n] = batch.column("label").to_numpy()
        at += n
    assert at == rows, (at, rows)
    return x, y


def run_numpy(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    with TreeSampler(args.interval) as sampler:
        with Timer() as load:
            x, y = _load_numpy(args.parquet, args.features)
        trainer = Trainer(args.features)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        generator = torch.Generator().manual_seed(SEED)

        def epoch() -> int:
            order = torch.randperm(len(tx), generator=generator)
            for start in range(0, len(tx), args.batch_size):
                idx = order[start:start + args.batch_size]
                trainer.step(tx[idx], ty[idx])
            return len(tx)

        timing = timed_epochs(args.epochs, epoch)
    return {"contender": "numpy", "rows": len(x), "load_s": load.s, **timing,
            **sampler.summary()}


def _stacked(batch: dict[str, Any], names: list[str]) -> tuple[Any, Any]:
    import torch

    return torch.stack([batch[n] for n in names], dim=1), batch["label"]


def run_petastorm(args: argparse.Namespace) -> dict[str, Any]:
    from importlib.metadata import version

    from petastorm.pytorch import BatchedDataLoader
    from petastorm.spark import SparkDatasetConverter, make_spark_converter

    names = feature_names(args.features)
    cache = os.path.join(args.work_dir, "petastorm_cache")
    spark = spark_session("big_data_petastorm")
    try:
        spark.conf.set(SparkDatasetConverter.PARENT_CACHE_DIR_URL_CONF, f"file://{cache}")
        with TreeSampler(args.interval) as sampler:
            with Timer() as convert:
                converter = make_spark_converter(make_frame(spark, args.rows, args.features))
            trainer = Trainer(args.features)

            def epoch() -> int:
                rows = 0
                # BatchedDataLoader: Petastorm's loader that collates whole batches (its
                # default DataLoader collates row by row: 33k against 491k rows/s, smoke).
                with converter.make_torch_dataloader(batch_size=args.batch_size, num_epochs=1,
                                                     data_loader_fn=BatchedDataLoader) as loader:
                    for batch in loader:
                        x, y = _stacked(batch, names)
                        trainer.step(x, y)
                        rows += len(y)
                return rows

            timing = timed_epochs(args.epochs, epoch)
        converter.delete()
    finally:
        spark.stop()
        shutil.rmtree(cache, ignore_errors=True)
    return {"contender": "petastorm", "petastorm": version("petastorm"), "rows": args.rows,
            "convert_s": convert.s, **timing, **sampler.summary()}


def run_ray_data(args: argparse.Namespace) -> dict[str, Any]:
    import ray
    import ray.data

    names = feature_names(args.features)
    ray.init(num_cpus=args.cores, object_store_memory=args.object_store_mb * 2**20,
             include_dashboard=False, log_to_driver=False)
    quiet_ray_logs()
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        with TreeSampler(args.interval) as sampler:
            dataset = ray.data.read_parquet(args.parquet, file_extensions=["parquet"])
            trainer = Trainer(args.features)

            def epoch() -> int:
                rows = 0
                for batch in dataset.iter_torch_batches(batch_size=args.batch_size):
                    x, y = _stacked(batch, names)
                    trainer.step(x, y)
                    rows += len(y)
                return rows

            timing = timed_epochs(args.epochs, epoch)
    finally:
        ray.shutdown()
    return {"contender": "ray_data", "rows": args.rows, **timing, **sampler.summary()}


def _require_node_cache_api() -> None:
    from zoo_tune import AutoEstimator

    if "node_cache_mb" not in inspect.signature(AutoEstimator.fit).parameters:
        raise RuntimeError("AutoEstimator.fit has no `node_cache_mb` argument: this zoo_tune "
                           "does not stream or node-cache frames yet (issue 15)")


def _zoo_tune_fit(spark: Any, rows: int, args: argparse.Namespace, name: str,
                  node_cache_mb: float, trials: int) -> dict[str, Any]:
    """One fit of ``trials`` concurrent one-CPU trials on a ``rows``-row frame; memory sampled
    throughout."""
    import numpy as np

    from zoo_tune import AutoEstimator, hp

    names = feature_names(args.features)
    logs = os.path.join(args.work_dir, "zoo_tune")
    train = make_frame(spark, rows, args.features)
    val = make_frame(spark, VALIDATION_ROWS, args.features, seed=SEED + 1000)
    lrs = [float(v) for v in np.geomspace(LR / 4, LR, trials)] if trials > 1 else [LR]
    try:
        with TreeSampler(args.interval) as sampler:
            time.sleep(3 * args.interval)
            before_mb = sampler.sample()[0]
            est = AutoEstimator.from_torch(model_creator=make_model, optimizer="SGD",
                                           loss="CrossEntropyLoss", logs_dir=logs, name=name,
                                           resources_per_trial={"cpu": 1})
            with Timer() as t:
                est.fit(train, validation_data=val, feature_cols=[names], label_cols=["label"],
                        epochs=args.epochs, verbose=0, node_cache_mb=node_cache_mb,
                        driver_budget_mb=0,
                        search_space={"lr": hp.grid_search(lrs), "batch_size": args.batch_size,
                                      "features": args.features})
        table = est.get_trial_table()
        history = est.get_trial_history()
        with open(os.path.join(logs, name, "zoo_tune_experiment.json"), encoding="utf-8") as f:
            data_meta = json.load(f).get("data")
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    if len(table) != trials or not (table["status"] == "TERMINATED").all():
        raise RuntimeError(f"trials failed: {table['status'].tolist()} "
                           f"{table.get('error', table['status']).tolist()}")
    rates: list[list[float]] = []
    for _, group in history.groupby("trial_id"):
        if "rows_per_s" not in group:
            raise RuntimeError("the trials report no `rows_per_s`")
        rates.append([float(v) for v in group.sort_values("epoch")["rows_per_s"]])
    trial_procs = trial_processes(sampler)
    kind = (data_meta or {}).get("data", {}).get("kind")
    return {"rows": rows, "table_mb": table_mb(rows, args.features), "fit_s": t.s,
            "node_cache_mb": node_cache_mb, "trials": len(table), "data_kind": kind,
            "data_meta": data_meta, "trial_epoch_rows_per_s": rates,
            # the trials' last epochs: one trial in the stream part
            "rows_per_s": float(np.mean([r[-1] for r in rates])),
            "before_fit_mb": before_mb,
            "trial_peak_rss_mb": [p["peak_rss_mb"] for p in trial_procs],
            "max_trial_peak_rss_mb": max((p["peak_rss_mb"] for p in trial_procs), default=None),
            **sampler.summary()}


def _zoo_tune_context(cores: int, object_store_mb: float) -> float:
    from zoo_tune import init_context

    ctx = init_context(cluster_mode="local", cores=cores,
                       object_store_memory=int(object_store_mb * 2**20))
    quiet_ray_logs()
    return ctx.startup_s


def cache_node_mb(mb: float) -> float:
    """``node_cache_mb`` for the cache part: fit's default 2048, or more for a bigger table."""
    return max(2048.0, math.ceil(1.1 * mb))


def _failed(contender: str, err: Exception) -> dict[str, Any]:
    traceback.print_exc()
    return {"contender": contender, "error": f"{type(err).__name__}: {err}"}


def run_zoo_tune(args: argparse.Namespace, stream: bool,
                 cache_rows: Sequence[int]) -> dict[str, Any]:
    """On one Spark session and one zoo_tune context: the stream fit (one trial on
    ``--rows`` rows) when ``stream``, then one cache fit of ``--trials`` trials per size in
    ``cache_rows`` (the baseline first). A failed fit is an error row; the next still runs.
    """
    _require_node_cache_api()
    from zoo_tune import stop_context

    cores, store = args.cores, args.object_store_mb
    if cache_rows:
        cores = max(cores, args.trials)
        store = max(store, 1.5 * table_mb(max(cache_rows), args.features) + 128)
    out: dict[str, Any] = {}
    spark = spark_session("big_data_zoo_tune")
    try:
        startup = _zoo_tune_context(cores, store)
        try:
            if stream:
                try:
                    row = _zoo_tune_fit(spark, args.rows, args, "stream", args.node_cache_mb, 1)
                    out["stream"] = {"contender": "zoo_tune_stream", "ray_startup_s": startup,
                                     **row}
                except Exception as err:  # noqa: BLE001 - the row says what failed
                    out["stream"] = _failed("zoo_tune_stream", err)
            if cache_rows:
                runs = []
                try:
                    for rows in cache_rows:
                        mb = table_mb(rows, args.features)
                        print(f"[big_data]   {args.trials} trials on {mb:.1f} MiB",
                              file=sys.stderr, flush=True)
                        runs.append(_zoo_tune_fit(spark, rows, args, f"cache_{rows}",
                                                  cache_node_mb(mb), args.trials))
                    out["cache"] = {"contender": "zoo_tune_cache", "ray_startup_s": startup,
                                    "runs": runs}
                except Exception as err:  # noqa: BLE001 - the row says what failed
                    out["cache"] = _failed("zoo_tune_cache", err)
        finally:
            stop_context()
    finally:
        spark.stop()
    return out


def run_zoo_tune_stream(args: argparse.Namespace) -> dict[str, Any]:
    return run_zoo_tune(args, True, [])["stream"]


def run_zoo_tune_cache(args: argparse.Namespace) -> dict[str, Any]:
    return run_zoo_tune(args, False, args.rows_list)["cache"]


def run_zoo_tune_shared(args: argparse.Namespace) -> dict[str, Any]:
    """``--isolation shared``: the stream fit and the cache fits in this one process."""
    return {"contender": "zoo_tune_shared", **run_zoo_tune(args, True, args.rows_list)}


ROLES = {"generate": run_generate, "numpy": run_numpy, "zoo_tune_stream": run_zoo_tune_stream,
         "zoo_tune_cache": run_zoo_tune_cache, "zoo_tune_shared": run_zoo_tune_shared,
         "petastorm": run_petastorm, "ray_data": run_ray_data}


def _on_alarm(signum: int, frame: Any) -> None:
    raise TimeoutError("the contender ran past --timeout")


def run_role(args: argparse.Namespace) -> dict[str, Any]:
    """The worker's role; any failure becomes ``{"contender": ..., "error": ...}``."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(max(1, int(args.timeout)))
    try:
        with Timer() as t:
            row = ROLES[args.worker](args)
        row["wall_s"] = t.s
        return row
    except Exception as err:  # noqa: BLE001 - the row says what failed, the run goes on
        return _failed(args.worker, err)
    finally:
        signal.alarm(0)


# --- the parent: run the contenders one after the other, report ---------------------------


def _worker_args(args: argparse.Namespace, role: str, cache_rows: Sequence[int]) -> list[str]:
    out = [role, "--features", str(args.features), "--batch-size", str(args.batch_size),
           "--epochs", str(args.epochs), "--trials", str(args.trials),
           "--cores", str(args.cores), "--node-cache-mb", str(args.node_cache_mb),
           "--object-store-mb", str(args.object_store_mb), "--interval", str(args.interval),
           "--timeout", str(args.timeout), "--work-dir", args.work_dir,
           "--parquet", args.parquet, "--rows", str(args.rows)]
    return out + (["--rows-list", *(str(r) for r in cache_rows)] if cache_rows else [])


def call(args: argparse.Namespace, role: str, cache_rows: Sequence[int] = ()) -> dict[str, Any]:
    """``role`` in its own process; a crash, a timeout or no JSON becomes an error row."""
    label = role + "".join(f"_{r}" for r in cache_rows)
    log = os.path.join(args.work_dir, "logs", f"{label}.stderr")
    env = {}
    if role == "petastorm" and args.petastorm_site and os.path.isdir(args.petastorm_site):
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (args.petastorm_site, os.environ.get("PYTHONPATH")) if p)
    sizes = [args.rows] if role != "zoo_tune_cache" else []
    sizes += list(cache_rows)
    print(f"[big_data] {role}: " + ", ".join(f"{table_mb(r, args.features):.1f}" for r in sizes)
          + " MiB ...", file=sys.stderr, flush=True)
    try:
        row = run_worker(__file__, _worker_args(args, role, cache_rows), args.timeout + GRACE_S,
                         env=env, stderr_path=log)
    except subprocess.TimeoutExpired:
        row = {"contender": role, "error": f"killed after {args.timeout + GRACE_S:.0f} s"}
    except RuntimeError as err:  # no JSON: the worker crashed
        lines = [line for line in str(err).splitlines() if line.strip()]
        row = {"contender": role, "error": lines[-1] if lines else str(err)}
    row["stderr_log"] = log
    for part in (row, row.get("stream") or {}, row.get("cache") or {}):
        if "error" in part:
            print(f"[big_data] {part['contender']}: ERROR {part['error']}", file=sys.stderr,
                  flush=True)
    return row


def run_contenders(args: argparse.Namespace) -> tuple[dict[str, Any] | None,
                                                      dict[str, dict[str, Any]],
                                                      dict[str, Any] | None]:
    """Every contender, one process after the other: ``(generate row, throughput rows by
    contender, zoo_tune_cache's memory result)``."""
    rows: dict[str, dict[str, Any]] = {}
    generated = None
    cache_rows = ([rows_for(args.baseline_mb, args.features),
                   rows_for(args.cache_gb * 1024, args.features)]
                  if "zoo_tune_cache" in args.contenders else [])
    shared = (args.isolation == "shared" and bool(cache_rows)
              and "zoo_tune_stream" in args.contenders)
    if {"numpy", "ray_data"} & set(args.contenders):
        generated = call(args, "generate")
    cache: dict[str, Any] | None = None
    for name in (c for c in THROUGHPUT if c in args.contenders):
        if name in ("numpy", "ray_data") and generated and "error" in generated:
            rows[name] = {"contender": name, "error": f"no Parquet: {generated['error']}"}
        elif name == "zoo_tune_stream" and shared:
            both = call(args, "zoo_tune_shared", cache_rows)
            rows[name] = both.get("stream") or {**both, "contender": name}
            cache = both.get("cache") or {**both, "contender": "zoo_tune_cache"}
        else:
            rows[name] = call(args, name)
    if cache_rows and cache is None:
        if args.isolation == "shared":
            cache = call(args, "zoo_tune_cache", cache_rows)
        else:
            base = call(args, "zoo_tune_cache", cache_rows[:1])
            cache = base if "error" in base else call(args, "zoo_tune_cache", cache_rows[1:])
            if "error" not in cache:
                cache = {**cache, "runs": [*base["runs"], *cache["runs"]]}
    return generated, rows, (None if cache is None else memory_result(cache))


def summarize(rows: dict[str, dict[str, Any]], memory: dict[str, Any] | None,
              rss_goal_mb: float) -> dict[str, Any]:
    """Ratios between contenders of this run, and the issue's goals where measurable."""
    def rate(name: str) -> float | None:
        row = rows.get(name)
        return None if row is None or "error" in row else row.get("rows_per_s")

    out: dict[str, Any] = {}
    numpy_rate, stream, pst = rate("numpy"), rate("zoo_tune_stream"), rate("petastorm")
    for name, row in rows.items():
        if numpy_rate and rate(name):
            row["x_numpy"] = rate(name) / numpy_rate
    if stream and numpy_rate:
        out["stream_x_numpy"] = stream / numpy_rate
        out["stream_x_numpy_goal_met"] = stream / numpy_rate >= GOAL_VS_NUMPY
    if stream and pst:
        out["stream_x_petastorm"] = stream / pst
        out["stream_ahead_of_petastorm"] = stream > pst
    row = rows.get("zoo_tune_stream")
    if row is not None and "error" not in row:
        peak = row.get("max_trial_peak_rss_mb")
        out["stream_max_trial_peak_rss_mb"] = peak
        out["stream_rss_goal_met"] = peak is not None and peak < rss_goal_mb
        out["stream_data_kind"] = row.get("data_kind")
    if memory is not None and "error" not in memory:
        out.update({k: memory[k] for k in ("cache_added_mb", "cache_added_x_table",
                                           "cache_goal_met", "cache_data_kind")})
    return out


def memory_result(row: dict[str, Any]) -> dict[str, Any]:
    """zoo_tune_cache's runs (the baseline's, the table's) and the memory the table added."""
    if "error" in row:
        return row
    runs = row["runs"]
    base, data = runs[0], runs[-1]
    added = data["peak_total_pss_mb"] - base["peak_total_pss_mb"]
    # Without Spark's JVM (it made the frame and wrote the Parquet; the trials never see it):
    # the object store's copy, the node cache actor, the trials, Ray's services.
    added_ray = data["peak_without_jvm_mb"] - base["peak_without_jvm_mb"]
    return {**row, "runs": runs, "baseline_mb": base["table_mb"], "table_mb": data["table_mb"],
            "cache_added_without_jvm_mb": added_ray,
            "cache_added_without_jvm_x_table": added_ray / data["table_mb"],
            "baseline_peak_mb": base["peak_total_pss_mb"],
            "peak_total_pss_mb": data["peak_total_pss_mb"], "cache_added_mb": added,
            "cache_added_x_table": added / data["table_mb"],
            "cache_goal_met": added <= GOAL_MEMORY_X * data["table_mb"],
            "total_x_table": data["peak_total_pss_mb"] / data["table_mb"],
            "cache_data_kind": data.get("data_kind"),
            "max_trial_peak_rss_mb": data.get("max_trial_peak_rss_mb"),
            "max_busy_workers": data.get("max_busy_workers")}


def tables(rows: dict[str, dict[str, Any]], memory: dict[str, Any] | None,
           summary: dict[str, Any], args: argparse.Namespace) -> str:
    def peak_rss(row: dict[str, Any]) -> Any:
        if row.get("contender", "").startswith("zoo_tune"):
            return row.get("max_trial_peak_rss_mb")
        return row.get("process_peak_rss_mb")

    def others_rss(row: dict[str, Any]) -> Any:
        if row.get("contender", "").startswith("zoo_tune"):
            return None
        return max((p["peak_rss_mb"] for p in row.get("busy_workers", ())), default=None)

    text = "" if not rows else markdown_table(
        ["contender", "table MiB", "rows", "rows/s (last epoch)", "x numpy",
         "training process peak RSS MiB", "read workers peak RSS MiB", "peak total PSS MiB",
         "setup s", "data kind", "error"],
        [[name, table_mb(row.get("rows", args.rows), args.features) if "rows" in row else None,
          row.get("rows"), row.get("rows_per_s"), row.get("x_numpy"), peak_rss(row),
          others_rss(row), row.get("peak_total_pss_mb"),
          row.get("load_s", row.get("convert_s", row.get("fit_s"))), row.get("data_kind"),
          row.get("error")] for name, row in rows.items()])
    if memory is not None:
        text += "\n\n" if text else ""
        if "error" in memory:
            text += f"zoo_tune_cache: ERROR {memory['error']}"
        else:
            parts = ("driver", "jvm", "ray", "worker")
            text += markdown_table(
                ["zoo_tune_cache run", "table MiB", "trials", "busy (max)", "data kind",
                 "peak total PSS MiB", *(f"{p} PSS" for p in parts), "workers USS",
                 "max trial peak RSS MiB", "fit s"],
                [[label, r["table_mb"], r["trials"], r["max_busy_workers"], r["data_kind"],
                  r["peak_total_pss_mb"], *(r["peak_parts_mb"].get(p) for p in parts),
                  r["peak_worker_uss_mb"], r["max_trial_peak_rss_mb"], r["fit_s"]]
                 for label, r in zip(("baseline", "table"), memory["runs"])])
            text += (f"\n\nadded by the table: {memory['cache_added_mb']:.0f} MiB = "
                     f"{memory['cache_added_x_table']:.2f} x the table (goal <= "
                     f"{GOAL_MEMORY_X} x: {'met' if memory['cache_goal_met'] else 'NOT met'}); "
                     f"without Spark's JVM: {memory['cache_added_without_jvm_mb']:.0f} MiB = "
                     f"{memory['cache_added_without_jvm_x_table']:.2f} x")
    goals = []
    if "stream_x_numpy" in summary:
        goals.append(f"zoo_tune_stream = {summary['stream_x_numpy']:.2f} x numpy's rows/s "
                     f"(goal >= {GOAL_VS_NUMPY})")
    if "stream_x_petastorm" in summary:
        goals.append(f"{summary['stream_x_petastorm']:.2f} x Petastorm's (goal > 1)")
    if summary.get("stream_max_trial_peak_rss_mb") is not None:
        goals.append(f"trial peak RSS {summary['stream_max_trial_peak_rss_mb']:.0f} MiB "
                     f"(goal < {args.rss_goal_mb:.0f})")
    if goals:
        text += "\n\n" + "; ".join(goals)
    return text


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=None,
                        help="GiB (cast) of the throughput table (4; smoke 0.02)")
    parser.add_argument("--cache-gb", type=float, default=None,
                        help="GiB (cast) of zoo_tune_cache's table (1; smoke 0.02)")
    parser.add_argument("--baseline-mb", type=float, default=1.0,
                        help="MiB of zoo_tune_cache's baseline table")
    parser.add_argument("--trials", type=int, default=None,
                        help="zoo_tune_cache's concurrent trials (4; smoke 2)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--features", type=int, default=32, help="float32 feature columns")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs; rows/s is the last one's")
    parser.add_argument("--cores", type=int, default=None,
                        help="Ray CPUs of zoo_tune_stream and ray_data (default: nproc)")
    parser.add_argument("--node-cache-mb", type=float, default=None,
                        help="zoo_tune_stream's node_cache_mb, under the table's size (512; "
                             "smoke 8)")
    parser.add_argument("--object-store-mb", type=float, default=None,
                        help="Ray's object store (1024; smoke 256; zoo_tune_cache: at least "
                             "1.5 x its table)")
    parser.add_argument("--rss-goal-mb", type=float, default=1024.0)
    parser.add_argument("--interval", type=float, default=0.2, help="sampling period, s")
    parser.add_argument("--work-dir", default=None,
                        help="Parquet, caches, logs (default: a temp dir, removed unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep --work-dir afterwards")
    parser.add_argument("--petastorm-site", default=PETASTORM_SITE,
                        help="the folder scripts/petastorm-site.sh installed Petastorm into, "
                             "put first on the petastorm worker's PYTHONPATH (default "
                             f"{PETASTORM_SITE}, when it exists)")
    parser.add_argument("--isolation", choices=("process", "shared"), default=None,
                        help="process (default): every zoo_tune fit in its own process with "
                             "its own Spark and Ray; shared (--smoke's default): the stream "
                             "fit and both cache fits in one")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per contender")
    parser.add_argument("--smoke", action="store_true",
                        help="20 MiB tables, 2 trials, --isolation shared (~3 min)")
    parser.add_argument("--markdown", help="write the Markdown tables here, not to stderr")
    parser.add_argument("--worker", choices=tuple(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rows-list", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gb is None:
        args.gb = 0.02 if args.smoke else 4.0
    if args.cache_gb is None:
        args.cache_gb = 0.02 if args.smoke else 1.0
    if args.trials is None:
        args.trials = 2 if args.smoke else 4
    if args.isolation is None:
        args.isolation = "shared" if args.smoke else "process"
    if args.cores is None:
        args.cores = os.cpu_count() or 1
    if args.node_cache_mb is None:
        args.node_cache_mb = 8.0 if args.smoke else 512.0
    if args.object_store_mb is None:
        args.object_store_mb = 256.0 if args.smoke else 1024.0
    if args.smoke:
        args.timeout = min(args.timeout, 300)
    if args.rows is None:
        args.rows = rows_for(args.gb * 1024, args.features)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        emit(run_role(args), None, None)
        return 0
    made_work_dir = args.work_dir is None
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="bench_big_data_")
    os.makedirs(os.path.join(args.work_dir, "logs"), exist_ok=True)
    args.parquet = os.path.join(args.work_dir, "table.parquet")
    with Timer() as total:
        try:
            generated, rows, memory = run_contenders(args)
        finally:
            if made_work_dir and not args.keep:
                shutil.rmtree(args.work_dir, ignore_errors=True)
    if made_work_dir and not args.keep:  # the logs went with the work dir
        for row in [generated or {}, *rows.values(), memory or {}]:
            row.pop("stderr_log", None)
    summary = summarize(rows, memory, args.rss_goal_mb)
    settings = {k: v for k, v in vars(args).items()
                if k not in ("worker", "rows_list", "parquet")}
    result = {"benchmark": "big_data", "machine": machine(), "git": git_state(),
              "time": time.time(), "settings": settings,
              "table_mb": table_mb(args.rows, args.features),
              "cache_table_mb": table_mb(rows_for(args.cache_gb * 1024, args.features),
                                         args.features),
              "generate": generated, "results": rows, "memory": memory, "summary": summary,
              "wall_s": total.s}
    emit(result, tables(rows, memory, summary, args), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
