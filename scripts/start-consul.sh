#!/usr/bin/env bash
# Start a single-node Consul server on 127.0.0.1 (HTTP 8500) whose data lives in
# .state/consul, so KV (API keys, functions) survives restarts, unlike `consul agent -dev`.
source "$(dirname "$0")/common.sh"
CONSUL_HTTP="${THROWBOX_CONSUL_HTTP:-127.0.0.1:8500}"
command -v consul >/dev/null || "$REPO_DIR/scripts/ensure-consul.sh"
mkdir -p "$STATE_DIR/consul/data"
cat >"$STATE_DIR/consul/consul.hcl" <<HCL
# Written by scripts/start-consul.sh on every start: edit the script, not this file.
node_name            = "throwbox-dev"
server               = true
bootstrap_expect     = 1
data_dir             = "$STATE_DIR/consul/data"
bind_addr            = "127.0.0.1"
client_addr          = "127.0.0.1"
addresses { http = "${CONSUL_HTTP%:*}" }
ports { http = ${CONSUL_HTTP##*:} }
log_level            = "INFO"
disable_update_check = true
ui_config { enabled = false }
performance { raft_multiplier = 1 }
HCL
start_service consul consul agent -config-file "$STATE_DIR/consul/consul.hcl"
has_leader() { curl -fsS "http://$CONSUL_HTTP/v1/status/leader" | grep -q '"[^"]\+"'; }
# A leader alone is not enough right after election: wait until our node is in the catalog.
node_registered() { curl -fsS "http://$CONSUL_HTTP/v1/catalog/node/throwbox-dev" | grep -q '"Node"'; }
wait_for "consul leader on $CONSUL_HTTP (log: $LOG_DIR/consul.log)" 60 has_leader
wait_for "consul catalog" 30 node_registered
