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
#   scripts/yarn.sh start --kerberos
#                            a kerberized one instead (see below); the last line is the conf dir
#   scripts/yarn.sh start --gpus N
#                            a NodeManager offering N fake GPUs as yarn.io/gpu (see below); with
#                            or without --kerberos
#   scripts/yarn.sh gpus     print the dir of the fake nvidia-smi (exit 3: no GPUs)
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
#   ZOO_TUNE_YARN_GPUS       fake GPUs the NodeManager offers (default 0; `start --gpus N` wins)
#
# GPUs (`start --gpus N`, N > 0): YARN's own GPU plugin, faked the way Hadoop's tests fake it:
# the NodeManager's discovery executable (yarn.nodemanager.resource-plugins.gpu.
# path-to-discovery-executables: its dir) is $RUN/gpu-bin/nvidia-smi, a script that prints
# `nvidia-smi -x -q` XML for N GPUs (minor numbers 0..N-1); the NodeManager registers
# yarn.io/gpu=N (resource-types.xml declares yarn.io/gpu; allowed-gpu-devices=auto), and the
# CapacityScheduler schedules with the DominantResourceCalculator (GPUs and vcores count, not
# only memory). Still the DefaultContainerExecutor: the NodeManager loads the plugin, reports
# the GPUs and the RM gives containers yarn.io/gpu, but nothing isolates devices (that is the
# LinuxContainerExecutor's cgroups/Docker work): a container learns no device of its own from
# YARN. The fake also answers `nvidia-smi --query-gpu=index --format=csv,noheader` (0..N-1),
# `-L` and a bare `nvidia-smi`, for a GPU discovery script in a container (Spark's executors'):
# it is not on any container's PATH (a real GPU node has nvidia-smi in /usr/bin); an
# application that wants it names $RUN/gpu-bin (`scripts/yarn.sh gpus`) in its containers'
# PATH (spark.executorEnv.PATH). Every container sees all N: the DefaultContainerExecutor
# hides none.
#
# Kerberized: `scripts/yarn.sh start --kerberos` (stop, status, conf, rest and logs then follow
# the mode of the cluster in the run dir). Needs a KDC of scripts/kdc.sh running (its
# ZOO_TUNE_KDC_RUN if not the default) and KRB5_CONFIG set to its krb5.conf (default:
# `scripts/kdc.sh conf`), and, for an hdfs:// ZOO_TUNE_YARN_DEFAULT_FS (a kerberized HDFS of
# scripts/hdfs.sh start --kerberos), that HDFS's HADOOP_CONF_DIR: ZOO_TUNE_YARN_HDFS_CONF, else
# `scripts/hdfs.sh conf` (with the caller's ZOO_TUNE_HDFS_RUN). hadoop.security.authentication=
# kerberos and hadoop.security.authorization=true (default ACLs: *); the ResourceManager logs in
# as rm/localhost@ZOO.TEST, the NodeManager as nm/localhost@ZOO.TEST (keytabs of
# `scripts/kdc.sh keytab`; HTTP/localhost@ZOO.TEST for SPNEGO, which guards only the daemons'
# internal servlets: the REST API stays open, with no user, as with simple authentication);
# both principals map to the local user running the daemons (hadoop.security.auth_to_local,
# then DEFAULT: alice@ZOO.TEST is alice); -Djava.security.krb5.conf=$KRB5_CONFIG on both JVMs.
# Still the DefaultContainerExecutor (Hadoop runs it in secure mode: every container runs as the
# daemons' user, not as the submitter). The conf dir (`conf`) is complete for clients of both
# services: core-site.xml (Kerberos on, fs.defaultFS), hdfs-site.xml (the HDFS's own, copied:
# dfs.namenode.kerberos.principal, dfs.data.transfer.protection, ...) and yarn-site.xml with
# yarn.resourcemanager.principal (spark-submit names it as the renewer of the HDFS delegation
# tokens it gets; the RM renews them, so its principal must be spelt out, with no _HOST).
# Containers find the krb5.conf as if it were at its usual place on a real cluster: the NM
# puts KRB5_CONFIG and JAVA_TOOL_OPTIONS=-Djava.security.krb5.conf=... in their environment
# (yarn.nodemanager.admin-env; without it a Spark AM dies at once: "Can't get Kerberos realm",
# "KrbException: Cannot locate default realm"). A client JVM on this machine (spark-submit's
# driver) still needs -Djava.security.krb5.conf itself: Java reads no KRB5_CONFIG.
set -euo pipefail

