#!/usr/bin/env bash
# A throwaway MIT Kerberos KDC (realm ZOO.TEST, listening on 127.0.0.1 only) for tests and CI:
# what scripts/hdfs.sh start --kerberos and the security tests log in to. Needs bash, python3
# (to pick a free port) and, once, apt-get (Debian/Ubuntu) to fetch the packages.
#
#   scripts/kdc.sh start         start it (fresh, empty database) unless ours already runs; waits
#                                until it hands out tickets; the last line on stdout is the path
#                                of its krb5.conf (for KRB5_CONFIG, and Java's
#                                -Djava.security.krb5.conf)
#   scripts/kdc.sh keytab NAME   (KDC running) create NAME@ZOO.TEST with a random key unless it
#                                exists (NAME may hold a slash: hdfs/localhost) and export its
#                                keys to a 0600 keytab; the last line is the keytab's path, the
#                                same on every call (keys exported once stay valid)
#   scripts/kdc.sh stop          stop the KDC that `start` started, and wait for it to exit
#                                (the database and logs stay in the run dir until the next start)
#   scripts/kdc.sh status        exit 0 "running ...", 3 "stopped"
#   scripts/kdc.sh conf          print the path of the krb5.conf (exit 3 if stopped)
#   scripts/kdc.sh run TOOL ...  run one of the fetched MIT tools (kinit, klist, kdestroy, kvno,
#                                ktutil, kadmin.local, ...) against this KDC (KRB5_CONFIG and the
#                                library path set; the caller's KRB5CCNAME is kept)
#   scripts/kdc.sh logs          print the tail of the KDC's log
#
# The KDC is Debian's krb5-kdc, run from the packages (krb5-kdc, krb5-admin-server for
# kadmin.local, krb5-user for kinit, and the libraries of the same version) that
# `apt-get download` fetches once and `dpkg-deb -x` extracts into $ZOO_TUNE_KRB5_HOME/root
# (default ~/.cache/zoo_tune/krb5/root): nothing is installed, no system file is read or written
# (KRB5_CONFIG, KRB5_KDC_PROFILE, LD_LIBRARY_PATH and the kdb plugin dir point into the cache and
# the run dir). Set ZOO_TUNE_KRB5_DEBS to a dir holding those .deb files to skip the download.
# State (database, its stash and 0600 master password, krb5.conf, kdc.conf, keytabs, pid file,
# log) lives in $ZOO_TUNE_KDC_RUN (default /tmp/zoo_tune_kdc); keytabs in its keytabs/ dir.
# Other settings: ZOO_TUNE_KDC_PORT (TCP and UDP port, default 0 = a free one),
# ZOO_TUNE_KDC_TIMEOUT (seconds to wait for the first ticket, default 30), PYTHON (default
# python3). The krb5.conf: default_realm ZOO.TEST, kdc = 127.0.0.1:PORT, TCP only
# (udp_preference_limit = 1), no DNS (dns_lookup_*, dns_canonicalize_hostname, rdns off), so
# a service principal is named by the host name as written (hdfs/localhost for localhost).
set -euo pipefail

KRB5_HOME="${ZOO_TUNE_KRB5_HOME:-$HOME/.cache/zoo_tune/krb5}"
RUN="${ZOO_TUNE_KDC_RUN:-/tmp/zoo_tune_kdc}"
TIMEOUT="${ZOO_TUNE_KDC_TIMEOUT:-30}"
REALM=ZOO.TEST
ROOT="$KRB5_HOME/root"
# Everything the KDC, kdb5_util, kadmin.local and kinit load, of one version (libkrb5 & co.
# too: the KDC's libkdb5 uses libkrb5's private symbols, so they must match).
PACKAGES=(
  krb5-kdc krb5-admin-server krb5-user libkadm5srv-mit12 libkadm5clnt-mit12 libkdb5-10
  libgssrpc4 libverto1 libverto-libev1 libev4 libkrb5-3 libk5crypto3 libkrb5support0
  libgssapi-krb5-2
)
PROBE=zoo_tune_probe  # the principal `start` gets a ticket for, to know the KDC answers

