# One server, one control plane node and one worker of a local cluster, rendered (nothing is
# created). scripts/cluster/render.sh generates the same call for `make cluster`.

terraform {
  required_version = ">= 1.9.0"
}

module "cluster_local" {
  source = "../../"

  cluster_dir    = "/srv/throwbox/.state/cluster"
  servers        = { s1 = "10.77.0.11" }
  control_planes = { c1 = "10.77.0.21" }
  workers        = { w1 = "10.77.0.31" }
  # Test secrets (scripts/nomad/acl.py init writes real ones into .state/cluster/secrets).
  secrets_dir = "${path.module}/../../tests/fixtures/secrets"
  tls_dir     = "/srv/throwbox/.state/cluster/secrets/tls"
}

output "files" {
  description = "Every node's Nomad and Consul configuration, path => content."
  value       = module.cluster_local.files
  sensitive   = true
}
