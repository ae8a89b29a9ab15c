#!/usr/bin/env bash
# Deploy the executor agent (Nomad system job, raw_exec) and wait for its health endpoint.
#   scripts/deploy-agent.sh [--restart] [-var NAME=VALUE ...]
#     --restart   also restart running agents (picks up code changes)
#     -var ...    job variables over the stack's (the local cluster passes its addresses)
# THROWBOX_AGENT_HEALTH_URL=- skips the wait (the cluster waits for each worker's agent).
# THROWBOX_ACL_SECRETS_DIR (scripts/nomad/acl.py's, e.g. the local cluster's): Nomad and Consul run
# with ACLs; the agent's tokens go into the job's Nomad Variable, its sandboxes into their namespace.
source "$(dirname "$0")/common.sh"
source "$REPO_DIR/scripts/kafka/env.sh"    # the agents' Kafka credentials file
AGENT_HEALTH_URL="${THROWBOX_AGENT_HEALTH_URL:-http://127.0.0.1:9464/healthz}"
export NOMAD_ADDR="${THROWBOX_NOMAD_ADDR:-http://127.0.0.1:4646}"
JOB=throwbox-executor-agent
restart=false
[ "${1:-}" = "--restart" ] && { restart=true; shift; }
acl_vars=()
if [ -n "${THROWBOX_ACL_SECRETS_DIR:-}" ]; then
  "$VENV/bin/python" "$REPO_DIR/scripts/nomad/acl.py" agent-vars "$THROWBOX_ACL_SECRETS_DIR" --nomad "${NOMAD_ADDR%%,*}" --job "$JOB" \
    || die "the agent's tokens not stored in Nomad"
  # The nomad CLI reads its token from the environment: this script's children only.
  NOMAD_TOKEN=$(head -n1 "$THROWBOX_ACL_SECRETS_DIR/nomad-management.token")
  export NOMAD_TOKEN
  acl_vars=(-var acl_tokens=true -var sandbox_namespace=throwbox-sandboxes)
fi
nomad job run -detach "${acl_vars[@]}" \
  -var "repo_dir=$REPO_DIR" \
  -var "kafka_bootstrap=${THROWBOX_KAFKA_BOOTSTRAP:-127.0.0.1:9092}" \
  -var "kafka_credentials_file=$KAFKA_CREDENTIALS_DIR/agent.properties" \
  -var "consul_addr=${THROWBOX_CONSUL_ADDR:-http://127.0.0.1:8500}" \
  -var "nomad_addr=$NOMAD_ADDR" \
  "$@" \
  "$REPO_DIR/nomad-jobs/executor-agent.nomad.hcl" >/dev/null
if $restart; then
  for alloc in $(nomad job allocs -t '{{range .}}{{if and (eq .ClientStatus "running") (eq .DesiredStatus "run")}}{{.ID}} {{end}}{{end}}' "$JOB"); do
    log "restarting executor agent allocation $alloc"
    nomad alloc restart "$alloc" >/dev/null
  done
fi
[ "$AGENT_HEALTH_URL" = - ] && exit 0
healthy() { curl -fsS -m 2 "$AGENT_HEALTH_URL"; }
if ! until_ok 120 healthy; then
  log "executor agent not healthy at $AGENT_HEALTH_URL after 120s; its allocations:"
  nomad job status "$JOB" >&2 || true
  alloc=$(nomad job allocs -t '{{range .}}{{.ID}} {{end}}' "$JOB" | awk '{print $1}')
  [ -n "$alloc" ] && nomad alloc logs -stderr "$alloc" agent 2>&1 | tail -n 30 >&2
  die "executor agent not healthy"
fi
log "executor agent healthy ($AGENT_HEALTH_URL)"
