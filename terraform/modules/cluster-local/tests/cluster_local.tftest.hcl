# `tofu test` of the per-node arrangement (nothing is created: every run is a plan).

variables {
  cluster_name   = "tbxt"
  cluster_dir    = "/state/cluster"
  servers        = { s1 = "10.77.0.11", s2 = "10.77.0.12", s3 = "10.77.0.13" }
  control_planes = { c1 = "10.77.0.21" }
  workers        = { w1 = "10.77.0.31", w2 = "10.77.0.32" }
  secrets_dir    = "tests/fixtures/secrets"
  tls_dir        = "/state/cluster/secrets/tls"
}

run "every_node_gets_a_consul_config_and_servers_and_workers_a_nomad_config" {
  command = plan
  assert {
    condition = toset(keys(output.files)) == toset([
      "/state/cluster/s1/consul/consul.hcl", "/state/cluster/s2/consul/consul.hcl", "/state/cluster/s3/consul/consul.hcl",
      "/state/cluster/c1/consul/consul.hcl", "/state/cluster/w1/consul/consul.hcl", "/state/cluster/w2/consul/consul.hcl",
      "/state/cluster/s1/nomad/agent.hcl", "/state/cluster/s2/nomad/agent.hcl", "/state/cluster/s3/nomad/agent.hcl",
      "/state/cluster/w1/nomad/agent.hcl", "/state/cluster/w2/nomad/agent.hcl",
    ])
    error_message = "a control plane node runs no Nomad; every other node both agents"
  }
}

run "servers_are_servers_of_three_and_workers_clients_with_their_own_cgroup" {
  command = plan
  assert {
    condition     = strcontains(output.files["/state/cluster/s2/nomad/agent.hcl"], "bootstrap_expect = 3") && strcontains(output.files["/state/cluster/s2/consul/consul.hcl"], "server               = true")
    error_message = "servers run Nomad and Consul servers expecting three"
  }
  assert {
    condition     = strcontains(output.files["/state/cluster/w2/nomad/agent.hcl"], "cgroup_parent        = \"nomad-tbxt-w2\"") && !strcontains(output.files["/state/cluster/w2/nomad/agent.hcl"], "server {")
    error_message = "a worker is a client with a cgroup parent of its own"
  }
  assert {
    condition     = strcontains(output.files["/state/cluster/w1/nomad/agent.hcl"], "enabled        = false")
    error_message = "the shared dockerd: no dangling-container reaping"
  }
}

run "each_node_advertises_its_address_and_uses_its_own_dirs_and_name" {
  command = plan
  assert {
    condition     = strcontains(output.files["/state/cluster/w1/nomad/agent.hcl"], "rpc  = \"10.77.0.31\"") && strcontains(output.files["/state/cluster/w1/nomad/agent.hcl"], "data_dir             = \"/state/cluster/w1/nomad/data\"") && strcontains(output.files["/state/cluster/w1/nomad/agent.hcl"], "name                 = \"w1\"")
    error_message = "w1's Nomad advertises w1's address, keeps w1's data, is named w1"
  }
  assert {
    condition     = strcontains(output.files["/state/cluster/c1/consul/consul.hcl"], "client_addr          = \"127.0.0.1 10.77.0.21\"") && strcontains(output.files["/state/cluster/c1/consul/consul.hcl"], "bind_addr            = \"10.77.0.21\"")
    error_message = "Consul answers on the node's address for the host's scripts"
  }
  assert {
    condition     = strcontains(output.files["/state/cluster/c1/consul/consul.hcl"], "retry_join           = [\"10.77.0.11\", \"10.77.0.12\", \"10.77.0.13\"]")
    error_message = "every agent joins the three servers in order"
  }
}

run "the_secrets_come_from_the_acl_files_and_tls_from_the_tls_dir" {
  command = plan
  assert {
    condition     = strcontains(output.files["/state/cluster/s1/consul/consul.hcl"], "initial_management = \"00000000-0000-4000-8000-000000000001\"") && !strcontains(output.files["/state/cluster/w1/consul/consul.hcl"], "initial_management")
    error_message = "only servers carry the management token, read from consul-management.token"
  }
  assert {
    condition     = strcontains(output.files["/state/cluster/w1/nomad/agent.hcl"], "token   = \"00000000-0000-4000-8000-000000000003\"") && strcontains(output.files["/state/cluster/s1/nomad/agent.hcl"], "encrypt          = \"dGVzdC1nb3NzaXAta2V5LW5ldmVyLXVzZWQtMDAwMDA=\"")
    error_message = "Nomad's Consul token and gossip key from the ACL files"
  }
  assert {
    condition     = strcontains(output.files["/state/cluster/w1/nomad/agent.hcl"], "cert_file              = \"/state/cluster/secrets/tls/nomad-client.pem\"") && strcontains(output.files["/state/cluster/s3/consul/consul.hcl"], "cert_file       = \"/state/cluster/secrets/tls/consul-server.pem\"")
    error_message = "mutual TLS with tls.sh's certificates of each role"
  }
}

run "the_sandbox_runtime_is_the_workers_meta" {
  command = plan
  variables {
    sandbox_runtime = "runsc"
  }
  assert {
    condition     = strcontains(output.files["/state/cluster/w2/nomad/agent.hcl"], "\"throwbox.sandbox_runtime\" = \"runsc\"")
    error_message = "THROWBOX_SANDBOX_RUNTIME reaches the workers' meta"
  }
}

run "an_even_number_of_servers_is_refused" {
  command = plan
  variables {
    servers = { s1 = "10.77.0.11", s2 = "10.77.0.12" }
  }
  expect_failures = [var.servers]
}
