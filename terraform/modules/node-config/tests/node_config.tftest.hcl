# `tofu test` of the rendering logic (no provider, nothing created: every run is a plan).

variables {
  server_addresses = ["10.20.0.10", "10.20.0.11", "10.20.0.12"]
  cluster_secrets = {
    consul_gossip_key       = "Y29uc3VsLWdvc3NpcC10ZXN0LWtleS0wMDAwMDAwMDA="
    nomad_gossip_key        = "bm9tYWQtZ29zc2lwLXRlc3Qta2V5LTAwMDAwMDAwMDA="
    consul_management_token = "00000000-0000-4000-8000-00000000000a"
    consul_node_token       = "00000000-0000-4000-8000-00000000000b"
    consul_nomad_token      = "00000000-0000-4000-8000-00000000000c"
  }
}

run "acls_and_gossip_encryption_are_on_by_default" {
  command = plan
  assert {
    condition     = strcontains(output.server.consul_hcl, "default_policy           = \"deny\"") && strcontains(output.server.consul_hcl, "initial_management = \"00000000-0000-4000-8000-00000000000a\"") && strcontains(output.server.consul_hcl, "encrypt = ")
    error_message = "Consul servers deny by default, hold the initial management token and encrypt gossip"
  }
  assert {
    condition     = !strcontains(output.worker.consul_hcl, "initial_management") && strcontains(output.worker.consul_hcl, "agent = \"00000000-0000-4000-8000-00000000000b\"")
    error_message = "a worker's Consul agent has its node token, never the management token"
  }
  assert {
    condition     = strcontains(output.server.nomad_hcl, "acl {") && strcontains(output.worker.nomad_hcl, "acl {") && strcontains(output.server.nomad_hcl, "encrypt          = ") && strcontains(output.worker.nomad_hcl, "token   = \"00000000-0000-4000-8000-00000000000c\"")
    error_message = "Nomad ACLs on everywhere, server gossip encrypted, Nomad's Consul token set"
  }
  assert {
    condition     = alltrue([for f in yamldecode(trimprefix(output.worker.user_data, "#cloud-config\n")).write_files : f.permissions == (endswith(f.path, ".hcl") ? "0600" : "0644")])
    error_message = "configs carrying secrets are written root-only"
  }
}

run "acls_without_secrets_are_refused" {
  command = plan
  variables {
    cluster_secrets = null
  }
  expect_failures = [var.cluster_secrets]
}

run "acls_off_renders_no_acl_block" {
  command = plan
  variables {
    acl_enabled     = false
    cluster_secrets = null
  }
  assert {
    condition     = !strcontains(output.server.consul_hcl, "acl {") && !strcontains(output.worker.nomad_hcl, "acl {") && !strcontains(output.server.nomad_hcl, "encrypt")
    error_message = "no ACL or gossip settings without ACLs"
  }
}

run "workers_are_nomad_clients_of_the_worker_class_with_runsc_allowed" {
  command = plan

  assert {
    condition     = strcontains(output.worker.nomad_hcl, "node_class = \"throwbox-worker\"")
    error_message = "worker Nomad config must set node_class throwbox-worker"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "allow_runtimes   = [\"runc\", \"runsc\", \"runsc-go\"]")
    error_message = "worker docker plugin must allow the runsc runtime"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "\"throwbox.sandbox_runtime\" = \"runsc\"")
    error_message = "workers must carry the meta the executor agent's system job is constrained on"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "image     = false")
    error_message = "Nomad must never garbage-collect the locally loaded images"
  }
  assert {
    condition     = !strcontains(output.worker.nomad_hcl, "server {")
    error_message = "workers must not run a Nomad server"
  }
}

run "docker_registers_runsc_without_network_and_with_oci_seccomp" {
  command = plan

  variables {
    runsc_extra_args = ["--platform=systrap"]
  }

  assert {
    condition     = jsondecode(output.worker.docker_daemon_json).runtimes.runsc.path == "/usr/bin/runsc"
    error_message = "runsc must be registered with Docker at /usr/bin/runsc"
  }
  assert {
    condition     = jsondecode(output.worker.docker_daemon_json).runtimes.runsc.runtimeArgs == ["--network=none", "--oci-seccomp", "--platform=systrap"]
    error_message = "runsc must get --network=none and --oci-seccomp first, then the extra flags"
  }
}

