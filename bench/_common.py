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
from collections.abc import Callable, Iterable, Sequence
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


def run_worker(script: str, args: Sequence[str], timeout_s: float, *,
               env: dict[str, str] | None = None,
               stderr_path: str | None = None) -> dict[str, Any]:
    """Run ``python script --worker ARGS`` and return the JSON object it printed last.

    ``env`` adds variables to the worker's environment; ``stderr_path`` keeps its whole stderr.

    Raises:
        RuntimeError: the worker failed or printed no JSON (its stderr tail is included).
    """
    cmd = [sys.executable, script, "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, **BENCH_ENV, **(env or {})}, check=False)
    if stderr_path:
        with open(stderr_path, "w", encoding="utf-8") as f:
            f.write(proc.stderr)
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


def local_spark(app: str, conf: dict[str, str] | None = None) -> Any:
    """A ``local[2]`` Spark session on loopback, its UI off and its log at ERROR.

    ``conf`` adds settings (``{"spark.driver.memory": "4g"}``). The executors' Python is this
    one (``PYSPARK_PYTHON``, unless set), so they import what the benchmark imports.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master("local[2]").appName(app)
               .config("spark.ui.enabled", "false")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


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


def spark_app_markers(sc: Any) -> list[str]:
    """Markers (for :func:`processes_matching`) of the executors of the live application ``sc``.

    A standalone or local-cluster application id is ``app-<second>-0000``, so two clusters
    whose first applications start in the same second share it (the bench smoke starts three
    at once); there the driver's URL, in every executor's command line and unique among live
    drivers, is the marker. A YARN id is unique per ResourceManager and also names the
    application's container folders, so on YARN it is the id.

    Example:
        >>> spark_app_markers(spark.sparkContext)  # doctest: +SKIP
        ['spark://CoarseGrainedScheduler@127.0.0.1:40123 ']
    """
    if str(sc.master).startswith("yarn"):
        return [sc.applicationId]
    conf = sc.getConf()
    return [f"spark://CoarseGrainedScheduler@{conf.get('spark.driver.host')}:"
            f"{conf.get('spark.driver.port')} "]


def wait_processes_gone(markers: Iterable[str], timeout_s: float = 30.0) -> list[str]:
    """Wait up to ``timeout_s`` for :func:`processes_matching` to come back empty; return what
    is still there then (``[]`` when everything exited)."""
    markers = list(markers)
    return _wait_empty(lambda: processes_matching(markers), timeout_s)


def _wait_empty(look: Callable[[], list[str]], timeout_s: float) -> list[str]:
    """Call ``look`` every 0.5 s until it returns ``[]`` or ``timeout_s`` passed; its last."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = look()
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


# --- YARN over HDFS: a real single-node YARN for a benchmark, the venv archive on its HDFS --

_SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")
HDFS_SCRIPT = os.path.join(_SCRIPTS, "hdfs.sh")
YARN_SCRIPT = os.path.join(_SCRIPTS, "yarn.sh")
SUBMIT_SCRIPT = os.path.join(_SCRIPTS, "zoo-tune-submit")
#: What Spark's YARN client logs when it zips SPARK_HOME/jars into the staging dir per application.
SPARK_JARS_UPLOADED = "Neither spark.yarn.jars nor spark.yarn.archive is set"


def processes_in_dir(root: str) -> list[str]:
    """``"pid cmdline"`` (cut to 150 characters) of live processes whose working directory is
    under ``root`` (a YARN container's processes run in their container dir)."""
    import psutil

    root = root.rstrip("/") + "/"
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.cwd().startswith(root):
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or ())[:150]}")
        except psutil.Error:
            continue
    return sorted(found)


def wait_dir_processes_gone(root: str, timeout_s: float = 30.0) -> list[str]:
    """Wait up to ``timeout_s`` for :func:`processes_in_dir` to come back empty; return what is
    still there then."""
    return _wait_empty(lambda: processes_in_dir(root), timeout_s)


def _log_time(stamp: str) -> float:
    """A Hadoop log4j time stamp (``2026-12-01 18:01:26,873``, local time) as epoch seconds."""
    import datetime

    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


