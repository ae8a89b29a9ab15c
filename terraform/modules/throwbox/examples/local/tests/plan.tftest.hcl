mock_provider "throwbox" {}

run "the_example_plans_a_bundle_deployment" {
  command = plan
  assert {
    condition     = output.api_url == "https://127.0.0.1:8443"
    error_message = "the API is behind the local load balancer"
  }
}
