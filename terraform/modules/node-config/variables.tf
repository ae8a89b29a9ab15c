variable "datacenter" {
  type        = string
  default     = "dc1"
  description = "Nomad and Consul datacenter name of every node this module configures."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.datacenter))
    error_message = "datacenter must be lower-case letters, digits and dashes (at most 63), starting with a letter or digit."
  }
}

variable "region" {
  type        = string
  default     = "global"
  description = "Nomad region of the cluster (Nomad's default is \"global\")."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.region))
    error_message = "region must be lower-case letters, digits and dashes (at most 63), starting with a letter or digit."
  }
}

variable "server_count" {
  type        = number
  default     = 3
  description = "Number of Nomad+Consul server nodes (Raft voters): bootstrap_expect of both. Odd, 1 to 7; 3 tolerates one lost server."

  validation {
    condition     = var.server_count == floor(var.server_count) && var.server_count >= 1 && var.server_count <= 7 && var.server_count % 2 == 1
    error_message = "server_count must be an odd whole number from 1 to 7: an even count adds no failure tolerance to a Raft quorum."
  }
}

variable "server_addresses" {
  type        = list(string)
  description = "Private addresses (IPs or DNS names) of the server nodes, one per server: the retry_join list of every Nomad and Consul agent."

  validation {
    condition     = length(var.server_addresses) == var.server_count
    error_message = "server_addresses must hold exactly server_count addresses."
  }

  validation {
    condition     = length(distinct(var.server_addresses)) == length(var.server_addresses)
    error_message = "server_addresses must not repeat an address."
  }

  validation {
    condition     = alltrue([for a in var.server_addresses : can(regex("^[A-Za-z0-9][A-Za-z0-9.-]*$", a))])
    error_message = "Each server address must be an IPv4 address or a DNS name (no scheme, no port)."
  }
}

variable "advertise_addr" {
  type        = string
  default     = "{{ GetPrivateIP }}"
  description = "Address each node advertises to the others (Nomad advertise, Consul bind_addr): an IP, or a go-sockaddr template resolved on the node; the default picks its private IP."

  validation {
    condition     = length(trimspace(var.advertise_addr)) > 0
    error_message = "advertise_addr must not be empty."
  }
}

variable "worker_node_class" {
  type        = string
  default     = "throwbox-worker"
  description = "Nomad node_class of worker nodes, the class the autoscaler and job constraints select workers by."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", var.worker_node_class))
    error_message = "worker_node_class must be lower-case letters, digits, dashes and underscores (at most 63)."
  }
}

variable "worker_meta" {
  type        = map(string)
  default     = {}
  description = "Extra Nomad client meta of worker nodes. The module always sets throwbox.sandbox_runtime = runsc, which the executor agent's system job requires."

  validation {
    condition     = !contains(keys(var.worker_meta), "throwbox.sandbox_runtime")
    error_message = "throwbox.sandbox_runtime is set by the module (runsc); it cannot be overridden through worker_meta."
  }
}

variable "kafka_bootstrap" {
  type        = list(string)
  default     = []
  description = "Kafka brokers (host:port) the Throwbox services on this cluster use; when given, workers carry them as Nomad meta throwbox.kafka_bootstrap (comma-separated)."

  validation {
    condition     = alltrue([for b in var.kafka_bootstrap : can(regex("^[A-Za-z0-9][A-Za-z0-9.-]*:[0-9]{1,5}$", b))])
    error_message = "Each Kafka broker must be host:port, e.g. 10.0.0.20:9092."
  }
}

variable "runsc_path" {
  type        = string
  default     = "/usr/bin/runsc"
  description = "Path of the gVisor runsc binary on worker nodes (Debian's runsc package installs /usr/bin/runsc)."

  validation {
    condition     = startswith(var.runsc_path, "/")
    error_message = "runsc_path must be an absolute path."
  }
}

variable "runsc_extra_args" {
  type        = list(string)
  default     = []
  description = "runsc flags appended after the two the module always sets (--network=none, --oci-seccomp), e.g. [\"--platform=systrap\"]."

  validation {
    condition     = alltrue([for a in var.runsc_extra_args : startswith(a, "--")])
    error_message = "Each runsc flag must start with --."
  }

  validation {
    condition     = !anytrue([for a in var.runsc_extra_args : startswith(a, "--network") || startswith(a, "--oci-seccomp")])
    error_message = "--network and --oci-seccomp are fixed by the module: sandboxes have no network and must keep their seccomp profile."
  }
}

variable "reconcile_dangling_containers" {
  type        = bool
  default     = true
  description = "Let Nomad remove Nomad-labelled containers it does not track on workers. The single-node stack turns this off because a second stack may share its dockerd; a worker's dockerd serves its Nomad client alone."
}

variable "binary_dir" {
  type        = string
  default     = "/usr/local/bin"
  description = "Directory holding the nomad and consul binaries in the node image (user data does not download them)."

  validation {
    condition     = startswith(var.binary_dir, "/")
    error_message = "binary_dir must be an absolute path."
  }
}

variable "install_packages" {
  type        = bool
  default     = true
  description = "Have cloud-init install Debian's docker.io and runsc packages on worker nodes; false when the image already has them."
}

variable "ssh_authorized_keys" {
  type        = list(string)
  default     = []
  description = "SSH public keys cloud-init adds for the default user of every node."

  validation {
    condition     = alltrue([for k in var.ssh_authorized_keys : can(regex("^(ssh-|ecdsa-|sk-)", k))])
    error_message = "Each SSH key must be a public key line (ssh-ed25519 ..., ssh-rsa ..., ecdsa-..., sk-...)."
  }
}

variable "acl_enabled" {
  type        = bool
  default     = true
  description = "Nomad and Consul with ACLs (Consul default_policy deny, Nomad acl enabled: no anonymous access) and encrypted gossip, as the local cluster runs them (docs/security.md); needs cluster_secrets. false: open agents, development only."
}

variable "cluster_secrets" {
  type = object({
    consul_gossip_key       = string
    nomad_gossip_key        = string
    consul_management_token = string
    consul_node_token       = string
    consul_nomad_token      = string
  })
  default     = null
  sensitive   = true
  description = "The secrets the agents' configs carry, as scripts/nomad/acl.py init writes them (consul-gossip.key, nomad-gossip.key, consul-management.token, consul-node.token, consul-nomad.token); required with acl_enabled. After the agents start, acl.py apply bootstraps Nomad and creates the policies and tokens."

  validation {
    condition     = !var.acl_enabled || var.cluster_secrets != null
    error_message = "With acl_enabled (the default), set cluster_secrets (scripts/nomad/acl.py init writes them)."
  }
}
