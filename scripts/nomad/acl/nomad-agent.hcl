# Nomad policy of the executor agent (its token: secrets/nomad-agent.token). What it calls
# (executor-agent/throwbox_agent/nomad_api.py): register, dispatch, read and stop its sandbox jobs,
# list and read their allocations, follow their allocation events, GC a used allocation's dir
# (submit-job), in the sandboxes' namespace only, where only the docker driver is enabled (no
# raw_exec: a stolen token cannot run host commands through Nomad); read its node (drain
# detection) and its local agent (/v1/agent/self: node id, data dir).
namespace "throwbox-sandboxes" {
  capabilities = ["submit-job", "dispatch-job", "read-job", "list-jobs"]
}

node {
  policy = "read"
}

agent {
  policy = "read"
}
