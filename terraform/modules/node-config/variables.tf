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
  description = "Extra Nomad client meta of worker nodes. The module always sets throwbox.sandbox_runtime (from sandbox_runtime), which the executor agent's system job requires."

  validation {
    condition     = !contains(keys(var.worker_meta), "throwbox.sandbox_runtime")
    error_message = "throwbox.sandbox_runtime is set by the module (sandbox_runtime); it cannot be overridden through worker_meta."
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

variable "rpc_tls_enabled" {
  type        = bool
  default     = true
  description = "Mutual TLS on Nomad's and Consul's RPC (server and client certificates signed by one cluster CA, as scripts/nomad/tls.sh makes them); the HTTP APIs stay plain HTTP on the nodes (docs/security.md). false: plain RPC, development only."
}

variable "tls_dir" {
  type        = string
  default     = "/etc/throwbox/tls"
  description = "Directory of the CA and certificates on every node, with scripts/nomad/tls.sh's file names: ca.pem, {consul,nomad}-{server,client}.pem and their -key.pem. The user data writes rpc_tls there when it is given."

  validation {
    condition     = startswith(var.tls_dir, "/") && !endswith(var.tls_dir, "/")
    error_message = "tls_dir must be an absolute path without a trailing slash."
  }
}

variable "rpc_tls" {
  type = object({
    ca_pem                 = string
    consul_server_cert_pem = string
    consul_server_key_pem  = string
    consul_client_cert_pem = string
    consul_client_key_pem  = string
    nomad_server_cert_pem  = string
    nomad_server_key_pem   = string
    nomad_client_cert_pem  = string
    nomad_client_key_pem   = string
  })
  default     = null
  sensitive   = true
  description = "PEM contents of the cluster CA and the RPC certificates (the files scripts/nomad/tls.sh writes; server certificates name server.<datacenter>.consul and server.<region>.nomad). Given: the user data writes each node's CA, certificates and keys into tls_dir (keys 0600). null: the files are provisioned into tls_dir otherwise (an image build, or make cluster, which points tls_dir at its own dir)."

  validation {
    condition     = try(alltrue([for v in values(var.rpc_tls) : startswith(trimspace(v), "-----BEGIN ")]), var.rpc_tls == null)
    error_message = "Every rpc_tls value must be PEM text (starting with -----BEGIN)."
  }
}

variable "tls_verify" {
  type = object({
    verify_incoming        = optional(bool, true)
    verify_outgoing        = optional(bool, true)
    verify_server_hostname = optional(bool, true)
  })
  default     = {}
  description = "Certificate checks with rpc_tls_enabled, all on by default: verify_incoming (Consul RPC demands a client certificate signed by the CA; Nomad's RPC always does), verify_outgoing (Consul agents check the server's certificate), verify_server_hostname (only certificates naming server.<datacenter>.consul / server.<region>.nomad may act as servers, so a worker's certificate cannot pose as a server)."

  validation {
    condition     = !var.tls_verify.verify_server_hostname || var.tls_verify.verify_outgoing
    error_message = "verify_server_hostname needs verify_outgoing: the server's name is checked on the certificate outgoing verification accepted."
  }
}

variable "sandbox_runtime" {
  type        = string
  default     = "runsc"
  description = "Docker runtime the sandboxes run with, published as the worker meta throwbox.sandbox_runtime: runsc (Debian's package, registered by docker_daemon_json) or runsc-go (built by scripts/ensure-runsc-go.sh; register it in dockerd yourself, as scripts/start-docker.sh does)."

  validation {
    condition     = contains(["runsc", "runsc-go"], var.sandbox_runtime)
    error_message = "sandbox_runtime must be runsc or runsc-go (the gVisor runtimes the docker plugin allows for sandboxes)."
  }
}

variable "node_name" {
  type        = string
  default     = null
  description = "Name of the Nomad and Consul agents (Nomad name, Consul node_name) when one node's files are rendered, as make cluster does per node; null: each agent uses the node's hostname (one rendering for a whole role)."

  validation {
    condition     = var.node_name == null || can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", coalesce(var.node_name, "x")))
    error_message = "node_name must be letters, digits, dashes and underscores (at most 63)."
  }
}

variable "nomad_data_dir" {
  type        = string
  default     = "/opt/nomad/data"
  description = "Nomad's data_dir on every node (make cluster gives each node its own under .state/cluster)."

  validation {
    condition     = startswith(var.nomad_data_dir, "/")
    error_message = "nomad_data_dir must be an absolute path."
  }
}

variable "consul_data_dir" {
  type        = string
  default     = "/opt/consul/data"
  description = "Consul's data_dir on every node (make cluster gives each node its own under .state/cluster)."

  validation {
    condition     = startswith(var.consul_data_dir, "/")
    error_message = "consul_data_dir must be an absolute path."
  }
}

variable "consul_client_addr" {
  type        = list(string)
  default     = ["127.0.0.1"]
  description = "Addresses Consul's HTTP API listens on (client_addr). The default keeps it local to the node; make cluster adds each node's own address so the host's scripts reach it (with ACLs, every request still needs a token)."

  validation {
    condition     = length(var.consul_client_addr) > 0 && alltrue([for a in var.consul_client_addr : length(trimspace(a)) > 0])
    error_message = "consul_client_addr must list at least one address."
  }
}

variable "nomad_network_interface" {
  type        = string
  default     = null
  description = "Network interface Nomad clients fingerprint and give allocations addresses on (client network_interface); null: Nomad picks the interface of the default route."
}

variable "nomad_cgroup_parent" {
  type        = string
  default     = "nomad"
  description = "cgroup parent of the allocations of a Nomad client (make cluster gives every worker its own, as they share one machine)."

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", var.nomad_cgroup_parent))
    error_message = "nomad_cgroup_parent must be a cgroup name: letters, digits, dots, dashes, underscores."
  }
}