YARN_HOME="${ZOO_TUNE_YARN_HOME:-$HOME/.cache/zoo_tune/yarn}"
M2="${ZOO_TUNE_M2:-$HOME/.cache/zoo_tune/m2}"
RUN="${ZOO_TUNE_YARN_RUN:-/tmp/zoo_tune_yarn}"
TIMEOUT="${ZOO_TUNE_YARN_TIMEOUT:-90}"
MEMORY_MB="${ZOO_TUNE_YARN_MEMORY_MB:-12288}"
VCORES="${ZOO_TUNE_YARN_VCORES:-6}"
MIN_MB="${ZOO_TUNE_YARN_MIN_MB:-256}"
DEFAULT_FS="${ZOO_TUNE_YARN_DEFAULT_FS:-file:///}"
GPUS="${ZOO_TUNE_YARN_GPUS:-0}"
LIB="$YARN_HOME/lib"
# Without Hadoop's native library (Maven Central has none) the NodeManager forks a `chmod` for
# every file of a localized archive: vfork instead of the JDK's default posix_spawn through
# jspawnhelper (an exec more per fork) took the test archive's localization 113 s -> 92 s.
FAST_JVM="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djdk.lang.Process.launchMechanism=VFORK"
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
REALM=ZOO.TEST
KERBEROS=0  # 1: `start --kerberos`, or a kerberized cluster of ours in $RUN (its mode file)
KDC_SH="$(dirname "${BASH_SOURCE[0]}")/kdc.sh"
HDFS_SH="$(dirname "${BASH_SOURCE[0]}")/hdfs.sh"
RM_PRINCIPAL="rm/localhost@$REALM"
NM_PRINCIPAL="nm/localhost@$REALM"
HTTP_PRINCIPAL="HTTP/localhost@$REALM"

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

ensure_jars() {
  command -v mvn >/dev/null 2>&1 || have_maven_jars "${ARTIFACTS[@]}" \
    || die "no mvn (Maven fetches the YARN jars once)"
  maven_jars "$YARN_HOME" "the YARN jars (~70 MB)" "${ARTIFACTS[@]}"
}

# --- the kerberized mode (principals and keytabs from scripts/kdc.sh) ---

use_kerberos() {  # this run of the script: the kerberized daemons' JVM options
  KERBEROS=1
  local krb5conf
  krb5conf="$(cat "$RUN/krb5.conf.path" 2>/dev/null || true)"
  # Hadoop reads the default realm through sun.security.krb5.Config (reflection).
  JAVA_OPTS+=(-Djava.security.krb5.conf="$krb5conf"
    --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED)
}

