#!/usr/bin/env bash
# A throwaway single-node HDFS (one NameNode + one DataNode, every address on 127.0.0.1) for
# tests and CI. Needs only Java 8+ and python3 with pip (for the one-time jar download).
#
#   scripts/hdfs.sh start    start it (fresh, empty namespace) unless ours already runs;
#                            the last line on stdout is the URI, e.g. hdfs://127.0.0.1:9000
#   scripts/hdfs.sh stop     stop the processes that `start` recorded, and wait for them to exit
#                            (logs and data stay in the run dir until the next start)
#   scripts/hdfs.sh status   exit 0 "running ...", 3 "stopped", 1 "degraded ..." (one died)
#   scripts/hdfs.sh uri      print the URI of the running cluster (exit 3 if stopped)
#   scripts/hdfs.sh logs     print the tail of the NameNode and DataNode logs
#   scripts/hdfs.sh datanode start the DataNode again after it died (killed by a fault test):
#                            same namespace and blocks; waits for its first block report
#   scripts/hdfs.sh start --kerberos
#                            a kerberized one instead (see below); the last line is the URI
#   scripts/hdfs.sh conf     print the HADOOP_CONF_DIR of the running cluster (exit 3 if stopped)
#
# Hadoop 2.7.3's jars come from the PyPI source package pyspark==2.4.8 (deps/jars/), downloaded
# once and cached in $ZOO_TUNE_HDFS_HOME/lib (default ~/.cache/zoo_tune/hdfs/lib); set
# ZOO_TUNE_HDFS_PYSPARK_SDIST to a local pyspark-2.4.8.tar.gz to skip the download.
# State (pid files, config, name/data dirs, logs) lives in $ZOO_TUNE_HDFS_RUN
# (default /tmp/zoo_tune_hdfs); `export HADOOP_CONF_DIR=$ZOO_TUNE_HDFS_RUN/conf` lets clients
# that read it (hdfs-native) resolve hdfs:///path.
# Other settings: ZOO_TUNE_HDFS_PORT (NameNode RPC port, default 9000; 0 = first free port from
# 9000), ZOO_TUNE_HDFS_HTTP_PORT (NameNode web port, default 0 = any free one),
# ZOO_TUNE_HDFS_TIMEOUT (seconds to wait for a live DataNode, default 90),
# ZOO_TUNE_HDFS_JAVA_OPTS (JVM options of both daemons), JAVA_HOME, PYTHON (default python3),
# ZOO_TUNE_HDFS_ACK_DELAY_MS (default 20, 0 = off; see write_ack_delay below).
#
# Kerberized (`start --kerberos`; stop, status, uri, conf, logs and datanode then follow the mode
# of the cluster in the run dir): Hadoop 3.3.4's NameNode and DataNode (org.apache.hadoop:
# hadoop-hdfs, -hdfs-client and -common 3.3.4 with their dependencies, ~140 jars, 60 MB, fetched
# once by Maven into $ZOO_TUNE_HDFS3_HOME/lib, default ~/.cache/zoo_tune/hdfs3/lib; Maven's
# repository: $ZOO_TUNE_M2, default ~/.cache/zoo_tune/m2, shared with scripts/yarn.sh) with
# hadoop.security.authentication=kerberos, hadoop.security.authorization=true, block access
# tokens, dfs.data.transfer.protection=privacy (SASL on the data path; no root and no privileged
# ports: ignore.secure.ports.for.testing=true) and dfs.permissions.enabled=false as above. Needs a
# KDC of scripts/kdc.sh running (with its ZOO_TUNE_KDC_RUN if not the default) and KRB5_CONFIG
# set to its krb5.conf (default: `scripts/kdc.sh conf`). Both daemons log in as
# hdfs/localhost@ZOO.TEST (HTTP/localhost@ZOO.TEST for web endpoints) from keytabs of
# `scripts/kdc.sh keytab`, with -Djava.security.krb5.conf=$KRB5_CONFIG. Clients need a ticket or
# a keytab, and must know the cluster is kerberized: the HADOOP_CONF_DIR (`conf`: core-site.xml
# with hadoop.security.authentication=kerberos, hdfs-site.xml with the principals) tells them;
# without it hdfs-native 0.14 tries SIMPLE auth, which the NameNode refuses, and retries.
# The URI is hdfs://127.0.0.1:PORT as above; hdfs://localhost:PORT works as well: the
# NameNode names its principal (hdfs/localhost) in the SASL negotiation, and Java clients take
# it from hdfs-site.xml. 127.0.0.1 also matches the service (127.0.0.1:PORT) of delegation
# tokens that Java clients get (hadoop.security.token.service.use_ip defaults to true), which
# hdfs-native matches against the URI's host:port literally. ZOO_TUNE_HDFS_TOKEN_RENEW_S (kerberized
# only): delegation tokens expire that many seconds after their last renewal (default: a day).
set -euo pipefail

