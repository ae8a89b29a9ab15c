# `tofu test` of the cluster's shape with a mocked OpenStack: no cloud is contacted. The mock
# still needs the provider binary for its schema (scripts/ensure-tofu.sh builds it).

mock_provider "openstack" {}

# The mock gives every resource of a type the same id: the two groups need their own.
override_resource {
  target = openstack_networking_secgroup_v2.servers
  values = { id = "sg-servers" }
}

override_resource {
  target = openstack_networking_secgroup_v2.workers
  values = { id = "sg-workers" }
}

variables {
  image_name            = "debian-12-throwbox"
  server_flavor         = "m1.medium"
  worker_flavor         = "m1.xlarge"
  external_network_name = "public"
  kafka_bootstrap       = ["10.30.0.20:9092", "10.30.0.21:9092"]
  cluster_secrets = {
    consul_gossip_key       = "Y29uc3VsLWdvc3NpcC10ZXN0LWtleS0wMDAwMDAwMDA="
    nomad_gossip_key        = "bm9tYWQtZ29zc2lwLXRlc3Qta2V5LTAwMDAwMDAwMDA="
    consul_management_token = "00000000-0000-4000-8000-00000000000a"
    consul_node_token       = "00000000-0000-4000-8000-00000000000b"
    consul_nomad_token      = "00000000-0000-4000-8000-00000000000c"
  }
  rpc_tls = {
    ca_pem                 = "-----BEGIN CERTIFICATE-----\ntest-ca\n-----END CERTIFICATE-----\n"
    consul_server_cert_pem = "-----BEGIN CERTIFICATE-----\ntest-consul-server\n-----END CERTIFICATE-----\n"
    consul_server_key_pem  = "-----BEGIN PRIVATE KEY-----\ntest-consul-server-key\n-----END PRIVATE KEY-----\n"
    consul_client_cert_pem = "-----BEGIN CERTIFICATE-----\ntest-consul-client\n-----END CERTIFICATE-----\n"
    consul_client_key_pem  = "-----BEGIN PRIVATE KEY-----\ntest-consul-client-key\n-----END PRIVATE KEY-----\n"
    nomad_server_cert_pem  = "-----BEGIN CERTIFICATE-----\ntest-nomad-server\n-----END CERTIFICATE-----\n"
    nomad_server_key_pem   = "-----BEGIN PRIVATE KEY-----\ntest-nomad-server-key\n-----END PRIVATE KEY-----\n"
    nomad_client_cert_pem  = "-----BEGIN CERTIFICATE-----\ntest-nomad-client\n-----END CERTIFICATE-----\n"
    nomad_client_key_pem   = "-----BEGIN PRIVATE KEY-----\ntest-nomad-client-key\n-----END PRIVATE KEY-----\n"
  }
}

run "three_servers_and_a_worker_group_of_the_requested_size" {
  command = plan

  variables {
    worker_count = 4
  }

  assert {
    condition     = length(openstack_compute_instance_v2.server) == 3
    error_message = "the cluster must have 3 servers"
  }
  assert {
    condition     = length(openstack_compute_instance_v2.worker) == 4
    error_message = "the worker group must have worker_count instances"
  }
  assert {
    condition     = [for p in openstack_networking_port_v2.server : one(p.fixed_ip).ip_address] == ["10.20.0.10", "10.20.0.11", "10.20.0.12"]
    error_message = "servers must get the fixed addresses the user data names"
  }
  assert {
    condition     = output.worker_addresses == ["10.20.0.32", "10.20.0.33", "10.20.0.34", "10.20.0.35"]
    error_message = "workers must get the addresses from .32 on"
  }
}

run "every_node_boots_with_node_config_user_data_joining_the_servers" {
  command = plan

  assert {
    condition     = strcontains(module.node_config.server.user_data, "bootstrap_expect = 3")
    error_message = "server user data must bootstrap a 3-server Nomad"
  }
  assert {
    condition     = strcontains(module.node_config.worker.nomad_hcl, "retry_join = [\"10.20.0.10\", \"10.20.0.11\", \"10.20.0.12\"]")
    error_message = "workers must join the servers' fixed addresses"
  }
  assert {
    condition     = strcontains(module.node_config.worker.nomad_hcl, "\"throwbox.kafka_bootstrap\" = \"10.30.0.20:9092,10.30.0.21:9092\"")
    error_message = "workers must carry the Kafka brokers"
  }
  assert {
    condition     = alltrue([for w in openstack_compute_instance_v2.worker : w.metadata["nomad-node-class"] == "throwbox-worker"])
    error_message = "workers must be of the throwbox-worker class"
  }
  assert {
    condition     = output.kafka_bootstrap == "10.30.0.20:9092,10.30.0.21:9092"
    error_message = "the Kafka brokers must come out as one bootstrap string"
  }
}

