# Throwbox deployed onto the local single-node Nomad (make up) from the artifacts built here
# (make artifacts; scripts/serve-artifacts.sh serves them). docs/terraform.md walks through it.
#   tofu init && tofu apply -var bundle_url=... -var bundle_sha256=...

terraform {
  required_providers {
    throwbox = {
      source  = "registry.local/throwbox/throwbox"
      version = "~> 0.1"
    }
  }
}

variable "bundle_url" {
  type        = string
  default     = "http://127.0.0.1:8089/throwbox-bundle-0.1.0+h000000000000.tar.gz"
  description = "The bundle's URL: scripts/serve-artifacts.sh's URL and manifest.json's bundle."
}

variable "bundle_sha256" {
  type        = string
  default     = ""
  description = "manifest.json's sha256 of the bundle."
}

variable "nomad_addr" {
  type        = string
  default     = "http://127.0.0.1:4646"
  description = "The Nomad API to deploy onto."
}

variable "consul_addr" {
  type        = string
  default     = "http://127.0.0.1:8500"
  description = "The Consul agent of the Nomad nodes."
}

variable "kafka_bootstrap" {
  type        = string
  default     = "127.0.0.1:9092"
  description = "The Kafka brokers."
}

variable "agent_nomad_token" {
  type        = string
  sensitive   = true
  description = "The executor agents' Nomad token (nomad-agent.token of scripts/nomad/acl.py)."
}

variable "agent_consul_token" {
  type        = string
  sensitive   = true
  description = "The executor agents' Consul token (consul-agent.token)."
}

variable "control_plane_consul_token" {
  type        = string
  sensitive   = true
  description = "The control planes' Consul token (consul-control-plane.token)."
}

variable "kafka_credentials_dir" {
  type        = string
  default     = ""
  description = "Absolute path of the brokers' credentials files (the stack's: <checkout>/.state/kafka/credentials)."
}

provider "throwbox" {}

module "throwbox" {
  source = "../.."

  nomad_addr            = var.nomad_addr
  consul_addr           = var.consul_addr
  kafka_bootstrap       = var.kafka_bootstrap
  kafka_credentials_dir = var.kafka_credentials_dir
  bundle_url            = var.bundle_url
  bundle_sha256         = var.bundle_sha256
  pool_sizes            = "python=2,*=0"

  # Nomad and Consul with ACLs (the default): the tokens of scripts/nomad/acl.py apply; the
  # provider's own come from NOMAD_TOKEN and CONSUL_HTTP_TOKEN.
  agent_nomad_token          = var.agent_nomad_token
  agent_consul_token         = var.agent_consul_token
  control_plane_consul_token = var.control_plane_consul_token
}

output "api_url" {
  description = "Throwbox's address: send /v1/... requests here with a tenant key."
  value       = module.throwbox.api_url
}
