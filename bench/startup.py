"""Start-up time of ``init_context`` on Spark: ``standalone``, ``local-cluster``, and on a real
YARN: ``yarn-client`` and ``yarn-cluster``.

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

``standalone`` runs against ``--master`` if given, else against a master + 2 workers (2 cores,
2 GiB each) on 127.0.0.1 that this script starts with ``scripts/spark-standalone.sh`` in a run
dir and on a port of its own, and stops at the end (its own start time is reported as
``cluster_start_s``, not part of any run). ``local-cluster`` needs no cluster:
``local-cluster[3,1,1024]`` (2 Ray nodes and the spare executor). Runs go round robin over
the modes, ``--repeat`` times.

Ray token authentication (``--auth {on,off,both}``, default ``both``): zoo_tune turns it on
by default for every Ray cluster it starts (a fresh token in a ``0600`` file, given to the Ray
head and, through a Ray on Spark start hook, to each executor's Ray node); ``ray_auth=False``
turns it off. With ``both`` every mode runs twice per repeat, side by side in the round robin:
once with ``init_context(..., ray_auth=True)`` and once with ``ray_auth=False``, on first in
even repeats (1st, 3rd, ...) and off first in the others, so neither always goes first. ``on``
or ``off`` runs only that one. Each row records ``ray_auth`` (what was passed), and what the
run saw: ``auth_token_file_set`` (``ctx.auth_token_file``), ``ray_auth_mode_env``
(``RAY_AUTH_MODE`` in the run's process after ``init_context``) and ``ray_node_auth_modes``
(``RAY_AUTH_MODE`` in the environment of every process under the cluster's Ray temp root, the
head's and the executors' Ray nodes, counted per value); a run whose ``ctx.auth_token_file``
disagrees with ``ray_auth`` fails. The ``RAY_AUTH_MODE=disabled`` that ``_common.BENCH_ENV``
sets does not turn zoo_tune's authentication off (only ``ray_auth=False`` does). The table
has a row per (mode, auth), and a line under it gives per mode the median ``startup_s`` with
authentication on minus the median with it off, and the on - off difference of each repeat's
pair (``auth_difference`` in the JSON, with the same for every phase).

YARN (``--modes yarn-client yarn-cluster``, or ``--yarn``; not in the default modes: needs
Java, and Maven the first time, when ``scripts/yarn.sh`` fetches Hadoop's jars once). This
script starts a single-node HDFS (``scripts/hdfs.sh``, a run dir of its own, any free port)
and a single-node YARN (``scripts/yarn.sh``, a run dir of its own) whose ``fs.defaultFS`` is
that HDFS, so Spark stages every application there, as tests/cluster/conftest.py's fixtures
do; it puts the Python environment the containers run on that HDFS once (``/envs/``, with
hdfs_native): the archive ``--archive PATH`` names (a ``.tar.gz`` packed before), else this
venv packed here first with ``zoo_tune.cluster.pack_env(exclude=LEAN_EXCLUDE)``
(tests/cluster/_spark_helpers.py; ~2 min, 2.9 GB in a temp dir removed at the end). At the
end it stops YARN and HDFS and checks that no daemon, container process or Ray node of
theirs is left (``yarn_hdfs_left``; the exit status is 1 if any is).

- ``yarn-client``: the run's process, with HADOOP_CONF_DIR set, calls
  ``init_context(cluster_mode="yarn-client", num_nodes=2, cores=1, archive=<hdfs uri>,
  executor_memory="512m", memory=1 GiB, object_store_memory=256 MiB)``; phases, first task,
  stop and checks as above, and no process may be left in a YARN container dir (``nm-local/``,
  found by working directory) after ``stop_context`` nor after the process exited.
- ``yarn-cluster``: the driver runs inside YARN. The parent runs ``scripts/zoo-tune-submit
  --master yarn --deploy-mode cluster --archive <hdfs uri> --num-nodes 2 --cores 1
  --executor-memory 512m --node-memory 1g --object-store-memory 256m`` on a small driver script
  it writes to a temp dir (this file and ``_common.py`` go along with ``--py-files``): in the
  application master's container the driver calls ``init_context(cluster_mode="yarn-cluster")``
  and measures what a run's process measures (its check after ``stop_context``: Ray nodes and
  its own children; the executors live until the application ends); its JSON row is the last
  line of that container's stdout (``nm-logs/<app id>/container_*_01_000001/stdout``; the app
  id from spark-submit's stderr). ``submit_s`` (= ``process_s``) is zoo-tune-submit's wall
  time as the client saw it; after it the parent checks the application's executors, Ray nodes
  and container dirs. The driver's ``init_context`` gets no ``ray_auth``: yarn-cluster runs
  only with authentication on (the default), once per repeat whatever ``--auth`` says
  (``--auth off`` with yarn-cluster is refused).

For both YARN modes, in seconds after t0 (``yarn-client``: ``init_context`` called;
``yarn-cluster``: zoo-tune-submit started): ``app_submitted_s`` (the ResourceManager has the
application: before it, the client's JVM started and Spark's YARN client zipped SPARK_HOME/jars
and uploaded it, the conf and pyspark.zip to the staging dir on HDFS, for every application,
as its warning "Neither spark.yarn.jars nor spark.yarn.archive is set" says:
``spark_jars_uploaded``), ``am_running_s`` (the application master's container running, its
files localized), ``executors_running_s`` (the last executor's container running; both from
the NodeManager's log), ``driver_python_s`` (``yarn-cluster``: the driver's Python started in
the AM's container) and ``until_ready_s`` (the Ray cluster ready: ``startup_s`` for
``yarn-client``; from the submit for ``yarn-cluster``). Durations: ``am_launched_s`` (the RM's
``startedTime`` to ``launchTime``: the AM's container allocated and started),
``am_localize_s`` and ``executor_localize_s`` (the NodeManager's LOCALIZING span of the AM's
container, which fetches the application's files first, and the longest of the executors'),
``staging_upload_s`` (``yarn-cluster``: "Preparing resources for our AM container" to
"Submitting application" in spark-submit's log, whole seconds), ``app_elapsed_s``; and
``app_state`` / ``app_final_status`` from the RM REST API (``/ws/v1/cluster/apps/<id>``).

The first application on the node pays for localizing the archive (download from HDFS and
untar, ~2 min for 2.9 GB); later ones reuse it from the NodeManager's PUBLIC cache. So the
first YARN mode runs once more before the round robin (authentication on unless ``--auth
off``): that run is reported apart (``first_application`` in the JSON, a "(first
application)" row in the tables, with ``first_localization_s``, its application master
container's localization), never in the medians.

    .venv/bin/python bench/startup.py --repeat 3               # auth on and off, side by side
    .venv/bin/python bench/startup.py --repeat 3 --auth on     # authentication on only
    .venv/bin/python bench/startup.py --modes standalone --master spark://127.0.0.1:7077
    .venv/bin/python bench/startup.py --smoke
    .venv/bin/python bench/startup.py --yarn --archive /tmp/zt_env/env.tar.gz  # packed before
    .venv/bin/python bench/startup.py --modes yarn-client yarn-cluster  # packs the venv first
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from _common import (
    BENCH_ENV,
    SPARK_JARS_UPLOADED,
    SUBMIT_SCRIPT,
    SparkStandalone,
    Timer,
    YarnOnHdfs,
    claim_stdout,
    emit,
    git_state,
    machine,
    markdown_table,
    merge_repeats,
    run_worker,
    spark_app_markers,
    wait_dir_processes_gone,
    wait_processes_gone,
)

SPARK_MODES = ("standalone", "local-cluster")
YARN_MODES = ("yarn-client", "yarn-cluster")
MODES = SPARK_MODES + YARN_MODES
PHASES = ("spark_session_s", "executors_s", "setup_ray_cluster_s", "connect_s")
#: ``--auth``: the ``ray_auth`` values each mode runs with per repeat (both: on, off).
AUTH_CHOICES = {"on": (True,), "off": (False,), "both": (True, False)}
NODE_MEMORY = 1024**3
OBJECT_STORE = 256 * 1024**2
EXECUTOR_MEMORY = "512m"  # YARN modes: the executor JVM's heap (Ray nodes live outside it)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The yarn-cluster driver: bench/startup.py's own worker, run in YARN's application master.
DRIVER = '''"""bench/startup.py's yarn-cluster driver: init_context(cluster_mode="yarn-cluster") in
YARN's application master container, measured as a run's process measures; the JSON row is
the last line on stdout."""
import sys

import startup  # bench/startup.py and bench/_common.py, shipped with --py-files

sys.exit(startup.main(sys.argv[1:]))
'''


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


def _ray_node_auth_modes(temp_root: str | None) -> dict[str, int]:
    """``RAY_AUTH_MODE`` in the environment of every live process whose command line names
    the Ray temp root (the head's and the executors' Ray node processes), counted per value
    (``"(unset)"``; ``"(unreadable)"`` where psutil could not read it)."""
    import psutil

    modes: dict[str, int] = {}
    if not temp_root:
        return modes
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.info["pid"] == os.getpid() or temp_root not in " ".join(
                proc.info["cmdline"] or ()):
            continue
        try:
            mode = proc.environ().get("RAY_AUTH_MODE", "(unset)")
        except psutil.Error:
            mode = "(unreadable)"
        modes[mode] = modes.get(mode, 0) + 1
    return modes


def measure(mode: str, master: str | None, nodes: int, cores: int, *,
            archive: str | None = None, executor_memory: str | None = None,
            yarn_run: str | None = None, ray_auth: bool | None = None) -> dict[str, Any]:
    """One start-up and stop of ``mode`` in this process (which must have no Ray yet).

    ``ray_auth`` is passed to ``init_context`` unless it is None (yarn-cluster: the default,
    on)."""
    import psutil

    with Timer() as t_import:
        import ray

        import zoo_tune
    sleeps = _count_ray_on_spark_sleeps()
    kwargs: dict[str, Any] = {"num_nodes": nodes, "cores": cores, "memory": NODE_MEMORY,
                              "object_store_memory": OBJECT_STORE}
    if mode == "standalone":
        kwargs["master"] = master
    elif mode == "yarn-client":
        kwargs.update(archive=archive, executor_memory=executor_memory)
    elif mode == "yarn-cluster":
        kwargs = {}  # zoo-tune-submit sized the containers and the Ray nodes
    if ray_auth is not None:
        kwargs["ray_auth"] = ray_auth
    init_epoch = time.time()
    ctx = zoo_tune.init_context(cluster_mode=mode, **kwargs)
    token_file_set = ctx.auth_token_file is not None
    if ray_auth is not None and token_file_set != ray_auth:
        zoo_tune.stop_context()
        raise RuntimeError(f"init_context(ray_auth={ray_auth}) gave auth_token_file="
                           f"{ctx.auth_token_file!r}")
    row: dict[str, Any] = {"mode": mode, "startup_s": ctx.startup_s,
                           "ray_auth": token_file_set if ray_auth is None else ray_auth,
                           "ray_auth_passed": ray_auth is not None,
                           "auth_token_file_set": token_file_set,
                           "ray_auth_mode_env": os.environ.get("RAY_AUTH_MODE"),
                           "import_s": t_import.s, "ray_sleep_s": sleeps.total_s,
                           "spark_master": ctx.spark_master,
                           "ray_worker_nodes": ctx.ray_worker_nodes,
                           "ray_cpus": ray.cluster_resources().get("CPU", 0.0),
                           "init_epoch": init_epoch,
                           "python_start_epoch": psutil.Process().create_time()}
    row.update({phase: ctx.timings.get(phase) for phase in PHASES})
    row.update(ctx.timings)  # and any finer phase zoo_tune reports (ray_head_s: head up)
    row["other_s"] = ctx.startup_s - sum(ctx.timings.get(p) or 0.0 for p in PHASES)
    try:
        from pyspark import SparkContext

        row["app_id"] = SparkContext.getOrCreate().applicationId
        row["executor_markers"] = spark_app_markers(SparkContext.getOrCreate())
        spark_ray = getattr(ctx, "_spark_ray", None)  # zoo_tune's record of what it started
        row["ray_temp_root"] = getattr(spark_ray, "temp_root", None)
        row["ray_node_auth_modes"] = _ray_node_auth_modes(row["ray_temp_root"])
        with Timer() as t_task:
            ran_on = _first_tasks(nodes * cores)
        row["first_task_s"] = t_task.s
        row["first_task_nodes"] = len(set(ran_on))
    finally:
        with Timer() as t_stop:
            zoo_tune.stop_context()
        row["stop_s"] = t_stop.s
    row["ray_initialized_after_stop"] = ray.is_initialized()
    # yarn-cluster: this driver's own application master (its parent JVM) and the executors run
    # until this process exits; the bench checks them once the application has ended.
    markers = [row["ray_temp_root"]] + ([] if mode == "yarn-cluster" else
                                        row["executor_markers"])
    deadline = time.monotonic() + 30
    left = wait_processes_gone(markers, 30)
    if yarn_run:  # yarn-client: nothing may be left in a container dir of the YARN
        left += wait_dir_processes_gone(os.path.join(yarn_run, "nm-local"), 30)
    while _own_children() and time.monotonic() < deadline:
        time.sleep(0.5)
    row["left_after_stop"] = left + _own_children()
    return row


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(SPARK_MODES),
                        help="default: standalone local-cluster (the YARN modes need Java and, "
                             "once, Maven)")
    parser.add_argument("--yarn", action="store_true",
                        help="shortcut for --modes yarn-client yarn-cluster")
    parser.add_argument("--master", help="a running standalone master (spark://host:port); "
                                         "default: start one here (master + 2 workers)")
    parser.add_argument("--archive", help="YARN modes: the packed venv (.tar.gz) to put on the "
                                          "HDFS; default: pack this venv here (LEAN_EXCLUDE, "
                                          "~2 min, 2.9 GB, removed at the end)")
    parser.add_argument("--auth", choices=AUTH_CHOICES, default="both",
                        help="Ray token authentication: init_context(ray_auth=True) (on), "
                             "ray_auth=False (off), or both side by side per mode and repeat "
                             "(default; yarn-cluster runs with it on only)")
    parser.add_argument("--nodes", type=int, default=2, help="num_nodes (Ray worker nodes)")
    parser.add_argument("--cores", type=int, default=1, help="cores of each Ray worker node")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per mode, round robin (default 3; smoke: 1)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--smoke", action="store_true", help="one run per mode")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--archive-uri", help=argparse.SUPPRESS)  # worker: yarn-client's
    parser.add_argument("--yarn-run", help=argparse.SUPPRESS)  # worker: YARN's run dir
    args = parser.parse_args(argv)
    if args.yarn:
        args.modes = list(YARN_MODES)
    args.modes = list(dict.fromkeys(args.modes))
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 3
    if args.worker and args.auth == "both" and args.modes[0] != "yarn-cluster":
        parser.error("--worker needs --auth on or --auth off")
    if args.auth == "off" and "yarn-cluster" in args.modes and not args.worker:
        parser.error("--auth off: yarn-cluster runs only with authentication on (its driver's "
                     "init_context is given no ray_auth)")
    if args.archive and not args.worker and not os.path.isfile(args.archive):
        parser.error(f"--archive {args.archive!r} does not exist")
    return args


def _run(args: argparse.Namespace, mode: str, ray_auth: bool, master: str | None,
         yarn: YarnOnHdfs | None, logs: str) -> dict[str, Any]:
    """One run of ``mode`` in a fresh process; then check its processes are gone.

    ``ray_auth``: what the run's ``init_context`` gets (yarn-cluster: nothing, on)."""
    load = os.getloadavg()[0]
    row = _run_mode(args, mode, ray_auth, master, yarn, logs)
    row["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # before, after
    return row


def _run_mode(args: argparse.Namespace, mode: str, ray_auth: bool, master: str | None,
              yarn: YarnOnHdfs | None, logs: str) -> dict[str, Any]:
    if mode == "yarn-cluster":
        assert yarn is not None and ray_auth
        return _run_yarn_cluster(args, yarn, logs)
    worker_args = ["--modes", mode, "--nodes", str(args.nodes), "--cores", str(args.cores),
                   "--auth", "on" if ray_auth else "off"]
    env = None
    if master:
        worker_args += ["--master", master]
    if mode == "yarn-client":
        assert yarn is not None
        worker_args += ["--archive-uri", yarn.archive_uri, "--yarn-run", yarn.run_dir]
        env = {"HADOOP_CONF_DIR": yarn.conf_dir}
    stderr_path = os.path.join(logs, f"{mode}_auth_{'on' if ray_auth else 'off'}_"
                                     f"{time.time_ns()}.stderr")
    with Timer() as t:
        row = run_worker(__file__, worker_args, args.timeout, env=env, stderr_path=stderr_path)
    row["process_s"] = t.s
    row["left_after_exit"] = wait_processes_gone(
        [*row["executor_markers"], row["ray_temp_root"]], 30)
    if yarn is not None and mode == "yarn-client":
        row["left_after_exit"] += yarn.container_processes(30)
        with open(stderr_path, encoding="utf-8", errors="replace") as f:
            _add_yarn_facts(row, yarn, row["init_epoch"], f.read())
    return row


def _run_yarn_cluster(args: argparse.Namespace, yarn: YarnOnHdfs, logs: str) -> dict[str, Any]:
    """zoo-tune-submit --deploy-mode cluster of the driver; its row from the AM's stdout."""
    import subprocess

    driver = os.path.join(logs, "startup_yarn_cluster_driver.py")
    if not os.path.exists(driver):
        with open(driver, "w", encoding="utf-8") as f:
            f.write(DRIVER)
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = ["bash", SUBMIT_SCRIPT, "--master", "yarn", "--deploy-mode", "cluster",
           "--archive", yarn.archive_uri, "--num-nodes", str(args.nodes),
           "--cores", str(args.cores), "--executor-memory", EXECUTOR_MEMORY,
           "--node-memory", f"{NODE_MEMORY // 1024**2}m",
           "--object-store-memory", f"{OBJECT_STORE // 1024**2}m",
           "--py-files", f"{here}/startup.py,{here}/_common.py", driver,
           "--worker", "--modes", "yarn-cluster", "--nodes", str(args.nodes),
           "--cores", str(args.cores)]
    env = {**os.environ, **BENCH_ENV, "HADOOP_CONF_DIR": yarn.conf_dir}
    t0 = time.time()
    with Timer() as t:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env,
                             cwd=logs, check=False)
    with open(os.path.join(logs, f"yarn-cluster_{time.time_ns()}.stderr"), "w",
              encoding="utf-8") as f:
        f.write(out.stderr)
    ids = re.findall(r"application_\d+_\d+", out.stderr)
    if out.returncode != 0 or not ids:
        tail = ""
        with contextlib.suppress(RuntimeError, OSError):
            tail = yarn.driver_stdout(ids[0])[-2000:] if ids else ""
        raise RuntimeError(f"zoo-tune-submit exited {out.returncode}:\n{out.stderr[-3000:]}\n"
                           f"driver stdout: {tail}")
    app_id = ids[0]
    lines = [line for line in yarn.driver_stdout(app_id).splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the yarn-cluster driver of {app_id} printed no JSON row")
    row = json.loads(lines[-1])
    row.update(submit_s=t.s, process_s=t.s, driver_python_s=row["python_start_epoch"] - t0,
               staging_upload_s=_staging_upload_s(out.stderr))
    row["left_after_exit"] = (wait_processes_gone([app_id, row["ray_temp_root"]], 30)
                              + yarn.container_processes(30))
    _add_yarn_facts(row, yarn, t0, out.stderr)
    return row


def _staging_upload_s(stderr: str) -> float | None:
    """spark-submit's log: "Preparing resources for our AM container" to "Submitting
    application" (the staging dir filled; log4j time stamps, whole seconds)."""
    def stamp(text: str) -> float | None:
        m = re.search(rf"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d) INFO Client: {text}", stderr, re.M)
        return time.mktime(time.strptime(m[1], "%y/%m/%d %H:%M:%S")) if m else None

    begin, end = stamp("Preparing resources for our AM container"), stamp("Submitting application")
    return None if begin is None or end is None else end - begin


def _add_yarn_facts(row: dict[str, Any], yarn: YarnOnHdfs, t0: float, log: str) -> None:
    """The application's timeline from t0, localization, final state (RM REST, NM log)."""
    app = yarn.wait_app_done(row["app_id"])
    started, launched = app.get("startedTime"), app.get("launchTime")
    row.update(app_state=app["state"], app_final_status=app["finalStatus"],
               app_elapsed_s=app["elapsedTime"] / 1000,
               app_submitted_s=started / 1000 - t0 if started else None,
               am_launched_s=(launched - started) / 1000 if started and launched else None,
               until_ready_s=row["init_epoch"] + row["startup_s"] - t0,
               spark_jars_uploaded=SPARK_JARS_UPLOADED in log)
    containers = yarn.localization(row["app_id"])
    for key in ("am_running", "executors_running"):  # as seconds after t0
        epoch = containers.pop(f"{key}_epoch")
        row[f"{key}_s"] = None if epoch is None else epoch - t0
    row.update(containers)


def _auth_cell(row: dict[str, Any]) -> str:
    return ("on" if row["ray_auth"] else "off") + ("" if row.get("ray_auth_passed", True)
                                                    else " (default)")


def table(rows: list[dict[str, Any]]) -> str:
    headers = ["mode", "auth", "runs", "start-up s (median)", "start-up s (min)",
               "Spark session s", "executors s", "setup_ray_cluster s", "of which Ray head up s",
               "of which sleeps in ray.util.spark s", "connect s", "first task s",
               "stop_context s", "processes left"]
    body = [[r["mode"], _auth_cell(r), r["repeats"], r["startup_s"], r["startup_s_min"],
             r["spark_session_s"], r["executors_s"], r["setup_ray_cluster_s"],
             r.get("ray_head_s"), r["ray_sleep_s"], r["connect_s"], r["first_task_s"], r["stop_s"],
             r["left_processes"]] for r in rows]
    return markdown_table(headers, body)


def yarn_table(rows: list[dict[str, Any]]) -> str:
    """The YARN rows: the application's timeline (seconds after t0: ``init_context`` called,
    or zoo-tune-submit started), localization, the client's wall time, the final state."""
    headers = ["mode", "auth", "runs", "Ray ready at s (median)", "Ray ready at s (min)",
               "app submitted at s", "AM running at s", "executors running at s",
               "driver Python at s", "AM localization s", "staging upload s",
               "submit wall s", "app state", "processes left"]
    body = [[r["mode"], _auth_cell(r), r["repeats"], r["until_ready_s"], r["until_ready_s_min"],
             r["app_submitted_s"], r["am_running_s"], r["executors_running_s"],
             r.get("driver_python_s"), r["am_localize_s"], r.get("staging_upload_s"),
             r.get("submit_s"), f"{r['app_state']}/{r['app_final_status']}",
             r["left_processes"]] for r in rows if r["mode"].startswith("yarn")]
    return markdown_table(headers, body)


def _merge(runs: list[dict[str, Any]], label: str | None = None) -> list[dict[str, Any]]:
    rows = merge_repeats(runs, ("mode", "ray_auth"), wall_key="startup_s")
    for row in rows:  # every process left behind by any run of the mode, not a median
        mine = [r for r in runs if (r["mode"], r["ray_auth"]) == (row["mode"], row["ray_auth"])]
        row["left_processes"] = sum(len(r["left_after_stop"]) + len(r["left_after_exit"])
                                    for r in mine)
        if "until_ready_s" in row:
            row["until_ready_s_min"] = min(r["until_ready_s"] for r in mine)
            for key in ("app_state", "app_final_status"):  # every run's, not the first's
                row[key] = ",".join(sorted({str(r[key]) for r in mine}))
        row.pop("repeat", None)  # a run's own (auth_difference pairs the runs by it)
        if label:
            row["mode"] = f"{row['mode']} {label}"
    return rows


def auth_difference(runs: list[dict[str, Any]],
                    rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per mode run both ways: the medians with authentication on minus off (``startup_s``
    and every phase), and ``startup_s`` on - off of each repeat's pair."""
    by = {(r["mode"], r["ray_auth"]): r for r in rows}
    diff: dict[str, dict[str, Any]] = {}
    for (mode, auth), on in by.items():
        off = by.get((mode, False))
        if not auth or off is None:
            continue
        fields = ("startup_s", *PHASES, "ray_sleep_s", "first_task_s", "stop_s", "process_s")
        pairs = {}
        for r in runs:
            if r["mode"] == mode:
                pairs.setdefault(r["repeat"], {})[r["ray_auth"]] = r["startup_s"]
        paired = [p[True] - p[False] for _, p in sorted(pairs.items()) if len(p) == 2]
        diff[mode] = {"on_s": on["startup_s"], "off_s": off["startup_s"],
                      "on_minus_off_s": on["startup_s"] - off["startup_s"],
                      "paired_on_minus_off_s": paired,
                      "medians_on_minus_off": {f: on[f] - off[f] for f in fields
                                               if isinstance(on.get(f), (int, float))
                                               and isinstance(off.get(f), (int, float))}}
    return diff


def auth_line(diff: dict[str, dict[str, Any]]) -> str:
    """The Markdown line under the table: start-up on - off per mode."""
    parts = [f"{mode} {d['on_minus_off_s']:+.1f} s (median on {d['on_s']:.1f} s, off "
             f"{d['off_s']:.1f} s; per repeat "
             f"{', '.join(f'{x:+.1f}' for x in d['paired_on_minus_off_s'])} s)"
             for mode, d in diff.items()]
    return "Start-up with Ray token authentication on - off: " + "; ".join(parts) + "."


def _run_all(args: argparse.Namespace, cluster: SparkStandalone | None,
             yarn: YarnOnHdfs | None, logs: str, runs: list[dict[str, Any]],
             first: list[dict[str, Any]]) -> None:
    """Start the clusters, run the first YARN application apart, then the round robin."""
    yarn_modes = [m for m in args.modes if m in YARN_MODES]
    with contextlib.ExitStack() as stack:
        if cluster is not None:
            stack.enter_context(cluster)
        if yarn is not None:
            print("[startup] starting HDFS and YARN, putting the archive on HDFS ...",
                  file=sys.stderr, flush=True)
            stack.enter_context(yarn)
            print(f"[startup] YARN up {yarn.timings}; {yarn_modes[0]} first application "
                  f"(localizes the archive) ...", file=sys.stderr, flush=True)
            first.append(_run(args, yarn_modes[0], AUTH_CHOICES[args.auth][0], None, yarn,
                              logs))
            first[0]["first_localization_s"] = first[0]["am_localize_s"]
        master = cluster.master if cluster is not None else None
        for repeat in range(args.repeat):  # round robin: load drifts hit every mode alike
            for mode in args.modes:
                auths = (True,) if mode == "yarn-cluster" else AUTH_CHOICES[args.auth]
                if repeat % 2:  # both: on first in even repeats, off first in odd ones
                    auths = auths[::-1]
                for ray_auth in auths:
                    print(f"[startup] {mode}, auth {'on' if ray_auth else 'off'} (run "
                          f"{repeat + 1}/{args.repeat}) ...", file=sys.stderr, flush=True)
                    row = _run(args, mode, ray_auth, master if mode == "standalone" else None,
                               yarn, logs)
                    row["repeat"] = repeat
                    runs.append(row)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        mode = args.modes[0]
        emit(measure(mode, args.master, args.nodes, args.cores,
                     archive=args.archive_uri, executor_memory=EXECUTOR_MEMORY,
                     yarn_run=args.yarn_run,
                     ray_auth=None if mode == "yarn-cluster" else args.auth == "on"),
             None, None)
        return 0
    runs: list[dict[str, Any]] = []
    first: list[dict[str, Any]] = []
    yarn_modes = [m for m in args.modes if m in YARN_MODES]
    cluster = (SparkStandalone(args.master, workers=args.nodes, cores=args.cores)
               if "standalone" in args.modes else None)
    yarn = None
    if yarn_modes:
        exclude: list[str] = []
        if not args.archive:
            sys.path.insert(0, ROOT)
            from tests.cluster._spark_helpers import LEAN_EXCLUDE

            exclude = LEAN_EXCLUDE
        yarn = YarnOnHdfs(args.archive, pack_exclude=exclude)
    logs = tempfile.mkdtemp(prefix="bench_startup_")  # stderr of every run; kept on failure
    try:
        _run_all(args, cluster, yarn, logs, runs, first)
    except BaseException:
        print(f"[startup] the runs' logs are kept in {logs}", file=sys.stderr)
        raise
    shutil.rmtree(logs, ignore_errors=True)
    rows = _merge(runs)
    first_rows = _merge(first, "(first application)")
    diff = auth_difference(runs, rows)
    yarn_settings = None
    if yarn is not None:
        import pyspark

        steady = sorted(r["am_localize_s"] for r in runs if r.get("am_localize_s") is not None)
        jars = os.path.join(os.path.dirname(pyspark.__file__), "jars")
        yarn_settings = {
            "hdfs_uri": yarn.hdfs_uri, "archive": args.archive or "(packed here)",
            "archive_uri": yarn.archive_uri, "archive_bytes": yarn.archive_bytes,
            "timings": yarn.timings, "executor_memory": EXECUTOR_MEMORY,
            "spark_jars_mb": round(sum(e.stat().st_size for e in os.scandir(jars)) / 2**20),
            "first_localization_s": first[0]["first_localization_s"],
            # the archive's share: the first AM localization minus a later one's (Spark's files)
            "archive_localization_s": (first[0]["first_localization_s"] - steady[len(steady) // 2]
                                       if steady and first[0]["first_localization_s"] else None),
            "yarn_hdfs_left": yarn.left}
        if yarn.left:
            print(f"[startup] left by YARN/HDFS after stop: {yarn.left}", file=sys.stderr)
    result = {
        "benchmark": "startup",
        "machine": machine(),
        "settings": {"modes": args.modes, "nodes": args.nodes, "cores": args.cores,
                     "memory": NODE_MEMORY, "object_store_memory": OBJECT_STORE,
                     "repeat": args.repeat, "smoke": args.smoke, "master": args.master,
                     "auth": args.auth,
                     "cluster_start_s": cluster and cluster.start_s, "yarn": yarn_settings,
                     "time": time.time(), "git": git_state()},
        "runs": runs,
        "first_application": first,
        "results": rows,
        "first_application_results": first_rows,
        "auth_difference": diff,
    }
    text = table(first_rows + rows)
    if diff:
        text += "\n\n" + auth_line(diff)
    if yarn is not None:
        text += "\n\n" + yarn_table(first_rows + rows)
    emit(result, text, args.markdown)
    return 1 if yarn is not None and yarn.left else 0


if __name__ == "__main__":
    sys.exit(main())
