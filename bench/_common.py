"""Helpers shared by the benchmark scripts: output, machine facts, memory, sub-processes.

Every script prints one JSON object on stdout and a Markdown table on stderr (or into
``--markdown FILE``). Contenders that must not share a process (peak RSS is per process, Ray
start-up is per process) run as ``python SCRIPT --worker ...`` sub-processes that print their
own JSON object, which :func:`run_worker` reads back.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

#: Environment every benchmark (and its Ray) runs with.
BENCH_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0", "PYTHONUNBUFFERED": "1"}
for _key, _value in BENCH_ENV.items():
    os.environ.setdefault(_key, _value)


def quiet_ray_logs() -> None:
    """Keep Ray's and Tune's INFO chatter off the benchmark's stderr table."""
    import logging

    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.WARNING)


def machine() -> dict[str, Any]:
    """CPU count and model, memory, and the library versions the numbers depend on."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    info: dict[str, Any] = {"nproc": os.cpu_count(), "cpu_model": model or platform.processor(),
                            "python": platform.python_version()}
    try:
        import psutil

        info["mem_total_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except ImportError:  # pragma: no cover - psutil comes with ray
        pass
    for module in ("ray", "torch", "optuna", "zoo_tune"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    return info


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats get 3 significant decimals."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


_JSON_OUT: Any = None


def claim_stdout() -> None:
    """Keep stdout for the JSON result alone.

    Ray and Tune print banners and worker logs on stdout (even with ``verbose=0``), and the
    processes Ray starts inherit file descriptor 1; from here on descriptor 1 is stderr, and
    :func:`emit` writes the JSON to a duplicate of the original stdout.
    """
    global _JSON_OUT
    if _JSON_OUT is None:
        sys.stdout.flush()
        _JSON_OUT = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)


def emit(result: dict[str, Any], table: str | None, markdown_path: str | None) -> None:
    """Print ``result`` as one JSON line on stdout; the table to stderr or ``markdown_path``."""
    if markdown_path and table is not None:
        with open(markdown_path, "w", encoding="utf-8") as f:
            f.write(table + "\n")
    elif table is not None:
        print(table, file=sys.stderr, flush=True)
    out = _JSON_OUT or sys.stdout
    out.write(json.dumps(result, sort_keys=True) + "\n")
    out.flush()


def run_worker(script: str, args: Sequence[str], timeout_s: float) -> dict[str, Any]:
    """Run ``python script --worker ARGS`` and return the JSON object it printed last.

    Raises:
        RuntimeError: the worker failed or printed no JSON (its stderr tail is included).
    """
    cmd = [sys.executable, script, "--worker", *args]
    env = {**os.environ, **BENCH_ENV}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env,
                          check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def merge_repeats(runs: Sequence[dict[str, Any]], keys: Sequence[str],
                  wall_key: str = "wall_s") -> list[dict[str, Any]]:
    """Merge rows repeated with the same ``keys``: numbers become their median, and
    ``wall_s_runs`` / ``wall_s_min`` keep every wall time and the smallest (the least
    disturbed by other load on the machine). Order of first appearance is kept.
    ``wall_key`` names the time to keep that way (``startup_s`` gives ``startup_s_runs``...)."""
    import statistics

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in keys), []).append(run)
    merged = []
    for group in groups.values():
        row = dict(group[0])
        for field in group[0]:
            values = [g.get(field) for g in group]
            if field not in keys and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                         for v in values):
                row[field] = statistics.median(values)
        walls = [g[wall_key] for g in group]
        row.update({"repeats": len(group), f"{wall_key}_runs": walls,
                    f"{wall_key}_min": min(walls)})
        merged.append(row)
    return merged


class Timer:
    """``with Timer() as t: ...`` then ``t.s`` (wall seconds, ``perf_counter``)."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.start


def classify(proc: Any, driver_pid: int) -> str:
    """``driver``; ``busy`` (a Ray worker running a task or actor: a trial), ``worker`` (an
    idle or starting Ray worker process) or ``ray`` (Ray's services: GCS, raylet with the
    object store, the dashboard and runtime-env agents, monitors)."""
    if proc.pid == driver_pid:
        return "driver"
    try:
        argv = proc.cmdline()
        name = proc.name()
    except Exception:  # the process ended between listing and reading it
        return "ray"
    title = (argv[0] if argv else "") or name
    if title.startswith("ray::"):
        if title.split()[0].split(".")[0].endswith("Agent"):  # ray::DashboardAgent, ...
            return "ray"
        return "worker" if title.startswith("ray::IDLE") else "busy"
    starting = any(a.endswith("default_worker.py") for a in argv[1:])  # not yet titled
    return "worker" if starting and not title.endswith("raylet") else "ray"


