# Shared settings for the infra scripts. Sourced, not executed.
# Everything is computed from the repository root; nothing is tied to where the clone lives.

INFRA_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_LIB_DIR/../.." && pwd)"
INFRA_DIR="$REPO_ROOT/infra"

# Project-local service data (ignored by git). Same override as lib/endpoints.ts.
LOCAL_DIR="${PIPELINE_LOCAL_DIR:-$REPO_ROOT/.local}"
RUN_DIR="$LOCAL_DIR/run"
LOG_DIR="$LOCAL_DIR/logs"
CLASSPATH_DIR="$LOCAL_DIR/classpath"

# Caches shared by every clone on the machine (tools built once, jars in ~/.m2).
CACHE_DIR="${KAFKA_PROVER_CACHE:-$HOME/.cache/kafka-prover}"
CACHE_BIN="$CACHE_DIR/bin"

# ---- pins -------------------------------------------------------------------
FAKE_GCS_SERVER_VERSION="v1.56.1"
FAKE_GCS_SERVER_BIN="$CACHE_BIN/fake-gcs-server"

# ---- endpoints (defaults match lib/endpoints.ts; the same env vars override) ----
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:16379}"
GCS_EMULATOR_URL="${GCS_EMULATOR_URL:-http://127.0.0.1:14443}"
KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:19092}"

_hostport_of_url() { # redis://host:port/db -> host:port
  local rest="${1#*://}"
  rest="${rest#*@}"
  rest="${rest%%/*}"
  printf '%s' "$rest"
}

REDIS_HOSTPORT="$(_hostport_of_url "$REDIS_URL")"
REDIS_HOST="${REDIS_HOSTPORT%%:*}"
REDIS_PORT="${REDIS_HOSTPORT##*:}"
[[ "$REDIS_PORT" == "$REDIS_HOSTPORT" ]] && REDIS_PORT=6379

GCS_HOSTPORT="$(_hostport_of_url "$GCS_EMULATOR_URL")"
GCS_HOST="${GCS_HOSTPORT%%:*}"
GCS_PORT="${GCS_HOSTPORT##*:}"
[[ "$GCS_PORT" == "$GCS_HOSTPORT" ]] && GCS_PORT=80

KAFKA_FIRST_BROKER="${KAFKA_BROKERS%%,*}"
KAFKA_HOST="${KAFKA_FIRST_BROKER%%:*}"
KAFKA_PORT="${KAFKA_FIRST_BROKER##*:}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"

# 3-node cluster (failover tests): node N listens on 19N92, its controller on 19N93.
KAFKA_CLUSTER_BASE_PORT="${KAFKA_CLUSTER_BASE_PORT:-19092}"
kafka_cluster_port() { echo $((KAFKA_CLUSTER_BASE_PORT + 100 * $1)); }
kafka_cluster_brokers() { echo "127.0.0.1:$(kafka_cluster_port 1),127.0.0.1:$(kafka_cluster_port 2),127.0.0.1:$(kafka_cluster_port 3)"; }

# ---- helpers ------------------------------------------------------------------
log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_cmd() { # need_cmd <command> <what to install>
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH: $2"
}

pid_file() { echo "$RUN_DIR/$1.pid"; }

# What the command line of each service's process contains (guards against a reused pid).
pid_cmd_marker() {
  case "$1" in
    redis) echo redis-server ;;
    gcs) echo fake-gcs-server ;;
    kafka | kafka-cluster-*) echo kafka.Kafka ;;
    *) echo "" ;;
  esac
}

# Prints the pid recorded for a service if that process is still alive and is that service.
live_pid() {
  local f pid marker
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  marker="$(pid_cmd_marker "$1")"
  if [[ -n "$marker" && -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
  fi
  echo "$pid"
}

# Is something accepting TCP connections on host:port?
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Starts a command detached (own session, no stdin), records its pid.
spawn() { # spawn <name> <logfile> <cmd...>
  local name="$1" logfile="$2"
  shift 2
  mkdir -p "$RUN_DIR" "$(dirname "$logfile")"
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
}

# Stops the processes that pid files name, all at once: TERM to each, then KILL those still
# alive after the grace period. stop_pid_files <grace seconds> <name>...
stop_pid_files() {
  local grace="$1" name pid i alive
  shift
  local -A pids=()
  for name in "$@"; do
    if pid="$(live_pid "$name")"; then
      pids[$name]="$pid"
      kill -TERM "$pid" 2>/dev/null || true
    else
      rm -f "$(pid_file "$name")"
    fi
  done
  for ((i = 0; i < grace * 10; i++)); do
    alive=0
    for name in "${!pids[@]}"; do kill -0 "${pids[$name]}" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for name in "${!pids[@]}"; do
    pid="${pids[$name]}"
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop in ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$(pid_file "$name")"
  done
}

# Stops the process a pid file names (TERM, then KILL after a grace period).
stop_pid_file() { # stop_pid_file <name> [grace seconds]
  stop_pid_files "${2:-30}" "$1"
}

# Waits until a check function succeeds.
wait_for() { # wait_for <timeout seconds> <check cmd...>
  local timeout="$1" deadline
  shift
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  "$@" >/dev/null 2>&1
}
