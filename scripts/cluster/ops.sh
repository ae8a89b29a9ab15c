#!/usr/bin/env bash
# Operations for the local cluster, on the host (root network namespace: 10.77.0.x is reachable):
# Prometheus (Debian's package) with the Consul -> file_sd bridge, and nomad-autoscaler v0.3.7
# with the throwbox-nodes target plugin scaling the throwbox-worker class.
#
#   scripts/cluster/ops.sh start [all|prometheus|autoscaler]   (default all; idempotent)
#   scripts/cluster/ops.sh stop  [all|prometheus|autoscaler]   (nothing of ours left running)
#   scripts/cluster/ops.sh status                              (exit 1 if something is down)
#   scripts/cluster/ops.sh render DIR                          (the configs only, e.g. for promtool)
#
# Environment (defaults in brackets):
#   CLUSTER_STATE_DIR        data, pid and log dirs [.state/cluster/ops]
#   CLUSTER_NOMAD_ADDR       Nomad server(s), comma-separated: the autoscaler uses the first that
#                            answers at start (v0.3.7 takes one address) [the cluster's three]
#   CLUSTER_CONSUL_ADDR      Consul HTTP address for the file_sd bridge [s1's]
#   CLUSTER_CONTROL_PLANES   host:port of each control plane, comma-separated [c1's and c2's]
#   CLUSTER_WORKER_CMD       the worker script the plugin runs [scripts/cluster/worker.sh]
#   CLUSTER_MIN_WORKERS / CLUSTER_MAX_WORKERS                    [2 / 3]
#   CLUSTER_AUTOSCALE_COOLDOWN  after each scale action          [30s]
#   CLUSTER_QUEUE_TARGET     queued runs the queue check aims at [5]
#   CLUSTER_CPU_TARGET       % CPU allocated the CPU check aims at [80]: target-value rounds up,
#                            so leaving n workers for n-1 needs allocated < target x (n-1)/n
#                            (53 % from 3 to 2 at 80), and an idle worker here reserves ~49 % for
#                            its agent and warm pools (20 sandboxes); at 70 the fleet never shrank
#   CLUSTER_OPS_BIND         listen address of both             [127.0.0.1]
#   CLUSTER_PROMETHEUS_PORT / CLUSTER_AUTOSCALER_PORT            [19090 / 18080]
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"

OPS_SRC="$REPO_DIR/ops"
OPS_DIR="${CLUSTER_STATE_DIR:-$CLUSTER_DIR/ops}"
NOMAD_ADDRS="${CLUSTER_NOMAD_ADDR:-$(nomad_servers_addr)}"
CONSUL_ADDR="${CLUSTER_CONSUL_ADDR:-http://$(node_ip s1):8500}"
CP_TARGETS="${CLUSTER_CONTROL_PLANES:-$(for n in "${CONTROL_PLANES[@]}"; do echo "$(node_ip "$n"):$CP_PORT"; done | paste -sd, -)}"
WORKER_CMD="${CLUSTER_WORKER_CMD:-$REPO_DIR/scripts/cluster/worker.sh}"
BIND="${CLUSTER_OPS_BIND:-127.0.0.1}"
PROM_PORT="${CLUSTER_PROMETHEUS_PORT:-19090}"
AS_PORT="${CLUSTER_AUTOSCALER_PORT:-18080}"
PLUGIN_DIR="$CACHE_DIR/autoscaler-plugins"
PYTHON="$(command -v python3)"

