# The worker group's autoscaling (docs/cluster.md "Autoscaling on OpenStack"): nomad-autoscaler
# v0.3.7 with the project's throwbox-nodes plugin in its openstack mode adds Nova servers to the
# group and removes the ones it added; the `worker_count` fixed workers above stay. This file
# renders the agent's configuration and the scaling policy (outputs autoscaler_*); running the
# agent, with the OpenStack credentials in its environment, is the operator's (the README).

locals {
  autoscaling = var.autoscaler_max_workers != null
  host_count  = pow(2, 32 - tonumber(split("/", var.subnet_cidr)[1]))
  # Added workers get Neutron addresses from the subnet's upper half; the fixed workers stay
  # below it (validated in variables.tf).
  autoscaled_pool = {
    start = cidrhost(var.subnet_cidr, local.host_count / 2)
    end   = cidrhost(var.subnet_cidr, local.host_count - 2)
  }
  autoscaler_min_workers = coalesce(var.autoscaler_min_workers, max(var.worker_count, 1))

  # The plugin's openstack-mode settings (autoscaler/throwbox-nodes/openstack_config.go); the
  # credentials and region are the agent's OS_* environment, never here.
  autoscaler_target_config = local.autoscaling ? {
    mode            = "openstack"
    group           = local.worker_group
    flavor_id       = data.openstack_compute_flavor_v2.worker[0].id
    image_id        = data.openstack_images_image_v2.worker[0].id
    network_id      = openstack_networking_network_v2.cluster.id
    security_groups = openstack_networking_secgroup_v2.workers.id
    user_data_file  = "${var.autoscaler_config_dir}/worker-user-data"
    key_name        = var.key_pair == null ? "" : var.key_pair
  } : null
}

data "openstack_compute_flavor_v2" "worker" {
  count = local.autoscaling ? 1 : 0
  name  = var.worker_flavor
}

data "openstack_images_image_v2" "worker" {
  count       = local.autoscaling ? 1 : 0
  name        = var.image_name
  most_recent = true
}

locals {
  autoscaler_agent_hcl = local.autoscaling ? templatefile("${path.module}/templates/autoscaler-agent.hcl.tftpl", {
    plugin_dir    = var.autoscaler_plugin_dir
    policy_dir    = "${var.autoscaler_config_dir}/policies"
    nomad_addr    = "http://${local.server_ips[0]}:4646"
    prometheus    = var.autoscaler_prometheus_address
    target_config = { for k, v in local.autoscaler_target_config : k => v if v != "" }
  }) : null

  autoscaler_policy_hcl = local.autoscaling ? templatefile("${path.module}/templates/autoscaler-policy.hcl.tftpl", {
    min_workers    = local.autoscaler_min_workers
    max_workers    = var.autoscaler_max_workers
    cooldown       = var.autoscaler_cooldown
    queue_target   = var.autoscaler_queue_target
    cpu_target     = var.autoscaler_cpu_target
    node_class     = module.node_config.worker_node_class
    datacenter     = var.datacenter
    drain_deadline = var.autoscaler_drain_deadline
  }) : null
}
