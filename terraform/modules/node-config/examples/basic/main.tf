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
}

output "server" {
  description = "Server node files and user data."
  value       = module.node_config.server
}

output "worker" {
  description = "Worker node files and user data."
  value       = module.node_config.worker
}
