#!/usr/bin/env bash
# Build Consul once from the Go module proxy into the cache (or use one on PATH).
# Version: v1.14.8 (MPL-2.0; the proxy refuses v1.14.9/v1.14.10). Its go.mod replaces
# ./api ./sdk ./proto-public, which are not in the module zip: the matching served
# versions of those modules are copied in their place.
source "$(dirname "$0")/common.sh"
CONSUL_VERSION=v1.14.8
declare -A SUBMODULES=([api]=v1.18.1 [sdk]=v0.13.1 [proto-public]=v0.2.1)
if command -v consul >/dev/null 2>&1; then exit 0; fi
log "building consul $CONSUL_VERSION from the Go module proxy (once, ~6 min)"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
dir_of() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
cp -r "$(dir_of "github.com/hashicorp/consul@$CONSUL_VERSION")" "$work/consul" && chmod -R u+w "$work/consul"
for sub in "${!SUBMODULES[@]}"; do
  rm -rf "$work/consul/$sub"
  cp -r "$(dir_of "github.com/hashicorp/consul/$sub@${SUBMODULES[$sub]}")" "$work/consul/$sub"
  chmod -R u+w "$work/consul/$sub"
done
(cd "$work/consul" && CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags=-checklinkname=0 -o "$BIN_DIR/consul.tmp" .)
mv "$BIN_DIR/consul.tmp" "$BIN_DIR/consul"
log "consul built: $("$BIN_DIR/consul" version | head -1)"
