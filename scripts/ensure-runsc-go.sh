#!/usr/bin/env bash
# The default sandbox runtime `runsc-go`: a current gVisor runsc built from the Go module proxy
# (gvisor.dev/gvisor) once into the cache, and the platform it runs with on this machine.
#
# Version: the gvisor.dev/gvisor module's `go` branch as served by the proxy (`@latest`
# resolves to a pseudo-version of it; the proxy refuses the branch name itself, 403), pinned
# here so every machine runs the same sandbox. Override with THROWBOX_RUNSC_GO_VERSION.
# A cold build takes ~2 CPU-minutes and ~100 MB of module downloads; later calls reuse it.
#
#   scripts/ensure-runsc-go.sh           build if missing, print the binary's path
#   scripts/ensure-runsc-go.sh --probe   also decide the platform: systrap if a `runsc do`
#                                        of /bin/true works with it, else ptrace (e.g. a
#                                        kernel or VM where systrap cannot run); prints
#                                        "<path> <platform>"
# scripts/start-docker.sh calls it with --probe on every start and registers the result with
# dockerd as runtime `runsc-go`.
source "$(dirname "$0")/common.sh"
RUNSC_GO_VERSION=${THROWBOX_RUNSC_GO_VERSION:-v0.0.0-20260905035102-160fafc42237}
out_dir="$CACHE_DIR/runsc-go/$RUNSC_GO_VERSION"
bin="$out_dir/runsc"
# The bench's earlier builds went to runsc-new/: reuse one.
[ -x "$bin" ] || [ ! -x "$CACHE_DIR/runsc-new/$RUNSC_GO_VERSION/runsc" ] ||
  { mkdir -p "$out_dir" && cp "$CACHE_DIR/runsc-new/$RUNSC_GO_VERSION/runsc" "$bin"; }

if [ ! -x "$bin" ]; then
  command -v go >/dev/null || die "go is not installed (scripts/install-host-packages.sh installs it)"
  log "building runsc gvisor.dev/gvisor@$RUNSC_GO_VERSION from the Go module proxy (once, a few minutes)"
  started=$SECONDS
  mkdir -p "$out_dir"
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  src=$(go mod download -json "gvisor.dev/gvisor@$RUNSC_GO_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  # Built inside a copy of the module so that its own go.mod/go.sum pin the dependencies.
  cp -r "$src" "$work/gvisor" && chmod -R u+w "$work/gvisor"
  (cd "$work/gvisor" && CGO_ENABLED=0 go build -p 2 -trimpath \
    -ldflags "-X gvisor.dev/gvisor/runsc/version.version=go-$RUNSC_GO_VERSION" \
    -o "$bin.tmp" ./runsc)
  mv "$bin.tmp" "$bin"
  log "runsc built in $((SECONDS - started))s: $("$bin" --version | head -1)"
fi

if [ "${1:-}" = "--probe" ]; then
  platform=
  for p in systrap ptrace; do
    root=$(mktemp -d /var/tmp/throwbox-runsc-probe.XXXXXX)
    if timeout 60 "$bin" --root "$root" --platform="$p" --network=none do /bin/true >"$root.log" 2>&1; then
      platform=$p
    else
      log "runsc-go: platform $p does not run here: $(tail -1 "$root.log")"
    fi
    rm -rf "$root" "$root.log"
    [ -z "$platform" ] || break
  done
  [ -n "$platform" ] || die "runsc-go runs with neither systrap nor ptrace here (THROWBOX_SANDBOX_RUNTIME=runsc uses Debian's runsc)"
  echo "$bin $platform"
else
  echo "$bin"
fi
