# The example against a mocked OpenStack: it plans and applies (to the mock) as written.

mock_provider "openstack" {}

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
