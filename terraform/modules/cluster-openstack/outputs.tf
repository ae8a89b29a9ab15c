output "server_addresses" {
  description = "Private addresses of the server nodes (Nomad and Consul servers, the retry_join list)."
  value       = local.server_ips
}

output "worker_addresses" {
  description = "Private addresses of the worker nodes (the load balancer's members)."
  value       = local.worker_ips
}

output "nomad_addr" {
  description = "Nomad API URL of the first server, reachable from admin_cidrs (through a VPN or jump host: servers have no floating IP)."
  value       = "http://${local.server_ips[0]}:4646"
}

output "load_balancer_address" {
  description = "Address clients reach the cluster's ingress on: the floating IP when load_balancer_floating_ip, else the VIP on the cluster subnet."
  value       = var.load_balancer_floating_ip ? openstack_networking_floatingip_v2.ingress[0].address : openstack_lb_loadbalancer_v2.ingress.vip_address
}

output "load_balancer_port" {
  description = "Port of the load balancer's TCP listener."
  value       = var.load_balancer_port
}

output "kafka_bootstrap" {
  description = "Kafka bootstrap servers (comma-separated host:port), as the Throwbox services' *_KAFKA_BOOTSTRAP settings take them."
  value       = join(",", var.kafka_bootstrap)
}

output "worker_node_class" {
  description = "Nomad node_class of the workers (the autoscaler's target and job constraints select by it)."
  value       = module.node_config.worker_node_class
}

output "worker_group" {
  description = "Name of the worker group: Nova metadata throwbox-worker-group of every worker, the fixed ones and those the autoscaler adds."
  value       = local.worker_group
}

output "autoscaler_target_config" {
  description = "Settings of the throwbox-nodes plugin's openstack mode (the agent's target block config, credentials excluded); null without autoscaler_max_workers."
  value       = local.autoscaler_target_config
}

output "autoscaler_agent_hcl" {
  description = "nomad-autoscaler v0.3.7 agent configuration for the worker group (OpenStack credentials from the agent's OS_* environment); null without autoscaler_max_workers."
  value       = local.autoscaler_agent_hcl
}

output "autoscaler_policy_hcl" {
  description = "Cluster scaling policy of the worker group (queue depth and CPU checks of the local policy), for autoscaler_config_dir/policies; null without autoscaler_max_workers."
  value       = local.autoscaler_policy_hcl
}

output "autoscaler_worker_user_data" {
  description = "User data of the workers the autoscaler adds (node-config's worker user data), for autoscaler_config_dir/worker-user-data; null without autoscaler_max_workers."
  value       = local.autoscaling ? module.node_config.worker.user_data : null
  sensitive   = true
}

output "security_group_ids" {
  description = "IDs of the servers' and the workers' security groups (keys servers, workers)."
  value       = local.security_group_ids
}

output "network_id" {
  description = "ID of the cluster network (for further instances, e.g. self-run Kafka brokers)."
  value       = openstack_networking_network_v2.cluster.id
}

output "subnet_id" {
  description = "ID of the cluster subnet."
  value       = openstack_networking_subnet_v2.cluster.id
}
