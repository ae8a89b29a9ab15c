#!/usr/bin/env bash
# `make test`: bring the stack up (idempotent), then the launcher's and the Throwbox provider's
# Go tests and pytest.
# Extra arguments go to pytest. Under CI=true, integration tests fail (not skip) when a
# part of the stack is missing.
source "$(dirname "$0")/common.sh"
export CI="${CI:-}"
"$REPO_DIR/scripts/up.sh"
# Every image, and every runtime offered, before any test: up.sh may have left images building.
if pid_alive "$RUN_DIR/build-images.pid"; then
  log "waiting for the runtime images still building (log: $LOG_DIR/build-images.log)"
  while pid_alive "$RUN_DIR/build-images.pid"; do sleep 2; done
fi
"$REPO_DIR/scripts/build-images.sh"
key=$("$REPO_DIR/scripts/dev-key.sh")
all_offered() {
  "$VENV/bin/python" - "${THROWBOX_API_URL:-http://127.0.0.1:8080}" "$key" <<'PY'
import json, sys, urllib.request
sys.path.insert(0, "common")
from throwbox_common.runtimes import load
req = urllib.request.Request(sys.argv[1] + "/v1/runtimes", headers={"Authorization": "Bearer " + sys.argv[2]})
offered = {f"{r['language']}-{r['version']}" for r in json.load(urllib.request.urlopen(req, timeout=5))}
sys.exit(0 if {r.key for r in load().runtimes} <= offered else 1)
PY
}
(cd "$REPO_DIR" && wait_for "every runtime of runtimes.toml offered by the API" 120 all_offered)
if [ -f "$REPO_DIR/runtimes/launcher/go.mod" ]; then
  log "go test ./... (runtimes/launcher)"
  (cd "$REPO_DIR/runtimes/launcher" && go test ./...)
fi
log "go test ./... (autoscaler/throwbox-nodes)"
(cd "$REPO_DIR/autoscaler/throwbox-nodes" && go test -p 2 ./...)
log "go test ./... (terraform/provider)"
(cd "$REPO_DIR/terraform/provider" && GOTOOLCHAIN=local go test -p 2 ./...)
log "pytest"
cd "$REPO_DIR"
# tests/conftest.py orders the load test and the disruptive failure tests (they restart Kafka,
# Consul and Nomad and kill agents) last; each restores the stack and proves the agents consume.
exec "$VENV/bin/pytest" -q tests --ignore=tests/cluster "$@"
