variable "nomad_addr" {
  type        = string
  default     = "http://127.0.0.1:4646"
  description = "HTTP URL of the Nomad API the jobs are registered through."
  validation {
    condition     = can(regex("^https?://[^/]+$", var.nomad_addr))
    error_message = "nomad_addr must be an http(s):// URL without a path, e.g. http://10.0.0.10:4646."
  }
}

variable "consul_addr" {
  type        = string
  default     = "http://127.0.0.1:8500"
  description = "HTTP URL of the Consul agent on every node (the jobs use it, and the KV defaults are written through it)."
  validation {
    condition     = can(regex("^https?://[^/]+$", var.consul_addr))
    error_message = "consul_addr must be an http(s):// URL without a path, e.g. http://127.0.0.1:8500."
  }
}

variable "node_nomad_addr" {
  type        = string
  default     = ""
  description = "HTTP URL of Nomad as the agents and control planes reach it on their node (e.g. http://127.0.0.1:4646, the node's own Nomad agent); empty: nomad_addr."
  validation {
    condition     = var.node_nomad_addr == "" || can(regex("^https?://[^/]+$", var.node_nomad_addr))
    error_message = "node_nomad_addr must be an http(s):// URL without a path (or empty)."
  }
}

variable "node_consul_addr" {
  type        = string
  default     = ""
  description = "HTTP URL of Consul as the agents and control planes reach it on their node (e.g. http://127.0.0.1:8500, the node's own Consul agent, where the agents register); empty: consul_addr."
  validation {
    condition     = var.node_consul_addr == "" || can(regex("^https?://[^/]+$", var.node_consul_addr))
    error_message = "node_consul_addr must be an http(s):// URL without a path (or empty)."
  }
}

variable "kafka_bootstrap" {
  type        = string
  default     = "127.0.0.1:9092"
  description = "Kafka bootstrap servers as comma-separated host:port, reachable from every node."
  validation {
    condition     = alltrue([for hp in split(",", var.kafka_bootstrap) : can(regex("^[A-Za-z0-9.-]+:[0-9]{1,5}$", trimspace(hp)))])
    error_message = "kafka_bootstrap must be host:port[,host:port...]."
  }
}

variable "kafka_credentials_dir" {
  type        = string
  default     = ""
  description = "Absolute path, on every node, of the directory with the Kafka SASL/SCRAM credentials files admin.properties (the topics job), agent.properties and control-plane.properties (mode 0600; the stack's is <checkout>/.state/kafka/credentials). Empty: the jobs connect unauthenticated, which the project's brokers refuse."
  validation {
    condition     = var.kafka_credentials_dir == "" || startswith(var.kafka_credentials_dir, "/")
    error_message = "kafka_credentials_dir must be an absolute path (or empty)."
  }
}

variable "kafka_replication_factor" {
  type        = number
  default     = 1
  description = "Replication factor of the Kafka topics the topics job creates (3 with 3 brokers)."
  validation {
    condition     = var.kafka_replication_factor >= 1 && floor(var.kafka_replication_factor) == var.kafka_replication_factor
    error_message = "kafka_replication_factor must be a whole number >= 1."
  }
}

variable "kafka_min_insync_replicas" {
  type        = number
  default     = 0
  description = "min.insync.replicas of the topics the topics job creates (2 with 3 brokers, as the local cluster's); 0: the brokers' default."
  validation {
    condition     = var.kafka_min_insync_replicas >= 0 && floor(var.kafka_min_insync_replicas) == var.kafka_min_insync_replicas
    error_message = "kafka_min_insync_replicas must be a whole number >= 0."
  }
}

variable "bundle_url" {
  type        = string
  default     = ""
  description = "URL of the versioned Throwbox bundle (make artifacts, served by scripts/serve-artifacts.sh) that Nomad fetches on every node; empty: run from repo_dir."
  validation {
    condition     = var.bundle_url == "" || can(regex("^(https?|s3|gcs|git)::?//|^https?://", var.bundle_url))
    error_message = "bundle_url must be an http(s) URL (or another go-getter source) of throwbox-bundle-<version>.tar.gz."
  }
}

