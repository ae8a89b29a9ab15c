# A Throwbox cluster on OpenStack: one network, `server_count` Nomad+Consul servers, a worker
# group of Nomad clients (gVisor sandboxes), security groups that admit nothing to workers but
# the servers, the workers' Consul gossip and the load balancer, and an Octavia load balancer in
# front of the workers' ingress port. Every node's configuration is node-config's user data.

locals {
  # Fixed addresses, so every node's user data can name the servers before they exist.
  first_server_host = 10
  first_worker_host = 32
  server_ips        = [for i in range(var.server_count) : cidrhost(var.subnet_cidr, local.first_server_host + i)]
  worker_ips        = [for i in range(var.worker_count) : cidrhost(var.subnet_cidr, local.first_worker_host + i)]
  lb_source_cidr    = coalesce(var.load_balancer_source_cidr, var.subnet_cidr)
  # The worker group (Nova metadata throwbox-worker-group): the fixed workers below and the
  # servers the autoscaler adds (autoscaler.tf) are its members.
  worker_group = "${var.name}-workers"
}

module "node_config" {
  source = "../node-config"

  datacenter          = var.datacenter
  server_count        = var.server_count
  server_addresses    = local.server_ips
  kafka_bootstrap     = var.kafka_bootstrap
  ssh_authorized_keys = var.ssh_authorized_keys
  acl_enabled         = var.acl_enabled
  cluster_secrets     = var.cluster_secrets
  rpc_tls_enabled     = var.rpc_tls_enabled
  rpc_tls             = var.rpc_tls
}

data "openstack_networking_network_v2" "external" {
  name     = var.external_network_name
  external = true
}

resource "openstack_networking_network_v2" "cluster" {
  name           = "${var.name}-net"
  admin_state_up = true
}

resource "openstack_networking_subnet_v2" "cluster" {
  name            = "${var.name}-subnet"
  network_id      = openstack_networking_network_v2.cluster.id
  cidr            = var.subnet_cidr
  ip_version      = 4
  dns_nameservers = var.dns_nameservers

  # Servers and workers have fixed addresses (.10-.16 and .32 up); Neutron allocates the
  # router's, the load balancer's VIP and amphora ports from the rest of the low block.
  allocation_pool {
    start = cidrhost(var.subnet_cidr, 2)
    end   = cidrhost(var.subnet_cidr, local.first_server_host - 1)
  }
  allocation_pool {
    start = cidrhost(var.subnet_cidr, local.first_server_host + 7)
    end   = cidrhost(var.subnet_cidr, local.first_worker_host - 1)
  }
  # With autoscaling, the upper half of the subnet for the workers the autoscaler adds: Neutron
  # gives them addresses there (autoscaler.tf).
  dynamic "allocation_pool" {
    for_each = local.autoscaling ? [local.autoscaled_pool] : []
    content {
      start = allocation_pool.value.start
      end   = allocation_pool.value.end
    }
  }
}

resource "openstack_networking_router_v2" "cluster" {
  name                = "${var.name}-router"
  external_network_id = data.openstack_networking_network_v2.external.id
}

resource "openstack_networking_router_interface_v2" "cluster" {
  router_id = openstack_networking_router_v2.cluster.id
  subnet_id = openstack_networking_subnet_v2.cluster.id
}

# ---- Security groups ----------------------------------------------------------------------
# OpenStack's default egress rules are kept (nodes reach Kafka, apt and each other out).

resource "openstack_networking_secgroup_v2" "servers" {
  name        = "${var.name}-servers"
  description = "Throwbox Nomad and Consul servers"
}

resource "openstack_networking_secgroup_v2" "workers" {
  name        = "${var.name}-workers"
  description = "Throwbox workers: only servers, workers' Consul gossip and the load balancer get in"
}

locals {
  # One entry per ingress rule; `from` is a security group (servers/workers) or a CIDR.
  ingress_rules = merge(
    {
      for proto in ["tcp", "udp"] : "servers-from-servers-${proto}" => {
        group = "servers", protocol = proto, ports = [1, 65535], from_group = "servers", from_cidr = null
      }
    },
    {
      # Nomad client RPC (4647), Consul server RPC (8300), Consul LAN gossip (8301).
      "servers-from-workers-nomad-rpc"  = { group = "servers", protocol = "tcp", ports = [4647, 4647], from_group = "workers", from_cidr = null }
      "servers-from-workers-consul-rpc" = { group = "servers", protocol = "tcp", ports = [8300, 8300], from_group = "workers", from_cidr = null }
      "servers-from-workers-gossip-tcp" = { group = "servers", protocol = "tcp", ports = [8301, 8301], from_group = "workers", from_cidr = null }
      "servers-from-workers-gossip-udp" = { group = "servers", protocol = "udp", ports = [8301, 8301], from_group = "workers", from_cidr = null }
      "workers-from-servers-tcp"        = { group = "workers", protocol = "tcp", ports = [1, 65535], from_group = "servers", from_cidr = null }
      "workers-from-servers-udp"        = { group = "workers", protocol = "udp", ports = [1, 65535], from_group = "servers", from_cidr = null }
      # Consul's LAN gossip is a full mesh: every agent probes every other, workers included.
      "workers-from-workers-gossip-tcp" = { group = "workers", protocol = "tcp", ports = [8301, 8301], from_group = "workers", from_cidr = null }
      "workers-from-workers-gossip-udp" = { group = "workers", protocol = "udp", ports = [8301, 8301], from_group = "workers", from_cidr = null }
      "workers-from-load-balancer"      = { group = "workers", protocol = "tcp", ports = [var.ingress_port, var.ingress_port], from_group = null, from_cidr = local.lb_source_cidr }
    },
    merge([
      for cidr in var.admin_cidrs : {
        "servers-from-admin-${cidr}-ssh"       = { group = "servers", protocol = "tcp", ports = [22, 22], from_group = null, from_cidr = cidr }
        "servers-from-admin-${cidr}-nomad-api" = { group = "servers", protocol = "tcp", ports = [4646, 4646], from_group = null, from_cidr = cidr }
      }
    ]...),
  )

  security_group_ids = {
    servers = openstack_networking_secgroup_v2.servers.id
    workers = openstack_networking_secgroup_v2.workers.id
  }
}

