# Shared settings for the stack scripts: sourced, never run.
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${THROWBOX_STATE_DIR:-$REPO_DIR/.state}"
CACHE_DIR="${THROWBOX_CACHE_DIR:-$HOME/.cache/throwbox}"
BIN_DIR="$CACHE_DIR/bin"
LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"
VENV="$REPO_DIR/.venv"
mkdir -p "$BIN_DIR" "$LOG_DIR" "$RUN_DIR"
export PATH="$BIN_DIR:/usr/local/go/bin:$PATH"
# The sandbox runtime dockerd runs sandboxes with (registered by start-docker.sh, allowed and
# set as node meta by start-nomad.sh): runsc-go (a current gVisor, built by
# ensure-runsc-go.sh, the default), runsc (Debian's gVisor of 2022-12-19, the fallback) or runc.
SANDBOX_RUNTIME="${THROWBOX_SANDBOX_RUNTIME:-runsc-go}"
case "$SANDBOX_RUNTIME" in
  runsc-go | runsc | runc) ;;
  *) printf 'THROWBOX_SANDBOX_RUNTIME: %s is not runsc-go, runsc or runc\n' "$SANDBOX_RUNTIME" >&2; exit 1 ;;
esac

log() { printf '\033[1m[throwbox]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Pid files hold "PID STARTTIME" (STARTTIME: field 22 of /proc/PID/stat, in clock ticks since
# boot). pid_max is 32768 here and a busy test run wraps it within minutes, so a bare pid in a
# stale file can name an unrelated process: killing or trusting it is wrong (a restored
# service that "is running" but is not, a broker killed for another service's pid).
proc_start() { sed -n 's/.*) //p' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# write_pid FILE PID: record PID with its start time.
write_pid() { echo "$2 $(proc_start "$2")" >"$1"; }

# pid_of FILE: the pid in FILE if that very process runs and is not a zombie; fails otherwise.
pid_of() {
  local pid start
  [ -f "$1" ] || return 1
  read -r pid start <"$1" || [ -n "${pid:-}" ] || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  [ -z "$start" ] || [ "$(proc_start "$pid")" = "$start" ] || return 1
  echo "$pid"
}
pid_alive() { pid_of "$1" >/dev/null; }

# start_service NAME CMD...: run CMD detached (own session), pid in RUN_DIR, log in LOG_DIR.
start_service() {
  local name=$1; shift
  if pid_alive "$RUN_DIR/$name.pid"; then return 0; fi
  # A pid file without its process: the service ended without being stopped; say so.
  [ -f "$RUN_DIR/$name.pid" ] && log "$name (pid file $(cat "$RUN_DIR/$name.pid")) is not running any more"
  log "starting $name (log: $LOG_DIR/$name.log)"
  setsid nohup "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  write_pid "$RUN_DIR/$name.pid" $!
}

# stop_service NAME [TIMEOUT_S]: SIGTERM, then SIGKILL after the timeout.
stop_service() {
  local name=$1 timeout_s=${2:-20} pid i
  pid=$(pid_of "$RUN_DIR/$name.pid") || { rm -f "$RUN_DIR/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout_s * 10; i++)); do
    pid_alive "$RUN_DIR/$name.pid" || break
    sleep 0.1
  done
  pid_alive "$RUN_DIR/$name.pid" && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN_DIR/$name.pid"
}

# wait_for DESCRIPTION TIMEOUT_S CMD...: retry CMD until it succeeds.
wait_for() {
  local what=$1 timeout_s=$2 i; shift 2
  for ((i = 0; i < timeout_s * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "$what not ready after ${timeout_s}s"
}

# until_ok TIMEOUT_S CMD...: like wait_for, but returns 1 instead of exiting.
until_ok() {
  local timeout_s=$1 i; shift
  for ((i = 0; i < timeout_s * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}
