#!/usr/bin/env bash
# Google Cloud emulators for kflow's GCP tests: fake-gcs-server (GCS) and bqemulator (BigQuery).
#
#   scripts/gcp-emulators.sh start    build/install when missing (pinned, cached), start both
#   scripts/gcp-emulators.sh stop     stop them
#   scripts/gcp-emulators.sh status   exit 0 when both answer, 3 otherwise
#   scripts/gcp-emulators.sh env      the settings kflow reads (eval "$(scripts/gcp-emulators.sh env)")
#
# Both bind to ${KFLOW_GCP_EMULATOR_HOST:-127.0.0.1} (set the node's address so task pods reach them):
# GCS on port ${KFLOW_GCS_PORT:-54443} (plain HTTP), BigQuery REST on ${KFLOW_BQ_PORT:-59050}
# (gRPC on ${KFLOW_BQ_GRPC_PORT:-59060}).
#
# fake-gcs-server is built from its Go module with `nice -n 19` (the cores are shared) into
# ${KFLOW_CACHE:-$HOME/.cache/kflow}/bin/<key>/, key = hash of the pins and the Go version, so it is
# rebuilt only when a pin changes. bqemulator lives in its own virtualenv under .../venvs/<key>/
# (its pins clash with kflow's own DuckDB), with DuckDB's spatial extension from PyPI (bqemulator
# needs it and DuckDB's extension site is not reachable). The emulator runs through
# scripts/bqemulator_kflow.py, which adds what bqemulator lacks (see that file).
set -euo pipefail

FAKE_GCS_VERSION=v1.56.1
BQEMULATOR_VERSION=1.4.0
BQ_DUCKDB_VERSION=1.5.5   # bqemulator's DuckDB, matching the duckdb-extension-spatial wheel

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOST="${KFLOW_GCP_EMULATOR_HOST:-127.0.0.1}"
GCS_PORT="${KFLOW_GCS_PORT:-54443}"
BQ_PORT="${KFLOW_BQ_PORT:-59050}"
BQ_GRPC_PORT="${KFLOW_BQ_GRPC_PORT:-59060}"
CACHE="${KFLOW_CACHE:-$HOME/.cache/kflow}"
RUN="$CACHE/gcp-emulators/$GCS_PORT-$BQ_PORT"

log() { echo "gcp-emulators.sh: $*" >&2; }

