#!/usr/bin/env bash
# Build nomad-autoscaler v0.3.7 (MPL-2.0, the last open-source release) once into the cache, and
# the project's target plugin (autoscaler/throwbox-nodes) into $CACHE_DIR/autoscaler-plugins.
# `go install ...@v0.3.7` fails; building a copy of the module's directory works (~70 s on an idle
# machine, 5 min measured here under load).
source "$(dirname "$0")/common.sh"
AUTOSCALER_VERSION=v0.3.7
PLUGIN_DIR="$CACHE_DIR/autoscaler-plugins"
mkdir -p "$PLUGIN_DIR"
# Two callers at once (worktrees sharing the cache) must not build into the same .tmp file: seen
# here, three concurrent builds, one failing at its mv.
exec 9>"$PLUGIN_DIR/.lock"
flock 9

if [ ! -x "$BIN_DIR/nomad-autoscaler" ]; then
  log "building nomad-autoscaler $AUTOSCALER_VERSION from the Go module proxy (once, ~70 s)"
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  src=$(go mod download -json "github.com/hashicorp/nomad-autoscaler@$AUTOSCALER_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$src" "$work/nomad-autoscaler" && chmod -R u+w "$work/nomad-autoscaler"
  (cd "$work/nomad-autoscaler" && CGO_ENABLED=0 go build -p 2 -trimpath -o "$BIN_DIR/nomad-autoscaler.tmp" .)
  mv "$BIN_DIR/nomad-autoscaler.tmp" "$BIN_DIR/nomad-autoscaler"
  log "nomad-autoscaler built: $("$BIN_DIR/nomad-autoscaler" version 2>&1 | head -1)"
fi

# The plugin: rebuilt whenever its sources differ from those it was built from (their hash is
# kept next to it; mtimes would let a checkout with older sources use another's newer build).
plugin="$PLUGIN_DIR/throwbox-nodes"
src_dir="$REPO_DIR/autoscaler/throwbox-nodes"
inputs=$(cd "$src_dir" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort |
  xargs sha256sum | sha256sum | cut -c1-16)
if [ ! -x "$plugin" ] || [ "$(cat "$plugin.inputs" 2>/dev/null)" != "$inputs" ]; then
  log "building the throwbox-nodes autoscaler target plugin"
  (cd "$src_dir" && CGO_ENABLED=0 go build -p 2 -trimpath -o "$plugin.tmp" .)
  mv "$plugin.tmp" "$plugin"
  echo "$inputs" >"$plugin.inputs"
fi