run "workers_admit_only_the_servers_the_workers_gossip_and_the_load_balancer" {
  command = apply

  variables {
    admin_cidrs = ["203.0.113.7/32"]
  }

  assert {
    condition = alltrue([
      for r in openstack_networking_secgroup_rule_v2.ingress :
      r.remote_group_id == openstack_networking_secgroup_v2.servers.id
      || (r.remote_group_id == openstack_networking_secgroup_v2.workers.id && r.port_range_min == 8301 && r.port_range_max == 8301)
      || (r.remote_ip_prefix == "10.20.0.0/24" && r.protocol == "tcp" && r.port_range_min == 8443 && r.port_range_max == 8443)
      if r.security_group_id == openstack_networking_secgroup_v2.workers.id
    ])
    error_message = "a worker rule admits something other than the servers, Consul gossip or the load balancer"
  }
  assert {
    condition     = length([for r in openstack_networking_secgroup_rule_v2.ingress : r if r.security_group_id == openstack_networking_secgroup_v2.workers.id]) == 5
    error_message = "workers must have exactly five ingress rules"
  }
  assert {
    condition = toset([
      for r in openstack_networking_secgroup_rule_v2.ingress : r.port_range_min
      if r.remote_ip_prefix == "203.0.113.7/32"
    ]) == toset([22, 4646])
    error_message = "admins must reach the servers' SSH and Nomad API, nothing else"
  }
  assert {
    condition = alltrue([
      for r in openstack_networking_secgroup_rule_v2.ingress : r.security_group_id == openstack_networking_secgroup_v2.servers.id
      if r.remote_ip_prefix == "203.0.113.7/32"
    ])
    error_message = "admin CIDRs must open only the servers"
  }
  assert {
    condition     = alltrue([for p in openstack_networking_port_v2.worker : p.security_group_ids == toset([openstack_networking_secgroup_v2.workers.id])])
    error_message = "worker ports must carry the workers' security group alone"
  }
}

run "the_load_balancer_forwards_tcp_to_every_worker_ingress_port" {
  command = apply

  assert {
    condition     = openstack_lb_listener_v2.ingress.protocol == "TCP" && openstack_lb_listener_v2.ingress.protocol_port == 443
    error_message = "the listener must take TCP on 443"
  }
  assert {
    condition     = toset([for m in openstack_lb_members_v2.ingress[0].member : "${m.address}:${m.protocol_port}"]) == toset(["10.20.0.32:8443", "10.20.0.33:8443"])
    error_message = "the pool's members must be the workers' ingress ports"
  }
  assert {
    condition     = openstack_lb_monitor_v2.ingress.pool_id == openstack_lb_pool_v2.ingress.id
    error_message = "the pool must be health-checked"
  }
  assert {
    condition     = output.load_balancer_address == openstack_networking_floatingip_v2.ingress[0].address
    error_message = "clients must reach the load balancer on its floating IP"
  }
  assert {
    condition     = openstack_networking_floatingip_associate_v2.ingress[0].port_id == openstack_lb_loadbalancer_v2.ingress.vip_port_id
    error_message = "the floating IP must point at the load balancer's VIP"
  }
}

run "without_a_floating_ip_clients_use_the_vip" {
  command = apply

  variables {
    load_balancer_floating_ip = false
  }

  assert {
    condition     = length(openstack_networking_floatingip_v2.ingress) == 0
    error_message = "no floating IP was asked for"
  }
  assert {
    condition     = output.load_balancer_address == openstack_lb_loadbalancer_v2.ingress.vip_address
    error_message = "the load balancer address must be its VIP"
  }
}

run "an_empty_worker_group_has_no_load_balancer_members" {
  command = plan

  variables {
    worker_count = 0
  }

  assert {
    condition     = length(openstack_compute_instance_v2.worker) == 0 && length(openstack_lb_members_v2.ingress) == 0
    error_message = "zero workers must mean no instances and no member batch"
  }
}

run "an_even_server_count_is_refused" {
  command = plan

  variables {
    server_count = 2
  }

  expect_failures = [var.server_count]
}

run "a_cluster_without_kafka_is_refused" {
  command = plan

  variables {
    kafka_bootstrap = []
  }

  expect_failures = [var.kafka_bootstrap]
}

run "the_nomad_api_is_never_opened_to_the_internet" {
  command = plan

  variables {
    admin_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.admin_cidrs]
}

run "more_workers_than_the_subnet_holds_are_refused" {
  command = plan

  variables {
    worker_count = 300
  }

  expect_failures = [var.worker_count]
}

run "an_empty_key_pair_name_and_a_bad_dns_server_are_refused" {
  command = plan

  variables {
    key_pair        = ""
    dns_nameservers = ["dns.example"]
  }

  expect_failures = [var.key_pair, var.dns_nameservers]
}
