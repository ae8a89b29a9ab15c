run "the_example_renders_five_files" {
  command = apply
  assert {
    condition     = length(output.files) == 5
    error_message = "s1 and w1: Consul and Nomad; c1: Consul"
  }
}
