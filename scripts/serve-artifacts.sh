#!/usr/bin/env bash
# Serve the artifacts scripts/build-artifacts.sh built over HTTP, for Nomad's `artifact` block
# (the throwbox module's bundle_url) on nodes that cannot read this machine's files:
#   scripts/serve-artifacts.sh          start (detached; a no-op when it runs) and print the URL
#   scripts/serve-artifacts.sh --stop   stop it
# THROWBOX_ARTIFACTS_DIR (default .state/artifacts) is served on THROWBOX_ARTIFACTS_PORT (default
# 8089) of THROWBOX_ARTIFACTS_HOST (default 127.0.0.1; a cluster's nodes need an address they reach).
source "$(dirname "$0")/common.sh"
DIR="${THROWBOX_ARTIFACTS_DIR:-$STATE_DIR/artifacts}"
HOST="${THROWBOX_ARTIFACTS_HOST:-127.0.0.1}"
PORT="${THROWBOX_ARTIFACTS_PORT:-8089}"
NAME="artifacts-http-$PORT"
if [ "${1:-}" = "--stop" ]; then
  stop_service "$NAME" 10
  exit 0
fi
[ -f "$DIR/manifest.json" ] || die "no artifacts in $DIR: run scripts/build-artifacts.sh (make artifacts) first"
start_service "$NAME" python3 -m http.server --bind "$HOST" --directory "$DIR" "$PORT"
wait_for "artifact server on $HOST:$PORT" 20 curl -fsS -o /dev/null "http://$HOST:$PORT/manifest.json"
echo "http://$HOST:$PORT"
