#!/usr/bin/env bash
# A throwaway Spark standalone cluster (one master + N workers, every address on 127.0.0.1) for
# tests and for trying zoo_tune's Spark modes on one machine. Needs Java 8+ and a Python with
# pyspark installed (pip's pyspark ships bin/spark-class, which is all this uses).
#
#   scripts/spark-standalone.sh start    start it unless ours already runs; waits until every
#                                        worker is registered; the last line on stdout is the
#                                        master URL, e.g. spark://127.0.0.1:7077
#   scripts/spark-standalone.sh stop     stop the processes `start` recorded (workers first, they
#                                        take their executors down), and wait for them to exit
#   scripts/spark-standalone.sh status   exit 0 "running ...", 3 "stopped", 1 "degraded ..."
#   scripts/spark-standalone.sh url      print the master URL of the running cluster (exit 3 if
#                                        stopped)
#   scripts/spark-standalone.sh logs     print the tail of the master and worker logs
#
# Settings (environment):
#   ZOO_TUNE_SPARK_RUN            run dir: pid files, logs, worker dirs (default /tmp/zoo_tune_spark)
#   ZOO_TUNE_SPARK_PORT           master port (default 7077; 0 = any free port)
#   ZOO_TUNE_SPARK_WEBUI_PORT     master web UI port (default 0 = any free port)
#   ZOO_TUNE_SPARK_WORKERS        number of workers (default 2)
#   ZOO_TUNE_SPARK_WORKER_CORES   cores each worker offers (default 2: 2 Ray nodes of 1 CPU and
#                                 the spare executor zoo_tune leaves to Spark's jobs fit)
#   ZOO_TUNE_SPARK_WORKER_MEMORY  memory each worker offers to executors (default 2g)
#   ZOO_TUNE_SPARK_TIMEOUT        seconds to wait for all workers to register (default 60)
#   ZOO_TUNE_PYTHON               the Python with pyspark (default: PYSPARK_PYTHON, then this
#                                 repo's .venv/bin/python, then python3); it becomes the
#                                 executors' PYSPARK_PYTHON
#   SPARK_DAEMON_MEMORY           heap of the master and worker JVMs (default 512m)
#   JAVA_HOME                     the Java to use (default: java on PATH)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="${ZOO_TUNE_SPARK_RUN:-/tmp/zoo_tune_spark}"
TIMEOUT="${ZOO_TUNE_SPARK_TIMEOUT:-60}"
WORKERS="${ZOO_TUNE_SPARK_WORKERS:-2}"
WORKER_CORES="${ZOO_TUNE_SPARK_WORKER_CORES:-2}"
WORKER_MEMORY="${ZOO_TUNE_SPARK_WORKER_MEMORY:-2g}"
MASTER_CLASS=org.apache.spark.deploy.master.Master
WORKER_CLASS=org.apache.spark.deploy.worker.Worker
# C1 only and the serial collector: these daemons are small, and start faster on 2 cores.
FAST_JVM="-XX:+UseSerialGC -XX:TieredStopAtLevel=1"

say() { echo "spark-standalone.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

pick_python() {
  local py="${ZOO_TUNE_PYTHON:-${PYSPARK_PYTHON:-}}"
  if [ -z "$py" ]; then
    if [ -x "$HERE/../.venv/bin/python" ]; then py="$HERE/../.venv/bin/python"; else py=python3; fi
  fi
  command -v "$py" >/dev/null 2>&1 || die "no python '$py' (set ZOO_TUNE_PYTHON)"
  # An absolute path whose bin/ is the venv's (not resolved through symlinks: a venv's python
  # is a link to the base interpreter, and that one has no pyspark).
  py="$(command -v "$py")"
  case "$py" in /*) ;; *) py="$PWD/$py" ;; esac
  echo "$py"
}

tail_logs() {
  local f
  for f in "$RUN"/logs/*.log; do
    if [ -f "$f" ]; then
      echo "----- last lines of $f -----" >&2
      tail -n 25 "$f" >&2
    fi
  done
}

DAEMON_TAG=spark
# shellcheck source=scripts/_daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/_daemon.sh"

roles() {
  echo master
  local i
  for i in $(seq 1 "$WORKERS"); do echo "worker$i"; done
}

recorded_roles() {  # roles with a pid file (the worker count may differ from this call's)
  local f
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    f="${f##*/}"
    echo "${f%.pid}"
  done
}

running() {
  local role
  [ -f "$RUN/url" ] || return 1
  for role in $(recorded_roles); do is_ours "$role" "$(pid_of "$role")" || return 1; done
  is_ours master "$(pid_of master)"
}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

url() { cat "$RUN/url"; }

launch() {  # $1: role, then spark-class arguments; detached, logs to a file, pid recorded
  local role="$1" log="$RUN/logs/$1.log"
  shift
  # setsid + no inherited stdio (and not the lock's fd 9): the daemon outlives the caller and
  # never holds a caller's pipe open. spark-class ends in `exec java`, and without job control
  # setsid execs in place, so $! is the JVM's pid (checked below).
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  SPARK_DAEMON_JAVA_OPTS="-Dzoo_tune.spark.run=$RUN -Dzoo_tune.spark.role=$role $FAST_JVM" \
    "${detach[@]}" "$SPARK_HOME/bin/spark-class" "$@" </dev/null >"$log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$RUN/$role.pid"
  for _ in $(seq 1 200); do  # until spark-class has exec'd java
    is_ours "$role" "$pid" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  is_ours "$role" "$pid" || { tail_logs; die "the $role did not start (logs in $RUN/logs)"; }
}

