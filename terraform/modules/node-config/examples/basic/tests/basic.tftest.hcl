# The example renders both roles' files and user data (nothing is created).

run "the_example_renders_server_and_worker_user_data" {
  command = apply

  assert {
    condition     = startswith(output.server.user_data, "#cloud-config\n") && startswith(output.worker.user_data, "#cloud-config\n")
    error_message = "both roles must get cloud-config user data"
  }
  assert {
    condition     = contains(keys(output.worker.files), "/etc/docker/daemon.json") && !contains(keys(output.server.files), "/etc/docker/daemon.json")
    error_message = "only workers run Docker"
  }
}
