# Nomad agent configuration blocks of the single-node stack (scripts/start-nomad.sh) and the
# tests' private Nomad (tests/private_nomad.py): sourced, never run. Each function prints HCL.
# The local cluster renders its agents through terraform/modules/node-config instead
# (scripts/cluster/render.sh); tests/integration/test_terraform.py checks that these blocks say
# what node-config says.

# nomad_server_block BOOTSTRAP_EXPECT [SERVER_ADDR ...]: the server stanza (retry_join when given;
# gossip encrypted with NOMAD_GOSSIP_KEY when set).
nomad_server_block() {
  local expect=$1; shift
  local join=""
  [ $# -gt 0 ] && join="  server_join { retry_join = [$(printf '"%s",' "$@" | sed 's/,$//')] }"
  cat <<HCL
server {
  enabled          = true
  bootstrap_expect = $expect
$join
$([ -z "${NOMAD_GOSSIP_KEY:-}" ] || echo "  encrypt          = \"$NOMAD_GOSSIP_KEY\"")
  # Every run ends a sandbox, a job of its own: collect dead jobs, their evaluations and
  # terminal allocations quickly (the eval GC itself runs every 5 min, fixed in Nomad 1.6).
  job_gc_interval         = "1m"
  job_gc_threshold        = "5m"
  eval_gc_threshold       = "2m"
  batch_eval_gc_threshold = "5m"
  deployment_gc_threshold = "5m"
}
HCL
}

# nomad_client_tuning CGROUP_PARENT SANDBOX_RUNTIME: the client settings every sandbox node
# shares (inside client {}); the runtime (runsc-go, or Debian's runsc) is the agents' to use.
nomad_client_tuning() {
  cat <<HCL
  # Client-side GC. The agent collects each sandbox it destroyed as soon as it is terminal
  # (its dirs hold what the run wrote), so this is only the backstop. gc_max_allocs counts
  # live allocations too: past it, every newly placed allocation first waits, in the client's
  # single alloc-update loop, for a terminal one to be destroyed, which also holds back the
  # stops queued behind it (at 30, with ~30 live sandboxes on this node, a refill took seconds).
  gc_interval           = "30s"
  gc_max_allocs         = 250
  gc_parallel_destroys  = 4
  cgroup_parent         = "$1"
  # The executor agent drains running runs on SIGTERM (kill_timeout 90s in its job).
  max_kill_timeout = "3m"
  meta {
    "throwbox.sandbox_runtime" = "$2"
  }
HCL
}

# nomad_client_plugins RECONCILE_DANGLING: the docker and raw_exec plugin blocks.
nomad_client_plugins() {
  cat <<HCL
plugin "docker" {
  config {
    allow_runtimes         = ["runc", "runsc", "runsc-go"]
    allow_privileged       = false
    # Upper bound for any task; sandboxes set their own lower pids_limit.
    pids_limit             = 1024
    disable_log_collection = true
    # node_id lets scripts/down.sh (and the cluster's scripts) remove exactly one node's
    # leftover containers.
    extra_labels = ["job_name", "node_id"]
    volumes {
      enabled = true
    }
    gc {
      # Images are imported locally (no registry): never let Nomad delete them.
      image     = false
      container = true
      # Nomad's dangling-container reaper kills every running Nomad-labelled container it
      # does not track: on a Docker engine shared by several clients (a second stack, the
      # local cluster's workers) that is another node's sandboxes. Off there.
      dangling_containers {
        enabled        = $1
        period         = "1m"
        creation_grace = "2m"
      }
    }
  }
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}
HCL
}

# ACLs (docs/security.md). The secrets are those of scripts/nomad/acl.py in SECRETS_DIR; the
# configs that carry them are written 0600 by their callers.

# nomad_acl_block SECRETS_DIR: ACLs on (no anonymous policy exists: anonymous requests are
# denied) and the Consul token the Nomad agent registers its services with (inside consul {}).
nomad_acl_block() {
  cat <<HCL
acl {
  enabled = true
}
HCL
}
nomad_consul_token() { echo "  token = \"$(head -n1 "$1/consul-nomad.token")\""; }

# consul_acl_block SECRETS_DIR SERVER(true|false): default deny, the agent's own token, on
# servers the initial management token; gossip encrypted.
consul_acl_block() {
  local d=$1 initial=""
  [ "$2" = true ] && initial="    initial_management = \"$(head -n1 "$d/consul-management.token")\""
  cat <<HCL
encrypt = "$(head -n1 "$d/consul-gossip.key")"
acl {
  enabled                  = true
  default_policy           = "deny"
  enable_token_persistence = false
  tokens {
$initial
    agent = "$(head -n1 "$d/consul-node.token")"
  }
}
HCL
}

# RPC TLS (scripts/nomad/tls.sh's certificates in TLS_DIR): mutual TLS between agents; the HTTP
# APIs stay plain HTTP (docs/security.md says why). ROLE: server or client.
nomad_tls_block() {
  cat <<HCL
tls {
  http                   = false
  rpc                    = true
  ca_file                = "$1/ca.pem"
  cert_file              = "$1/nomad-$2.pem"
  key_file               = "$1/nomad-$2-key.pem"
  verify_server_hostname = true
}
HCL
}

consul_tls_block() {
  cat <<HCL
tls {
  defaults {
    ca_file         = "$1/ca.pem"
    cert_file       = "$1/consul-$2.pem"
    key_file        = "$1/consul-$2-key.pem"
    verify_outgoing = true
  }
  internal_rpc {
    verify_incoming        = true
    verify_server_hostname = true
  }
}
HCL
}
