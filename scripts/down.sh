#!/usr/bin/env bash
# `make down`: stop everything `make up` started and leave no process, container or mount
# behind. State (.state: Kafka log, Consul KV, Nomad data) is kept; `make clean-state` drops it.
source "$(dirname "$0")/common.sh"
export NOMAD_ADDR="${THROWBOX_NOMAD_ADDR:-http://127.0.0.1:4646}"

stop_service control-plane 30

# Our Nomad jobs first, while Nomad runs: it stops their containers and the agent (which
# drains within its kill_timeout).
if curl -fsS -m 2 "$NOMAD_ADDR/v1/agent/health" >/dev/null 2>&1; then
  for job in $(nomad job status -short 2>/dev/null | awk 'NR > 1 && $1 ~ /^throwbox-/ {print $1}'); do
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

# Whatever Nomad left: its executor/logmon helpers and raw_exec tasks (found by the binary
# they run, ended by pid), the sandbox containers (Nomad's labels), mounts in its data dir.
leftovers=()
for proc in /proc/[0-9]*; do
  exe=$(readlink "$proc/exe" 2>/dev/null) || continue
  cmd=$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null) || continue
  if [ "$exe" = "$BIN_DIR/nomad" ] || [[ "$cmd" == *"$VENV/bin/throwbox-agent"* ]]; then
    leftovers+=("${proc#/proc/}")
  fi
done
if [ ${#leftovers[@]} -gt 0 ]; then
  log "ending leftover nomad helpers / agent processes: ${leftovers[*]}"
  kill -TERM "${leftovers[@]}" 2>/dev/null || true
  sleep 2
  kill -KILL "${leftovers[@]}" 2>/dev/null || true
fi
if docker info >/dev/null 2>&1; then
  containers=$(docker ps -aq --filter label=com.hashicorp.nomad.alloc_id)
  if [ -n "$containers" ]; then
    log "removing leftover sandbox containers"
    # shellcheck disable=SC2086
    docker rm -f $containers >/dev/null || true
  fi
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