run "every_agent_joins_the_server_addresses" {
  command = plan

  assert {
    condition     = strcontains(output.server.nomad_hcl, "retry_join = [\"10.20.0.10\", \"10.20.0.11\", \"10.20.0.12\"]")
    error_message = "Nomad servers must retry_join the server addresses"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "retry_join = [\"10.20.0.10\", \"10.20.0.11\", \"10.20.0.12\"]")
    error_message = "Nomad clients must retry_join the server addresses"
  }
  assert {
    condition     = strcontains(output.server.consul_hcl, "retry_join           = [\"10.20.0.10\", \"10.20.0.11\", \"10.20.0.12\"]")
    error_message = "Consul servers must retry_join the server addresses"
  }
  assert {
    condition     = strcontains(output.worker.consul_hcl, "retry_join           = [\"10.20.0.10\", \"10.20.0.11\", \"10.20.0.12\"]")
    error_message = "Consul clients must retry_join the server addresses"
  }
  assert {
    condition     = output.retry_join == tolist(["10.20.0.10", "10.20.0.11", "10.20.0.12"])
    error_message = "retry_join output must be the server addresses"
  }
}

run "servers_expect_the_server_count_and_only_servers_are_consul_servers" {
  command = plan

  assert {
    condition     = strcontains(output.server.nomad_hcl, "bootstrap_expect = 3")
    error_message = "Nomad servers must expect 3 servers"
  }
  assert {
    condition     = strcontains(output.server.consul_hcl, "server               = true") && strcontains(output.server.consul_hcl, "bootstrap_expect     = 3")
    error_message = "Consul on servers must be a server expecting 3 servers"
  }
  assert {
    condition     = strcontains(output.worker.consul_hcl, "server               = false") && !strcontains(output.worker.consul_hcl, "bootstrap_expect")
    error_message = "Consul on workers must be a client"
  }
}

run "a_single_server_cluster_is_allowed" {
  command = plan

  variables {
    server_count     = 1
    server_addresses = ["10.20.0.10"]
  }

  assert {
    condition     = strcontains(output.server.nomad_hcl, "bootstrap_expect = 1")
    error_message = "a one-server cluster must bootstrap with one server"
  }
}

run "an_even_server_count_is_refused" {
  command = plan

  variables {
    server_count     = 4
    server_addresses = ["10.20.0.10", "10.20.0.11", "10.20.0.12", "10.20.0.13"]
  }

  expect_failures = [var.server_count]
}

run "more_than_seven_servers_are_refused" {
  command = plan

  variables {
    server_count     = 9
    server_addresses = ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]
  }

  expect_failures = [var.server_count]
}

run "a_server_address_list_of_the_wrong_length_is_refused" {
  command = plan

  variables {
    server_addresses = ["10.20.0.10", "10.20.0.11"]
  }

  expect_failures = [var.server_addresses]
}

run "runsc_flags_that_would_weaken_the_sandbox_are_refused" {
  command = plan

  variables {
    runsc_extra_args = ["--network=host"]
  }

  expect_failures = [var.runsc_extra_args]
}

run "kafka_brokers_become_worker_meta" {
  command = plan

  variables {
    kafka_bootstrap = ["10.20.0.30:9092", "10.20.0.31:9092"]
  }

  assert {
    condition     = strcontains(output.worker.nomad_hcl, "\"throwbox.kafka_bootstrap\" = \"10.20.0.30:9092,10.20.0.31:9092\"")
    error_message = "workers must carry the Kafka brokers as meta"
  }
}

run "a_kafka_broker_without_a_port_is_refused" {
  command = plan

  variables {
    kafka_bootstrap = ["10.20.0.30"]
  }

  expect_failures = [var.kafka_bootstrap]
}

run "user_data_is_cloud_config_that_writes_the_rendered_files" {
  command = plan

  variables {
    install_packages = true
  }

  assert {
    condition     = startswith(output.worker.user_data, "#cloud-config\n")
    error_message = "user data must be a #cloud-config document"
  }
  assert {
    condition = {
      for f in yamldecode(output.worker.user_data).write_files : f.path => f.content
    } == output.worker.files
    error_message = "worker user data must write exactly the worker files"
  }
  assert {
    condition = {
      for f in yamldecode(output.server.user_data).write_files : f.path => f.content
    } == output.server.files
    error_message = "server user data must write exactly the server files"
  }
  assert {
    condition     = yamldecode(output.worker.user_data).packages == ["docker.io", "runsc"] && yamldecode(output.worker.user_data).package_update
    error_message = "worker user data must update apt's lists and install docker.io and runsc"
  }
  assert {
    condition     = !contains(keys(yamldecode(output.server.user_data)), "packages")
    error_message = "servers run no sandboxes and need no Docker"
  }
  assert {
    condition     = contains(yamldecode(output.worker.user_data).runcmd, ["systemctl", "restart", "docker.service"])
    error_message = "workers must restart dockerd so it reads daemon.json"
  }
}

run "an_image_with_docker_and_runsc_gets_no_package_installs" {
  command = plan

  variables {
    install_packages = false
  }

  assert {
    condition     = yamldecode(output.worker.user_data).packages == [] && !yamldecode(output.worker.user_data).package_update
    error_message = "install_packages = false must install nothing"
  }
}
