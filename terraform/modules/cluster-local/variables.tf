variable "cluster_name" {
  type        = string
  default     = "tbx"
  description = "Name of the local cluster (THROWBOX_CLUSTER_NAME): part of every worker's Nomad cgroup parent, nomad-<cluster_name>-<node>."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,14}$", var.cluster_name))
    error_message = "cluster_name must be lower-case letters, digits and dashes, at most 15 (it names network interfaces too)."
  }
}

variable "cluster_dir" {
  type        = string
  description = "The cluster's state dir (scripts/cluster/lib.sh CLUSTER_DIR, .state/cluster): each node's data and configuration live in <cluster_dir>/<node>."

  validation {
    condition     = startswith(var.cluster_dir, "/") && !endswith(var.cluster_dir, "/")
    error_message = "cluster_dir must be an absolute path without a trailing slash."
  }
}

variable "servers" {
  type        = map(string)
  description = "Server nodes, name => address (s1..s3 in scripts/cluster/lib.sh): Nomad and Consul servers, the retry_join list of every agent."

  validation {
    condition     = length(var.servers) % 2 == 1
    error_message = "servers must be an odd number of nodes (Raft quorum)."
  }
}

variable "control_planes" {
  type        = map(string)
  default     = {}
  description = "Control plane nodes, name => address: they run a Consul client agent only (no Nomad)."
}

variable "workers" {
  type        = map(string)
  default     = {}
  description = "Worker nodes, name => address: Nomad clients of the worker class and Consul client agents. Every worker slot, started or not, so that adding a worker needs no new rendering."
}

variable "datacenter" {
  type        = string
  default     = "dc1"
  description = "Nomad and Consul datacenter (the TLS certificates of scripts/nomad/tls.sh name server.<datacenter>.consul)."
}

variable "secrets_dir" {
  type        = string
  description = "Directory of scripts/nomad/acl.py init's files (consul-gossip.key, nomad-gossip.key, consul-management.token, consul-node.token, consul-nomad.token); read at apply time, the secrets end up in the state and the rendered files."
}

variable "tls_dir" {
  type        = string
  description = "Directory of scripts/nomad/tls.sh's CA and certificates, named by every agent's tls block (the files stay where they are)."

  validation {
    condition     = startswith(var.tls_dir, "/") && !endswith(var.tls_dir, "/")
    error_message = "tls_dir must be an absolute path without a trailing slash."
  }
}

variable "sandbox_runtime" {
  type        = string
  default     = "runsc-go"
  description = "Docker runtime of the sandboxes (THROWBOX_SANDBOX_RUNTIME), the workers' meta throwbox.sandbox_runtime: runsc-go or runsc."
}