variable "bundle_sha256" {
  type        = string
  default     = ""
  description = "sha256 of the bundle from the artifacts' manifest.json, checked by Nomad after each download; empty: unchecked."
  validation {
    condition     = var.bundle_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.bundle_sha256))
    error_message = "bundle_sha256 must be 64 lowercase hex digits."
  }
}

variable "repo_dir" {
  type        = string
  default     = ""
  description = "Absolute path of a Throwbox checkout with its .venv on every node, used instead of a bundle (development)."
  validation {
    condition     = var.repo_dir == "" || startswith(var.repo_dir, "/")
    error_message = "repo_dir must be an absolute path."
  }
}

variable "name_prefix" {
  type        = string
  default     = "throwbox"
  description = "Prefix of the Nomad job IDs and Consul service names of this deployment. Any other than throwbox makes a second deployment that can share the Nomad cluster and Kafka with the default one: its own runs topic throwbox.runs.<prefix> and agent group <prefix>-agents, agents named <prefix>-<node> (their sandbox jobs throwbox-sandbox-<prefix>-*), KV under throwbox/deployment/<prefix>/. An agent's name is at most 40 characters: keep <prefix>-<node name> within that."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and dashes, starting with a letter, at most 31 characters."
  }
}

variable "control_plane_instances" {
  type        = number
  default     = 2
  description = "Control plane instances behind the load balancer (at least 2, so a rolling update always leaves one serving)."
  validation {
    condition     = var.control_plane_instances >= 2 && floor(var.control_plane_instances) == var.control_plane_instances
    error_message = "control_plane_instances must be a whole number >= 2."
  }
}

variable "control_plane_settings" {
  type        = map(string)
  default     = {}
  description = "Further THROWBOX_CP_* settings of every control plane instance (docs/settings.md)."
  validation {
    condition     = alltrue([for k in keys(var.control_plane_settings) : startswith(k, "THROWBOX_CP_")])
    error_message = "control_plane_settings keys must be THROWBOX_CP_* settings."
  }
}

variable "agent_settings" {
  type        = map(string)
  default     = {}
  description = "Further THROWBOX_AGENT_* settings of every executor agent (docs/settings.md), e.g. THROWBOX_AGENT_TMPFS_MB."
  validation {
    condition     = alltrue([for k in keys(var.agent_settings) : startswith(k, "THROWBOX_AGENT_")])
    error_message = "agent_settings keys must be THROWBOX_AGENT_* settings."
  }
}

variable "pool_sizes" {
  type        = string
  default     = ""
  description = "Warm sandboxes per runtime on every agent, e.g. \"python=3,*=1\"; empty: runtimes.toml's warm counts."
  validation {
    condition     = var.pool_sizes == "" || can(regex("^\\s*[a-z0-9.*+-]+\\s*=\\s*[0-9]+\\s*(,\\s*[a-z0-9.*+-]+\\s*=\\s*[0-9]+\\s*)*$", var.pool_sizes))
    error_message = "pool_sizes must be NAME=COUNT[,NAME=COUNT...], NAME a language, a runtime key or *."
  }
}

variable "agent_metrics_listen" {
  type        = string
  default     = "127.0.0.1:9464"
  description = "host:port where each agent serves /healthz and /metrics on its node."
  validation {
    condition     = can(regex("^[^:]+:[0-9]{1,5}$", var.agent_metrics_listen))
    error_message = "agent_metrics_listen must be host:port."
  }
}