class MemorySampler:
    """Sample the memory of this process and every descendant (Ray's services and workers).

    PSS (proportional set size) counts a shared page once in total, split between the
    processes mapping it, so the sum over processes counts the object store's shared memory
    once although the raylet, the driver and every reading worker map it. USS would miss
    it entirely (shared pages are nobody's unique pages); RSS would count it per reader.

    A shared page's share goes to the processes whose page tables hold it: the object
    store's data pages are split between the driver (which wrote them in ``ray.put``) and the
    workers that read them, not the raylet that hosts the store (it never touches them).

    Use as a context manager; then read :attr:`peak_mb` (peak of the sum), :attr:`peak_parts`
    (``driver``, ``ray`` and ``worker`` PSS sums at that peak; ``worker`` counts idle and
    busy Ray workers), :attr:`peak_worker_uss_mb` (peak of the workers' summed USS, their
    private memory: a copy of the data per trial would show here), :attr:`max_workers` (Ray
    worker processes), :attr:`max_busy_workers` (workers running a trial at once) and
    :attr:`samples`.
    """

    def __init__(self, interval_s: float = 0.2) -> None:
        import psutil

        self._psutil = psutil
        self.interval_s = interval_s
        self.root = psutil.Process()
        self.peak_mb = 0.0
        self.peak_parts: dict[str, float] = {}
        self.peak_worker_uss_mb = 0.0
        self.max_workers = 0
        self.max_busy_workers = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def sample(self) -> tuple[float, dict[str, float], dict[str, int]]:
        """One sample: total PSS MiB, PSS MiB per kind (and ``worker_uss``), process counts."""
        parts = {"driver": 0.0, "ray": 0.0, "worker": 0.0}
        counts = {"driver": 0, "ray": 0, "worker": 0, "busy": 0}
        worker_uss = 0.0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                info = proc.memory_full_info()
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied,
                    self._psutil.ZombieProcess):
                continue
            kind = classify(proc, self.root.pid)
            counts[kind] += 1
            parts["worker" if kind == "busy" else kind] += info.pss / 2**20
            if kind in ("worker", "busy"):
                worker_uss += info.uss / 2**20
        total = sum(parts.values())
        parts["worker_uss"] = worker_uss
        return total, parts, counts

    def _loop(self) -> None:
        while not self._stop.is_set():
            total, parts, counts = self.sample()
            self.peak_worker_uss_mb = max(self.peak_worker_uss_mb, parts.pop("worker_uss"))
            self.samples += 1
            self.max_workers = max(self.max_workers, counts["worker"] + counts["busy"])
            self.max_busy_workers = max(self.max_busy_workers, counts["busy"])
            if total > self.peak_mb:
                self.peak_mb, self.peak_parts = total, parts
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- Spark: a standalone cluster for a benchmark, and processes left behind -----------------

#: ``scripts/spark-standalone.sh``: a real master + workers on 127.0.0.1.
SPARK_STANDALONE_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "scripts", "spark-standalone.sh")


def processes_matching(markers: Iterable[str]) -> list[str]:
    """Command lines (cut to 200 characters) of live processes, other than this one, whose
    command line contains any of ``markers`` (empty markers are ignored)."""
    import psutil

    markers = [m for m in markers if m]
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.info["pid"] == os.getpid():
            continue
        cmd = " ".join(proc.info["cmdline"] or ())
        if any(m in cmd for m in markers):
            found.append(f"{proc.info['pid']} {cmd[:200]}")
    return sorted(found)


def wait_processes_gone(markers: Iterable[str], timeout_s: float = 30.0) -> list[str]:
    """Wait up to ``timeout_s`` for :func:`processes_matching` to come back empty; return what
    is still there then (``[]`` when everything exited)."""
    markers = list(markers)
    deadline = time.monotonic() + timeout_s
    while True:
        left = processes_matching(markers)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


class SparkStandalone:
    """A Spark standalone cluster for a benchmark: the one at ``master``, or one this starts.

    Without ``master``, ``scripts/spark-standalone.sh start`` starts a master and ``workers``
    workers of ``cores`` cores and ``memory`` each on 127.0.0.1, in a run dir and on a port of
    its own (so it never meets another user's cluster); leaving the ``with`` block stops it
    and checks that none of its processes is left. Attributes: ``master`` (the URL),
    ``started`` (whether this object started it), ``start_s`` (seconds to start, or None).
    """

    def __init__(self, master: str | None = None, *, workers: int = 2, cores: int = 1,
                 memory: str = "2g", timeout_s: float = 180.0) -> None:
        self.master = master
        self.started = False
        self.start_s: float | None = None
        self.run_dir: str | None = None
        self._env = {**os.environ, **BENCH_ENV, "ZOO_TUNE_SPARK_PORT": "0",
                     "ZOO_TUNE_PYTHON": sys.executable, "PYSPARK_PYTHON": sys.executable,
                     "ZOO_TUNE_SPARK_WORKERS": str(workers),
                     "ZOO_TUNE_SPARK_WORKER_CORES": str(cores),
                     "ZOO_TUNE_SPARK_WORKER_MEMORY": memory}
        self._timeout_s = timeout_s

    def _script(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", SPARK_STANDALONE_SCRIPT, command], env=self._env,
                              capture_output=True, text=True, timeout=self._timeout_s,
                              check=False)

    def __enter__(self) -> SparkStandalone:
        if self.master:
            return self
        import tempfile

        self.run_dir = tempfile.mkdtemp(prefix="bench_spark_")
        self._env["ZOO_TUNE_SPARK_RUN"] = self.run_dir
        with Timer() as t:
            out = self._script("start")
        self.started = True  # even a failed start may leave processes for stop to end
        if out.returncode != 0:
            self.__exit__()
            raise RuntimeError(f"spark-standalone.sh start failed:\n{out.stderr[-3000:]}")
        self.master, self.start_s = out.stdout.strip().splitlines()[-1], t.s
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.started:
            return
        import shutil

        self.started = False
        out = self._script("stop")
        left = wait_processes_gone([f"-Dzoo_tune.spark.run={self.run_dir} "], 30)
        if out.returncode != 0 or left:
            raise RuntimeError(f"spark-standalone.sh stop left {left}:\n{out.stderr[-2000:]}")
        shutil.rmtree(self.run_dir, ignore_errors=True)


def git_state() -> dict[str, Any]:
    """The commit the numbers come from, and whether ``zoo_tune/`` had uncommitted changes
    (then the numbers are those of the working tree, not of the commit)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                                 timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--", "zoo_tune")
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "zoo_tune_uncommitted": None if dirty is None else bool(dirty)}