gcs_bin() {
  local key
  key=$( { echo "fake-gcs-server $FAKE_GCS_VERSION"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
  echo "$CACHE/bin/$key/fake-gcs-server"
}

build_gcs() {
  if ! command -v go >/dev/null; then log "Go is required to build fake-gcs-server (not on PATH)"; exit 1; fi
  local bin dir
  bin="$(gcs_bin)"
  [[ -x "$bin" ]] && { echo "$bin"; return 0; }
  dir="$(dirname "$bin")"
  mkdir -p "$dir"
  log "building fake-gcs-server $FAKE_GCS_VERSION (nice -n 19) into $dir"
  GOBIN="$dir" GOFLAGS="-p=2 -buildvcs=false" CGO_ENABLED=0 nice -n 19 \
    go install -trimpath -ldflags "-s -w" "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2
  echo "$bin"
}

bq_venv() {
  local key
  key=$(echo "bqemulator $BQEMULATOR_VERSION duckdb $BQ_DUCKDB_VERSION $(python3 -V 2>&1)" | sha256sum | cut -c1-16)
  echo "$CACHE/venvs/bqemulator-$key"
}

install_bq() {
  local venv
  venv="$(bq_venv)"
  if [[ ! -f "$venv/.complete" ]]; then
    log "installing bqemulator $BQEMULATOR_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    nice -n 10 "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "bqemulator==$BQEMULATOR_VERSION" "duckdb==$BQ_DUCKDB_VERSION" \
      "duckdb-extension-spatial==$BQ_DUCKDB_VERSION" numpy >&2
    touch "$venv/.complete"
  fi
  # The extension goes into DuckDB's own extension folder (per DuckDB version); INSTALL of a local
  # file needs no network, and bqemulator's `INSTALL spatial` then finds it installed.
  "$venv/bin/python" - <<'PY' >&2
import glob, os, duckdb, duckdb_extension_spatial as m
con = duckdb.connect()
if not con.execute("SELECT installed FROM duckdb_extensions() WHERE extension_name = 'spatial'").fetchone()[0]:
    path = glob.glob(os.path.join(os.path.dirname(m.__file__), "extensions", "*", "spatial.duckdb_extension"))[0]
    con.execute(f"INSTALL '{path}'")
PY
  echo "$venv"
}

answers() { curl -s -o /dev/null --max-time 2 "$1"; }
gcs_url() { echo "http://$HOST:$GCS_PORT"; }
bq_url() { echo "http://$HOST:$BQ_PORT"; }
gcs_up() { answers "$(gcs_url)/storage/v1/b?project=ping"; }
bq_up() { answers "$(bq_url)/bigquery/v2/projects/ping/datasets"; }

wait_for() {  # wait_for NAME CHECK LOGFILE
  local i
  for i in $(seq 1 240); do
    "$2" && return 0
    sleep 0.5
  done
  log "$1 did not answer in 120 s; last lines of $3:"; tail -n 30 "$3" >&2; exit 1
}

start_detached() {  # start_detached PIDFILE LOGFILE CMD...
  local pidfile=$1 logfile=$2
  shift 2
  setsid "$@" >"$logfile" 2>&1 < /dev/null &
  echo $! >"$pidfile"
}

cmd_start() {
  mkdir -p "$RUN"
  if ! gcs_up; then
    local bin
    bin="$(build_gcs)"
    start_detached "$RUN/gcs.pid" "$RUN/gcs.log" "$bin" -scheme http -host "$HOST" -port "$GCS_PORT" \
      -backend memory -external-url "$(gcs_url)" -public-host "$HOST:$GCS_PORT" -log-level warn
    wait_for fake-gcs-server gcs_up "$RUN/gcs.log"
  fi
  if ! bq_up; then
    local venv
    venv="$(install_bq)"
    start_detached "$RUN/bq.pid" "$RUN/bq.log" env KFLOW_GCS_ENDPOINT="$(gcs_url)" \
      BQEMU_GCS_LOCAL_ROOT="$RUN/gcs-staging" "$venv/bin/python" "$HERE/bqemulator_kflow.py" start \
      --rest-host "$HOST" --rest-port "$BQ_PORT" --grpc-host "$HOST" --grpc-port "$BQ_GRPC_PORT" \
      --log-level warning --log-format console
    wait_for bqemulator bq_up "$RUN/bq.log"
  fi
  log "GCS $(gcs_url), BigQuery $(bq_url)"
  cmd_env
}

stop_one() {  # stop_one PIDFILE NAME
  [[ -f "$1" ]] || return 0
  local pid
  pid="$(cat "$1")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped $2"
  fi
  rm -f "$1"
}

cmd_stop() {
  stop_one "$RUN/gcs.pid" fake-gcs-server
  stop_one "$RUN/bq.pid" bqemulator
}

cmd_status() {
  if gcs_up && bq_up; then echo "running: GCS $(gcs_url), BigQuery $(bq_url)"; else
    echo "not running (GCS $(gcs_url), BigQuery $(bq_url))"; return 3; fi
}

cmd_env() {
  echo "export KFLOW_GCS_ENDPOINT=$(gcs_url)"
  echo "export KFLOW_BIGQUERY_ENDPOINT=$(bq_url)"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  build) build_gcs >/dev/null; install_bq >/dev/null ;;
  *) echo "usage: $0 start|stop|status|env|build" >&2; exit 2 ;;
esac
