"""What listens while zoo_tune runs: every TCP socket of a run, its interface, and whether it
answers a client that has no credentials.

For each mode (default ``local`` and ``local-cluster``; the Ray on Spark modes on YARN and
standalone start the same processes in their executors) a fresh Python process calls
``init_context(MODE)`` (``local-cluster``: 2 Ray worker nodes of 1 core, the spare executor),
runs one Ray task per CPU (so every node has a worker process), then lists the listening
sockets with ``ss -ltnpH`` and keeps those of its own process tree and of its Ray cluster (by
the cluster's temp dir / session dir in the command line). Each socket gets:

- ``role``: the process that holds it (GCS, raylet, Ray worker, dashboard agent, runtime-env
  agent, Ray Client server, Ray on Spark's job server, the Spark driver JVM, an executor ...);
- ``iface``: the address it is bound to (``*`` = every interface);
- ``http_unauthenticated``: the status of a plain ``GET /`` with no token (401/403: refused;
  ``-``: not HTTP, e.g. gRPC, which Ray's token interceptor guards). Ray on Spark's job server
  answers only POST: it gets ``POST /query_nodes`` too (``job_server_post``).

The table on stderr groups by role and interface. Usage::

    .venv/bin/python bench/sockets.py                  # local and local-cluster, auth on
    .venv/bin/python bench/sockets.py --modes local --no-auth
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import BENCH_ENV, emit, machine  # noqa: E402

ROLES = (  # (substring of the command line, role), first match wins
    ("gcs_server", "Ray GCS"),
    ("raylet", "Ray raylet"),
    ("dashboard/agent.py", "Ray dashboard agent (per node)"),
    ("runtime_env/agent", "Ray runtime-env agent"),
    ("ray::RuntimeEnv", "Ray runtime-env agent"),
    ("ray::", "Ray worker process"),
    ("ray.util.client.server", "Ray Client server"),
    ("log_monitor", "Ray log monitor"),
    ("monitor.py", "Ray autoscaler monitor"),
    ("CoarseGrainedExecutorBackend", "Spark executor JVM"),
    ("org.apache.spark", "Spark driver JVM"),
    ("java", "Spark driver JVM"),
)


def role_of(cmd: str, driver_pid: int, pid: int) -> str:
    """The role of the process with command line ``cmd``."""
    if pid == driver_pid:
        return "driver (Python): Ray Client / Ray on Spark job server / Ray core worker"
    for needle, role in ROLES:
        if needle in cmd:
            return role
    return cmd.split()[0] if cmd else "?"


def http_status(host: str, port: int, method: str = "GET", path: str = "/") -> str:
    """The HTTP status of an unauthenticated request, or ``-`` when the port is not HTTP."""
    host = "127.0.0.1" if host in ("*", "0.0.0.0", "[::]") else host.strip("[]")
    host = host.replace("::ffff:", "")
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return str(response.status)
    except urllib.error.HTTPError as err:
        return str(err.code)
    except Exception:  # noqa: BLE001 - gRPC, a closed connection, a timeout: not HTTP
        return "-"


WORKER = """
import json, os, subprocess, sys
import ray
from zoo_tune import init_context, stop_context
mode, auth = sys.argv[1], sys.argv[2] == "on"
kwargs = {"num_nodes": 2, "cores": 1, "memory": 2**30, "object_store_memory": 2**28} \\
    if mode != "local" else {"cores": 2}
ctx = init_context(mode, ray_auth=auth, **kwargs)
cpus = int(ray.cluster_resources().get("CPU", 1))
ray.get([ray.remote(num_cpus=1)(lambda: os.getpid()).remote() for _ in range(cpus)])
session = ray._private.worker._global_node.get_session_dir_path()
marks = [m for m in (session, getattr(ctx._spark_ray, "temp_root", None),
                     ctx.spark and ctx.spark.sparkContext.applicationId) if m]
ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
print(json.dumps({"ss": ss, "marks": marks, "driver_pid": os.getpid()}), flush=True)
sys.stdin.readline()  # the parent probes the ports, then lets this process stop
stop_context()
"""


def measure(mode: str, auth: bool) -> list[dict]:
    """One run's listening sockets (see the module docstring)."""
    import psutil

    env = {**os.environ, **BENCH_ENV}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, mode, "on" if auth else "off"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = ""
        while proc.stdout is not None and not line.startswith("{"):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{mode}: the run ended before listing its sockets")
        seen = json.loads(line)
        tree = {proc.pid, seen["driver_pid"]}
        tree |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        rows = []
        for entry in seen["ss"].splitlines():
            fields = entry.split()
            local, users = fields[3], " ".join(fields[5:])
            pids = [int(p.split("=")[1].rstrip(",)")) for p in users.split(",")
                    if p.startswith("pid=")]
            if not pids:
                continue
            pid = pids[0]
            try:
                cmd = " ".join(psutil.Process(pid).cmdline())
            except psutil.Error:
                continue
            if pid not in tree and not any(m in cmd for m in seen["marks"]):
                continue
            host, _, port = local.rpartition(":")
            role = role_of(cmd, seen["driver_pid"], pid)
            row = {"role": role, "iface": host, "port": int(port),
                   "http_unauthenticated": http_status(host, int(port))}
            if row["http_unauthenticated"] == "501" and role.startswith("driver"):
                row["job_server_post"] = http_status(host, int(port), "POST", "/query_nodes")
            rows.append(row)
        return rows
    finally:
        if proc.stdin is not None:
            proc.stdin.write("\n")
            proc.stdin.flush()
        proc.wait(timeout=180)


def main(argv: list[str] | None = None) -> int:
    """Measure, print JSON on stdout and the grouped table on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="+", default=["local", "local-cluster"])
    parser.add_argument("--no-auth", action="store_true", help="ray_auth=False")
    parser.add_argument("--markdown", help="write the table here instead of stderr")
    args = parser.parse_args(argv)
    results = {mode: measure(mode, not args.no_auth) for mode in args.modes}
    lines = ["| mode | role | interface | ports | unauthenticated HTTP GET / |",
             "|---|---|---|---|---|"]
    for mode, rows in results.items():
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in rows:
            groups.setdefault((row["role"], row["iface"]), []).append(row)
        for (role, iface), group in sorted(groups.items()):
            answers = sorted({r["http_unauthenticated"] + (
                f" (POST /query_nodes: {r['job_server_post']})" if "job_server_post" in r
                else "") for r in group})
            lines.append(f"| {mode} | {role} | `{iface}` | {len(group)} | "
                         f"{', '.join(answers)} |")
    emit({"machine": machine(), "auth": not args.no_auth, "sockets": results}, "\n".join(lines),
         args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
