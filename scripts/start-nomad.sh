#!/usr/bin/env bash
# Start one Nomad agent (server + client, bootstrap_expect = 1) on 127.0.0.1 (HTTP 4646),
# data in .state/nomad, with the docker driver (runc, runsc and runsc-go allowed; node meta
# throwbox.sandbox_runtime names the one sandboxes use, THROWBOX_SANDBOX_RUNTIME) and raw_exec
# (the executor agent). Waits until the node is ready and both drivers are healthy.
source "$(dirname "$0")/common.sh"
NOMAD_HTTP_PORT="${THROWBOX_NOMAD_HTTP_PORT:-4646}"
CONSUL_HTTP="${THROWBOX_CONSUL_HTTP:-127.0.0.1:8500}"
# Nomad's dangling-container reaper kills every running Nomad-labelled container it does not
# track, including those of a second stack on the same dockerd (scripts/ci-rehearsal.sh):
# off by default; leftovers are removed by scripts/down.sh (by node id) instead.
RECONCILE_DANGLING="${THROWBOX_NOMAD_RECONCILE_DANGLING:-false}"
CGROUP_PARENT="${THROWBOX_NOMAD_CGROUP_PARENT:-nomad}"
command -v nomad >/dev/null || "$REPO_DIR/scripts/ensure-nomad.sh"
source "$REPO_DIR/scripts/nomad/config.sh"
mkdir -p "$STATE_DIR/nomad/data"
cat >"$STATE_DIR/nomad/agent.hcl" <<HCL
# Written by scripts/start-nomad.sh on every start: edit the script, not this file.
name                 = "throwbox-dev"
data_dir             = "$STATE_DIR/nomad/data"
bind_addr            = "127.0.0.1"
log_level            = "INFO"
disable_update_check = true
ports { http = $NOMAD_HTTP_PORT }
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}

$(nomad_server_block 1)

client {
  enabled           = true
  servers           = ["127.0.0.1"]
  network_interface = "lo"
$(nomad_client_tuning "$CGROUP_PARENT" "$SANDBOX_RUNTIME")
}

consul {
  address = "$CONSUL_HTTP"
}

$(nomad_client_plugins "$RECONCILE_DANGLING")
HCL
if ! pid_alive "$RUN_DIR/nomad.pid"; then
  # Exited sandbox containers of an earlier Nomad (a killed session) are clutter: drop them.
  stale=$(docker ps -aq --filter label=com.hashicorp.nomad.alloc_id --filter status=exited --filter status=created)
  # shellcheck disable=SC2086
  [ -z "$stale" ] || docker rm -f $stale >/dev/null || true
fi
# Go's collector was ~19% of Nomad's CPU per sandbox replacement (msgpack garbage of every
# allocation write and pull); a larger heap target trades a few hundred MB for it. A/B on this
# machine, pool-8 refill against raw creation: 82/84% at the default 100, 88/86% at 400.
NOMAD_GOGC="${THROWBOX_NOMAD_GOGC:-400}"
start_service nomad env GOGC="$NOMAD_GOGC" nomad agent -config "$STATE_DIR/nomad/agent.hcl"
export NOMAD_ADDR="http://127.0.0.1:$NOMAD_HTTP_PORT"
client_ready() {
  # The agent's own health first: after a restart the server's stored node status says
  # "ready" before this client has re-registered.
  curl -fsS "$NOMAD_ADDR/v1/agent/health" >/dev/null || return 1
  curl -fsS "$NOMAD_ADDR/v1/nodes" | "$VENV/bin/python" -c '
import json, sys, urllib.request
nodes = [n for n in json.load(sys.stdin) if n["Name"] == "throwbox-dev" and n["Status"] == "ready"]
if not nodes:
    sys.exit(1)
node = json.load(urllib.request.urlopen(sys.argv[1] + "/v1/node/" + nodes[0]["ID"]))
drivers = node["Drivers"]
sys.exit(0 if all(drivers.get(d, {}).get("Healthy") for d in ("docker", "raw_exec")) else 1)
' "$NOMAD_ADDR"
}
wait_for "nomad node with healthy docker and raw_exec drivers (log: $LOG_DIR/nomad.log)" 120 client_ready