variable "agent_drain_timeout_s" {
  type        = number
  default     = 90
  description = "Seconds an agent keeps finishing its running runs when stopped (an upgrade); above the longest wall time, 60 s."
  validation {
    condition     = var.agent_drain_timeout_s > 60 && var.agent_drain_timeout_s <= 160
    error_message = "agent_drain_timeout_s must be above 60 (the longest wall time) and at most 160 (Nomad's max_kill_timeout of 3m less 15 s)."
  }
}

variable "load_balancer_address" {
  type        = string
  default     = "127.0.0.1"
  description = "Address clients reach the load balancer's node at (a DNS name or IP), used in the outputs and the readiness check."
}

variable "load_balancer_node" {
  type        = string
  default     = ""
  description = "Nomad node name the load balancer is placed on, whose address load_balancer_address is; empty: any node (a cluster with one client, or clients reached through another balancer)."
}

variable "https_port" {
  type        = number
  default     = 8443
  description = "Port of the load balancer's HTTPS listener (static on its node)."
  validation {
    condition     = var.https_port >= 1 && var.https_port <= 65535 && floor(var.https_port) == var.https_port
    error_message = "https_port must be a port number."
  }
}

variable "tls_cert_pem" {
  type        = string
  default     = ""
  sensitive   = true
  description = "PEM certificate (chain) of the load balancer; empty: a self-signed certificate is generated on its node."
}

variable "tls_key_pem" {
  type        = string
  default     = ""
  sensitive   = true
  description = "PEM private key of tls_cert_pem (both or neither)."
}

variable "kv_defaults" {
  type        = map(string)
  default     = {}
  description = "Further Consul KV keys (relative to throwbox/) the deployment writes and deletes on destroy."
  validation {
    condition     = alltrue([for k in keys(var.kv_defaults) : can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", k))])
    error_message = "kv_defaults keys must be relative KV paths (letters, digits, _ . - separated by /)."
  }
}

variable "purge_data_on_destroy" {
  type        = bool
  default     = false
  description = "Also delete Throwbox's data in Consul KV on destroy (throwbox/: API keys, functions, admission); off keeps tenants' keys and functions."
}

variable "timeout_s" {
  type        = number
  default     = 900
  description = "Longest wait of one apply or destroy in seconds (rolling updates wait for agents to drain)."
  validation {
    condition     = var.timeout_s >= 60
    error_message = "timeout_s must be at least 60."
  }
}

variable "acl_enabled" {
  type        = bool
  default     = true
  description = "Nomad and Consul run with ACLs (docs/security.md; scripts/nomad/acl.py apply creates the throwbox-sandboxes namespace, the policies and the tokens): the agents and control planes get their own tokens through Nomad Variables readable by their job only, the sandboxes run in throwbox-sandboxes. false: a cluster without ACLs (development only)."
}

variable "nomad_token" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Nomad token the deployment registers its jobs and writes their Nomad Variables with (management, or submit-job in default plus variables write on nomad/jobs/*); empty: the provider's (NOMAD_TOKEN)."
}

variable "consul_token" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Consul token the deployment writes its KV keys with (write on throwbox/); empty: the provider's (CONSUL_HTTP_TOKEN)."
}

variable "agent_nomad_token" {
  type        = string
  default     = ""
  sensitive   = true
  description = "The executor agents' Nomad token (policy scripts/nomad/acl/nomad-agent.hcl; acl.py writes it to nomad-agent.token). Required with acl_enabled."
}

variable "agent_consul_token" {
  type        = string
  default     = ""
  sensitive   = true
  description = "The executor agents' Consul token (policy consul-agent.hcl; consul-agent.token). Required with acl_enabled."
}

variable "control_plane_consul_token" {
  type        = string
  default     = ""
  sensitive   = true
  description = "The control planes' Consul token (policy consul-control-plane.hcl; consul-control-plane.token). Required with acl_enabled."
}

variable "jobs_dir" {
  type        = string
  default     = ""
  description = "Directory of the Nomad job files; empty: the project's nomad-jobs/ next to terraform/."
}
