#!/usr/bin/env bash
# `make cluster-down`: nothing of the cluster left running: processes, sandboxes, mounts,
# namespaces, the bridge and its iptables rule. Its data stays (`rm -rf .state/cluster` drops it).
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"
"$REPO_DIR/scripts/cluster/ops.sh" stop || true
# Graceful first (control planes, workers, then servers), so that Kafka and Raft state stay
# consistent for the next `make cluster`; whatever is left is killed.
for n in "${CONTROL_PLANES[@]}" "${WORKER_SLOTS[@]}" "${SERVERS[@]}"; do
  [ -e "/run/netns/$(node_ns "$n")" ] || continue
  "$REPO_DIR/scripts/cluster/node.sh" stop "$n" || true
done
for n in "${CONTROL_PLANES[@]}" "${WORKER_SLOTS[@]}" "${SERVERS[@]}"; do
  [ -e "/run/netns/$(node_ns "$n")" ] || continue
  kill_node "$n"
  node_net_down "$n"
done
# Sandboxes of workers whose client ids are gone with their data: every Nomad container
# whose node is one of this cluster's (their cgroup parent names the cluster).
ids=$( (docker ps -aq --filter label=com.hashicorp.nomad.alloc_id 2>/dev/null || true) | xargs -r docker inspect \
  --format '{{.Id}} {{.HostConfig.CgroupParent}}' 2>/dev/null | awk -v p="nomad-$CLUSTER_NAME-" 'index($2, p) {print $1}') || true
# shellcheck disable=SC2086
[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
grep " $CLUSTER_DIR/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
cluster_net_down
log "cluster '$CLUSTER_NAME' down"
