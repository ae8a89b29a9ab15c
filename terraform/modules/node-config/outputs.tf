output "server" {
  description = "Server node configuration: nomad_hcl (/etc/nomad.d/nomad.hcl), consul_hcl (/etc/consul.d/consul.hcl), files (every file the node needs, path => content) and user_data (cloud-init #cloud-config that writes the files and starts Consul and Nomad)."
  value = {
    nomad_hcl  = local.nomad_server
    consul_hcl = local.consul_server
    files      = local.server_files
    user_data  = local.server_user_data
  }
  # With ACLs the configs carry tokens and gossip keys.
  sensitive = true
}

output "worker" {
  description = "Worker node configuration: nomad_hcl (Nomad client with the docker and raw_exec plugins), consul_hcl (Consul client), docker_daemon_json (/etc/docker/daemon.json, runsc registered), files (path => content) and user_data (cloud-init #cloud-config)."
  value = {
    nomad_hcl          = local.nomad_client
    consul_hcl         = local.consul_client
    docker_daemon_json = local.docker_daemon_json
    files              = local.worker_files
    user_data          = local.worker_user_data
  }
  sensitive = true
}

output "retry_join" {
  description = "Addresses every Nomad and Consul agent joins (the server addresses)."
  value       = var.server_addresses
}

output "worker_node_class" {
  description = "Nomad node_class of the worker nodes (for job constraints and the autoscaler's target)."
  value       = var.worker_node_class
}

output "runsc_runtime_args" {
  description = "Arguments Docker passes to runsc on workers: --network=none and --oci-seccomp, then runsc_extra_args."
  value       = local.runsc_args
}
