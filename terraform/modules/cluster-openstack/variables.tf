variable "name" {
  type        = string
  default     = "throwbox"
  description = "Prefix of every resource name (network, security groups, instances, load balancer)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must start with a letter and hold at most 31 lower-case letters, digits and dashes."
  }
}

variable "image_name" {
  type        = string
  description = "Glance image of every node: Debian 12 with cloud-init and the nomad and consul binaries in /usr/local/bin (user data installs docker.io and runsc, not those two)."

  validation {
    condition     = length(trimspace(var.image_name)) > 0
    error_message = "image_name must name an image."
  }
}

variable "server_flavor" {
  type        = string
  description = "Nova flavor of the server nodes (Nomad and Consul servers; no sandboxes run there)."

  validation {
    condition     = length(trimspace(var.server_flavor)) > 0
    error_message = "server_flavor must not be empty."
  }
}

variable "worker_flavor" {
  type        = string
  description = "Nova flavor of the worker nodes (Nomad clients running the sandboxes and the executor agent)."

  validation {
    condition     = length(trimspace(var.worker_flavor)) > 0
    error_message = "worker_flavor must not be empty."
  }
}

variable "server_count" {
  type        = number
  default     = 3
  description = "Number of server nodes, each a Nomad and a Consul server. Odd, 1 to 7; 3 tolerates one lost server."

  validation {
    condition     = var.server_count == floor(var.server_count) && var.server_count >= 1 && var.server_count <= 7 && var.server_count % 2 == 1
    error_message = "server_count must be an odd whole number from 1 to 7."
  }
}

variable "worker_count" {
  type        = number
  default     = 2
  description = "Number of fixed worker nodes (Terraform's, the load balancer's members). With autoscaler_max_workers set, the autoscaler adds workers above them and never removes these."

  validation {
    condition     = var.worker_count == floor(var.worker_count) && var.worker_count >= 0
    error_message = "worker_count must be a whole number, 0 or more."
  }

  validation {
    # Workers take the hosts from .32 (local.first_worker_host in main.tf) up to the broadcast address.
    condition     = var.worker_count <= pow(2, 32 - tonumber(split("/", var.subnet_cidr)[1])) - 32 - 1
    error_message = "worker_count does not fit in subnet_cidr: choose a larger subnet."
  }
}

variable "autoscaler_max_workers" {
  type        = number
  default     = null
  description = "Largest size of the worker group (fixed workers included) for nomad-autoscaler's OpenStack target; null renders no autoscaler configuration and leaves the group at worker_count."

  validation {
    condition = var.autoscaler_max_workers == null ? true : (
      var.autoscaler_max_workers == floor(var.autoscaler_max_workers) && var.autoscaler_max_workers >= max(var.worker_count, 1)
    )
    error_message = "autoscaler_max_workers must be a whole number, at least worker_count and 1."
  }

  validation {
    # Fixed workers take .32 up; added workers the subnet's upper half (autoscaler.tf).
    condition = var.autoscaler_max_workers == null ? true : (
      32 + var.worker_count <= pow(2, 32 - tonumber(split("/", var.subnet_cidr)[1])) / 2
      && var.autoscaler_max_workers - var.worker_count <= pow(2, 32 - tonumber(split("/", var.subnet_cidr)[1])) / 2 - 1
    )
    error_message = "with autoscaling, the fixed workers must fit below the subnet's upper half and the added ones in it: choose a larger subnet_cidr or fewer workers."
  }
}

variable "autoscaler_min_workers" {
  type        = number
  default     = null
  description = "Smallest size of the worker group the autoscaler keeps (fixed workers included); null means worker_count (at least 1: nomad-autoscaler v0.3.7 refuses a cluster minimum of 0)."

  validation {
    condition = var.autoscaler_min_workers == null ? true : (
      var.autoscaler_min_workers == floor(var.autoscaler_min_workers) && var.autoscaler_min_workers >= max(var.worker_count, 1)
      && (var.autoscaler_max_workers == null ? true : var.autoscaler_min_workers <= var.autoscaler_max_workers)
    )
    error_message = "autoscaler_min_workers must be a whole number from max(worker_count, 1) to autoscaler_max_workers: the autoscaler never removes the fixed workers."
  }
}

