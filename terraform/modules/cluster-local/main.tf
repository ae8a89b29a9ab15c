# The local multi-node cluster's (`make cluster`, scripts/cluster) Nomad and Consul
# configuration: node-config once per node, so the local cluster and a cloud cluster
# (cluster-openstack) are rendered by the same module and cannot drift. No provider:
# scripts/cluster/render.sh applies it (creating nothing) and writes its `files` output.

locals {
  # acl.py init's files hold the secret on their first line.
  secret = { for f in ["consul-gossip.key", "nomad-gossip.key", "consul-management.token", "consul-node.token", "consul-nomad.token"] :
    f => trimspace(split("\n", file("${var.secrets_dir}/${f}"))[0])
  }

  nodes = merge(
    { for n, ip in var.servers : n => { ip = ip, role = "server" } },
    { for n, ip in var.control_planes : n => { ip = ip, role = "control-plane" } },
    { for n, ip in var.workers : n => { ip = ip, role = "worker" } },
  )
}

module "node" {
  source   = "../node-config"
  for_each = local.nodes

  node_name        = each.key
  datacenter       = var.datacenter
  server_count     = length(var.servers)
  server_addresses = [for n in sort(keys(var.servers)) : var.servers[n]]
  advertise_addr   = each.value.ip
  nomad_data_dir   = "${var.cluster_dir}/${each.key}/nomad/data"
  consul_data_dir  = "${var.cluster_dir}/${each.key}/consul/data"
  # The host's scripts reach every agent's HTTP API on the node's address (with a token).
  consul_client_addr      = ["127.0.0.1", each.value.ip]
  nomad_network_interface = "eth0"
  # The workers share this machine: each its own cgroup parent, and no reaping of the
  # containers of the others on the shared dockerd.
  nomad_cgroup_parent           = "nomad-${var.cluster_name}-${each.key}"
  reconcile_dangling_containers = false
  sandbox_runtime               = var.sandbox_runtime

  acl_enabled = true
  cluster_secrets = {
    consul_gossip_key       = local.secret["consul-gossip.key"]
    nomad_gossip_key        = local.secret["nomad-gossip.key"]
    consul_management_token = local.secret["consul-management.token"]
    consul_node_token       = local.secret["consul-node.token"]
    consul_nomad_token      = local.secret["consul-nomad.token"]
  }
  rpc_tls_enabled = true
  tls_dir         = var.tls_dir
}

locals {
  consul_files = {
    for n, node in local.nodes : "${var.cluster_dir}/${n}/consul/consul.hcl" =>
    node.role == "server" ? module.node[n].server.consul_hcl : module.node[n].worker.consul_hcl
  }
  nomad_files = {
    for n, node in local.nodes : "${var.cluster_dir}/${n}/nomad/agent.hcl" =>
    node.role == "server" ? module.node[n].server.nomad_hcl : module.node[n].worker.nomad_hcl
    if node.role != "control-plane"
  }
}