HDFS_HOME="${ZOO_TUNE_HDFS_HOME:-$HOME/.cache/zoo_tune/hdfs}"
RUN="${ZOO_TUNE_HDFS_RUN:-/tmp/zoo_tune_hdfs}"
TIMEOUT="${ZOO_TUNE_HDFS_TIMEOUT:-90}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# C1 only and the serial collector: these daemons are small, and start faster on 2 cores.
FAST_JVM="-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
read -r -a JAVA_OPTS <<<"${ZOO_TUNE_HDFS_JAVA_OPTS:--Xmx512m $FAST_JVM}"
read -r -a CLIENT_OPTS <<<"-Xmx256m $FAST_JVM -Dhadoop.root.logger=WARN,console"
LIB="$HDFS_HOME/lib"
EXT="$HDFS_HOME/ext"
ACK_DELAY_MS="${ZOO_TUNE_HDFS_ACK_DELAY_MS:-20}"
PYSPARK=pyspark-2.4.8
HDFS3_HOME="${ZOO_TUNE_HDFS3_HOME:-$HOME/.cache/zoo_tune/hdfs3}"
M2="${ZOO_TUNE_M2:-$HOME/.cache/zoo_tune/m2}"
# The kerberized cluster's jars (Maven adds their dependencies).
ARTIFACTS3=(
  org.apache.hadoop:hadoop-hdfs:3.3.4
  org.apache.hadoop:hadoop-hdfs-client:3.3.4
  org.apache.hadoop:hadoop-common:3.3.4
)
REALM=ZOO.TEST
KERBEROS=0  # 1: `start --kerberos`, or a kerberized cluster of ours in $RUN (its mode file)
# What the NameNode and DataNode load (found with -Xlog:class+load), plus leveldbjni and xmlenc.
# javax.ws.rs-api is needed even with WebHDFS off: NameNodeRpcServer.create() touches
# NamenodeWebHdfsMethods. The jar of hadoop-hdfs here has no webapps/: `start` makes empty ones.
JARS=(
  hadoop-annotations-2.7.3 hadoop-auth-2.7.3 hadoop-common-2.7.3 hadoop-hdfs-2.7.3
  commons-cli-1.2 commons-codec-1.10 commons-collections-3.2.2 commons-configuration-1.6
  commons-io-2.4 commons-lang-2.6 commons-logging-1.1.3 guava-14.0.1
  htrace-core-3.1.0-incubating jackson-core-asl-1.9.13 jackson-mapper-asl-1.9.13
  javax.servlet-api-3.1.0 javax.ws.rs-api-2.0.1 jetty-6.1.26 jetty-util-6.1.26
  leveldbjni-all-1.8 log4j-1.2.17 netty-all-4.1.47.Final protobuf-java-2.5.0
  slf4j-api-1.7.16 slf4j-log4j12-1.7.16 xercesImpl-2.9.1 xmlenc-0.52
)
NN_CLASS=org.apache.hadoop.hdfs.server.namenode.NameNode
DN_CLASS=org.apache.hadoop.hdfs.server.datanode.DataNode

