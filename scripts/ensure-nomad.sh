#!/usr/bin/env bash
# Build Nomad once from the Go module proxy into the cache (or use one on PATH).
# Version: v1.6.3 (MPL-2.0). The proxy refuses v1.6.4/v1.6.5 (403) and the nested
# nomad/api module at every v1.6 release commit; the api pseudo-version below is the
# closest one it serves (2023-12-08, after v1.6.3) and builds cleanly.
source "$(dirname "$0")/common.sh"
NOMAD_VERSION=v1.6.3
NOMAD_API=v0.0.0-20231208134655-099ee06a607c
if command -v nomad >/dev/null 2>&1; then exit 0; fi
log "building nomad $NOMAD_VERSION from the Go module proxy (once, ~6 min)"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
src=$(go mod download -json "github.com/hashicorp/nomad@$NOMAD_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
api=$(go mod download -json "github.com/hashicorp/nomad/api@$NOMAD_API" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$src" "$work/nomad" && chmod -R u+w "$work/nomad"
rm -rf "$work/nomad/api" && cp -r "$api" "$work/nomad/api" && chmod -R u+w "$work/nomad/api"
(cd "$work/nomad" && CGO_ENABLED=1 go build -mod=mod -trimpath -tags release -ldflags=-checklinkname=0 -o "$BIN_DIR/nomad.tmp" .)
mv "$BIN_DIR/nomad.tmp" "$BIN_DIR/nomad"
log "nomad built: $("$BIN_DIR/nomad" version | head -1)"