kerberos_setup() {  # krb5.conf, keytabs and the HDFS's conf, recorded in the run dir
  local krb5conf="${KRB5_CONFIG:-}" kt hconf="${ZOO_TUNE_YARN_HDFS_CONF:-}" name
  if [ -z "$krb5conf" ]; then
    krb5conf="$(bash "$KDC_SH" conf | tail -n 1)" \
      || die "no KDC runs: scripts/kdc.sh start (and export KRB5_CONFIG=<its krb5.conf>)"
  fi
  [ -f "$krb5conf" ] || die "KRB5_CONFIG=$krb5conf: no such file"
  bash "$KDC_SH" status >/dev/null || die "no KDC of scripts/kdc.sh runs (scripts/kdc.sh start)"
  readlink -f "$krb5conf" >"$RUN/krb5.conf.path"
  for name in rm nm http; do
    case "$name" in
      rm) kt="$RM_PRINCIPAL" ;; nm) kt="$NM_PRINCIPAL" ;; http) kt="$HTTP_PRINCIPAL" ;;
    esac
    kt="$(bash "$KDC_SH" keytab "${kt%@*}" | tail -n 1)" \
      || die "scripts/kdc.sh keytab for the $name principal failed"
    echo "$kt" >"$RUN/$name.keytab.path"
  done
  rm -f "$RUN/hdfs.conf.path"
  case "$DEFAULT_FS" in
    hdfs://*)
      if [ -z "$hconf" ]; then
        hconf="$(bash "$HDFS_SH" conf 2>/dev/null | tail -n 1)" \
          || die "ZOO_TUNE_YARN_DEFAULT_FS=$DEFAULT_FS but no HDFS conf: set" \
            "ZOO_TUNE_YARN_HDFS_CONF (or the ZOO_TUNE_HDFS_RUN of scripts/hdfs.sh)"
      fi
      ;;
  esac
  if [ -n "$hconf" ]; then
    [ -f "$hconf/hdfs-site.xml" ] || die "no hdfs-site.xml in $hconf (ZOO_TUNE_YARN_HDFS_CONF)"
    grep -q dfs.namenode.kerberos.principal "$hconf/hdfs-site.xml" \
      || die "$hconf/hdfs-site.xml names no dfs.namenode.kerberos.principal (not kerberized)"
    readlink -f "$hconf" >"$RUN/hdfs.conf.path"
  fi
}

kerberos_props() {  # $1: core or yarn: the kerberized cluster's properties of that site file
  local user
  case "$1" in
    core)
      user="$(id -un)"
      prop hadoop.security.authentication kerberos
      prop hadoop.security.authorization true
      # The daemons' principals are the local user running them; anyone else@ZOO.TEST: anyone.
      prop hadoop.security.auth_to_local \
        "RULE:[2:\$1/\$2@\$0]([rn]m/localhost@${REALM//./\\.})s/.*/$user/ DEFAULT"
      ;;
    yarn)
      local krb5conf env
      prop yarn.resourcemanager.principal "$RM_PRINCIPAL"
      prop yarn.resourcemanager.keytab "$(cat "$RUN/rm.keytab.path")"
      prop yarn.resourcemanager.webapp.spnego-principal "$HTTP_PRINCIPAL"
      prop yarn.resourcemanager.webapp.spnego-keytab-file "$(cat "$RUN/http.keytab.path")"
      prop yarn.nodemanager.principal "$NM_PRINCIPAL"
      prop yarn.nodemanager.keytab "$(cat "$RUN/nm.keytab.path")"
      prop yarn.nodemanager.webapp.spnego-principal "$HTTP_PRINCIPAL"
      prop yarn.nodemanager.webapp.spnego-keytab-file "$(cat "$RUN/http.keytab.path")"
      prop yarn.nodemanager.container-executor.class \
        org.apache.hadoop.yarn.server.nodemanager.DefaultContainerExecutor
      # Every container finds the krb5.conf, as on a real cluster (/etc/krb5.conf): MIT's
      # libraries by KRB5_CONFIG, Java by JAVA_TOOL_OPTIONS (Hadoop wants the default realm
      # as soon as Kerberos is on, even in a container that only uses delegation tokens).
      krb5conf="$(cat "$RUN/krb5.conf.path")"
      env="MALLOC_ARENA_MAX=\$MALLOC_ARENA_MAX,KRB5_CONFIG=$krb5conf"
      prop yarn.nodemanager.admin-env "$env,JAVA_TOOL_OPTIONS=-Djava.security.krb5.conf=$krb5conf"
      ;;
  esac
}

# --- fake GPUs (start --gpus N): YARN's GPU plugin over a fake nvidia-smi ---