say() { echo "hdfs.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

tail_logs() {
  local f
  for f in "$RUN"/logs/namenode.log "$RUN"/logs/datanode.log "$@"; do
    if [ -f "$f" ]; then
      echo "----- last lines of $f -----" >&2
      tail -n 30 "$f" >&2
    fi
  done
}

DAEMON_TAG=hdfs
# shellcheck source=scripts/_daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/_daemon.sh"

running() { is_ours namenode "$(pid_of namenode)" && is_ours datanode "$(pid_of datanode)"; }

uri() { echo "hdfs://127.0.0.1:$(cat "$RUN/port")"; }

# --- the kerberized mode (Hadoop 3.3.4's jars, principals and keytabs from scripts/kdc.sh) ---

KDC_SH="$(dirname "${BASH_SOURCE[0]}")/kdc.sh"

use_kerberos() {  # this run of the script: the kerberized cluster's jars and JVM options
  KERBEROS=1
  LIB="$HDFS3_HOME/lib"
  EXT="$HDFS3_HOME/ext"
  local p krb5conf
  krb5conf="$(cat "$RUN/krb5.conf.path" 2>/dev/null || true)"
  # Hadoop 3.3 reflects into the JDK (Kerberos: sun.security.krb5.Config's default realm).
  local extra=(-Djava.security.krb5.conf="$krb5conf"
    --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED)
  for p in java.lang java.lang.reflect java.io java.net java.nio java.util \
    java.util.concurrent sun.nio.ch sun.security.action; do
    extra+=("--add-opens=java.base/$p=ALL-UNNAMED")
  done
  JAVA_OPTS+=("${extra[@]}")
  CLIENT_OPTS+=("${extra[@]}")
}

ensure_jars3() {
  command -v mvn >/dev/null 2>&1 || have_maven_jars "${ARTIFACTS3[@]}" \
    || die "no mvn (Maven fetches Hadoop 3.3.4's jars once)"
  maven_jars "$HDFS3_HOME" "Hadoop 3.3.4's HDFS jars (~60 MB)" "${ARTIFACTS3[@]}"
}

kerberos_setup() {  # krb5.conf and keytabs from scripts/kdc.sh (its KDC must run)
  local krb5conf="${KRB5_CONFIG:-}" kt
  if [ -z "$krb5conf" ]; then
    krb5conf="$(bash "$KDC_SH" conf | tail -n 1)" \
      || die "no KDC runs: scripts/kdc.sh start (and export KRB5_CONFIG=<its krb5.conf>)"
  fi
  [ -f "$krb5conf" ] || die "KRB5_CONFIG=$krb5conf: no such file"
  bash "$KDC_SH" status >/dev/null || die "no KDC of scripts/kdc.sh runs (scripts/kdc.sh start)"
  readlink -f "$krb5conf" >"$RUN/krb5.conf.path"
  kt="$(bash "$KDC_SH" keytab hdfs/localhost | tail -n 1)" \
    || die "scripts/kdc.sh keytab hdfs/localhost failed"
  echo "$kt" >"$RUN/hdfs.keytab.path"
  kt="$(bash "$KDC_SH" keytab HTTP/localhost | tail -n 1)" \
    || die "scripts/kdc.sh keytab HTTP/localhost failed"
  echo "$kt" >"$RUN/http.keytab.path"
}

kerberos_props() {  # $1: core or hdfs: the kerberized cluster's properties of that site file
  case "$1" in
    core)
      prop hadoop.security.authentication kerberos
      prop hadoop.security.authorization true
      ;;
    hdfs)
      local hdfs_kt http_kt
      hdfs_kt="$(cat "$RUN/hdfs.keytab.path")"
      http_kt="$(cat "$RUN/http.keytab.path")"
      prop dfs.block.access.token.enable true
      prop dfs.data.transfer.protection privacy
      prop ignore.secure.ports.for.testing true
      prop dfs.namenode.kerberos.principal "hdfs/localhost@$REALM"
      prop dfs.namenode.keytab.file "$hdfs_kt"
      prop dfs.namenode.kerberos.internal.spnego.principal "HTTP/localhost@$REALM"
      prop dfs.secondary.namenode.kerberos.principal "hdfs/localhost@$REALM"
      prop dfs.datanode.kerberos.principal "hdfs/localhost@$REALM"
      prop dfs.datanode.keytab.file "$hdfs_kt"
      prop dfs.web.authentication.kerberos.principal "HTTP/localhost@$REALM"
      prop dfs.web.authentication.kerberos.keytab "$http_kt"
      if [ -n "${ZOO_TUNE_HDFS_TOKEN_RENEW_S:-}" ]; then
        # Delegation tokens expire this many seconds after their last renewal (default one
        # day), for tests of what happens to jobs that outlive it.
        prop dfs.namenode.delegation.token.renew-interval "$(( ZOO_TUNE_HDFS_TOKEN_RENEW_S * 1000 ))"
      fi
      ;;
  esac
}

