# A second Throwbox deployed onto the local secured cluster (make cluster; docs/cluster.md)
# beside the cluster's own agents and control planes. docs/terraform.md walks through it:
#   tofu init && tofu apply -var cluster_dir=$PWD/.state/cluster -var bundle_url=... -var bundle_sha256=...
#
# Tokens are read from the cluster's secrets dir (scripts/nomad/acl.py wrote them), never put on
# a command line: Nomad's management token registers the jobs (raw_exec jobs in default are
# root on every worker whatever the token; and a destroy's /v1/system/gc needs management),
# Consul's consul-deployer token writes only throwbox/deployment/; each component gets its own.

terraform {
  required_providers {
    throwbox = {
      source  = "registry.local/throwbox/throwbox"
      version = "~> 0.1"
    }
  }
}

variable "cluster_dir" {
  type        = string
  description = "The cluster's state dir (<checkout>/.state/cluster): secrets/ and kafka-credentials/ are read there (the nodes share this machine's files)."
}

variable "cluster_net" {
  type        = string
  default     = "10.77.0"
  description = "The cluster's /24 (THROWBOX_CLUSTER_NET): servers .11-.13, workers .31-."
}

variable "bundle_url" {
  type        = string
  description = "The bundle's URL on an address the workers reach (scripts/serve-artifacts.sh with THROWBOX_ARTIFACTS_HOST=<cluster_net>.1)."
}

variable "bundle_sha256" {
  type        = string
  default     = ""
  description = "manifest.json's sha256 of the bundle."
}

variable "name_prefix" {
  type        = string
  default     = "tf"
  description = "This deployment's name: jobs tf-*, runs topic throwbox.runs.tf, agents tf-<worker> (the cluster's own are named by their worker)."
}

variable "load_balancer_node" {
  type        = string
  default     = "w1"
  description = "The worker HAProxy runs on (the host reaches every worker's address on the cluster's bridge)."
}

variable "https_port" {
  type        = number
  default     = 8443
  description = "The load balancer's port on its worker's address."
}

variable "agent_metrics_port" {
  type        = number
  default     = 9465
  description = "Port of each agent's /healthz and /metrics on its worker's address (the cluster's own agents use 9464)."
}

variable "pool_sizes" {
  type        = string
  default     = "python=2,*=0"
  description = "Warm sandboxes per runtime on each agent (the workers also hold the cluster's own pools)."
}

variable "agent_settings" {
  type        = map(string)
  default     = {}
  description = "Further THROWBOX_AGENT_* settings (an upgrade: change one)."
}

variable "control_plane_settings" {
  type        = map(string)
  default     = { THROWBOX_CP_QUEUE_TIMEOUT_MS = "120000" }
  description = "Further THROWBOX_CP_* settings (default: the queue timeout of the cluster's own control planes, which outlasts an agent's roll)."
}

locals {
  cluster_dir = abspath(var.cluster_dir)
  secrets     = "${local.cluster_dir}/secrets"
  s1          = "${var.cluster_net}.11"
  # w1..w9 are .31-.39 (scripts/cluster/lib.sh).
  load_balancer_address = "${var.cluster_net}.${30 + tonumber(trimprefix(var.load_balancer_node, "w"))}"
  token                 = { for f in ["nomad-management", "consul-deployer", "nomad-agent", "consul-agent", "consul-control-plane"] : f => trimspace(file("${local.secrets}/${f}.token")) }
}

provider "throwbox" {}

module "throwbox" {
  source = "../.."

  name_prefix = var.name_prefix
  # The provider reaches s1 from the host; each task its own worker's Nomad and Consul agents.
  nomad_addr       = "http://${local.s1}:4646"
  consul_addr      = "http://${local.s1}:8500"
  node_nomad_addr  = "http://127.0.0.1:4646"
  node_consul_addr = "http://127.0.0.1:8500"

  kafka_bootstrap           = join(",", [for i in [11, 12, 13] : "${var.cluster_net}.${i}:9092"])
  kafka_credentials_dir     = "${local.cluster_dir}/kafka-credentials"
  kafka_replication_factor  = 3
  kafka_min_insync_replicas = 2

  bundle_url             = var.bundle_url
  bundle_sha256          = var.bundle_sha256
  pool_sizes             = var.pool_sizes
  agent_settings         = var.agent_settings
  control_plane_settings = var.control_plane_settings
  agent_metrics_listen   = "$${attr.unique.network.ip-address}:${var.agent_metrics_port}"

  load_balancer_node    = var.load_balancer_node
  load_balancer_address = local.load_balancer_address
  https_port            = var.https_port

  nomad_token                = local.token["nomad-management"]
  consul_token               = local.token["consul-deployer"]
  agent_nomad_token          = local.token["nomad-agent"]
  agent_consul_token         = local.token["consul-agent"]
  control_plane_consul_token = local.token["consul-control-plane"]
}

output "api_url" {
  description = "This deployment's address: send /v1/... requests here with a tenant key (the cluster's keys work: tenants are shared)."
  value       = module.throwbox.api_url
}

output "job_ids" {
  description = "Its Nomad job IDs by role."
  value       = module.throwbox.job_ids
}