say() { echo "kdc.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

DAEMON_TAG=kdc
# shellcheck source=scripts/_daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/_daemon.sh"

# krb5kdc is no java, so not tagged with -D properties: ours is the binary from our cache
# started with the pid-file path of this run dir (`launch` below).
is_ours() {
  local pid="$2" cmd
  [ -n "$pid" ] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [ "$cmd" = "$ROOT/usr/sbin/krb5kdc -n -P $RUN/krb5kdc.pid " ]
}

running() { is_ours kdc "$(pid_of kdc)"; }

tail_logs() {
  local f
  for f in "$RUN/kdc.log" "$RUN/kdc.out" "$@"; do
    if [ -f "$f" ]; then
      echo "----- last lines of $f -----" >&2
      tail -n 30 "$f" >&2
    fi
  done
}

libdir() {  # the multiarch lib dir of the extracted packages (holds libkrb5.so.3)
  local f
  f="$(find "$ROOT/usr/lib" "$ROOT/lib" -name 'libkrb5.so.3' 2>/dev/null | head -n 1)"
  [ -n "$f" ] && dirname "$f"
}

have_root() { [ "$(cat "$ROOT/.complete" 2>/dev/null)" = "${PACKAGES[*]}" ]; }

ensure_packages() {
  have_root && return 0
  mkdir -p "$KRB5_HOME"
  if command -v flock >/dev/null 2>&1; then  # one download at a time per cache (fd 8)
    exec 8>"$KRB5_HOME/.lock"
    flock 8
    have_root && { exec 8>&-; return 0; }
  fi
  local tmp f debs="${ZOO_TUNE_KRB5_DEBS:-}"
  tmp="$(mktemp -d "$KRB5_HOME/tmp.XXXXXX")"
  # shellcheck disable=SC2064  # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  mkdir -p "$tmp/debs" "$tmp/root"
  if [ -n "$debs" ]; then
    for f in "${PACKAGES[@]}"; do
      compgen -G "$debs/${f}_*.deb" >/dev/null || die "no ${f}_*.deb in $debs"
      cp "$debs/${f}"_*.deb "$tmp/debs/"
    done
  else
    command -v apt-get >/dev/null 2>&1 \
      || die "no apt-get: set ZOO_TUNE_KRB5_DEBS to a dir with the .deb files of ${PACKAGES[*]}"
    say "downloading ${PACKAGES[*]} (~1.3 MB, once) into $ROOT"
    # As root, apt's sandbox user _apt could not write to a dir under ~root: download as root.
    if ! (cd "$tmp/debs" && apt-get download -q -o APT::Sandbox::User=root "${PACKAGES[@]}") \
      >"$tmp/apt.log" 2>&1; then
      if [ "$(id -u)" = 0 ]; then  # no package lists yet (a fresh container): fetch them
        say "apt-get download failed; running apt-get update first"
        apt-get update -q >>"$tmp/apt.log" 2>&1 || true
        (cd "$tmp/debs" && apt-get download -q -o APT::Sandbox::User=root "${PACKAGES[@]}") \
          >>"$tmp/apt.log" 2>&1 || { tail -n 20 "$tmp/apt.log" >&2; die "apt-get download failed"; }
      else
        tail -n 20 "$tmp/apt.log" >&2
        die "apt-get download failed (run 'apt-get update' as root, or set ZOO_TUNE_KRB5_DEBS)"
      fi
    fi
  fi
  for f in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$f" "$tmp/root" || die "dpkg-deb -x $f failed"
  done
  rm -rf "$tmp/root/usr/share/doc" "$tmp/root/usr/share/man" "$tmp/root/etc"
  echo "${PACKAGES[*]}" >"$tmp/root/.complete"
  rm -rf "$ROOT"
  mv "$tmp/root" "$ROOT"
  rm -rf "$tmp"
  trap - EXIT
  exec 8>&-
  say "packages extracted in $ROOT ($(du -sh "$ROOT" | cut -f1))"
}

# Run a tool from the cache with our configuration (the caller's KRB5CCNAME is kept).
krb() {
  local tool="$1" lib path
  shift
  lib="$(libdir)" || die "the krb5 packages are not extracted (scripts/kdc.sh start)"
  for path in "$ROOT/usr/sbin/$tool" "$ROOT/usr/bin/$tool" none; do
    [ -x "$path" ] && break
  done
  [ "$path" != none ] || die "no tool $tool in $ROOT"
  KRB5_CONFIG="$RUN/krb5.conf" KRB5_KDC_PROFILE="$RUN/kdc.conf" \
    LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$path" "$@"
}

free_port() {  # a port nothing listens on now (the kernel's pick)
  local python="${PYTHON:-python3}"
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {  # $1: port
  local port="$1" lib
  lib="$(libdir)"
  # Clients, MIT's and Java's alike. Java reads kdc = host:port and udp_preference_limit too.
  cat >"$RUN/krb5.conf" <<EOF
[libdefaults]
  default_realm = $REALM
  dns_lookup_realm = false
  dns_lookup_kdc = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  ticket_lifetime = 24h
  renew_lifetime = 7d
  forwardable = true

[realms]
  $REALM = {
    kdc = 127.0.0.1:$port
  }

[domain_realm]
  localhost = $REALM
  127.0.0.1 = $REALM
EOF
  cat >"$RUN/kdc.conf" <<EOF
[libdefaults]
  plugin_base_dir = $lib/krb5/plugins

[kdcdefaults]
  kdc_listen = 127.0.0.1:$port
  kdc_tcp_listen = 127.0.0.1:$port

[realms]
  $REALM = {
    database_name = $RUN/db/principal
    key_stash_file = $RUN/db/stash
    acl_file = $RUN/kadm5.acl
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port
    max_life = 24h
    max_renewable_life = 7d
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }

[plugins]
  kdcpreauth = {
    disable = spake
  }

[dbmodules]
  db_module_dir = $lib/krb5/plugins/kdb

[logging]
  kdc = FILE:$RUN/kdc.log
  admin_server = FILE:$RUN/kdc.log
  default = FILE:$RUN/kdc.log
EOF
  : >"$RUN/kadm5.acl"
}

principal() { case "$1" in *@*) echo "$1" ;; *) echo "$1@$REALM" ;; esac; }

