# shellcheck shell=bash
# Shared by scripts/hdfs.sh, yarn.sh and spark-standalone.sh (sourced, not run): lock a run
# dir, read recorded pids, recognise our own daemons by the -Dzoo_tune.$DAEMON_TAG.*
# properties each script puts on its java command line, fetch jars with Maven once. Needs
# RUN and DAEMON_TAG set (maven_jars: LIB, M2, and say/die).

lock() {  # serialise start/stop of one run dir ($1: lock file) on fd 9
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$1"
    flock 9
  fi
}

pid_of() { if [ -f "$RUN/$1.pid" ]; then cat "$RUN/$1.pid"; fi; }

# Is $2 a live process that this script started for this run dir as role $1?
is_ours() {
  local role="$1" pid="$2" cmd
  [ -n "$pid" ] || return 1
  if [ -r "/proc/$pid/cmdline" ]; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  else
    cmd="$(ps -o args= -p "$pid" 2>/dev/null)" || return 1
  fi
  case "$cmd" in
    *"-Dzoo_tune.$DAEMON_TAG.run=$RUN -Dzoo_tune.$DAEMON_TAG.role=$role "*) return 0 ;;
    *) return 1 ;;
  esac
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_pids() {  # "role:pid" ...: SIGTERM, wait up to 20 s, then SIGKILL
  local p n alive
  for p in "$@"; do kill "${p#*:}" 2>/dev/null || true; done
  for n in $(seq 1 100); do
    alive=0
    for p in "$@"; do is_ours "${p%%:*}" "${p#*:}" && alive=1; done
    [ "$alive" = 1 ] || return 0
    if [ "$n" = 100 ]; then
      for p in "$@"; do
        if is_ours "${p%%:*}" "${p#*:}"; then kill -9 "${p#*:}" 2>/dev/null || true; fi
      done
      sleep 0.5
    else
      sleep 0.2
    fi
  done
}

# Whether $LIB holds the jars of exactly these artifacts (group:artifact:version ...).
have_maven_jars() { [ "$(cat "$LIB/.complete" 2>/dev/null)" = "$*" ]; }

# Fetch artifacts ($3...) and their runtime dependencies from Maven Central into $LIB, once
# per cache ($1: the cache dir holding $LIB, locked while fetching; $2: what, for messages).
maven_jars() {
  local home="$1" what="$2"
  shift 2
  have_maven_jars "$@" && return 0
  mkdir -p "$home"
  if command -v flock >/dev/null 2>&1; then  # one download at a time per cache (fd 8)
    exec 8>"$home/.lock"
    flock 8
    have_maven_jars "$@" && { exec 8>&-; return 0; }
  fi
  local tmp a g rest_ v deps=""
  tmp="$(mktemp -d "$home/tmp.XXXXXX")"
  # shellcheck disable=SC2064  # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  for a in "$@"; do
    g="${a%%:*}" rest_="${a#*:}" v="${a##*:}"
    deps+="<dependency><groupId>$g</groupId><artifactId>${rest_%%:*}</artifactId>"
    deps+="<version>$v</version></dependency>"
  done
  cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>zoo_tune</groupId><artifactId>jars</artifactId><version>1</version>
<packaging>pom</packaging><dependencies>$deps</dependencies></project>
POM
  say "fetching $what from Maven Central (once) into $LIB"
  mvn -q -B -f "$tmp/pom.xml" -Dmaven.repo.local="$M2" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1 \
    || { tail -n 20 "$tmp/mvn.log" >&2; die "mvn could not fetch $what"; }
  echo "$*" >"$tmp/lib/.complete"
  rm -rf "$LIB"
  mv "$tmp/lib" "$LIB"
  rm -rf "$tmp"
  trap - EXIT
  exec 8>&-
  say "jars cached in $LIB ($(du -sh "$LIB" | cut -f1))"
}