resource "openstack_networking_secgroup_rule_v2" "ingress" {
  for_each = local.ingress_rules

  description       = each.key
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = each.value.protocol
  port_range_min    = each.value.ports[0]
  port_range_max    = each.value.ports[1]
  security_group_id = local.security_group_ids[each.value.group]
  remote_group_id   = each.value.from_group == null ? null : local.security_group_ids[each.value.from_group]
  remote_ip_prefix  = each.value.from_cidr
}

# ---- Servers ------------------------------------------------------------------------------

resource "openstack_compute_servergroup_v2" "servers" {
  name     = "${var.name}-servers"
  policies = ["soft-anti-affinity"]
}

resource "openstack_networking_port_v2" "server" {
  count = var.server_count

  name               = "${var.name}-server-${count.index}"
  network_id         = openstack_networking_network_v2.cluster.id
  security_group_ids = [openstack_networking_secgroup_v2.servers.id]

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.cluster.id
    ip_address = local.server_ips[count.index]
  }
}

resource "openstack_compute_instance_v2" "server" {
  count = var.server_count

  name        = "${var.name}-server-${count.index}"
  image_name  = var.image_name
  flavor_name = var.server_flavor
  key_pair    = var.key_pair
  user_data   = module.node_config.server.user_data
  metadata    = { "throwbox-role" = "server" }

  network {
    port = openstack_networking_port_v2.server[count.index].id
  }

  scheduler_hints {
    group = openstack_compute_servergroup_v2.servers.id
  }

  depends_on = [openstack_networking_router_interface_v2.cluster]
}

# ---- Workers ------------------------------------------------------------------------------

resource "openstack_networking_port_v2" "worker" {
  count = var.worker_count

  name               = "${var.name}-worker-${count.index}"
  network_id         = openstack_networking_network_v2.cluster.id
  security_group_ids = [openstack_networking_secgroup_v2.workers.id]

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.cluster.id
    ip_address = local.worker_ips[count.index]
  }
}

resource "openstack_compute_instance_v2" "worker" {
  count = var.worker_count

  name        = "${var.name}-worker-${count.index}"
  image_name  = var.image_name
  flavor_name = var.worker_flavor
  key_pair    = var.key_pair
  user_data   = module.node_config.worker.user_data
  # The group key makes the autoscaler count this worker; without "throwbox-autoscaled" it never
  # deletes it.
  metadata = {
    "throwbox-role"         = "worker"
    "nomad-node-class"      = module.node_config.worker_node_class
    "throwbox-worker-group" = local.worker_group
  }

  network {
    port = openstack_networking_port_v2.worker[count.index].id
  }

  depends_on = [openstack_networking_router_interface_v2.cluster]
}

# ---- Load balancer ------------------------------------------------------------------------
# TCP through to the workers' ingress port: TLS ends inside the cluster, on the ingress job.

resource "openstack_lb_loadbalancer_v2" "ingress" {
  name          = "${var.name}-ingress"
  vip_subnet_id = openstack_networking_subnet_v2.cluster.id

  depends_on = [openstack_networking_router_interface_v2.cluster]
}

resource "openstack_lb_listener_v2" "ingress" {
  name            = "${var.name}-ingress"
  loadbalancer_id = openstack_lb_loadbalancer_v2.ingress.id
  protocol        = "TCP"
  protocol_port   = var.load_balancer_port
}

resource "openstack_lb_pool_v2" "ingress" {
  name        = "${var.name}-ingress"
  listener_id = openstack_lb_listener_v2.ingress.id
  protocol    = "TCP"
  lb_method   = "LEAST_CONNECTIONS"
}

resource "openstack_lb_monitor_v2" "ingress" {
  name        = "${var.name}-ingress"
  pool_id     = openstack_lb_pool_v2.ingress.id
  type        = "TCP"
  delay       = 5
  timeout     = 3
  max_retries = 3
}

resource "openstack_lb_members_v2" "ingress" {
  # Octavia refuses an empty member batch: no resource while the worker group is empty.
  count = var.worker_count > 0 ? 1 : 0

  pool_id = openstack_lb_pool_v2.ingress.id

  dynamic "member" {
    for_each = openstack_networking_port_v2.worker
    content {
      name          = member.value.name
      address       = local.worker_ips[member.key]
      protocol_port = var.ingress_port
      subnet_id     = openstack_networking_subnet_v2.cluster.id
    }
  }
}

resource "openstack_networking_floatingip_v2" "ingress" {
  count = var.load_balancer_floating_ip ? 1 : 0

  pool        = var.external_network_name
  description = "${var.name} ingress load balancer"
}

resource "openstack_networking_floatingip_associate_v2" "ingress" {
  count = var.load_balancer_floating_ip ? 1 : 0

  floating_ip = openstack_networking_floatingip_v2.ingress[0].address
  port_id     = openstack_lb_loadbalancer_v2.ingress.vip_port_id
}