# render DIR NOMAD_ADDR: the Prometheus, rules and autoscaler files under DIR.
render() {
  local dir=$1 nomad_addr=$2
  mkdir -p "$dir/prometheus/rules" "$dir/sd" "$dir/autoscaler/policies"
  # The autoscaler's Nomad token (node write, no job submission): its config is 0600.
  local nomad_token=""
  [ ! -f "$CLUSTER_SECRETS/nomad-ops.token" ] || nomad_token=$(head -n1 "$CLUSTER_SECRETS/nomad-ops.token")
  (umask 077 && : >"$dir/autoscaler/agent.hcl") && chmod 600 "$dir/autoscaler/agent.hcl"
  rm -f "$dir/prometheus/rules/"*.yml
  cp "$OPS_SRC/prometheus/rules/"*.yml "$dir/prometheus/rules/"
  sed -e "s|@SD_DIR@|$dir/sd|g" -e "s|@RULES_DIR@|$dir/prometheus/rules|g" \
      -e "s|@AUTOSCALER_ADDR@|$BIND:$AS_PORT|g" -e "s|@PROMETHEUS_ADDR@|$BIND:$PROM_PORT|g" \
      "$OPS_SRC/prometheus/prometheus.yml.in" >"$dir/prometheus/prometheus.yml"
  sed -e "s|@PLUGIN_DIR@|$PLUGIN_DIR|g" -e "s|@BIND@|$BIND|g" -e "s|@AUTOSCALER_PORT@|$AS_PORT|g" \
      -e "s|@NOMAD_ADDR@|$nomad_addr|g" -e "s|@POLICY_DIR@|$dir/autoscaler/policies|g" \
      -e "s|@PROMETHEUS_ADDR@|$BIND:$PROM_PORT|g" -e "s|@WORKER_CMD@|$WORKER_CMD|g" \
      -e "s|@NOMAD_TOKEN@|$nomad_token|g" \
      "$OPS_SRC/autoscaler/agent.hcl.in" >"$dir/autoscaler/agent.hcl"
  sed -e "s|@MIN_WORKERS@|${CLUSTER_MIN_WORKERS:-2}|g" -e "s|@MAX_WORKERS@|${CLUSTER_MAX_WORKERS:-3}|g" \
      -e "s|@COOLDOWN@|${CLUSTER_AUTOSCALE_COOLDOWN:-30s}|g" -e "s|@QUEUE_TARGET@|${CLUSTER_QUEUE_TARGET:-5}|g" \
      -e "s|@CPU_TARGET@|${CLUSTER_CPU_TARGET:-80}|g" \
      "$OPS_SRC/autoscaler/policies/throwbox-workers.hcl.in" >"$dir/autoscaler/policies/throwbox-workers.hcl"
  for f in "$dir/prometheus/prometheus.yml" "$dir/autoscaler/agent.hcl" "$dir/autoscaler/policies/throwbox-workers.hcl"; do
    if grep -q '@[A-Z_]*@' "$f"; then die "unrendered placeholder in $f"; fi
  done
}

use_ops_dirs() {
  RUN_DIR="$OPS_DIR/run"; LOG_DIR="$OPS_DIR/logs"
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$OPS_DIR/etc" "$OPS_DIR/prometheus-data"
}

# stop_group NAME: SIGTERM the service's process group (it is a session leader: setsid), SIGKILL
# what is left after 20 s. The autoscaler's plugin processes and their commands are in its group.
stop_group() {
  local name=$1 pid i
  pid=$(pid_of "$RUN_DIR/$name.pid") || { rm -f "$RUN_DIR/$name.pid"; return 0; }
  if kill -0 -- "-$pid" 2>/dev/null; then
    log "stopping $name"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$name.pid"
}

