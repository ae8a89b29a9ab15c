#!/usr/bin/env bash
# Start the control plane (Sanic) on 127.0.0.1:8080 and wait for /healthz.
#   scripts/start-control-plane.sh [--restart]   (--restart picks up code changes)
source "$(dirname "$0")/common.sh"
source "$REPO_DIR/scripts/kafka/env.sh"    # the control plane's Kafka credentials file
CP_HOST="${THROWBOX_CP_HOST:-127.0.0.1}"
CP_PORT="${THROWBOX_CP_PORT:-8080}"
[ "${1:-}" = "--restart" ] && stop_service control-plane 30
start_service control-plane env \
  THROWBOX_KAFKA_BOOTSTRAP="${THROWBOX_KAFKA_BOOTSTRAP:-127.0.0.1:9092}" \
  THROWBOX_KAFKA_CREDENTIALS_FILE="$KAFKA_CREDENTIALS_DIR/control-plane.properties" \
  THROWBOX_CONSUL_ADDR="${THROWBOX_CONSUL_ADDR:-http://127.0.0.1:8500}" \
  THROWBOX_NOMAD_ADDR="${THROWBOX_NOMAD_ADDR:-http://127.0.0.1:4646}" \
  THROWBOX_CP_PLAYGROUND_DEV_KEY_FILE="${THROWBOX_CP_PLAYGROUND_DEV_KEY_FILE-$STATE_DIR/dev-key}" \
  PYTHONUNBUFFERED=1 \
  "$VENV/bin/throwbox-control-plane"
# Gives up at once when the process exits (a config error), else after 60 s.
healthy() { ! pid_alive "$RUN_DIR/control-plane.pid" || curl -fsS -m 2 "http://$CP_HOST:$CP_PORT/healthz"; }
if ! until_ok 60 healthy || ! pid_alive "$RUN_DIR/control-plane.pid"; then
  tail -n 30 "$LOG_DIR/control-plane.log" >&2 || true
  die "control plane not healthy on http://$CP_HOST:$CP_PORT/healthz (log: $LOG_DIR/control-plane.log)"
fi
log "control plane healthy (http://$CP_HOST:$CP_PORT)"
