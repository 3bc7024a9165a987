#!/usr/bin/env bash
# A private PostgreSQL cluster for kflow's tests and benchmarks.
#
#   scripts/postgres.sh start    install PostgreSQL if missing (Debian package), init + start the cluster
#   scripts/postgres.sh stop     stop it
#   scripts/postgres.sh status   exit 0 and print the URL when it accepts connections, exit 3 otherwise
#   scripts/postgres.sh url      print the JDBC URL of the `ny_taxi` database
#
# Listens on 127.0.0.1:${KFLOW_PG_PORT:-55432}, and on the test node's address (${KFLOW_NODE_IP:-10.244.0.1},
# the bridge `make cluster-up` creates) when it exists, so pods reach it; superuser `root`, password `root`, scram-sha-256
# password auth on every connection (a wrong password really fails). Data lives under
# ${KFLOW_CACHE:-$HOME/.cache/kflow}/pg, or <repo>/.cache/pg (git-ignored) when running as root
# and KFLOW_CACHE is unset (the server cannot run as root and /root is private); as root, when the
# `postgres` user cannot reach that folder, ~postgres/kflow-<port>/pg.
# The cluster is disposable: fsync is off for speed.
set -euo pipefail

PORT="${KFLOW_PG_PORT:-55432}"
HOST=127.0.0.1
NODE_IP="${KFLOW_NODE_IP:-10.244.0.1}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${KFLOW_CACHE:-}" ]]; then
  BASE="$KFLOW_CACHE/pg"
elif [[ "$(id -u)" == 0 ]]; then
  BASE="$REPO/.cache/pg"
else
  BASE="$HOME/.cache/kflow/pg"
fi
# As root the server runs as the `postgres` user, who must be able to reach the data dir (a clone
# under /root, mode 700, is out of its reach): fall back to a folder in its own home then.
nearest_existing() { local d=$1; while [[ ! -e "$d" ]]; do d="$(dirname "$d")"; done; echo "$d"; }
if [[ "$(id -u)" == 0 ]] && getent passwd postgres >/dev/null \
    && ! runuser -u postgres -- test -x "$(nearest_existing "$(dirname "$BASE")")" 2>/dev/null; then
  BASE="$(getent passwd postgres | cut -d: -f6)/kflow-$PORT/pg"
fi
DATA="$BASE/data"
RUN="$BASE/run"
LOG="$BASE/postgres.log"

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
  local name=$1 d
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/$name" ]]; then echo "$d/$name"; return 0; fi
  done
  return 1
}

install_pg() {
  if find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null && find_bin psql >/dev/null; then return 0; fi
  if [[ "$(id -u)" != 0 ]]; then
    log "PostgreSQL is not installed and this is not root: install the Debian package 'postgresql'"
    exit 1
  fi
  log "installing PostgreSQL (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql postgresql-client >&2
}

# The server refuses to run as root: as root, run it as the `postgres` system user.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

ensure_owner_user() {
  if [[ "$(id -u)" == 0 ]] && ! getent passwd postgres >/dev/null; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}

is_up() {
  local isready
  isready="$(find_bin pg_isready)" || return 1
  "$isready" -q -h "$HOST" -p "$PORT" -t 2
}

init_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  local initdb pwfile
  initdb="$(find_bin initdb)"
  mkdir -p "$BASE" "$RUN"
  pwfile="$BASE/.pwfile"
  printf 'root\n' >"$pwfile"
  if [[ "$(id -u)" == 0 ]]; then chown -R postgres: "$BASE"; fi
  chmod 700 "$BASE"
  log "initdb $DATA"
  as_owner "$initdb" -D "$DATA" -U root --pwfile="$pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$BASE/initdb.log" 2>&1 || {
      # Older initdb or missing locale: fall back to the C locale.
      as_owner "$initdb" -D "$DATA" -U root --pwfile="$pwfile" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C >"$BASE/initdb.log" 2>&1 || { cat "$BASE/initdb.log" >&2; exit 1; }
    }
  rm -f "$pwfile"
  cat >>"$DATA/postgresql.conf" <<CONF
# --- kflow test cluster ---
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$RUN'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
max_wal_size = 2GB
checkpoint_timeout = 15min
max_connections = 100
CONF
  cat >"$DATA/pg_hba.conf" <<HBA
# kflow test cluster: password (scram) everywhere
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
HBA
  allow_pods
}

# Pods of the test node connect from its pod subnet (/24 of the node address).
allow_pods() {
  local net="${NODE_IP%.*}.0/24"
  grep -q "$net" "$DATA/pg_hba.conf" || echo "host    all   all   $net   scram-sha-256" >>"$DATA/pg_hba.conf"
}

node_ip_present() { ip -o -4 addr show 2>/dev/null | grep -q " $NODE_IP/"; }

listen_addresses() { if node_ip_present; then echo "$HOST,$NODE_IP"; else echo "$HOST"; fi; }

cmd_start() {
  if is_up && node_ip_present && ! "$(find_bin pg_isready)" -q -h "$NODE_IP" -p "$PORT" -t 2; then
    log "restarting to listen on the node address $NODE_IP too"
    allow_pods
    as_owner "$(find_bin pg_ctl)" -D "$DATA" -l "$LOG" -o "-p $PORT -c listen_addresses=$(listen_addresses)" \
      -m fast -w -t 60 restart >/dev/null
  fi
  if is_up; then
    log "already running on $HOST:$PORT"
    create_ny_taxi
    echo "jdbc:postgresql://$HOST:$PORT/ny_taxi"
    return 0
  fi
  install_pg
  ensure_owner_user
  init_cluster
  mkdir -p "$RUN"
  if [[ "$(id -u)" == 0 ]]; then chown postgres: "$RUN" "$BASE"; touch "$LOG"; chown postgres: "$LOG"; fi
  local pg_ctl
  pg_ctl="$(find_bin pg_ctl)"
  # A stale pid file after a machine restart is handled by pg_ctl itself.
  if [[ "$(id -u)" == 0 ]]; then allow_pods; chown postgres: "$DATA/pg_hba.conf"; else allow_pods; fi
  as_owner "$pg_ctl" -D "$DATA" -l "$LOG" -o "-p $PORT -c listen_addresses=$(listen_addresses)" -w -t 60 start >/dev/null || {
    log "the server did not start; last lines of $LOG:"; tail -n 20 "$LOG" >&2; exit 1; }
  create_ny_taxi
  log "running on $HOST:$PORT (data $DATA)"
  echo "jdbc:postgresql://$HOST:$PORT/ny_taxi"
}

create_ny_taxi() {
  local psql
  psql="$(find_bin psql)" || return 0
  if ! PGPASSWORD=root "$psql" -h "$HOST" -p "$PORT" -U root -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'ny_taxi'" | grep -q 1; then
    PGPASSWORD=root "$psql" -h "$HOST" -p "$PORT" -U root -d postgres -qc "CREATE DATABASE ny_taxi" >/dev/null
  fi
}

cmd_stop() {
  if [[ ! -f "$DATA/postmaster.pid" ]]; then log "not running"; return 0; fi
  as_owner "$(find_bin pg_ctl)" -D "$DATA" -m fast -w stop >/dev/null
  log "stopped"
}

cmd_status() {
  if is_up; then
    echo "running: jdbc:postgresql://$HOST:$PORT/ny_taxi (user root, data $DATA)"
  else
    echo "not running (port $PORT, data $DATA)"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) echo "jdbc:postgresql://$HOST:$PORT/ny_taxi" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
