mock_provider "throwbox" {}

variables {
  agent_nomad_token          = "agent-nomad"
  agent_consul_token         = "agent-consul"
  control_plane_consul_token = "cp-consul"
}

run "the_example_plans_a_bundle_deployment" {
  command = plan
  assert {
    condition     = output.api_url == "https://127.0.0.1:8443"
    error_message = "the API is behind the local load balancer"
  }
}
