#!/usr/bin/env bash
# Rehearse CI without touching the shared stack: clone the committed HEAD (what CI sees) into
# a temporary directory and run its .ci/run in a private network namespace, where 127.0.0.1
# and every port are its own. dockerd (a unix socket), the images and ~/.cache/throwbox are
# shared; the namespace has no internet, so the clone's .venv, playground bundle, the
# artifacts' wheels and the Go builds and modules are installed before entering.
# Afterwards the clone's stack is stopped; exits with .ci/run's status.
#   scripts/ci-rehearsal.sh                   the whole CI run
#   ARGS='-k smoke' scripts/ci-rehearsal.sh   pytest arguments (through `make test`)
#   REHEARSE='CI=true make test-cluster' scripts/ci-rehearsal.sh
#                                             another command instead of .ci/run (one part of it)
source "$(dirname "$0")/common.sh"
command -v unshare >/dev/null || die "unshare (util-linux) missing"
dir=$(mktemp -d /var/tmp/throwbox-ci.XXXXXX)
git clone -q "$REPO_DIR" "$dir/repo"
log "rehearsing CI on $(git -C "$dir/repo" log --oneline -1) in $dir/repo"
"$dir/repo/scripts/ensure-venv.sh"
"$dir/repo/scripts/ensure-playground.sh"   # npm ci needs the registry too
"$dir/repo/scripts/ensure-compat-clients.sh"
# The artifacts' pinned wheels (test_terraform_deploy builds the bundle): downloaded once into
# the shared cache, which the build then reads without an index.
"$dir/repo/scripts/build-artifacts.sh" --no-images "$dir/artifacts-warmup" >/dev/null
# What the tests and the cluster build from the Go module proxy: tofu and its provider mirror,
# nomad-autoscaler and its plugin, the Go modules' dependencies (a fresh machine has none cached).
"$dir/repo/scripts/ensure-tofu.sh" >/dev/null
"$dir/repo/scripts/ensure-autoscaler.sh" >/dev/null
"$dir/repo/scripts/ensure-prometheus.sh"
for mod in $(cd "$dir/repo" && git ls-files '*go.mod'); do
  (cd "$dir/repo/$(dirname "$mod")" && GOTOOLCHAIN=local go mod download) || die "go mod download in $(dirname "$mod") failed"
done
# `unshare -n`, not `ip netns exec`: the latter remounts /sys and hides the cgroup hierarchy.
# Another cgroup parent keeps the two Nomad clients' cpuset partitions apart.
set +e
# Namespace names are global: the rehearsal's cluster gets its own (THROWBOX_CLUSTER_NAME).
unshare -n env THROWBOX_NOMAD_CGROUP_PARENT=nomad-ci THROWBOX_CLUSTER_NAME=tbxci bash -c '
  ip link set lo up || exit 1
  cd "$1" && time bash -c "${REHEARSE:-bash .ci/run}"
  rc=$?
  scripts/cluster/down.sh
  scripts/down.sh
  mkdir -p /var/tmp/throwbox-ci-last && cp .state/cluster/measurements.json /var/tmp/throwbox-ci-last/ 2>/dev/null
  exit $rc' rehearsal "$dir/repo"
rc=$?
set -e
# The cluster's Docker test restarts dockerd from inside the namespace, where it would stay: no
# network for image builds afterwards. Such a dockerd is restarted out here.
engine=$(pgrep -x dockerd | head -1 || true)
if [ -n "$engine" ] && [ "$(readlink "/proc/$engine/ns/net")" != "$(readlink /proc/$$/ns/net)" ]; then
  log "dockerd (pid $engine) runs in the rehearsal's network namespace: restarting it in this one"
  kill -TERM "$engine"
  "$REPO_DIR/scripts/start-docker.sh"
fi
if [ $rc -eq 0 ]; then
  log "CI rehearsal passed"
  rm -rf "$dir"
else
  log "CI rehearsal FAILED (exit $rc); logs kept in $dir/repo/.state/logs"
fi
exit $rc
