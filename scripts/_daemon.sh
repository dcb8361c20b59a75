# shellcheck shell=bash
# Shared by scripts/hdfs.sh and scripts/spark-standalone.sh (sourced, not run): lock a run
# dir, read recorded pids, and recognise our own daemons by the -Dzoo_tune.$DAEMON_TAG.*
# properties each script puts on its java command line. Needs RUN and DAEMON_TAG set.

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
