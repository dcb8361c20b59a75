#!/usr/bin/env bash
# A throwaway single-node YARN (one ResourceManager + one NodeManager, every address on
# 127.0.0.1, DefaultContainerExecutor, the physical-memory check ON) for tests and CI.
# Needs Java 11+ (17 here), Maven (for the one-time jar download) and bash.
#
#   scripts/yarn.sh start    start it unless ours already runs; waits until the NodeManager has
#                            registered; the last line on stdout is the HADOOP_CONF_DIR to use
#   scripts/yarn.sh stop     stop both daemons (SIGTERM: the NodeManager stops its containers),
#                            then any process still running in a container dir of ours
#   scripts/yarn.sh status   exit 0 "running ...", 3 "stopped", 1 "degraded ..." (one died)
#   scripts/yarn.sh conf     print the HADOOP_CONF_DIR (yarn-site.xml, core-site.xml)
#   scripts/yarn.sh rest     print the ResourceManager's REST base URL (http://127.0.0.1:port)
#   scripts/yarn.sh logs     print the tail of both daemon logs and of the container logs
#
# The daemons are Hadoop 3.3.4's own ResourceManager and NodeManager (the Hadoop client inside
# pyspark 3.5.7 is 3.3.4): org.apache.hadoop:hadoop-yarn-server-resourcemanager and
# -nodemanager 3.3.4 with their dependencies (~150 jars, 71 MB), fetched once from Maven
# Central into $ZOO_TUNE_YARN_HOME/lib (default ~/.cache/zoo_tune/yarn/lib; Maven's repository:
# ~/.cache/zoo_tune/m2), in two JVMs. Not hadoop-client-minicluster: its shaded RM answers REST
# calls with broken JSON (its relocated Jersey finds no JAXB writer), and MiniYARNCluster puts
# the RM and NM web apps in one JVM, where Guice's static servlet filter mixes their URLs up.
#
# Settings (environment):
#   ZOO_TUNE_YARN_RUN        run dir: pid files, conf, NodeManager dirs, logs (default
#                            /tmp/zoo_tune_yarn)
#   ZOO_TUNE_YARN_MEMORY_MB  memory the NodeManager offers to containers (default 12288: the
#                            driver container of a yarn-cluster run and 3 executors of 2.3 GB)
#   ZOO_TUNE_YARN_VCORES     vcores it offers (default 6: an AM, 2 one-core executors for Ray
#                            nodes and the spare one zoo_tune leaves to Spark's jobs fit)
#   ZOO_TUNE_YARN_MIN_MB     yarn.scheduler.minimum-allocation-mb (default 256)
#   ZOO_TUNE_YARN_DEFAULT_FS fs.defaultFS of the written core-site.xml (default file:///; an
#                            hdfs:// URI puts Spark's staging dir there)
#   ZOO_TUNE_YARN_TIMEOUT    seconds to wait for the NodeManager to register (default 90)
#   ZOO_TUNE_YARN_JAVA_OPTS  JVM options of both daemons; JAVA_HOME (default: java on PATH)
set -euo pipefail

YARN_HOME="${ZOO_TUNE_YARN_HOME:-$HOME/.cache/zoo_tune/yarn}"
M2="${ZOO_TUNE_M2:-$HOME/.cache/zoo_tune/m2}"
RUN="${ZOO_TUNE_YARN_RUN:-/tmp/zoo_tune_yarn}"
TIMEOUT="${ZOO_TUNE_YARN_TIMEOUT:-90}"
MEMORY_MB="${ZOO_TUNE_YARN_MEMORY_MB:-12288}"
VCORES="${ZOO_TUNE_YARN_VCORES:-6}"
MIN_MB="${ZOO_TUNE_YARN_MIN_MB:-256}"
DEFAULT_FS="${ZOO_TUNE_YARN_DEFAULT_FS:-file:///}"
LIB="$YARN_HOME/lib"
FAST_JVM="-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
read -r -a JAVA_OPTS <<<"${ZOO_TUNE_YARN_JAVA_OPTS:--Xmx512m $FAST_JVM}"
# Hadoop 3.3 reflects into the JDK (Spark's list for Java 17, which covers the RM and NM).
OPENS=()
for p in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util \
  java.util.concurrent java.util.concurrent.atomic sun.nio.ch sun.nio.cs sun.security.action \
  sun.util.calendar; do
  OPENS+=("--add-opens=java.base/$p=ALL-UNNAMED")
