#!/usr/bin/env bash
# One node of the local cluster (scripts/cluster/lib.sh):
#   node.sh start NODE          network, then its services (idempotent)
#   node.sh stop NODE           its services, gracefully (a worker: Nomad client and Consul agent)
#   node.sh kill NODE           SIGKILL to everything in it, its sandboxes removed (a crash)
#   node.sh remove NODE         kill, then its namespace and data gone
#   node.sh stop-service|kill-service|start-service NODE NAME   one service (consul, nomad,
#                               kafka, control-plane): SIGTERM, SIGKILL, start
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"
source "$REPO_DIR/scripts/kafka/env.sh"
source "$REPO_DIR/scripts/kafka/broker.sh"

# Nomad's and Consul's configuration come from terraform/modules/node-config, the module cloud
# clusters are rendered by too (scripts/cluster/render.sh; up.sh renders every node first).
write_consul_config() {
  mkdir -p "$(node_dir "$1")/consul/data"
  "$REPO_DIR/scripts/cluster/render.sh" write "$1" consul
}

write_nomad_config() {
  mkdir -p "$(node_dir "$1")/nomad/data"
  "$REPO_DIR/scripts/cluster/render.sh" write "$1" nomad
}

start_kafka() {
  local n=$1 dir ip id voters props cmd
  dir=$(node_dir "$n"); ip=$(node_ip "$n"); id=${n#s}
  voters=$(for s in "${SERVERS[@]}"; do echo "${s#s}@$(node_ip "$s"):$KAFKA_CONTROLLER_PORT"; done | paste -sd, -)
  mkdir -p "$dir/kafka/data" "$dir/logs"
  props="$dir/kafka/server.properties"
  kafka_credentials
  (umask 077; kafka_properties "$id" "$ip" "$voters" "$dir/kafka/data" 3 2 >"$props"); chmod 600 "$props"
  [ -s "$CLUSTER_DIR/kafka-cluster-id" ] || kafka_cluster_id >"$CLUSTER_DIR/kafka-cluster-id"
  [ -f "$dir/kafka/data/meta.properties" ] || kafka_format "$props" "$(cat "$CLUSTER_DIR/kafka-cluster-id")" "$dir/logs/kafka.log"
  mapfile -d '' cmd < <(kafka_command "$props")
  node_service "$n" start kafka "${cmd[@]}"
}

start_control_plane() {
  local n=$1
  node_service "$n" start control-plane env \
    THROWBOX_KAFKA_BOOTSTRAP="$(kafka_bootstrap)" \
    THROWBOX_KAFKA_CREDENTIALS_FILE="$KAFKA_CREDENTIALS_DIR/control-plane.properties" \
    THROWBOX_CONSUL_ADDR="http://127.0.0.1:8500" \
    THROWBOX_CONSUL_TOKEN_FILE="$CLUSTER_SECRETS/consul-control-plane.token" \
    THROWBOX_NOMAD_ADDR="$(nomad_servers_addr)" \
    THROWBOX_CP_HOST=0.0.0.0 THROWBOX_CP_PORT="$CP_PORT" THROWBOX_CP_INSTANCE_ID="$n" \
    THROWBOX_CP_QUEUE_TIMEOUT_MS="${THROWBOX_CLUSTER_QUEUE_TIMEOUT_MS:-120000}" \
    PYTHONUNBUFFERED=1 "$VENV/bin/throwbox-control-plane"
}

start_service_of() {
  local n=$1 name=$2
  case $name in
    consul) write_consul_config "$n"; node_service "$n" start consul consul agent -config-file "$(node_dir "$n")/consul/consul.hcl" ;;
    nomad) write_nomad_config "$n"
           node_service "$n" start nomad env GOGC="${THROWBOX_NOMAD_GOGC:-400}" nomad agent -config "$(node_dir "$n")/nomad/agent.hcl" ;;
    kafka) start_kafka "$n" ;;
    control-plane) start_control_plane "$n" ;;
    *) die "unknown service $name" ;;
  esac
}

services_of() {
  case $1 in
    s*) echo consul nomad kafka ;;
    c*) echo consul control-plane ;;
    w*) echo consul nomad ;;
  esac
}

action=${1:-}; n=${2:-}
[ -n "$n" ] || die "usage: node.sh start|stop|kill|remove|start-service|stop-service NODE [SERVICE]"
case $action in
  start)
    cluster_net_up
    node_net_up "$n"
    for s in $(services_of "$n"); do start_service_of "$n" "$s"; done ;;
  stop)
    # Reverse order: a worker's Nomad client before its Consul agent.
    for s in $(services_of "$n" | tr ' ' '\n' | tac); do node_service "$n" stop "$s" 60; done ;;
  kill) kill_node "$n" ;;
  remove)
    kill_node "$n"
    node_net_down "$n"
    # Task dirs of a killed Nomad client may still be mounted (secrets tmpfs).
    grep " $(node_dir "$n")/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$(node_dir "$n")" ;;
  start-service) start_service_of "$n" "${3:?service}" ;;
  stop-service) node_service "$n" stop "${3:?service}" 60 ;;
  kill-service)
    pid_file="$(node_dir "$n")/run/${3:?service}.pid"
    pid=$(pid_of "$pid_file") && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pid_file" ;;
  *) die "unknown action $action" ;;
esac