alive_workers() {  # from the master's JSON status page
  "$PY" - "$1" <<'EOF' 2>/dev/null || echo 0
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2) as r:
    status = json.load(r)
print(sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE"))
EOF
}

stop_all() {
  local role pid workers=() master=()
  for role in $(recorded_roles); do
    pid="$(pid_of "$role")"
    if is_ours "$role" "$pid"; then
      if [ "$role" = master ]; then master=("$role:$pid"); else workers+=("$role:$pid"); fi
    fi
    rm -f "$RUN/$role.pid"
  done
  rm -f "$RUN/url"
  # Workers first: a worker that stops kills its executors; one whose master is gone keeps
  # retrying to reconnect instead.
  [ "${#workers[@]}" -eq 0 ] || stop_pids "${workers[@]}"
  [ "${#master[@]}" -eq 0 ] || stop_pids "${master[@]}"
  STOPPED=("${workers[@]}" "${master[@]}")
}

cmd_stop() {
  mkdir -p "$RUN"
  lock "$RUN/.lock"
  STOPPED=()
  stop_all
  if [ "${#STOPPED[@]}" -eq 0 ]; then say "not running"; else say "stopped (${STOPPED[*]})"; fi
}

cmd_start() {
  mkdir -p "$RUN"
  lock "$RUN/.lock"
  if running; then
    say "already running (master pid $(pid_of master))"
    url
    return 0
  fi
  STOPPED=()
  stop_all  # a half-dead cluster of ours: stop what is left
  [ "${#STOPPED[@]}" -eq 0 ] || say "stopped what was left of a cluster that was not whole"

  command -v "${JAVA_HOME:+$JAVA_HOME/bin/}java" >/dev/null 2>&1 \
    || die "no java (install a JDK 8+, or set JAVA_HOME)"
  PY="$(pick_python)"
  SPARK_HOME="$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' \
    2>/dev/null)" || die "$PY has no pyspark (pip install pyspark), set ZOO_TUNE_PYTHON"
  [ -x "$SPARK_HOME/bin/spark-class" ] || die "no bin/spark-class under $SPARK_HOME"
  export SPARK_HOME PYSPARK_PYTHON="$PY" SPARK_LOCAL_IP=127.0.0.1
  export SPARK_DAEMON_MEMORY="${SPARK_DAEMON_MEMORY:-512m}"
  # Executors the workers start see the venv's bin first (ray, python). Ray's token reaches
  # the Ray nodes in them from the driver that starts them (zoo_tune.cluster._auth).
  PATH="$(dirname "$PY"):$PATH"
  export PATH

  local port="${ZOO_TUNE_SPARK_PORT:-7077}" webui="${ZOO_TUNE_SPARK_WEBUI_PORT:-0}"
  if [ "$port" = 0 ]; then
    port="$(free_port)"
  elif port_busy "$port"; then
    die "port 127.0.0.1:$port is taken by another program (set ZOO_TUNE_SPARK_PORT, 0 = any)"
  fi
  [ "$webui" != 0 ] || webui="$(free_port)"

  local t0=$SECONDS i master_url="spark://127.0.0.1:$port"
  rm -rf "$RUN/logs" "$RUN/work"
  mkdir -p "$RUN/logs" "$RUN/work"
  launch master "$MASTER_CLASS" --host 127.0.0.1 --port "$port" --webui-port "$webui"
  for i in $(seq 1 "$WORKERS"); do
    mkdir -p "$RUN/work/worker$i"
    launch "worker$i" "$WORKER_CLASS" "$master_url" --host 127.0.0.1 --port 0 --webui-port 0 \
      --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" --work-dir "$RUN/work/worker$i"
  done

  local deadline=$((SECONDS + TIMEOUT)) alive=0 role
  while :; do
    for role in $(roles); do
      is_ours "$role" "$(pid_of "$role")" || {
        tail_logs
        stop_all
        die "the $role exited during start-up (logs in $RUN/logs)"
      }
    done
    alive="$(alive_workers "$webui")"
    [ "$alive" -ge "$WORKERS" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_logs
      stop_all
      die "$alive of $WORKERS workers registered after ${TIMEOUT}s (ZOO_TUNE_SPARK_TIMEOUT)"
    fi
    sleep 0.3
  done
  echo "$master_url" >"$RUN/url"
  echo "$webui" >"$RUN/webui_port"
  say "running in $((SECONDS - t0))s: master pid $(pid_of master) (web UI" \
    "http://127.0.0.1:$webui), $WORKERS workers x $WORKER_CORES cores x $WORKER_MEMORY," \
    "logs under $RUN/logs"
  echo "$master_url"
}

cmd_status() {
  local role pid up=() down=()
  for role in $(recorded_roles); do
    pid="$(pid_of "$role")"
    if is_ours "$role" "$pid"; then up+=("$role pid $pid"); else down+=("$role"); fi
  done
  if [ "${#up[@]}" -eq 0 ]; then
    echo "stopped"
    return 3
  fi
  if [ "${#down[@]}" -eq 0 ] && running; then
    echo "running $(url) (${up[*]})"
    return 0
  fi
  echo "degraded: up: ${up[*]}; down: ${down[*]:-none}"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) if running; then url; else echo "stopped" >&2; exit 3; fi ;;
  logs) tail_logs 2>&1 ;;
  *)
    echo "usage: $0 start|stop|status|url|logs" >&2
    exit 2
    ;;
esac
