# The local multi-node cluster (`make cluster`): topology and per-node helpers. Sourced after
# scripts/common.sh, never run. docs/cluster.md describes the design.
#
# Every node is a network namespace "<cluster>-<node>" with its own address on the bridge
# "<cluster>-br" (10.77.0.0/24; the host is .1), its own data, pid and log dirs under
# .state/cluster/<node>, and its own Consul agent. Processes enter a node's namespace with
# `nsenter --net` only: `ip netns exec` would also remount /sys, hiding the host's cgroups from
# Nomad and the agent. All nodes share this machine's Docker engine (one per machine is what a
# real worker has too; here the workers take turns on it, see docs/cluster.md).
CLUSTER_NAME="${THROWBOX_CLUSTER_NAME:-tbx}"
CLUSTER_DIR="${THROWBOX_CLUSTER_DIR:-$STATE_DIR/cluster}"
# One set of Kafka credentials for the cluster's brokers, control planes and agents (kafka/env.sh).
export THROWBOX_KAFKA_CREDENTIALS_DIR="${THROWBOX_KAFKA_CREDENTIALS_DIR:-$CLUSTER_DIR/kafka-credentials}"
CLUSTER_NET="${THROWBOX_CLUSTER_NET:-10.77.0}"
CLUSTER_BRIDGE="$CLUSTER_NAME-br"
CLUSTER_DC="dc1"
WORKER_CLASS="throwbox-worker"
SERVERS=(s1 s2 s3)
CONTROL_PLANES=(c1 c2)
WORKER_SLOTS=(w1 w2 w3 w4 w5 w6 w7 w8 w9)
CLUSTER_WORKERS="${THROWBOX_CLUSTER_WORKERS:-2}"     # workers `make cluster` starts
CP_PORT=8080
AGENT_METRICS_PORT=9464
mkdir -p "$CLUSTER_DIR"
# The cluster's ACL tokens and gossip keys (scripts/nomad/acl.py, docs/security.md): 0600 files
# in a 0700 dir. The host's scripts act with the management tokens; each component gets its own.
CLUSTER_SECRETS="$CLUSTER_DIR/secrets"
export CLUSTER_SECRETS
CLUSTER_TLS="$CLUSTER_SECRETS/tls"      # the RPC CA and certificates (scripts/nomad/tls.sh)
ACL_PY="$REPO_DIR/scripts/nomad/acl.py"
# nomad_api / consul_api PATH [CURL ARGS...]: s1's API with the management token (from a header
# file: the token is never on a command line).
nomad_api() { local p=$1; shift; curl -fsS -H @"$CLUSTER_SECRETS/nomad-management.header" "$@" "http://$(node_ip s1):4646$p"; }
consul_api() { local p=$1; shift; curl -fsS -H @"$CLUSTER_SECRETS/consul-management.header" "$@" "http://$(node_ip s1):8500$p"; }

# node_ip NODE: s1..s3 -> .11-13, c1..c2 -> .21-22, w1..w9 -> .31-39.
node_ip() {
  local n=$1
  case $n in
    s*) echo "$CLUSTER_NET.$((10 + ${n#s}))" ;;
    c*) echo "$CLUSTER_NET.$((20 + ${n#c}))" ;;
    w*) echo "$CLUSTER_NET.$((30 + ${n#w}))" ;;
    *) die "unknown node $n" ;;
  esac
}
node_ns() { echo "$CLUSTER_NAME-$1"; }
node_dir() { echo "$CLUSTER_DIR/$1"; }
server_ips() { local s; for s in "${SERVERS[@]}"; do node_ip "$s"; done; }
kafka_bootstrap() { server_ips | sed "s/$/:9092/" | paste -sd, -; }
nomad_servers_addr() { server_ips | sed 's|^|http://|; s|$|:4646|' | paste -sd, -; }
all_node_ips() { local n; for n in "${SERVERS[@]}" "${CONTROL_PLANES[@]}" "${WORKER_SLOTS[@]}"; do node_ip "$n"; done; }

# in_node NODE CMD...: run CMD in NODE's network namespace.
in_node() { local n=$1; shift; nsenter --net="/run/netns/$(node_ns "$n")" "$@"; }

cluster_net_up() {
  if ! ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then
    ip link add "$CLUSTER_BRIDGE" type bridge
    ip addr add "$CLUSTER_NET.1/24" dev "$CLUSTER_BRIDGE"
  fi
  ip link set "$CLUSTER_BRIDGE" up
  # Docker sets FORWARD's policy to DROP, and with br_netfilter loaded bridged frames pass
  # through it: let the nodes talk to each other.
  iptables -C FORWARD -i "$CLUSTER_BRIDGE" -o "$CLUSTER_BRIDGE" -j ACCEPT 2>/dev/null \
    || iptables -I FORWARD -i "$CLUSTER_BRIDGE" -o "$CLUSTER_BRIDGE" -j ACCEPT
}

cluster_net_down() {
  iptables -D FORWARD -i "$CLUSTER_BRIDGE" -o "$CLUSTER_BRIDGE" -j ACCEPT 2>/dev/null || true
  ip link del "$CLUSTER_BRIDGE" 2>/dev/null || true
}

node_net_up() {
  local n=$1 ns veth
  ns=$(node_ns "$n"); veth="$CLUSTER_NAME-$n"
  [ -e "/run/netns/$ns" ] || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$CLUSTER_BRIDGE" up
    in_node "$n" ip addr add "$(node_ip "$n")/24" dev eth0
  fi
  in_node "$n" ip link set lo up
  in_node "$n" ip link set eth0 up
}

node_net_down() {
  ip link del "$CLUSTER_NAME-$1" 2>/dev/null || true
  ip netns del "$(node_ns "$1")" 2>/dev/null || true
}

# node_service NODE start|stop NAME [CMD...]: common.sh's service helpers with NODE's pid and
# log dirs, CMD run inside NODE's namespace.
node_service() {
  local n=$1 action=$2 name=$3; shift 3
  local RUN_DIR LOG_DIR
  RUN_DIR="$(node_dir "$n")/run" LOG_DIR="$(node_dir "$n")/logs"
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  case $action in
    start) start_service "$name" nsenter --net="/run/netns/$(node_ns "$n")" "$@" ;;
    stop) stop_service "$name" "${1:-30}" ;;
    alive) pid_alive "$RUN_DIR/$name.pid" ;;
  esac
}

# node_pids NODE: every process in NODE's namespace (its services and what they started:
# a worker's agent and Nomad's executors, not its sandboxes, which have their own).
node_pids() { ip netns pids "$(node_ns "$1")" 2>/dev/null || true; }

# Nomad node id of a worker (from its client's state), for its containers' node_id label.
worker_node_id() { cat "$(node_dir "$1")/nomad/data/client/client-id" 2>/dev/null || true; }

# remove_node_containers NODE: the worker's sandbox containers (Docker label node_id).
remove_node_containers() {
  local id ids
  id=$(worker_node_id "$1")
  [ -n "$id" ] || return 0
  # With no engine answering there is nothing to remove (and the node must still go down).
  ids=$(docker ps -aq --filter "label=com.hashicorp.nomad.node_id=$id" 2>/dev/null) || return 0
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
}

# kill_node NODE: the node is gone at once (SIGKILL to everything in it, its sandboxes removed).
kill_node() {
  local n=$1 pids
  pids=$(node_pids "$n")
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  [[ $n == w* ]] && remove_node_containers "$n"
  rm -f "$(node_dir "$n")"/run/*.pid
}
