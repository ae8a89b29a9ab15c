#!/usr/bin/env bash
# Add or remove one worker of the local cluster: the command the autoscaler's target plugin
# (autoscaler/throwbox-nodes) runs, and the tests' way to grow the fleet.
#   worker.sh add            start the first free slot (w1..w9); prints its name last
#   worker.sh remove NAME    stop it (drained before, by the autoscaler or `nomad node drain`),
#                            purge it from Nomad and Consul, drop its namespace and data
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"
export NOMAD_ADDR="http://$(node_ip s1):4646"
CONSUL="http://$(node_ip s1):8500"

# forget NAME: Nomad nodes and the Consul member of that name left from an earlier life of
# the slot (a reused name would otherwise collide with the old, down node).
forget() {
  local id
  for id in $(nomad_api /v1/nodes | "$VENV/bin/python" -c '
import json, sys
print(" ".join(n["ID"] for n in json.load(sys.stdin) if n["Name"] == sys.argv[1]))' "$1"); do
    nomad_api "/v1/node/$id/purge" -X POST >/dev/null || true
  done
  consul force-leave -http-addr="$CONSUL" -token-file="$CLUSTER_SECRETS/consul-management.token" -prune "$1" >/dev/null 2>&1 || true
}

case ${1:-} in
  add)
    for n in "${WORKER_SLOTS[@]}"; do
      node_service "$n" alive nomad && continue
      forget "$n"
      "$REPO_DIR/scripts/cluster/node.sh" remove "$n" >/dev/null
      "$REPO_DIR/scripts/cluster/node.sh" start "$n" >&2
      wait_for "worker $n ready in nomad" 120 "$REPO_DIR/scripts/cluster/probe.py" worker "$n"
      echo "$n"
      exit 0
    done
    die "every worker slot is in use" ;;
  remove)
    n=${2:?usage: worker.sh remove NAME}
    "$REPO_DIR/scripts/cluster/node.sh" stop "$n" >&2
    "$REPO_DIR/scripts/cluster/node.sh" remove "$n" >&2
    forget "$n" ;;
  *) die "usage: worker.sh add | remove NAME" ;;
esac
