#!/usr/bin/env bash
# `make test-cluster`: the cluster up (from zero if need be), tests/cluster against it, then
# down, whatever the outcome. Extra arguments go to pytest.
source "$(dirname "$0")/../common.sh"
export CI="${CI:-}"
trap '"$REPO_DIR/scripts/cluster/down.sh"' EXIT
"$REPO_DIR/scripts/cluster/up.sh"
"$VENV/bin/pytest" -q -p no:cacheprovider tests/cluster "$@"
