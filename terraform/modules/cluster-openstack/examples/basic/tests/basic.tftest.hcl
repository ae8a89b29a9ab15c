# The example against a mocked OpenStack: it plans and applies (to the mock) as written.

mock_provider "openstack" {}

variables {
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

run "the_example_applies_and_names_the_first_server_as_nomad_address" {
  command = apply

  assert {
    condition     = output.nomad_addr == "http://10.20.0.10:4646"
    error_message = "the Nomad API must be the first server's fixed address"
  }
  assert {
    condition     = output.load_balancer_address != ""
    error_message = "the example must give the load balancer an address"
  }
}
