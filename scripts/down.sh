#!/usr/bin/env bash
# `make down`: stop everything `make up` started and leave no process, container or mount
# behind. State (.state: Kafka log, Consul KV, Nomad data) is kept; `make clean-state` drops it.
source "$(dirname "$0")/common.sh"
export NOMAD_ADDR="${THROWBOX_NOMAD_ADDR:-http://127.0.0.1:4646}"

stop_service control-plane 30
stop_service build-images 5     # a background image build of make up (a build under way ends on its own)

# Our Nomad jobs first, while Nomad runs: it stops their containers and the agent (which
# drains within its kill_timeout).
if curl -fsS -m 2 "$NOMAD_ADDR/v1/agent/health" >/dev/null 2>&1; then
  # Each sandbox is a job dispatched from its pool's job; the ended ones (dead) are left to
  # Nomad's job GC.
  for job in $(nomad job status -short 2>/dev/null | awk 'NR > 1 && $1 ~ /^throwbox-/ && $4 != "dead" {print $1}'); do
    log "purging nomad job $job"
    nomad job stop -purge -detach "$job" >/dev/null || true
  done
  allocs_running() {
    curl -fsS "$NOMAD_ADDR/v1/allocations" | "$VENV/bin/python" -c '
import json, sys
sys.exit(0 if any(a["ClientStatus"] in ("running", "pending") for a in json.load(sys.stdin)) else 1)'
  }
  for ((i = 0; i < 480; i++)); do allocs_running || break; sleep 0.25; done
fi
stop_service nomad 30

# Whatever Nomad left: the sandbox containers of this node (Nomad's labels), then processes
# still working in this stack's Nomad data dir (its executor/logmon helpers, raw_exec tasks
# such as the agent; ended by pid), then mounts in that dir.
node_id=$(cat "$STATE_DIR/nomad/data/client/client-id" 2>/dev/null || true)
if [ -n "$node_id" ] && docker info >/dev/null 2>&1; then
  containers=$(docker ps -aq --filter "label=com.hashicorp.nomad.node_id=$node_id")
  if [ -n "$containers" ]; then
    log "removing leftover sandbox containers"
    # shellcheck disable=SC2086
    docker rm -f $containers >/dev/null || true
  fi
fi
ours() {  # ours PID: the process runs in, or holds open, something under this stack's Nomad dir
  local p=/proc/$1
  [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$STATE_DIR/nomad/"* ]] && return 0
  [[ "$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")" == *"$STATE_DIR/nomad/"* ]] && return 0
  find "$p/fd" -maxdepth 1 -lname "$STATE_DIR/nomad/*" 2>/dev/null | grep -q .
}
leftovers=()
for proc in /proc/[0-9]*; do
  pid=${proc#/proc/}
  [ "$pid" = $$ ] || ! ours "$pid" || leftovers+=("$pid")
done
if [ ${#leftovers[@]} -gt 0 ]; then
  log "ending processes left in $STATE_DIR/nomad: ${leftovers[*]}"
  kill -TERM "${leftovers[@]}" 2>/dev/null || true
  sleep 2
  kill -KILL "${leftovers[@]}" 2>/dev/null || true
fi
# Deepest first; -R for nested mounts, lazy as a last resort.
awk -v d="$STATE_DIR/nomad" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -r | uniq |
  while read -r mnt; do umount -R "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true; done

stop_service consul 30
"$REPO_DIR/scripts/stop-kafka.sh"
# dockerd only if `make up` started it (a pid file of ours); an engine we found running stays.
if pid_alive "$RUN_DIR/dockerd.pid"; then
  stop_service dockerd 60
fi
log "stack down"
