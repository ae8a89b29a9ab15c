#!/usr/bin/env bash
# Start dockerd with gVisor registered as runtime "runsc" (flags this machine needs:
# --network=none, or every start fails; --oci-seccomp, or the seccomp profile is ignored).
source "$(dirname "$0")/common.sh"
want='{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none", "--oci-seccomp"]}}}'
mkdir -p /etc/docker
if ! python3 - "$want" <<'PY'
import json, sys
want = json.loads(sys.argv[1])
try:
    have = json.load(open("/etc/docker/daemon.json"))
except (OSError, ValueError):
    sys.exit(1)
sys.exit(0 if have.get("runtimes", {}).get("runsc") == want["runtimes"]["runsc"] else 1)
PY
then
  python3 - "$want" <<'PY'
import json, sys
want = json.loads(sys.argv[1])
try:
    have = json.load(open("/etc/docker/daemon.json"))
except (OSError, ValueError):
    have = {}
have.setdefault("runtimes", {}).update(want["runtimes"])
json.dump(have, open("/etc/docker/daemon.json", "w"), indent=2)
PY
  if pid_alive "$RUN_DIR/dockerd.pid"; then kill -HUP "$(cat "$RUN_DIR/dockerd.pid")"; fi
fi
if docker info >/dev/null 2>&1; then
  # A dockerd we did not start (or started earlier) is used as it is, once runsc is known to it.
  docker info --format '{{json .Runtimes}}' | grep -q runsc || die "the running dockerd has no runsc runtime"
  exit 0
fi
rm -f /var/run/docker.pid
start_service dockerd dockerd --host unix:///var/run/docker.sock
wait_for dockerd 60 docker info