variable "autoscaler_prometheus_address" {
  type        = string
  default     = null
  description = "URL of the Prometheus that scrapes the control planes' /metrics (the queue depth check), e.g. http://10.20.0.5:9090; required with autoscaler_max_workers."

  validation {
    condition     = var.autoscaler_max_workers == null ? true : can(regex("^https?://[^/\\s]+", coalesce(var.autoscaler_prometheus_address, "-")))
    error_message = "autoscaler_prometheus_address must be an http(s) URL when autoscaler_max_workers is set."
  }
}

variable "autoscaler_queue_target" {
  type        = number
  default     = 5
  description = "Queued runs per cluster the queue depth check aims at (target-value strategy), as the local policy's CLUSTER_QUEUE_TARGET."

  validation {
    condition     = var.autoscaler_queue_target > 0
    error_message = "autoscaler_queue_target must be positive."
  }
}

variable "autoscaler_cpu_target" {
  type        = number
  default     = 70
  description = "Percentage of the workers' CPU allocated by Nomad that the CPU check aims at, as the local policy's CLUSTER_CPU_TARGET."

  validation {
    condition     = var.autoscaler_cpu_target > 0 && var.autoscaler_cpu_target <= 100
    error_message = "autoscaler_cpu_target must be a percentage above 0."
  }
}

variable "autoscaler_cooldown" {
  type        = string
  default     = "5m"
  description = "Pause after each scaling action of the worker group (a new server needs minutes to boot and join Nomad)."

  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.autoscaler_cooldown))
    error_message = "autoscaler_cooldown must be a duration such as 90s or 5m."
  }
}

variable "autoscaler_drain_deadline" {
  type        = string
  default     = "3m"
  description = "Nomad drain deadline of a worker the autoscaler removes: the executor agent finishes its runs in flight first."

  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.autoscaler_drain_deadline))
    error_message = "autoscaler_drain_deadline must be a duration such as 90s or 3m."
  }
}

variable "autoscaler_config_dir" {
  type        = string
  default     = "/etc/nomad-autoscaler"
  description = "Directory on the autoscaler's host holding worker-user-data (output autoscaler_worker_user_data) and policies/ (output autoscaler_policy_hcl)."

  validation {
    condition     = startswith(var.autoscaler_config_dir, "/")
    error_message = "autoscaler_config_dir must be an absolute path."
  }
}

variable "autoscaler_plugin_dir" {
  type        = string
  default     = "/opt/nomad-autoscaler/plugins"
  description = "Directory on the autoscaler's host holding the throwbox-nodes plugin binary (scripts/ensure-autoscaler.sh builds it)."

  validation {
    condition     = startswith(var.autoscaler_plugin_dir, "/")
    error_message = "autoscaler_plugin_dir must be an absolute path."
  }
}

variable "external_network_name" {
  type        = string
  description = "Name of the external (provider) network: the router's gateway and the pool of the load balancer's floating IP."

  validation {
    condition     = length(trimspace(var.external_network_name)) > 0
    error_message = "external_network_name must not be empty."
  }
}

variable "subnet_cidr" {
  type        = string
  default     = "10.20.0.0/24"
  description = "IPv4 CIDR of the cluster subnet. Servers get its hosts .10 onwards, workers .32 onwards."

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0)) && can(regex("^[0-9.]+/([0-9]|1[0-9]|2[0-6])$", var.subnet_cidr))
    error_message = "subnet_cidr must be an IPv4 CIDR of prefix length /26 or shorter."
  }
}

variable "dns_nameservers" {
  type        = list(string)
  default     = []
  description = "DNS servers of the cluster subnet; empty uses the cloud's default."

  validation {
    condition     = alltrue([for d in var.dns_nameservers : can(cidrhost("${d}/32", 0))])
    error_message = "Each DNS server must be an IPv4 address."
  }
}

