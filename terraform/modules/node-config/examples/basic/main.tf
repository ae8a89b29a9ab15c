# Renders the node configuration of a three-server cluster. `tofu apply` creates nothing
# (the module has no provider); `tofu output -json` gives the files, e.g. to check them with
# `nomad config validate` and `consul validate` as tests/integration/test_terraform.py does.

terraform {
  required_version = ">= 1.9.0"
}

module "node_config" {
  source = "../../"

  datacenter       = "dc1"
  server_count     = 3
  server_addresses = ["10.20.0.10", "10.20.0.11", "10.20.0.12"]
  kafka_bootstrap  = ["10.20.0.30:9092"]
  # Example secrets (never commit real ones: scripts/nomad/acl.py init writes them).
  cluster_secrets = {
    consul_gossip_key       = "cg5pdG5ldmVyLXVzZS1pbi1wcm9kdWN0aW9uLTAwMDA="
    nomad_gossip_key        = "bm9tYWQtbmV2ZXItdXNlLWluLXByb2R1Y3Rpb24tMDA="
    consul_management_token = "00000000-0000-4000-8000-000000000001"
    consul_node_token       = "00000000-0000-4000-8000-000000000002"
    consul_nomad_token      = "00000000-0000-4000-8000-000000000003"
  }
}

output "server" {
  description = "Server node files and user data."
  value       = module.node_config.server
  sensitive   = true
}

output "worker" {
  description = "Worker node files and user data."
  value       = module.node_config.worker
  sensitive   = true
}
