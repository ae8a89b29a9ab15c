#!/usr/bin/env bash
# Start dockerd (or use the running one) with the gVisor runtimes registered:
#   runsc     Debian's runsc (/usr/bin/runsc), the fallback (THROWBOX_SANDBOX_RUNTIME=runsc)
#   runsc-go  a current runsc built by scripts/ensure-runsc-go.sh, with the platform a
#             `runsc do` probe picks on every start (systrap, else ptrace); registered when
#             it is the sandbox runtime (the default)
# Both get the flags this machine needs: --network=none, or every start fails; --oci-seccomp,
# or the seccomp profile is ignored. A changed registration reaches a running dockerd by
# SIGHUP (a reload: running containers are not touched); dockerd is never restarted.
source "$(dirname "$0")/common.sh"
# The Debian runsc entry: the same as terraform/modules/node-config's (a test compares them).
want='{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none", "--oci-seccomp"]}}}'
if [ "$SANDBOX_RUNTIME" = runsc-go ]; then
  read -r runsc_go platform < <("$REPO_DIR/scripts/ensure-runsc-go.sh" --probe | tail -1)
  [ -n "${platform:-}" ] || die "scripts/ensure-runsc-go.sh --probe failed"
  want=$(python3 -c 'import json, sys
w = json.loads(sys.argv[1])
w["runtimes"]["runsc-go"] = {"path": sys.argv[2], "runtimeArgs": ["--platform=" + sys.argv[3], "--network=none", "--oci-seccomp"]}
print(json.dumps(w))' "$want" "$runsc_go" "$platform")
  log "sandbox runtime runsc-go: $("$runsc_go" --version | head -1 | sed 's/^runsc version //'), platform $platform"
fi
mkdir -p /etc/docker
# Exit 10: daemon.json changed.
changed=0
python3 - "$want" <<'PY' || changed=$?
import json, os, sys
want = json.loads(sys.argv[1])
try:
    have = json.load(open("/etc/docker/daemon.json"))
except (OSError, ValueError):
    have = {}
runtimes = have.setdefault("runtimes", {})
if all(runtimes.get(k) == v for k, v in want["runtimes"].items()):
    sys.exit(0)
runtimes.update(want["runtimes"])
with open("/etc/docker/daemon.json.tmp", "w") as f:
    json.dump(have, f, indent=2)
os.replace("/etc/docker/daemon.json.tmp", "/etc/docker/daemon.json")
sys.exit(10)
PY
[ "$changed" = 0 ] || [ "$changed" = 10 ] || die "could not update /etc/docker/daemon.json"

# registered: the running dockerd knows every runtime wanted, with its path and flags.
registered() {
  docker info --format '{{json .Runtimes}}' 2>/dev/null | python3 -c 'import json, sys
have, want = json.load(sys.stdin) or {}, json.loads(sys.argv[1])["runtimes"]
ok = all(have.get(k, {}).get("path") == v["path"] and (have[k].get("runtimeArgs") or []) == v["runtimeArgs"]
         for k, v in want.items())
sys.exit(0 if ok else 1)' "$want"
}
if docker info >/dev/null 2>&1; then
  # A dockerd we did not start (or started earlier): reload its configuration if it changed.
  if [ "$changed" = 10 ] || ! registered; then
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    [ -n "$pid" ] || die "dockerd runs but /var/run/docker.pid is missing: cannot reload its runtimes"
    log "reloading dockerd's runtimes (SIGHUP)"
    kill -HUP "$pid"
    wait_for "dockerd runtimes $(python3 -c 'import json,sys; print(", ".join(json.loads(sys.argv[1])["runtimes"]))' "$want")" 30 registered
  fi
  exit 0
fi
# A dockerd without an answering socket is shutting down (it stops every container first, which
# takes minutes with many sandboxes under load), ours or another checkout's: wait for it and the
# containerd it runs to end. A new dockerd started meanwhile adopts that containerd ("containerd
# is still running"), loses it when it exits, and dies ("timeout waiting for containerd").
old_engine() {
  pgrep -x dockerd >/dev/null && return 0
  local c
  c=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null) && [ -n "$c" ] &&
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = containerd ]   # not a stale pid reused by another process
}
if old_engine; then
  log "a dockerd (pid $(pgrep -x dockerd | tr '\n' ' ')) or its containerd does not answer: waiting for it to end before starting another"
  for ((i = 0; i < 300; i++)); do old_engine || break; sleep 1; done
  old_engine && die "the old dockerd or its containerd neither answers nor ends after 300 s"
fi
rm -f /var/run/docker.pid
start_service dockerd dockerd --host unix:///var/run/docker.sock
wait_for dockerd 60 docker info
wait_for "dockerd runtimes registered" 30 registered