keytab_path() { local p="${1%@*}"; echo "$RUN/keytabs/${p//\//_}.keytab"; }

# Create the principal (random key) unless it exists, and export its keys once (kadmin.local's
# -norandkey keeps the keys, so an export never invalidates an earlier one).
make_keytab() {  # $1: NAME or NAME@REALM; prints the keytab's path
  local name kt out
  name="$(principal "$1")"
  kt="$(keytab_path "$1")"
  mkdir -p "$RUN/keytabs"
  chmod 700 "$RUN/keytabs"
  if ! krb kadmin.local -q "getprinc $name" 2>/dev/null | grep -q "^Principal: $name\$"; then
    out="$(krb kadmin.local -q "addprinc -randkey $name" 2>&1)" || true
    krb kadmin.local -q "getprinc $name" 2>/dev/null | grep -q "^Principal: $name\$" \
      || die "could not create $name: $out"
  fi
  if [ ! -s "$kt" ]; then
    rm -f "$kt.tmp"
    out="$( (umask 077 && krb kadmin.local -q "ktadd -k $kt.tmp -norandkey $name") 2>&1)" || true
    [ -s "$kt.tmp" ] || die "could not export the keys of $name: $out"
    chmod 600 "$kt.tmp"
    mv "$kt.tmp" "$kt"
  fi
  echo "$kt"
}

launch() {  # krb5kdc in the foreground (-n), detached; pid recorded
  local lib
  lib="$(libdir)"
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  # setsid + no inherited stdio (and not the lock's fd 9): the KDC outlives the caller and never
  # holds a caller's pipe open; setsid execs krb5kdc in place, so $! is its pid.
  KRB5_CONFIG="$RUN/krb5.conf" KRB5_KDC_PROFILE="$RUN/kdc.conf" LD_LIBRARY_PATH="$lib" \
    "${detach[@]}" "$ROOT/usr/sbin/krb5kdc" -n -P "$RUN/krb5kdc.pid" \
    </dev/null >"$RUN/kdc.out" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$RUN/kdc.pid"
  for _ in $(seq 1 100); do
    is_ours kdc "$pid" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  is_ours kdc "$pid" || { tail_logs; die "krb5kdc did not start (logs in $RUN)"; }
}

