#!/usr/bin/env bash
# `make cluster`: the local multi-node cluster (docs/cluster.md). Idempotent: running nodes are
# kept. THROWBOX_CLUSTER_WORKERS (default 2) workers; prints the control planes' URLs and a key.
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"
started=$SECONDS
S="$REPO_DIR/scripts"
"$S/install-host-packages.sh"
"$S/ensure-venv.sh"
pids=()
command -v nomad >/dev/null || { "$S/ensure-nomad.sh" & pids+=($!); }
command -v consul >/dev/null || { "$S/ensure-consul.sh" & pids+=($!); }
"$S/ensure-kafka.sh" & pids+=($!)
"$S/ensure-autoscaler.sh" >/dev/null & pids+=($!)   # nomad-autoscaler and the target plugin (cached)
"$S/ensure-tofu.sh" >/dev/null & pids+=($!)         # renders the agents' configuration (cached)
for pid in "${pids[@]}"; do wait "$pid" || die "installing nomad/consul/kafka/autoscaler/tofu failed (see above)"; done
"$S/start-docker.sh"
"$S/build-images.sh"

N="$S/cluster/node.sh"
# ACLs (docs/security.md): the secrets the agents' configs carry, chosen before they start.
"$VENV/bin/python" "$ACL_PY" init "$CLUSTER_SECRETS"
# Mutual TLS for Nomad's and Consul's RPC: a CA of this cluster and its certificates.
"$S/nomad/tls.sh" "$CLUSTER_TLS" "$CLUSTER_DC" global $(all_node_ips)
# Every node's Nomad and Consul configuration, from terraform/modules/node-config.
"$S/cluster/render.sh" apply
for n in "${SERVERS[@]}"; do "$N" start "$n"; done
s1=$(node_ip s1)
wait_for "consul servers' leader" 90 bash -c "curl -fsS http://$s1:8500/v1/status/leader | grep -q '\"[^\"]'"
wait_for "nomad servers' leader" 90 bash -c "curl -fsS http://$s1:4646/v1/status/leader | grep -q '\"[^\"]'"
# Bootstrap both ACL systems, the sandboxes' namespace, the policies and every token (idempotent).
"$VENV/bin/python" "$ACL_PY" apply "$CLUSTER_SECRETS" --consul "http://$s1:8500" --nomad "http://$s1:4646" \
  || die "ACLs not applied (logs: $CLUSTER_DIR/s1/logs/)"
for ip in $(server_ips); do wait_for "kafka broker $ip" 120 bash -c "exec 3<>/dev/tcp/$ip/9092"; done
THROWBOX_KAFKA_CREDENTIALS_FILE="$THROWBOX_KAFKA_CREDENTIALS_DIR/admin.properties" \
  "$VENV/bin/python" "$S/create_topics.py" --bootstrap "$(kafka_bootstrap)" --wait-s 120 \
  --replication-factor 3 --min-insync-replicas 2 --runs-partitions 12 \
  || die "kafka topics not created (logs: $CLUSTER_DIR/s*/logs/kafka.log)"
for n in "${CONTROL_PLANES[@]}"; do "$N" start "$n"; done
for n in "${WORKER_SLOTS[@]:0:$CLUSTER_WORKERS}"; do "$N" start "$n"; done
for n in "${WORKER_SLOTS[@]:0:$CLUSTER_WORKERS}"; do
  wait_for "worker $n ready in nomad (log: $CLUSTER_DIR/$n/logs/nomad.log)" 120 "$S/cluster/probe.py" worker "$n"
done
"$S/cluster/deploy-agent.sh"
for n in "${WORKER_SLOTS[@]:0:$CLUSTER_WORKERS}"; do
  wait_for "agent on $n healthy" 180 curl -fsS -m 2 "http://$(node_ip "$n"):$AGENT_METRICS_PORT/healthz"
done
for n in "${CONTROL_PLANES[@]}"; do
  wait_for "control plane $n ready (log: $CLUSTER_DIR/$n/logs/control-plane.log)" 120 \
    curl -fsS -m 2 "http://$(node_ip "$n"):$CP_PORT/readyz"
done
key_file="$CLUSTER_DIR/dev-key"
if [ ! -s "$key_file" ]; then
  out=$(THROWBOX_CONSUL_ADDR="http://$s1:8500" THROWBOX_CONSUL_TOKEN_FILE="$CLUSTER_SECRETS/consul-control-plane.token" \
    "$VENV/bin/throwbox" keys create --tenant dev) || die "throwbox keys create failed"
  (umask 077 && printf '%s\n' "$out" | awk 'NF {last = $0} END {print last}' >"$key_file")
fi
# Prometheus and its alerts always; the autoscaler only when asked (THROWBOX_CLUSTER_AUTOSCALE=1):
# the failure tests stop workers on purpose, and an autoscaler would replace them.
"$S/cluster/ops.sh" start prometheus
[ "${THROWBOX_CLUSTER_AUTOSCALE:-}" != 1 ] || "$S/cluster/ops.sh" start autoscaler
log "cluster '$CLUSTER_NAME' up in $((SECONDS - started))s (state and logs: $CLUSTER_DIR/<node>/)"
echo
for n in "${CONTROL_PLANES[@]}"; do echo "  API ($n)     http://$(node_ip "$n"):$CP_PORT"; done
echo "  Nomad UI/API http://$s1:4646    Consul http://$s1:8500   (ACLs on: tokens in $CLUSTER_SECRETS)"
echo "  dev key      $(cat "$key_file")"
echo "  status       make cluster-status      down: make cluster-down"