kerberos_ticket() {  # a ticket of hdfs/localhost in the run dir, for DFSAdmin (`report`)
  KRB5CCNAME="FILE:$RUN/ccache" bash "$KDC_SH" run kinit -k \
    -t "$(cat "$RUN/hdfs.keytab.path")" "hdfs/localhost@$REALM" >/dev/null 2>&1
}

have_jars() {
  local j
  for j in "${JARS[@]}"; do [ -f "$LIB/$j.jar" ] || return 1; done
}

ensure_jars() {
  have_jars && return 0
  mkdir -p "$HDFS_HOME"
  if command -v flock >/dev/null 2>&1; then  # one download at a time per cache (fd 8)
    exec 8>"$HDFS_HOME/.lock"
    flock 8
    have_jars && { exec 8>&-; return 0; }
  fi
  local j tmp sdist python="${PYTHON:-python3}"
  tmp="$(mktemp -d "$HDFS_HOME/tmp.XXXXXX")"
  # shellcheck disable=SC2064  # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  sdist="${ZOO_TUNE_HDFS_PYSPARK_SDIST:-}"
  if [ -z "$sdist" ]; then
    say "downloading $PYSPARK (220 MB, once) for Hadoop 2.7.3's jars into $LIB"
    # Its setup.py breaks under PEP 517 build isolation (the isolated env gets a new pypandoc),
    # so: a throwaway venv with setuptools and wheel, and no build isolation.
    "$python" -m venv "$tmp/venv" \
      || die "'$python -m venv' failed (Debian: apt-get install python3-venv)"
    "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check setuptools wheel
    "$tmp/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
      --no-build-isolation --no-binary :all: "${PYSPARK/-/==}" -d "$tmp/dl" \
      || die "pip download of ${PYSPARK/-/==} failed"
    sdist="$tmp/dl/$PYSPARK.tar.gz"
  fi
  [ -f "$sdist" ] || die "no such file: $sdist"
  local members=()
  for j in "${JARS[@]}"; do members+=("$PYSPARK/deps/jars/$j.jar"); done
  mkdir -p "$tmp/jars"
  tar -xzf "$sdist" -C "$tmp/jars" --strip-components=3 "${members[@]}" \
    || die "could not extract the jars from $sdist"
  rm -rf "$LIB"
  mv "$tmp/jars" "$LIB"
  rm -rf "$tmp"
  trap - EXIT
  exec 8>&-
  say "jars cached in $LIB ($(du -sh "$LIB" | cut -f1))"
}

