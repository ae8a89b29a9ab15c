#!/usr/bin/env bash
# `make test`: bring the stack up (idempotent), then the launcher's Go tests and pytest.
# Extra arguments go to pytest. Under CI=true, integration tests fail (not skip) when a
# part of the stack is missing.
source "$(dirname "$0")/common.sh"
export CI="${CI:-}"
"$REPO_DIR/scripts/up.sh"
if [ -f "$REPO_DIR/runtimes/launcher/go.mod" ]; then
  log "go test ./... (runtimes/launcher)"
  (cd "$REPO_DIR/runtimes/launcher" && go test ./...)
fi
log "pytest"
cd "$REPO_DIR"
# The disruptive failure tests (they restart Kafka, Consul, Nomad and kill agents) are not yet
# stable enough for CI: two of six failed in one of five clean-clone rehearsals. They run with
# `make test-failures` until they are; see docs/failures.md.
exec "$VENV/bin/pytest" -q tests --ignore=tests/integration/test_failures.py "$@"