gpu_props() {  # yarn-site.xml's GPU settings
  prop yarn.nodemanager.resource-plugins yarn.io/gpu
  prop yarn.nodemanager.resource-plugins.gpu.allowed-gpu-devices auto
  # The dir, not the file: Hadoop 3.3.4's check of a file path is inverted (it refuses a
  # file named nvidia-smi: "It should point to an nvidia-smi binary"); a dir's nvidia-smi passes.
  prop yarn.nodemanager.resource-plugins.gpu.path-to-discovery-executables "$RUN/gpu-bin"
  # The DefaultResourceCalculator compares memory only: GPU requests would not count.
  prop yarn.scheduler.capacity.resource-calculator \
    org.apache.hadoop.yarn.util.resource.DominantResourceCalculator
}

write_fake_nvidia_smi() {  # $RUN/gpu-bin/nvidia-smi: $GPUS GPUs, as Hadoop's tests fake it
  local bin="$RUN/gpu-bin" i last=$((GPUS - 1))
  mkdir -p "$bin"
  {
    echo '#!/usr/bin/env bash'
    echo "# A fake nvidia-smi (scripts/yarn.sh start --gpus $GPUS): $GPUS GPUs, no driver."
    echo 'case " $* " in'
    echo '  *" -q "*|*" -x "*)  # the NodeManager asks: nvidia-smi -x -q'
    echo "    cat <<'XML'"
    echo '<?xml version="1.0" ?>'
    echo '<nvidia_smi_log>'
    echo '  <driver_version>000.00</driver_version>'
    echo "  <attached_gpus>$GPUS</attached_gpus>"
    for i in $(seq 0 "$last"); do
      echo "  <gpu id=\"00000000:0$((i + 1)):00.0\">"
      echo '    <product_name>Fake GPU (zoo_tune scripts/yarn.sh)</product_name>'
      echo "    <uuid>GPU-00000000-0000-0000-0000-00000000000$i</uuid>"
      echo "    <minor_number>$i</minor_number>"
      echo '    <bar1_memory_usage><total>256 MiB</total><used>0 MiB</used><free>256 MiB</free></bar1_memory_usage>'
      echo '    <utilization><gpu_util>0 %</gpu_util><memory_util>0 %</memory_util></utilization>'
      echo '    <temperature><gpu_temp>30 C</gpu_temp><gpu_temp_max_threshold>90 C</gpu_temp_max_threshold><gpu_temp_slow_threshold>85 C</gpu_temp_slow_threshold></temperature>'
      echo '  </gpu>'
    done
    echo '</nvidia_smi_log>'
    echo 'XML'
    echo '    ;;'
    echo "  *--query-gpu=index*) seq 0 $last ;;"
    echo "  *\" -L \"*) for i in \$(seq 0 $last); do"
    echo '      echo "GPU $i: Fake GPU (UUID: GPU-00000000-0000-0000-0000-00000000000$i)"; done ;;'
    echo "  *) echo \"fake nvidia-smi (scripts/yarn.sh): $GPUS GPU(s)\" ;;"
    echo 'esac'
  } >"$bin/nvidia-smi"
  chmod 755 "$bin/nvidia-smi"
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
    if [ "$GPUS" -gt 0 ]; then gpu_props; fi
    if [ "$KERBEROS" = 1 ]; then kerberos_props yarn; fi
    echo '</configuration>'
  } >"$conf/yarn-site.xml"
  {
    echo '<?xml version="1.0"?>'
    echo '<configuration>'
    prop fs.defaultFS "$DEFAULT_FS"
    prop hadoop.tmp.dir "$RUN/tmp"
    if [ "$KERBEROS" = 1 ]; then kerberos_props core; fi
    echo '</configuration>'
  } >"$conf/core-site.xml"
  if [ "$GPUS" -gt 0 ]; then
    {
      echo '<?xml version="1.0"?>'
      echo '<configuration>'
      prop yarn.resource-types yarn.io/gpu
      echo '</configuration>'
    } >"$conf/resource-types.xml"
    write_fake_nvidia_smi
  fi
  if [ -f "$RUN/hdfs.conf.path" ]; then  # the kerberized HDFS's principals, SASL settings
    cp "$(cat "$RUN/hdfs.conf.path")/hdfs-site.xml" "$conf/hdfs-site.xml"
  fi
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