variable "kafka_bootstrap" {
  type        = list(string)
  description = "Kafka brokers (host:port) the cluster's Throwbox services use: self-run brokers or a managed service's address. Workers get them as Nomad meta throwbox.kafka_bootstrap."

  validation {
    condition     = length(var.kafka_bootstrap) > 0
    error_message = "kafka_bootstrap must name at least one broker."
  }

  validation {
    condition     = alltrue([for b in var.kafka_bootstrap : can(regex("^[A-Za-z0-9][A-Za-z0-9.-]*:[0-9]{1,5}$", b))])
    error_message = "Each Kafka broker must be host:port, e.g. 10.0.0.20:9092."
  }
}

variable "ingress_port" {
  type        = number
  default     = 8443
  description = "Port on every worker where the cluster's ingress (the Throwbox deployment's load balancer job) listens; the cloud load balancer forwards TCP there, so TLS ends inside the cluster."

  validation {
    condition     = var.ingress_port >= 1024 && var.ingress_port <= 65535 && var.ingress_port == floor(var.ingress_port)
    error_message = "ingress_port must be an unprivileged port (1024-65535)."
  }
}

variable "load_balancer_port" {
  type        = number
  default     = 443
  description = "Port clients connect to on the load balancer's address."

  validation {
    condition     = var.load_balancer_port >= 1 && var.load_balancer_port <= 65535 && var.load_balancer_port == floor(var.load_balancer_port)
    error_message = "load_balancer_port must be a port number (1-65535)."
  }
}

variable "load_balancer_floating_ip" {
  type        = bool
  default     = true
  description = "Give the load balancer a floating IP from external_network_name; false keeps it on the cluster subnet only."
}

variable "load_balancer_source_cidr" {
  type        = string
  default     = null
  description = "CIDR the load balancer's traffic reaches workers from: with Octavia's amphora driver, the member subnet (the default, subnet_cidr); with the OVN driver, the clients' own addresses."

  validation {
    condition     = var.load_balancer_source_cidr == null || can(cidrhost(var.load_balancer_source_cidr, 0))
    error_message = "load_balancer_source_cidr must be an IPv4 CIDR."
  }
}

variable "admin_cidrs" {
  type        = list(string)
  default     = []
  description = "CIDRs allowed to reach the servers' SSH (22) and Nomad API (4646). Workers admit no one but the servers, each other's Consul gossip and the load balancer."

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0))])
    error_message = "Each admin CIDR must be a CIDR, e.g. 203.0.113.7/32."
  }

  validation {
    condition     = !contains(var.admin_cidrs, "0.0.0.0/0")
    error_message = "0.0.0.0/0 would open the Nomad API to the internet: name the operators' addresses."
  }
}

variable "key_pair" {
  type        = string
  default     = null
  description = "Nova key pair put on every node; null for none (ssh_authorized_keys also works)."

  validation {
    condition     = var.key_pair == null ? true : length(trimspace(var.key_pair)) > 0
    error_message = "key_pair must be null or a key pair's name."
  }
}

variable "ssh_authorized_keys" {
  type        = list(string)
  default     = []
  description = "SSH public keys cloud-init adds to every node's default user."
}

variable "datacenter" {
  type        = string
  default     = "dc1"
  description = "Nomad and Consul datacenter of the cluster."
}

variable "acl_enabled" {
  type        = bool
  default     = true
  description = "Nomad and Consul with ACLs and encrypted gossip (node-config's acl_enabled; docs/security.md); needs cluster_secrets."
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
  description = "The agents' gossip keys and pre-set Consul tokens from scripts/nomad/acl.py init (node-config's cluster_secrets); required with acl_enabled."
}

variable "rpc_tls_enabled" {
  type        = bool
  default     = true
  description = "Mutual TLS on Nomad's and Consul's RPC (node-config's rpc_tls_enabled; docs/security.md); needs rpc_tls."
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
  description = "PEM contents of the cluster CA and the RPC certificates, e.g. the files of scripts/nomad/tls.sh DIR <datacenter> global <server addresses>; written by the user data into /etc/throwbox/tls (keys 0600). Required with rpc_tls_enabled."

  validation {
    condition     = !var.rpc_tls_enabled || var.rpc_tls != null
    error_message = "With rpc_tls_enabled (the default), set rpc_tls (scripts/nomad/tls.sh writes a CA and the certificates)."
  }
}
