output "files" {
  description = "Every node's Nomad and Consul configuration, path => content: <cluster_dir>/<node>/consul/consul.hcl on every node, <cluster_dir>/<node>/nomad/agent.hcl on servers and workers. They carry tokens and gossip keys: write them 0600."
  value       = merge(local.consul_files, local.nomad_files)
  sensitive   = true
}

output "nodes" {
  description = "Each node's role (server, control-plane or worker) and address, as rendered."
  value       = local.nodes
}