first_nomad() {
  local a
  for a in ${NOMAD_ADDRS//,/ }; do
    if curl -sf --max-time 2 "$a/v1/status/leader" | grep -q ':'; then echo "$a"; return 0; fi
  done
  return 1
}

start_prometheus() {
  command -v prometheus >/dev/null || "$REPO_DIR/scripts/ensure-prometheus.sh"
  local token=()
  [ ! -f "$CLUSTER_SECRETS/consul-ops.token" ] || token=(--consul-token-file "$CLUSTER_SECRETS/consul-ops.token")
  start_service ops-file-sd "$PYTHON" "$OPS_SRC/consul_file_sd.py" --consul "$CONSUL_ADDR" "${token[@]}" \
    --out "$OPS_DIR/etc/sd" --control-planes "$CP_TARGETS"
  start_service ops-prometheus prometheus --config.file="$OPS_DIR/etc/prometheus/prometheus.yml" \
    --storage.tsdb.path="$OPS_DIR/prometheus-data" --storage.tsdb.retention.time=2d \
    --web.listen-address="$BIND:$PROM_PORT" --web.enable-lifecycle
  wait_for "prometheus on $BIND:$PROM_PORT" 60 curl -sf "http://$BIND:$PROM_PORT/-/ready"
  # A config rendered again (new env) takes effect without a restart.
  curl -sf -X POST "http://$BIND:$PROM_PORT/-/reload" >/dev/null || true
}

start_autoscaler() {
  "$REPO_DIR/scripts/ensure-autoscaler.sh"
  start_service ops-autoscaler nomad-autoscaler agent -config "$OPS_DIR/etc/autoscaler/agent.hcl"
  wait_for "nomad-autoscaler on $BIND:$AS_PORT" 60 curl -sf "http://$BIND:$AS_PORT/v1/health"
}

cmd=${1:-}
what=${2:-all}
case "$cmd" in
  render)
    [ -n "${2:-}" ] || die "usage: $0 render DIR"
    render "$2" "${NOMAD_ADDRS%%,*}"
    ;;
  start)
    use_ops_dirs
    if [ "$what" = prometheus ]; then nomad_addr=$(first_nomad) || nomad_addr=${NOMAD_ADDRS%%,*}
    else nomad_addr=$(first_nomad) || die "no Nomad answers at $NOMAD_ADDRS"; fi
    render "$OPS_DIR/etc" "$nomad_addr"
    case "$what" in
      all) start_prometheus; start_autoscaler ;;
      prometheus) start_prometheus ;;
      autoscaler) start_autoscaler ;;
      *) die "usage: $0 start [all|prometheus|autoscaler]" ;;
    esac
    log "ops: prometheus http://$BIND:$PROM_PORT  autoscaler http://$BIND:$AS_PORT (nomad $nomad_addr)"
    ;;
  stop)
    use_ops_dirs
    case "$what" in
      all) stop_group ops-autoscaler; stop_group ops-prometheus; stop_group ops-file-sd ;;
      prometheus) stop_group ops-prometheus; stop_group ops-file-sd ;;
      autoscaler) stop_group ops-autoscaler ;;
      *) die "usage: $0 stop [all|prometheus|autoscaler]" ;;
    esac
    ;;
  status)
    use_ops_dirs
    rc=0
    for s in ops-prometheus ops-file-sd ops-autoscaler; do
      if pid_alive "$RUN_DIR/$s.pid"; then echo "$s: running (pid $(pid_of "$RUN_DIR/$s.pid"))"
      elif [ -f "$RUN_DIR/$s.pid" ]; then echo "$s: DEAD (log: $LOG_DIR/$s.log)"; rc=1
      else echo "$s: stopped"; fi
    done
    if pid_alive "$RUN_DIR/ops-prometheus.pid"; then
      curl -sf "http://$BIND:$PROM_PORT/api/v1/targets?state=active" | "$PYTHON" -c '
import collections, json, sys
t = collections.Counter((x["labels"]["job"], x["health"]) for x in json.load(sys.stdin)["data"]["activeTargets"])
print("targets:", ", ".join(f"{j} {h}={n}" for (j, h), n in sorted(t.items())) or "none")' || { echo "prometheus: not answering"; rc=1; }
      curl -sf "http://$BIND:$PROM_PORT/api/v1/alerts" | "$PYTHON" -c '
import json, sys
a = [x["labels"]["alertname"] + "(" + x["state"] + ")" for x in json.load(sys.stdin)["data"]["alerts"]]
print("alerts:", " ".join(a) or "none")' || true
    fi
    if pid_alive "$RUN_DIR/ops-autoscaler.pid"; then
      curl -sf "http://$BIND:$AS_PORT/v1/health" >/dev/null && echo "autoscaler: healthy" || { echo "autoscaler: not answering"; rc=1; }
    fi
    exit $rc
    ;;
  *)
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
