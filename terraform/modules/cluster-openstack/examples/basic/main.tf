# A three-server cluster with two workers on an OpenStack cloud. Credentials come from the
# usual OS_* environment variables (or clouds.yaml with OS_CLOUD); see the module's README.

terraform {
  required_version = ">= 1.9.0"

  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 3.4"
    }
  }
}

variable "cluster_secrets" {
  type = object({
    consul_gossip_key       = string
    nomad_gossip_key        = string
    consul_management_token = string
    consul_node_token       = string
    consul_nomad_token      = string
  })
  sensitive   = true
  description = "The files of scripts/nomad/acl.py init (gossip keys, pre-set Consul tokens): Nomad and Consul run with ACLs."
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
  sensitive   = true
  description = "PEM contents of scripts/nomad/tls.sh DIR dc1 global 10.20.0.10 10.20.0.11 10.20.0.12 (ca.pem, {consul,nomad}-{server,client}.pem and -key.pem): mutual TLS on Nomad's and Consul's RPC."
}

provider "openstack" {}

module "cluster" {
  source = "../../"

  name                  = "throwbox"
  image_name            = "debian-12-throwbox"
  server_flavor         = "m1.medium"
  worker_flavor         = "m1.xlarge"
  external_network_name = "public"
  worker_count          = 2
  kafka_bootstrap       = ["10.30.0.20:9092"]
  admin_cidrs           = ["203.0.113.7/32"]
  cluster_secrets       = var.cluster_secrets
  rpc_tls               = var.rpc_tls
}

output "load_balancer_address" {
  description = "Where clients reach the cluster's ingress."
  value       = module.cluster.load_balancer_address
}

output "nomad_addr" {
  description = "Nomad API of the first server (from admin_cidrs)."
  value       = module.cluster.nomad_addr
}
