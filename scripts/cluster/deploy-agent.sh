#!/usr/bin/env bash
# The executor agent's system job on the cluster's workers: the stack's job and script with the
# cluster's addresses (each agent reaches its own node's Consul and Nomad agents on 127.0.0.1
# and serves its metrics on its node's address). `deploy-agent.sh [--restart]`.
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"
THROWBOX_NOMAD_ADDR="http://$(node_ip s1):4646" THROWBOX_AGENT_HEALTH_URL=- THROWBOX_ACL_SECRETS_DIR="$CLUSTER_SECRETS" \
THROWBOX_KAFKA_BOOTSTRAP="$(kafka_bootstrap)" THROWBOX_CONSUL_ADDR="http://127.0.0.1:8500" \
  "$REPO_DIR/scripts/deploy-agent.sh" "$@" \
  -var "nomad_addr=http://127.0.0.1:4646" \
  -var "metrics_listen=\${attr.unique.network.ip-address}:$AGENT_METRICS_PORT"