cmd_stop() {
  lock "$RUN/.lock"
  local pid
  pid="$(pid_of kdc)"
  rm -f "$RUN/kdc.pid"
  is_ours kdc "$pid" || { say "not running"; return 0; }
  stop_pids "kdc:$pid"
  rm -f "$RUN/krb5kdc.pid"
  say "stopped (kdc:$pid)"
}

cmd_start() {
  mkdir -p "$RUN"
  chmod 700 "$RUN"
  lock "$RUN/.lock"
  if running; then
    say "already running (pid $(pid_of kdc), port $(cat "$RUN/port"))"
    echo "$RUN/krb5.conf"
    return 0
  fi
  if is_ours kdc "$(pid_of kdc)"; then kill "$(pid_of kdc)" 2>/dev/null || true; fi
  rm -f "$RUN/kdc.pid" "$RUN/krb5kdc.pid"
  ensure_packages
  local t0=$SECONDS port="${ZOO_TUNE_KDC_PORT:-0}"
  [ "$port" != 0 ] || port="$(free_port)"
  port_busy "$port" && die "port 127.0.0.1:$port is taken by another program (ZOO_TUNE_KDC_PORT)"
  rm -rf "$RUN/db" "$RUN/keytabs" "$RUN/ccache" "$RUN/kdc.log" "$RUN/kdc.out"
  mkdir -p "$RUN/db"
  write_conf "$port"
  echo "$port" >"$RUN/port"
  (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n/+=' >"$RUN/master.pw")
  # -P puts the password on kdb5_util's command line for a moment: a throwaway test database.
  krb kdb5_util -r "$REALM" create -s -P "$(cat "$RUN/master.pw")" >"$RUN/kdb5_util.log" 2>&1 \
    || { tail_logs "$RUN/kdb5_util.log"; die "kdb5_util create failed"; }
  launch
  local probe deadline=$((SECONDS + TIMEOUT))
  probe="$(make_keytab "$PROBE")"
  until KRB5CCNAME="FILE:$RUN/ccache" krb kinit -k -t "$probe" "$PROBE@$REALM" \
    >"$RUN/kinit.log" 2>&1; do
    running || { tail_logs "$RUN/kinit.log"; cmd_stop 2>/dev/null; die "krb5kdc exited"; }
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_logs "$RUN/kinit.log"
      cmd_stop 2>/dev/null
      die "no ticket from the KDC after ${TIMEOUT}s (ZOO_TUNE_KDC_TIMEOUT; logs in $RUN)"
    fi
    sleep 0.2
  done
  rm -f "$RUN/ccache"
  say "running in $((SECONDS - t0))s: krb5kdc pid $(pid_of kdc) on 127.0.0.1:$port, realm" \
    "$REALM; export KRB5_CONFIG=$RUN/krb5.conf"
  echo "$RUN/krb5.conf"
}

cmd_status() {
  if running; then
    echo "running 127.0.0.1:$(cat "$RUN/port") realm $REALM (pid $(pid_of kdc))"
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  conf) running || { say "not running"; exit 3; }; echo "$RUN/krb5.conf" ;;
  keytab)
    [ -n "${2:-}" ] || { echo "usage: $0 keytab NAME" >&2; exit 2; }
    running || die "the KDC is not running (scripts/kdc.sh start)"
    lock "$RUN/.lock"
    make_keytab "$2"
    ;;
  run)
    [ -n "${2:-}" ] || { echo "usage: $0 run TOOL [ARG...]" >&2; exit 2; }
    shift
    krb "$@"
    ;;
  logs) tail_logs ;;
  *)
    echo "usage: $0 start|stop|status|conf|keytab NAME|run TOOL [ARG...]|logs" >&2
    exit 2
    ;;
esac
