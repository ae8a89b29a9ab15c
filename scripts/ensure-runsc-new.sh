#!/usr/bin/env bash
# Build a newer gVisor runsc (systrap platform) once from the Go module proxy into the cache,
# and optionally register it with dockerd as extra runtimes. For the `gvisor` benchmark
# section only: `make up` and CI do not call it (a cold build takes ~2 CPU-minutes, 5+ min
# wall on a loaded 2-core VM, and ~100 MB of module downloads).
#
# Version: the gvisor.dev/gvisor module's `go` branch as served by the proxy (`@latest`
# resolves to a pseudo-version of it; the proxy refuses the branch name itself, 403).
# Override with RUNSC_NEW_VERSION=<pseudo-version>.
#
#   scripts/ensure-runsc-new.sh              # build if missing, print the binary's path
#   scripts/ensure-runsc-new.sh --register   # also add runtimes runsc-systrap and
#                                            # runsc-new-ptrace to /etc/docker/daemon.json
#                                            # and reload dockerd with SIGHUP (no restart)
source "$(dirname "$0")/common.sh"
RUNSC_NEW_VERSION=${RUNSC_NEW_VERSION:-v0.0.0-20260905035102-160fafc42237}
out_dir="$CACHE_DIR/runsc-new/$RUNSC_NEW_VERSION"
bin="$out_dir/runsc"

if [ ! -x "$bin" ]; then
  log "building runsc gvisor.dev/gvisor@$RUNSC_NEW_VERSION from the Go module proxy (once)"
  mkdir -p "$out_dir"
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  src=$(go mod download -json "gvisor.dev/gvisor@$RUNSC_NEW_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  # Built inside a copy of the module so that its own go.mod/go.sum pin the dependencies.
  cp -r "$src" "$work/gvisor" && chmod -R u+w "$work/gvisor"
  (cd "$work/gvisor" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-X gvisor.dev/gvisor/runsc/version.version=go-$RUNSC_NEW_VERSION" \
    -o "$bin.tmp" ./runsc)
  mv "$bin.tmp" "$bin"
  log "runsc built: $("$bin" --version | head -1)"
fi

if [ "${1:-}" = "--register" ]; then
  # The same flags as our Debian runsc (--network=none, --oci-seccomp); the platform is the
  # only difference. runsc-new-ptrace separates "newer release" from "faster platform".
  changed=0
  python3 - "$bin" <<'PY' || changed=$?
import json, os, sys
binary = sys.argv[1]
want = {
    "runsc-systrap": {"path": binary,
                      "runtimeArgs": ["--platform=systrap", "--network=none", "--oci-seccomp"]},
    "runsc-new-ptrace": {"path": binary,
                         "runtimeArgs": ["--platform=ptrace", "--network=none", "--oci-seccomp"]},
}
try:
    have = json.load(open("/etc/docker/daemon.json"))
except (OSError, ValueError):
    have = {}
runtimes = have.setdefault("runtimes", {})
if all(runtimes.get(k) == v for k, v in want.items()):
    sys.exit(0)
runtimes.update(want)
with open("/etc/docker/daemon.json.tmp", "w") as f:
    json.dump(have, f, indent=2)
os.replace("/etc/docker/daemon.json.tmp", "/etc/docker/daemon.json")
sys.exit(10)
PY
  [ "$changed" = 0 ] || [ "$changed" = 10 ] || die "could not update /etc/docker/daemon.json"
  if [ "$changed" = 10 ]; then
    # SIGHUP makes dockerd re-read its runtimes; running containers are not touched.
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    [ -n "$pid" ] || die "no /var/run/docker.pid: is dockerd running?"
    kill -HUP "$pid"
  fi
  wait_for "runtime runsc-systrap in dockerd" 30 \
    bash -c "docker info --format '{{json .Runtimes}}' | grep -q runsc-systrap"
fi
echo "$bin"