node_gpus() {  # the yarn.io/gpu the RM's one node offers, from its REST API
  local python="${PYTHON:-python3}"
  "$python" - "$(rest)" <<'EOF' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/ws/v1/cluster/nodes", timeout=5) as r:
    node = json.load(r)["nodes"]["node"][0]
infos = node.get("totalResource", {}).get("resourceInformations", {})
print(next((int(i["value"]) for i in infos.get("resourceInformation", [])
            if i["name"] == "yarn.io/gpu"), 0))
EOF
}

cmd_start() {
  mkdir -p "$RUN"
  lock "$RUN/.lock"
  if running; then
    if [ "$KERBEROS" = 1 ] && [ "$(cat "$RUN/mode" 2>/dev/null)" != kerberos ]; then
      die "a YARN without Kerberos of ours runs in $RUN: scripts/yarn.sh stop first"
    fi
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
  if [ "$KERBEROS" = 1 ]; then
    echo kerberos >"$RUN/mode"
    kerberos_setup
    use_kerberos
  else
    rm -f "$RUN/mode" "$RUN/krb5.conf.path" "$RUN/hdfs.conf.path"
  fi
  case "$GPUS" in
    '' | *[!0-9]*) die "--gpus / ZOO_TUNE_YARN_GPUS must be a whole number, not '$GPUS'" ;;
  esac
  GPUS=$((10#$GPUS))
  rm -rf "$RUN/gpu-bin"
  if [ "$GPUS" -gt 0 ]; then echo "$GPUS" >"$RUN/gpus"; else rm -f "$RUN/gpus"; fi
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
  if [ "$GPUS" -gt 0 ]; then  # the plugin fails quietly (a warning): the node must offer them
    n="$(node_gpus || true)"
    if [ "$n" != "$GPUS" ]; then
      tail_logs
      cmd_stop 2>/dev/null
      die "the NodeManager offers yarn.io/gpu=${n:-?}, not $GPUS (logs in $RUN/logs)"
    fi
  fi
  local kerb="" gpu=""
  [ "$KERBEROS" = 0 ] || kerb=", Kerberos on ($RM_PRINCIPAL, $NM_PRINCIPAL)"
  [ "$GPUS" = 0 ] || gpu=", $GPUS fake GPUs (yarn.io/gpu; nvidia-smi in $RUN/gpu-bin)"
  say "running in $((SECONDS - t0))s: resourcemanager pid $(pid_of resourcemanager)" \
    "(REST $(rest)), nodemanager pid $(pid_of nodemanager) offering ${MEMORY_MB} MB," \
    "$VCORES vcores$gpu$kerb; export HADOOP_CONF_DIR=$RUN/conf"
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

# `start --kerberos`, or a kerberized cluster of ours in $RUN: its options throughout.
if [ "${1:-}" = start ]; then
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --kerberos) KERBEROS=1; shift ;;
      --gpus) [ $# -ge 2 ] || { echo "usage: $0 start [--kerberos] [--gpus N]" >&2; exit 2; }
        GPUS="$2"; shift 2 ;;
      --gpus=*) GPUS="${1#--gpus=}"; shift ;;
      *) echo "usage: $0 start [--kerberos] [--gpus N]" >&2; exit 2 ;;
    esac
  done
  set -- start
elif [ "$(cat "$RUN/mode" 2>/dev/null)" = kerberos ]; then
  use_kerberos
fi

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  gpus)
    { [ -f "$RUN/gpus" ] && running; } || { say "no YARN with GPUs of ours runs"; exit 3; }
    echo "$RUN/gpu-bin"
    ;;
  status) cmd_status ;;
  conf) running || { say "not running"; exit 3; }; echo "$RUN/conf" ;;
  rest) running || { say "not running"; exit 3; }; rest ;;
  logs) tail_logs ;;
  *)
    echo "usage: $0 start [--kerberos] [--gpus N]|stop|status|conf|rest|logs|gpus" >&2
    exit 2
    ;;
esac
