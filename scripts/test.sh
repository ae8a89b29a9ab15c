#!/usr/bin/env bash
# `make test`: bring the stack up (idempotent), then the launcher's and the Throwbox provider's
# Go tests and pytest.
# Extra arguments go to pytest. Under CI=true, integration tests fail (not skip) when a
# part of the stack is missing.
source "$(dirname "$0")/common.sh"
export CI="${CI:-}"
"$REPO_DIR/scripts/up.sh"
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
