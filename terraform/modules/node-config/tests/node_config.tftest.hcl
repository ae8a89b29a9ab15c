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
    condition     = alltrue([for f in yamldecode(trimprefix(output.worker.user_data, "#cloud-config\n")).write_files : f.permissions == (endswith(f.path, ".hcl") || endswith(f.path, "-key.pem") ? "0600" : "0644")])
    error_message = "configs carrying secrets and TLS keys are written root-only"
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

run "rpc_mutual_tls_is_on_by_default_with_each_roles_own_certificate" {
  command = plan
  assert {
    condition     = strcontains(output.server.nomad_hcl, "cert_file              = \"/etc/throwbox/tls/nomad-server.pem\"") && strcontains(output.worker.nomad_hcl, "cert_file              = \"/etc/throwbox/tls/nomad-client.pem\"")
    error_message = "Nomad servers present the server certificate, clients the client certificate"
  }
  assert {
    condition     = strcontains(output.server.consul_hcl, "cert_file       = \"/etc/throwbox/tls/consul-server.pem\"") && strcontains(output.worker.consul_hcl, "key_file        = \"/etc/throwbox/tls/consul-client-key.pem\"")
    error_message = "Consul servers and clients each use their own role's certificate"
  }
  assert {
    condition     = strcontains(output.worker.consul_hcl, "verify_incoming        = true") && strcontains(output.worker.consul_hcl, "verify_outgoing = true") && strcontains(output.worker.consul_hcl, "verify_server_hostname = true") && strcontains(output.worker.nomad_hcl, "verify_server_hostname = true")
    error_message = "every certificate check is on by default"
  }
  assert {
    condition     = strcontains(output.server.nomad_hcl, "rpc                    = true") && strcontains(output.server.nomad_hcl, "http                   = false")
    error_message = "TLS on RPC, the HTTP API stays plain HTTP"
  }
}

run "given_pem_contents_the_user_data_writes_them_keys_root_only" {
  command = plan
  assert {
    condition = alltrue([
      for f in yamldecode(trimprefix(output.worker.user_data, "#cloud-config\n")).write_files : f.permissions == "0600"
      if endswith(f.path, "-key.pem")
    ]) && length([for f in yamldecode(trimprefix(output.worker.user_data, "#cloud-config\n")).write_files : f if startswith(f.path, "/etc/throwbox/tls/")]) == 5
    error_message = "a worker gets the CA, its two certificates and its two keys, keys 0600"
  }
  assert {
    condition     = strcontains(output.worker.files["/etc/throwbox/tls/nomad-client.pem"], "test-nomad-client") && !contains(keys(output.worker.files), "/etc/throwbox/tls/nomad-server-key.pem")
    error_message = "a worker never receives a server key"
  }
  assert {
    condition     = strcontains(output.server.files["/etc/throwbox/tls/consul-server-key.pem"], "test-consul-server-key") && output.server.files["/etc/throwbox/tls/ca.pem"] == var.rpc_tls.ca_pem
    error_message = "a server gets the server certificates and the CA"
  }
}

run "without_pem_contents_the_configs_point_at_files_provisioned_in_tls_dir" {
  command = plan
  variables {
    rpc_tls = null
    tls_dir = "/srv/cluster/tls"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "ca_file                = \"/srv/cluster/tls/ca.pem\"") && length([for p in keys(output.worker.files) : p if endswith(p, ".pem")]) == 0
    error_message = "the configs name tls_dir and the user data writes no PEM file"
  }
}

run "tls_off_renders_no_tls_block" {
  command = plan
  variables {
    rpc_tls_enabled = false
  }
  assert {
    condition     = !strcontains(output.server.nomad_hcl, "tls {") && !strcontains(output.worker.consul_hcl, "tls {") && length([for p in keys(output.server.files) : p if endswith(p, ".pem")]) == 0
    error_message = "no TLS settings and no PEM files without TLS"
  }
}

run "verify_flags_are_rendered_as_given" {
  command = plan
  variables {
    tls_verify = { verify_incoming = false, verify_server_hostname = false }
  }
  assert {
    condition     = strcontains(output.server.consul_hcl, "verify_incoming        = false") && strcontains(output.server.consul_hcl, "verify_outgoing = true") && strcontains(output.server.nomad_hcl, "verify_server_hostname = false")
    error_message = "each verify flag follows tls_verify, unset ones stay on"
  }
}

run "server_hostname_checks_without_outgoing_verification_are_refused" {
  command = plan
  variables {
    tls_verify = { verify_outgoing = false }
  }
  expect_failures = [var.tls_verify]
}

run "pem_inputs_that_are_not_pem_are_refused" {
  command = plan
  variables {
    rpc_tls = {
      ca_pem                 = "/etc/ssl/ca.pem"
      consul_server_cert_pem = "x"
      consul_server_key_pem  = "x"
      consul_client_cert_pem = "x"
      consul_client_key_pem  = "x"
      nomad_server_cert_pem  = "x"
      nomad_server_key_pem   = "x"
      nomad_client_cert_pem  = "x"
      nomad_client_key_pem   = "x"
    }
  }
  expect_failures = [var.rpc_tls]
}

run "one_nodes_files_carry_its_name_dirs_interface_cgroup_and_runtime" {
  command = plan
  variables {
    node_name               = "w3"
    nomad_data_dir          = "/state/w3/nomad/data"
    consul_data_dir         = "/state/w3/consul/data"
    consul_client_addr      = ["127.0.0.1", "10.77.0.33"]
    nomad_network_interface = "eth0"
    nomad_cgroup_parent     = "nomad-tbx-w3"
    sandbox_runtime         = "runsc-go"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "name                 = \"w3\"") && strcontains(output.worker.consul_hcl, "node_name            = \"w3\"")
    error_message = "the agents carry the node's name"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "data_dir             = \"/state/w3/nomad/data\"") && strcontains(output.worker.consul_hcl, "data_dir             = \"/state/w3/consul/data\"")
    error_message = "the data dirs are the node's own"
  }
  assert {
    condition     = strcontains(output.worker.consul_hcl, "client_addr          = \"127.0.0.1 10.77.0.33\"") && strcontains(output.worker.nomad_hcl, "network_interface = \"eth0\"") && strcontains(output.worker.nomad_hcl, "cgroup_parent        = \"nomad-tbx-w3\"")
    error_message = "client_addr, network_interface and cgroup_parent as given"
  }
  assert {
    condition     = strcontains(output.worker.nomad_hcl, "\"throwbox.sandbox_runtime\" = \"runsc-go\"")
    error_message = "the sandbox runtime meta follows sandbox_runtime"
  }
}

run "without_a_node_name_agents_use_the_hostname" {
  command = plan
  assert {
    condition     = !strcontains(output.worker.nomad_hcl, "name                 =") && !strcontains(output.server.consul_hcl, "node_name")
    error_message = "no name is rendered for a whole role"
  }
}

run "an_unknown_sandbox_runtime_is_refused" {
  command = plan
  variables {
    sandbox_runtime = "runc"
  }
  expect_failures = [var.sandbox_runtime]
}
