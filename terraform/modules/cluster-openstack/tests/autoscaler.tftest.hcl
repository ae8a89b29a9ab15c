# `tofu test` of the worker group's autoscaling configuration with a mocked OpenStack (no cloud
# is contacted): what the module renders for nomad-autoscaler and the throwbox-nodes plugin's
# openstack mode, and the subnet room it leaves for the workers the autoscaler adds.

mock_provider "openstack" {}

override_resource {
  target = openstack_networking_secgroup_v2.servers
  values = { id = "sg-servers" }
}

override_resource {
  target = openstack_networking_secgroup_v2.workers
  values = { id = "sg-workers" }
}

override_resource {
  target = openstack_networking_network_v2.cluster
  values = { id = "net-cluster" }
}

override_data {
  target = data.openstack_compute_flavor_v2.worker
  values = { id = "flavor-xl" }
}

override_data {
  target = data.openstack_images_image_v2.worker
  values = { id = "image-deb12" }
}

variables {
  image_name            = "debian-12-throwbox"
  server_flavor         = "m1.medium"
  worker_flavor         = "m1.xlarge"
  external_network_name = "public"
  kafka_bootstrap       = ["10.30.0.20:9092"]
  worker_count          = 2
  # ACLs and gossip encryption are on by default (docs/security.md): test secrets.
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

run "without_autoscaler_max_workers_nothing_is_rendered_and_the_subnet_is_unchanged" {
  command = plan

  assert {
    condition = (output.autoscaler_agent_hcl == null && output.autoscaler_policy_hcl == null
    && output.autoscaler_target_config == null && length(data.openstack_compute_flavor_v2.worker) == 0)
    error_message = "no autoscaler configuration without autoscaler_max_workers"
  }
  assert {
    condition     = length(openstack_networking_subnet_v2.cluster.allocation_pool) == 2
    error_message = "the subnet keeps its two allocation pools"
  }
  assert {
    condition     = alltrue([for w in openstack_compute_instance_v2.worker : w.metadata["throwbox-worker-group"] == "throwbox-workers" && !contains(keys(w.metadata), "throwbox-autoscaled")])
    error_message = "fixed workers are group members the autoscaler never deletes (no throwbox-autoscaled key)"
  }
}

run "the_autoscaler_targets_the_worker_group_with_the_local_policys_checks" {
  command = apply

  variables {
    autoscaler_max_workers        = 6
    autoscaler_prometheus_address = "http://10.20.0.5:9090"
    key_pair                      = "ops"
  }

  assert {
    condition = output.autoscaler_target_config == {
      mode            = "openstack"
      group           = "throwbox-workers"
      flavor_id       = "flavor-xl"
      image_id        = "image-deb12"
      network_id      = "net-cluster"
      security_groups = "sg-workers"
      user_data_file  = "/etc/nomad-autoscaler/worker-user-data"
      key_name        = "ops"
    }
    error_message = "the plugin's settings must name the worker flavor, image, network, security group and user data"
  }
  assert {
    condition = alltrue([for s in [
      "driver = \"throwbox-nodes\"", "mode = \"openstack\"", "group = \"throwbox-workers\"",
      "address = \"http://10.20.0.10:4646\"", "address = \"http://10.20.0.5:9090\"",
      "plugin_dir = \"/opt/nomad-autoscaler/plugins\"", "dir                         = \"/etc/nomad-autoscaler/policies\"",
    ] : strcontains(output.autoscaler_agent_hcl, s)])
    error_message = "the agent must run the plugin's openstack mode against the first server and the Prometheus"
  }
  assert {
    condition     = alltrue([for key in ["auth_url", "application_credential_id", "application_credential_secret", "username", "password"] : !strcontains(output.autoscaler_agent_hcl, "${key} =")])
    error_message = "credentials never go into the rendered agent configuration"
  }
  assert {
    condition = alltrue([for s in [
      "min     = 2", "max     = 6", "cooldown            = \"5m\"",
      "query        = \"max(throwbox_runs_queued)\"", "target    = 5",
      "query  = \"percentage-allocated_cpu\"", "target    = 70",
      "target \"openstack-workers\"", "node_class             = \"throwbox-worker\"",
      "datacenter             = \"dc1\"", "node_drain_deadline    = \"3m\"", "node_purge             = \"true\"",
    ] : strcontains(output.autoscaler_policy_hcl, s)])
    error_message = "the policy must scale class throwbox-worker from worker_count to the maximum on the queue and CPU checks"
  }
  assert {
    condition     = output.autoscaler_worker_user_data == module.node_config.worker.user_data
    error_message = "added workers boot with the fixed workers' user data"
  }
  assert {
    condition = (length(openstack_networking_subnet_v2.cluster.allocation_pool) == 3
    && contains([for p in openstack_networking_subnet_v2.cluster.allocation_pool : "${p.start}-${p.end}"], "10.20.0.128-10.20.0.254"))
    error_message = "added workers get addresses from the subnet's upper half"
  }
}

run "a_minimum_below_the_fixed_workers_is_refused" {
  command = plan

  variables {
    worker_count                  = 3
    autoscaler_min_workers        = 2
    autoscaler_max_workers        = 5
    autoscaler_prometheus_address = "http://10.20.0.5:9090"
  }

  expect_failures = [var.autoscaler_min_workers]
}

run "a_maximum_below_the_fixed_workers_is_refused" {
  command = plan

  variables {
    autoscaler_max_workers        = 1
    autoscaler_prometheus_address = "http://10.20.0.5:9090"
  }

  expect_failures = [var.autoscaler_max_workers]
}

run "autoscaling_needs_the_prometheus_of_the_queue_check" {
  command = plan

  variables {
    autoscaler_max_workers = 4
  }

  expect_failures = [var.autoscaler_prometheus_address]
}

run "added_workers_must_fit_in_the_subnets_upper_half" {
  command = plan

  variables {
    subnet_cidr                   = "10.20.0.0/25"
    autoscaler_max_workers        = 70
    autoscaler_prometheus_address = "http://10.20.0.5:9090"
  }

  expect_failures = [var.autoscaler_max_workers]
}
