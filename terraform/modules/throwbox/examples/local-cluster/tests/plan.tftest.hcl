mock_provider "throwbox" {}

variables {
  cluster_dir = "./tests/fixtures"
  bundle_url  = "http://10.77.0.1:8089/throwbox-bundle-0.1.0+h000000000000.tar.gz"
}

run "the_example_plans_a_second_deployment_on_the_local_cluster" {
  command = plan
  assert {
    condition     = output.api_url == "https://10.77.0.31:8443" && module.throwbox.job_ids.agent == "tf-executor-agent"
    error_message = "HAProxy on w1's address; jobs named tf-*"
  }
}
