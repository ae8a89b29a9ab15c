#!/usr/bin/env bash
# `make cluster-status`: one line per server, broker, worker, agent and control plane; exits 1
# when any part that should run is not healthy.
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"
bad=0
line() { printf '  %-5s %-14s %s\n' "$1" "$2" "$3"; [ "$4" = ok ] || bad=1; }
probe() { curl -fsS -m 2 "$@" 2>/dev/null; }
for n in "${SERVERS[@]}"; do
  ip=$(node_ip "$n")
  leader=$(probe "http://$ip:8500/v1/status/leader" | tr -d '"')
  [ -n "$leader" ] && line "$n" consul-server "up, leader ${leader%:*}" ok || line "$n" consul-server down bad
  leader=$(probe "http://$ip:4646/v1/status/leader" | tr -d '"')
  [ -n "$leader" ] && line "$n" nomad-server "up, leader ${leader%:*}" ok || line "$n" nomad-server down bad
  if (exec 3<>"/dev/tcp/$ip/9092") 2>/dev/null; then line "$n" kafka-broker "up ($ip:9092)" ok; else line "$n" kafka-broker down bad; fi
done
for n in "${WORKER_SLOTS[@]}"; do
  [ -e "/run/netns/$(node_ns "$n")" ] || continue
  ip=$(node_ip "$n")
  node=$(probe -H @"$CLUSTER_SECRETS/nomad-management.header" "http://$(node_ip s1):4646/v1/nodes" | "$VENV/bin/python" -c '
import json, sys
ns = sorted((n["CreateIndex"], n) for n in json.load(sys.stdin) if n["Name"] == sys.argv[1])
n = ns[-1][1] if ns else None
print(n["Status"] + ", " + n["SchedulingEligibility"] + (", draining" if n["Drain"] else "") if n else "unknown")' "$n" 2>/dev/null || true)
  [ "$node" = "ready, eligible" ] && line "$n" nomad-client "$node" ok || line "$n" nomad-client "${node:-unknown}" bad
  agent=$(probe "http://$ip:$AGENT_METRICS_PORT/healthz" | "$VENV/bin/python" -c '
import json, sys
h = json.load(sys.stdin)
pools = ", ".join("%s %d/%d" % (k, v["idle"], v["size"]) for k, v in sorted(h["pools"].items()))
print("%s, %d running, pools idle/size: %s" % (h["status"], h["in_flight"], pools))' 2>/dev/null || true)
  [[ $agent == ok,* ]] && line "$n" agent "$agent" ok || line "$n" agent "${agent:-down}" bad
done
for n in "${CONTROL_PLANES[@]}"; do
  ip=$(node_ip "$n")
  ready=$(probe "http://$ip:$CP_PORT/readyz" | tr -d '\n' | cut -c1-110)
  [ -n "$ready" ] && line "$n" control-plane "ready http://$ip:$CP_PORT" ok || line "$n" control-plane "not ready http://$ip:$CP_PORT" bad
done
"$REPO_DIR/scripts/cluster/ops.sh" status | sed 's/^/  ops   /' || bad=1
exit $bad