class YarnOnHdfs:
    """A real single-node YARN over a real single-node HDFS for a benchmark, and the Python
    environment archive its containers run, put on that HDFS once.

    As tests/cluster/conftest.py's ``hdfs_cluster``, ``yarn_cluster`` and ``hdfs_env_archive``
    fixtures do: ``scripts/hdfs.sh start`` in a run dir of its own with
    ``ZOO_TUNE_HDFS_PORT=0``, then ``scripts/yarn.sh start`` in another with that HDFS as
    ``fs.defaultFS`` (Spark stages every application there), then ``archive`` (a local
    ``.tar.gz``; None: this venv packed here with ``zoo_tune.cluster.pack_env(exclude=
    pack_exclude)`` into a temp dir, removed at the end) written to ``/envs/<name>`` on the
    HDFS with hdfs_native. Leaving the ``with`` block stops YARN, then HDFS, and puts in
    :attr:`left` anything of theirs still running (a daemon, a process in a container dir,
    ``yarn.sh stop`` having had to kill container processes), then removes both run dirs
    (YARN's stays, with its logs, when the block ends with an exception).

    Attributes: ``hdfs_uri``, ``conf_dir`` (the HADOOP_CONF_DIR), ``rest`` (the RM REST URL),
    ``run_dir`` (YARN's), ``archive_uri`` (hdfs://...), ``archive_bytes``, ``timings``
    (``hdfs_start_s``, ``yarn_start_s``, ``pack_s`` when packed, ``archive_upload_s``), ``left``.
    """

    def __init__(self, archive: str | None = None, *, pack_exclude: Sequence[str] = (),
                 timeout_s: float = 900.0) -> None:
        self.archive = archive
        self.pack_exclude = list(pack_exclude)
        self.timings: dict[str, float] = {}
        self.left: list[str] = []
        self.hdfs_uri = self.conf_dir = self.rest = self.run_dir = self.archive_uri = ""
        self.archive_bytes = 0
        self.hdfs_run = ""
        self._pack_dir: str | None = None
        self._started: list[str] = []
        self._timeout_s = timeout_s

    def _env(self, daemon: str) -> dict[str, str]:
        env = {**os.environ, **BENCH_ENV, "PYTHON": sys.executable}
        if daemon == "hdfs":
            env.update(ZOO_TUNE_HDFS_RUN=self.hdfs_run, ZOO_TUNE_HDFS_PORT="0")
        else:
            env.update(ZOO_TUNE_YARN_RUN=self.run_dir, ZOO_TUNE_YARN_DEFAULT_FS=self.hdfs_uri)
        return env

    def _script(self, daemon: str, command: str) -> subprocess.CompletedProcess:
        script = HDFS_SCRIPT if daemon == "hdfs" else YARN_SCRIPT
        return subprocess.run(["bash", script, command], env=self._env(daemon),
                              capture_output=True, text=True, timeout=self._timeout_s,
                              check=False)

    def _start(self, daemon: str) -> str:
        with Timer() as t:
            out = self._script(daemon, "start")
        self._started.append(daemon)  # even a failed start may leave processes for stop
        if out.returncode != 0:
            raise RuntimeError(f"{daemon}.sh start failed:\n{out.stderr[-3000:]}")
        self.timings[f"{daemon}_start_s"] = t.s
        return out.stdout.strip().splitlines()[-1]

    def __enter__(self) -> YarnOnHdfs:
        import tempfile

        self.hdfs_run = tempfile.mkdtemp(prefix="bench_hdfs_")
        self.run_dir = tempfile.mkdtemp(prefix="bench_yarn_")
        try:
            self.hdfs_uri = self._start("hdfs")
            self.conf_dir = self._start("yarn")
            self.rest = self._script("yarn", "rest").stdout.strip()
            if self.archive is None:
                from zoo_tune.cluster import pack_env

                self._pack_dir = tempfile.mkdtemp(prefix="bench_env_")
                with Timer() as t:
                    self.archive = pack_env(os.path.join(self._pack_dir, "env.tar.gz"),
                                            exclude=self.pack_exclude)
                self.timings["pack_s"] = t.s
            self._upload()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _upload(self) -> None:
        from hdfs_native import Client

        assert self.archive is not None
        path = f"/envs/{os.path.basename(self.archive)}"
        with Timer() as t:
            with open(self.archive, "rb") as src, Client(self.hdfs_uri).create(path) as dst:
                while chunk := src.read(8 * 1024**2):
                    dst.write(chunk)
        self.timings["archive_upload_s"] = t.s
        self.archive_bytes = os.path.getsize(self.archive)
        self.archive_uri = self.hdfs_uri + path

    def app(self, app_id: str) -> dict[str, Any]:
        """The ResourceManager's record of ``app_id`` (REST ``/ws/v1/cluster/apps/<id>``)."""
        import urllib.request

        with urllib.request.urlopen(f"{self.rest}/ws/v1/cluster/apps/{app_id}",
                                    timeout=10) as r:
            return json.load(r)["app"]

    def wait_app_done(self, app_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """:meth:`app` once the application has finished (or after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            app = self.app(app_id)
            if app["state"] in ("FINISHED", "FAILED", "KILLED") or time.monotonic() > deadline:
                return app
            time.sleep(0.5)

    def container_processes(self, timeout_s: float = 30.0) -> list[str]:
        """Processes still running in a container dir (``nm-local/``) of this YARN, after
        waiting up to ``timeout_s`` for them to exit."""
        return wait_dir_processes_gone(os.path.join(self.run_dir, "nm-local"), timeout_s)

    def localization(self, app_id: str) -> dict[str, float | None]:
        """What the NodeManager's log says about the containers of ``app_id``: the seconds
        each spent LOCALIZING, ``am_localize_s`` (the application master's container: it
        fetches the archive and Spark's staged files first) and ``executor_localize_s`` (the
        longest of the others), and when (epoch seconds) they were RUNNING:
        ``am_running_epoch`` and ``executors_running_epoch`` (the last executor's)."""
        import re

        tag = app_id.removeprefix("application_")
        pattern = re.compile(r"^(\S+ \S+) INFO container\.ContainerImpl: Container "
                             rf"container_{tag}_\d+_(\d+) transitioned from (\w+) to (\w+)")
        began: dict[str, float] = {}
        spans: dict[str, float] = {}
        running: dict[str, float] = {}
        log = os.path.join(self.run_dir, "logs", "nodemanager.log")
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = pattern.match(line)
                if m is None:
                    continue
                stamp, number, old, new = m.groups()
                if new == "LOCALIZING":
                    began[number] = _log_time(stamp)
                elif old == "LOCALIZING" and number in began:
                    spans[number] = _log_time(stamp) - began[number]
                elif new == "RUNNING":
                    running.setdefault(number, _log_time(stamp))
        am, am_running = spans.pop("000001", None), running.pop("000001", None)
        return {"am_localize_s": am, "executor_localize_s": max(spans.values(), default=None),
                "am_running_epoch": am_running,
                "executors_running_epoch": max(running.values(), default=None)}

    def driver_stdout(self, app_id: str) -> str:
        """What a yarn-cluster driver printed: its application master container's stdout."""
        import glob

        logs = sorted(glob.glob(os.path.join(self.run_dir, "nm-logs", app_id,
                                             "container_*_01_000001", "stdout")))
        if not logs:
            raise RuntimeError(f"no driver stdout for {app_id} under {self.run_dir}/nm-logs")
        with open(logs[-1], encoding="utf-8", errors="replace") as f:
            return f.read()

    def __exit__(self, *exc: object) -> None:
        import shutil

        if "yarn" in self._started:
            out = self._script("yarn", "stop")
            if out.returncode != 0:
                self.left.append(f"yarn.sh stop exited {out.returncode}: {out.stderr[-500:]}")
            if "killing what the containers left" in out.stderr:
                self.left.append(f"yarn.sh stop: {out.stderr.strip()[-500:]}")
            status = self._script("yarn", "status")
            if status.returncode != 3:
                self.left.append(f"yarn.sh status after stop: {status.stdout.strip()}")
            self.left += self.container_processes(10)
        if "hdfs" in self._started:
            out = self._script("hdfs", "stop")
            if out.returncode != 0:
                self.left.append(f"hdfs.sh stop exited {out.returncode}: {out.stderr[-500:]}")
            status = self._script("hdfs", "status")
            if status.returncode != 3:
                self.left.append(f"hdfs.sh status after stop: {status.stdout.strip()}")
        self._started = []
        # every daemon, container JVM and Ray node of either names its run dir
        self.left += wait_processes_gone([d for d in (self.run_dir, self.hdfs_run) if d], 30)
        failed = bool(exc) and exc[0] is not None
        if failed and self.run_dir:  # YARN's logs and the containers' stdout/stderr
            print(f"YarnOnHdfs: kept YARN's run dir {self.run_dir} (logs/, nm-logs/)",
                  file=sys.stderr)
        for folder in (None if failed else self.run_dir, self.hdfs_run, self._pack_dir):
            if folder:
                shutil.rmtree(folder, ignore_errors=True)


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