# Closing a file: the client gets the DataNode's ack of the last packet, then calls complete();
# Hadoop 2.7's NameNode says "not yet" until the DataNode's block report (sent by another thread
# as the ack goes out) has arrived, and clients retry only after 400 ms (Java) or 500 ms
# (hdfs-native, fixed). Here the report lost that race most times: ~0.5 s per file written.
# This log4j appender, on the DataNode's client-trace line that is logged between the two, holds
# the ack for a few ms so the report wins. Compiled once, if javac is there (else files just close
# slower).
write_ack_delay() {
  [ -f "$EXT/ZooTuneAckDelay.class" ] && return 0
  local javac="${JAVA_HOME:+$JAVA_HOME/bin/}javac" tmp
  command -v "$javac" >/dev/null 2>&1 || {
    say "note: no javac, so every file closes ~0.5 s late (install a JDK to avoid it)"
    return 0
  }
  tmp="$(mktemp -d)"
  cat >"$tmp/ZooTuneAckDelay.java" <<'EOF'
import org.apache.log4j.AppenderSkeleton;
import org.apache.log4j.spi.LoggingEvent;

/** Sleeps on the DataNode's HDFS_WRITE client-trace line (see scripts/hdfs.sh). */
public class ZooTuneAckDelay extends AppenderSkeleton {
  private long millis = 20;

  public void setMillis(long millis) { this.millis = millis; }

  @Override protected void append(LoggingEvent event) {
    Object message = event.getMessage();
    if (millis > 0 && message != null && message.toString().contains("op: HDFS_WRITE")) {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override public void close() {}

  @Override public boolean requiresLayout() { return false; }
}
EOF
  # --release 8 so an older java on PATH runs it too; JDK 8's javac has no --release.
  if "$javac" --release 8 -nowarn -cp "$LIB/log4j-1.2.17.jar" -d "$tmp" \
    "$tmp/ZooTuneAckDelay.java" >"$tmp/javac.log" 2>&1 \
    || "$javac" -nowarn -cp "$LIB/log4j-1.2.17.jar" -d "$tmp" \
      "$tmp/ZooTuneAckDelay.java" >"$tmp/javac.log" 2>&1; then
    mkdir -p "$EXT"
    mv "$tmp/ZooTuneAckDelay.class" "$EXT/"
  else
    say "note: could not compile the ack-delay appender: $(head -c 300 "$tmp/javac.log")"
  fi
  rm -rf "$tmp"
}

prop() { printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"; }

write_conf() {  # $1: NameNode RPC port
  local port="$1" http="${ZOO_TUNE_HDFS_HTTP_PORT:-0}" conf="$RUN/conf" dfs="$RUN/dfs"
  mkdir -p "$conf/webapps/hdfs" "$conf/webapps/datanode" "$conf/webapps/secondary"
  {
    echo '<?xml version="1.0"?>'
    echo '<configuration>'
    prop fs.defaultFS "hdfs://127.0.0.1:$port"
    if [ "$KERBEROS" = 1 ]; then kerberos_props core; fi
    prop hadoop.tmp.dir "$dfs/tmp"
    echo '</configuration>'
  } >"$conf/core-site.xml"
  {
    echo '<?xml version="1.0"?>'
    echo '<configuration>'
    prop dfs.namenode.name.dir "file://$dfs/name"
    prop dfs.datanode.data.dir "file://$dfs/data"
    prop dfs.namenode.rpc-address "127.0.0.1:$port"
    prop dfs.namenode.rpc-bind-host 127.0.0.1
    prop dfs.namenode.http-address "127.0.0.1:$http"
    prop dfs.namenode.secondary.http-address 127.0.0.1:0
    prop dfs.datanode.address 127.0.0.1:0
    prop dfs.datanode.ipc.address 127.0.0.1:0
    prop dfs.datanode.http.address 127.0.0.1:0
    prop dfs.datanode.hostname 127.0.0.1
    prop dfs.namenode.datanode.registration.ip-hostname-check false
    prop dfs.replication 1
    prop dfs.permissions.enabled false
    prop dfs.namenode.safemode.extension 0
    prop dfs.namenode.safemode.threshold-pct 0
    prop dfs.heartbeat.interval 1
    # WebHDFS needs jersey 1 jars (not in pyspark); with it on and them missing the NameNode dies.
    prop dfs.webhdfs.enabled false
    # hdfs-native clients reading this (HADOOP_CONF_DIR) give up on a dead NameNode in ~4 s,
    # not after ~3 min of retries.
    prop dfs.client.failover.max.attempts 3
    if [ "$KERBEROS" = 1 ]; then kerberos_props hdfs; fi
    echo '</configuration>'
  } >"$conf/hdfs-site.xml"
  cat >"$conf/log4j.properties" <<'EOF'
hadoop.root.logger=INFO,console
log4j.rootLogger=${hadoop.root.logger}
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=WARN
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
log4j.additivity.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=false
EOF
  if [ -f "$EXT/ZooTuneAckDelay.class" ] && [ "$ACK_DELAY_MS" != 0 ]; then
    cat >>"$conf/log4j.properties" <<EOF
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=INFO,ackdelay
log4j.appender.ackdelay=ZooTuneAckDelay
log4j.appender.ackdelay.millis=$ACK_DELAY_MS
EOF
  else
    echo "log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN" \
      >>"$conf/log4j.properties"
  fi
}

classpath() { echo "$RUN/conf:$EXT:$LIB/*"; }

launch() {  # $1: role, $2: main class; detached, logs to a file, pid recorded
  local role="$1" log="$RUN/logs/$1.log"
  # setsid + no inherited stdio (and not the lock's fd 9): the daemon outlives the caller and
  # never holds a caller's pipe open. Without job control a background child leads no process
  # group, so setsid execs java in place: $! is java's pid (checked below).
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  "${detach[@]}" "$JAVA" "${JAVA_OPTS[@]}" -Dzoo_tune.hdfs.run="$RUN" \
    -Dzoo_tune.hdfs.role="$role" -Djava.io.tmpdir="$RUN/dfs/tmp" -cp "$(classpath)" "$2" \
    </dev/null >"$log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$RUN/$role.pid"
  for _ in $(seq 1 100); do  # until the forked shell has exec'd java
    is_ours "$role" "$pid" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  is_ours "$role" "$pid" || { tail_logs; die "the $role did not start (logs in $RUN/logs)"; }
}

report() {
  local t=()
  command -v timeout >/dev/null 2>&1 && t=(timeout 30)
  if [ "$KERBEROS" = 1 ]; then t=(env "KRB5CCNAME=FILE:$RUN/ccache" "${t[@]}"); fi
  "${t[@]}" "$JAVA" "${CLIENT_OPTS[@]}" -cp "$(classpath)" org.apache.hadoop.hdfs.tools.DFSAdmin \
    -D ipc.client.connect.max.retries=0 -report 2>&1
}

cmd_stop() {
  lock "$RUN/.lock"
  local role pid pids=()
  for role in datanode namenode; do
    pid="$(pid_of "$role")"
    if is_ours "$role" "$pid"; then pids+=("$role:$pid"); fi
    rm -f "$RUN/$role.pid"
  done
  [ "${#pids[@]}" -gt 0 ] || { say "not running"; return 0; }
  stop_pids "${pids[@]}"
  say "stopped (${pids[*]})"
}

cmd_start() {
  mkdir -p "$RUN"
  lock "$RUN/.lock"
  if running; then
    say "already running (namenode pid $(pid_of namenode), datanode pid $(pid_of datanode))"
    uri
    return 0
  fi
  local role
  for role in namenode datanode; do  # a half-dead cluster of ours: stop what is left
    if is_ours "$role" "$(pid_of "$role")"; then
      say "stopping the $role left over from a cluster that is not whole"
      kill "$(pid_of "$role")" 2>/dev/null || true
      for _ in $(seq 1 100); do is_ours "$role" "$(pid_of "$role")" || break; sleep 0.2; done
    fi
    rm -f "$RUN/$role.pid"
  done
  command -v "$JAVA" >/dev/null 2>&1 || die "no java (install a JDK 8+, or set JAVA_HOME)"
  if [ "$KERBEROS" = 1 ]; then
    echo kerberos >"$RUN/mode"
    kerberos_setup
    use_kerberos
    ensure_jars3
  else
    rm -f "$RUN/mode"
    ensure_jars
  fi
  write_ack_delay

  local port="${ZOO_TUNE_HDFS_PORT:-9000}"
  if [ "$port" = 0 ]; then
    for port in $(seq 9000 9099) none; do port_busy "$port" || break; done
    [ "$port" != none ] || die "no free port in 9000-9099"
  elif port_busy "$port"; then
    die "port 127.0.0.1:$port is taken by another program (set ZOO_TUNE_HDFS_PORT)"
  fi

  local t0=$SECONDS
  rm -rf "$RUN/dfs" "$RUN/conf" "$RUN/logs"
  mkdir -p "$RUN/logs" "$RUN/dfs/tmp"  # java.io.tmpdir: Jetty leaves a dir there each start
  write_conf "$port"
  echo "$port" >"$RUN/port"
  "$JAVA" "${JAVA_OPTS[@]}" -cp "$(classpath)" "$NN_CLASS" -format -nonInteractive -force \
    >"$RUN/logs/format.log" 2>&1 9>&- || { tail_logs "$RUN/logs/format.log"; die "format failed"; }
  launch namenode "$NN_CLASS"
  launch datanode "$DN_CLASS"
  if [ "$KERBEROS" = 1 ]; then
    kerberos_ticket || { cmd_stop 2>/dev/null; die "no ticket for hdfs/localhost from the KDC"; }
  fi

  local deadline=$((SECONDS + TIMEOUT)) out="" dnlog="$RUN/logs/datanode.log"
  while :; do
    for role in namenode datanode; do
      is_ours "$role" "$(pid_of "$role")" || {
        tail_logs
        cmd_stop 2>/dev/null
        die "the $role exited during start-up (logs in $RUN/logs)"
      }
    done
    # DFSAdmin (a JVM, 1-2 s) decides, once the DataNode logs its first block report.
    if port_busy "$port" && { grep -q 'Successfully sent block report' "$dnlog" \
      || [ "$SECONDS" -ge $((t0 + 20)) ]; }; then
      out="$(report || true)"
      # One live DataNode that has sent its heartbeat (capacity known), out of safe mode.
      if grep -q '^Live datanodes (1)' <<<"$out" && ! grep -q '^Safe mode is ON' <<<"$out" \
        && ! grep -q '^DFS Remaining: 0 ' <<<"$out"; then
        break
      fi
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_logs
      [ -n "$out" ] && printf '%s\n' "----- last DFSAdmin -report -----" "$out" >&2
      cmd_stop 2>/dev/null
      die "no live DataNode after ${TIMEOUT}s (ZOO_TUNE_HDFS_TIMEOUT; logs in $RUN/logs)"
    fi
    sleep 0.5
  done
  say "running in $((SECONDS - t0))s: namenode pid $(pid_of namenode), datanode pid" \
    "$(pid_of datanode), logs and HADOOP_CONF_DIR under $RUN"
  uri
}

cmd_datanode() {
  lock "$RUN/.lock"
  is_ours namenode "$(pid_of namenode)" || die "no NameNode of ours runs (scripts/hdfs.sh start)"
  if is_ours datanode "$(pid_of datanode)"; then
    say "the datanode already runs (pid $(pid_of datanode))"
    return 0
  fi
  local t0=$SECONDS dnlog="$RUN/logs/datanode.log"
  [ -f "$dnlog" ] && mv "$dnlog" "$RUN/logs/datanode.$(date +%s).log"
  launch datanode "$DN_CLASS"
  until grep -q 'Successfully sent block report' "$dnlog" 2>/dev/null; do
    is_ours datanode "$(pid_of datanode)" || { tail_logs; die "the datanode exited on restart"; }
    [ "$SECONDS" -lt $((t0 + TIMEOUT)) ] || { tail_logs; die "no block report after ${TIMEOUT}s"; }
    sleep 0.2
  done
  say "datanode running again in $((SECONDS - t0))s (pid $(pid_of datanode))"
}

cmd_status() {
  local nn dn
  nn="$(pid_of namenode)"
  dn="$(pid_of datanode)"
  if running; then
    echo "running $(uri) (namenode pid $nn, datanode pid $dn)"
  elif is_ours namenode "$nn" || is_ours datanode "$dn"; then
    echo "degraded: namenode $(is_ours namenode "$nn" && echo "pid $nn" || echo down)," \
      "datanode $(is_ours datanode "$dn" && echo "pid $dn" || echo down)"
    return 1
  else
    echo "stopped"
    return 3
  fi
}

# `start --kerberos`, or a kerberized cluster of ours in $RUN: its jars and options throughout.
if [ "${1:-}" = start ] && [ "${2:-}" = --kerberos ]; then
  KERBEROS=1
elif [ "${1:-}" != start ] && [ "$(cat "$RUN/mode" 2>/dev/null)" = kerberos ]; then
  use_kerberos
fi

case "${1:-}" in
  start)
    [ -z "${2:-}" ] || [ "$2" = --kerberos ] || { echo "usage: $0 start [--kerberos]" >&2; exit 2; }
    cmd_start
    ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  uri) running || { say "not running"; exit 3; }; uri ;;
  conf) running || { say "not running"; exit 3; }; echo "$RUN/conf" ;;
  logs) tail_logs ;;
  datanode) cmd_datanode ;;
  *)
    echo "usage: $0 start [--kerberos]|stop|status|uri|conf|logs|datanode" >&2
    exit 2
    ;;
esac