done
# groupId:artifactId:version of every jar; Maven adds their dependencies.
ARTIFACTS=(
  org.apache.hadoop:hadoop-yarn-server-resourcemanager:3.3.4
  org.apache.hadoop:hadoop-yarn-server-nodemanager:3.3.4
  org.apache.hadoop:hadoop-yarn-server-timelineservice:3.3.4
  org.apache.hadoop:hadoop-common:3.3.4
  org.apache.hadoop:hadoop-hdfs-client:3.3.4
)
RM_CLASS=org.apache.hadoop.yarn.server.resourcemanager.ResourceManager
NM_CLASS=org.apache.hadoop.yarn.server.nodemanager.NodeManager
ROLES=(resourcemanager nodemanager)
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

say() { echo "yarn.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

DAEMON_TAG=yarn
# shellcheck source=scripts/_daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/_daemon.sh"

tail_logs() {
  local f
  for f in "$RUN"/logs/resourcemanager.log "$RUN"/logs/nodemanager.log \
    "$RUN"/nm-logs/application_*/container_*/stderr; do
    if [ -f "$f" ]; then
      echo "----- last lines of $f -----" >&2
      tail -n 30 "$f" >&2
    fi
  done
}

running() {
  local r
  for r in "${ROLES[@]}"; do is_ours "$r" "$(pid_of "$r")" || return 1; done
}

rest() { echo "http://127.0.0.1:$(cat "$RUN/webapp.port")"; }

have_jars() { [ "$(cat "$LIB/.complete" 2>/dev/null)" = "${ARTIFACTS[*]}" ]; }

ensure_jars() {
  have_jars && return 0
  command -v mvn >/dev/null 2>&1 || die "no mvn (Maven fetches the YARN jars once)"
  mkdir -p "$YARN_HOME"
  if command -v flock >/dev/null 2>&1; then  # one download at a time per cache (fd 8)
    exec 8>"$YARN_HOME/.lock"
    flock 8
    have_jars && { exec 8>&-; return 0; }
  fi
  local tmp a g rest_ v deps=""
  tmp="$(mktemp -d "$YARN_HOME/tmp.XXXXXX")"
  # shellcheck disable=SC2064  # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  for a in "${ARTIFACTS[@]}"; do
    g="${a%%:*}" rest_="${a#*:}" v="${a##*:}"
    deps+="<dependency><groupId>$g</groupId><artifactId>${rest_%%:*}</artifactId>"
    deps+="<version>$v</version></dependency>"
  done
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>zoo_tune</groupId><artifactId>yarn-jars</artifactId><version>1</version>
<packaging>pom</packaging><dependencies>$deps</dependencies></project>
EOF
  say "fetching the YARN jars from Maven Central (once; ~70 MB)"
  mvn -q -B -f "$tmp/pom.xml" -Dmaven.repo.local="$M2" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1 \
    || { tail -n 20 "$tmp/mvn.log" >&2; die "mvn could not fetch the YARN jars"; }
  echo "${ARTIFACTS[*]}" >"$tmp/lib/.complete"
  rm -rf "$LIB"
  mv "$tmp/lib" "$LIB"
  rm -rf "$tmp"
  trap - EXIT
  exec 8>&-
  say "jars cached in $LIB ($(du -sh "$LIB" | cut -f1))"
}

free_port() {  # a port nothing listens on now (the kernel's pick)
  local python="${PYTHON:-python3}"
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

prop() { printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"; }

write_conf() {
  local conf="$RUN/conf" p
  mkdir -p "$conf/webapps/cluster" "$conf/webapps/node" "$RUN/nm-local" "$RUN/nm-logs"
  for p in rm scheduler tracker admin webapp; do free_port >"$RUN/$p.port"; done
  {
    echo '<?xml version="1.0"?>'
    echo '<configuration>'
    prop yarn.resourcemanager.hostname 127.0.0.1
    prop yarn.resourcemanager.address "127.0.0.1:$(cat "$RUN/rm.port")"
    prop yarn.resourcemanager.scheduler.address "127.0.0.1:$(cat "$RUN/scheduler.port")"
    prop yarn.resourcemanager.resource-tracker.address "127.0.0.1:$(cat "$RUN/tracker.port")"
    prop yarn.resourcemanager.admin.address "127.0.0.1:$(cat "$RUN/admin.port")"
    prop yarn.resourcemanager.webapp.address "127.0.0.1:$(cat "$RUN/webapp.port")"
    prop yarn.nodemanager.hostname 127.0.0.1
    prop yarn.nodemanager.address 127.0.0.1:0
    prop yarn.nodemanager.localizer.address 127.0.0.1:0
    prop yarn.nodemanager.webapp.address 127.0.0.1:0
    prop yarn.nodemanager.local-dirs "$RUN/nm-local"
    prop yarn.nodemanager.log-dirs "$RUN/nm-logs"
    prop yarn.nodemanager.resource.memory-mb "$MEMORY_MB"
    prop yarn.nodemanager.resource.cpu-vcores "$VCORES"
    prop yarn.nodemanager.resource.detect-hardware-capabilities false
    prop yarn.scheduler.minimum-allocation-mb "$MIN_MB"
    prop yarn.scheduler.maximum-allocation-mb "$MEMORY_MB"
    prop yarn.scheduler.maximum-allocation-vcores "$VCORES"
    # A container whose processes use more physical memory than it was given is killed, as on
    # a real cluster; virtual memory is not checked (JVMs and Ray reserve far more than they use).
    prop yarn.nodemanager.pmem-check-enabled true
    prop yarn.nodemanager.vmem-check-enabled false
    prop yarn.nodemanager.container-monitor.interval-ms 1000
    # A busy CI disk must not mark the only node unhealthy (Spark's YARN tests do the same).
    prop yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage 99.5
    prop yarn.nodemanager.delete.debug-delay-sec 600
    prop yarn.resourcemanager.scheduler.class \
      org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler
    prop yarn.scheduler.capacity.root.queues default
    prop yarn.scheduler.capacity.root.default.capacity 100
    prop yarn.scheduler.capacity.root.default.maximum-capacity 100
    prop yarn.scheduler.capacity.root.default.user-limit-factor 1
    prop yarn.scheduler.capacity.root.default.state RUNNING
    prop yarn.scheduler.capacity.root.default.acl_submit_applications '*'
    prop yarn.scheduler.capacity.root.default.acl_administer_queue '*'
    prop yarn.scheduler.capacity.maximum-am-resource-percent 0.5
    prop yarn.scheduler.capacity.node-locality-delay -1
    prop yarn.log-aggregation-enable false
    echo '</configuration>'
  } >"$conf/yarn-site.xml"
  {
    echo '<?xml version="1.0"?>'
    echo '<configuration>'
    prop fs.defaultFS "$DEFAULT_FS"
    prop hadoop.tmp.dir "$RUN/tmp"
    echo '</configuration>'
  } >"$conf/core-site.xml"
  cat >"$conf/log4j.properties" <<'EOF'
log4j.rootLogger=INFO,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.yarn.server.nodemanager.containermanager.monitor=INFO
log4j.logger.org.apache.hadoop.shaded=WARN
log4j.logger.org.apache.hadoop.yarn.webapp=WARN
EOF
}

launch() {  # $1: role, $2: main class; detached, logs to a file, pid recorded
  local role="$1" log="$RUN/logs/$1.log" detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  # The NodeManager hands JAVA_HOME (and PATH) on to every container it starts.
  JAVA_HOME="$JAVA_HOME" HADOOP_CONF_DIR="$RUN/conf" "${detach[@]}" "$JAVA" "${JAVA_OPTS[@]}" \
    -Dzoo_tune.yarn.run="$RUN" -Dzoo_tune.yarn.role="$role" "${OPENS[@]}" \
    -Djava.io.tmpdir="$RUN/tmp" -Dyarn.log.dir="$RUN/logs" -cp "$RUN/conf:$LIB/*" "$2" \
    </dev/null >"$log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$RUN/$role.pid"
  for _ in $(seq 1 100); do
    is_ours "$role" "$pid" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  is_ours "$role" "$pid" || { tail_logs; die "the $role did not start (logs in $RUN/logs)"; }
}

# Processes left in our NodeManager's container dirs (a container's JVM, a Ray node it
# started), found by their working directory.
container_pids() {
  local d pid cwd
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    cwd="$(readlink "$d/cwd" 2>/dev/null)" || continue
    case "$cwd" in "$RUN/nm-local/"*) echo "$pid" ;; esac
  done
}

cmd_stop() {
  lock "$RUN/.lock"
  local role pid pids=() left
  for role in nodemanager resourcemanager; do
    pid="$(pid_of "$role")"
    if is_ours "$role" "$pid"; then pids+=("$role:$pid"); fi
    rm -f "$RUN/$role.pid"
  done
  # SIGTERM: the NodeManager stops its containers first.
  [ "${#pids[@]}" -eq 0 ] || stop_pids "${pids[@]}"
  left="$(container_pids | tr '\n' ' ')"
  if [ -n "$left" ]; then
    say "killing what the containers left: $left"
    # shellcheck disable=SC2086  # a list of pids
    kill -9 $left 2>/dev/null || true
  fi
  [ "${#pids[@]}" -gt 0 ] || { say "not running"; return 0; }
  say "stopped (${pids[*]})"
}

nodes_running() {  # the RM's count of RUNNING NodeManagers, from its REST API
  local python="${PYTHON:-python3}"
  "$python" - "$(rest)" <<'EOF' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/ws/v1/cluster/metrics", timeout=5) as r:
    print(json.load(r)["clusterMetrics"]["activeNodes"])
EOF
}

cmd_start() {
  mkdir -p "$RUN"
  lock "$RUN/.lock"
  if running; then
    say "already running (resourcemanager pid $(pid_of resourcemanager)," \
      "nodemanager pid $(pid_of nodemanager))"
    echo "$RUN/conf"
    return 0
  fi
  local role
  for role in "${ROLES[@]}"; do  # a half-dead cluster of ours: stop what is left
    if is_ours "$role" "$(pid_of "$role")"; then
      say "stopping the $role left over from a cluster that is not whole"
      kill "$(pid_of "$role")" 2>/dev/null || true
      for _ in $(seq 1 100); do is_ours "$role" "$(pid_of "$role")" || break; sleep 0.2; done
    fi
    rm -f "$RUN/$role.pid"
  done
  command -v "$JAVA" >/dev/null 2>&1 || die "no java (install a JDK 11+, or set JAVA_HOME)"
  if [ -z "${JAVA_HOME:-}" ]; then
    JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v "$JAVA")")")")"
  fi
  export JAVA_HOME
  ensure_jars
  local t0=$SECONDS
  rm -rf "$RUN/conf" "$RUN/logs" "$RUN/nm-local" "$RUN/nm-logs" "$RUN/tmp"
  mkdir -p "$RUN/logs" "$RUN/tmp"
  write_conf
  launch resourcemanager "$RM_CLASS"
  launch nodemanager "$NM_CLASS"
  local deadline=$((SECONDS + TIMEOUT)) n=""
  while :; do
    for role in "${ROLES[@]}"; do
      is_ours "$role" "$(pid_of "$role")" || {
        tail_logs
        cmd_stop 2>/dev/null
        die "the $role exited during start-up (logs in $RUN/logs)"
      }
    done
    n="$(nodes_running || true)"
    [ "$n" = 1 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_logs
      cmd_stop 2>/dev/null
      die "no NodeManager registered after ${TIMEOUT}s (ZOO_TUNE_YARN_TIMEOUT; logs in $RUN/logs)"
    fi
    sleep 0.5
  done
  say "running in $((SECONDS - t0))s: resourcemanager pid $(pid_of resourcemanager)" \
    "(REST $(rest)), nodemanager pid $(pid_of nodemanager) offering ${MEMORY_MB} MB," \
    "$VCORES vcores; export HADOOP_CONF_DIR=$RUN/conf"
  echo "$RUN/conf"
}

cmd_status() {
  local rm nm
  rm="$(pid_of resourcemanager)"
  nm="$(pid_of nodemanager)"
  if running; then
    echo "running $(rest) (resourcemanager pid $rm, nodemanager pid $nm)"
  elif is_ours resourcemanager "$rm" || is_ours nodemanager "$nm"; then
    echo "degraded: resourcemanager $(is_ours resourcemanager "$rm" && echo "pid $rm" || echo down)," \
      "nodemanager $(is_ours nodemanager "$nm" && echo "pid $nm" || echo down)"
    return 1
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  conf) running || { say "not running"; exit 3; }; echo "$RUN/conf" ;;
  rest) running || { say "not running"; exit 3; }; rest ;;
  logs) tail_logs ;;
  *)
    echo "usage: $0 start|stop|status|conf|rest|logs" >&2
    exit 2
    ;;
esac
