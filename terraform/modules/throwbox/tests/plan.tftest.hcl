# The module's logic, planned against a mock provider (no Nomad needed): job order and names,
# what each job is given, and the validation of the inputs. The real apply is in
# tests/integration/test_terraform_deploy.py.

mock_provider "throwbox" {}

variables {
  bundle_url                 = "http://artifacts.example:8089/throwbox-bundle-0.1.0+habc.tar.gz"
  bundle_sha256              = "0000000000000000000000000000000000000000000000000000000000000000"
  agent_nomad_token          = "TOKEN-AN-1"
  agent_consul_token         = "TOKEN-AC-2"
  control_plane_consul_token = "TOKEN-CP-3"
}

run "acls_are_on_by_default_and_each_job_gets_its_own_tokens_through_nomad_variables" {
  command = plan
  assert {
    condition     = throwbox_deployment.this.jobs[1].variables["acl_tokens"] == "true" && throwbox_deployment.this.jobs[2].variables["acl_tokens"] == "true"
    error_message = "agent and control plane read their tokens from their Nomad Variables"
  }
  assert {
    condition     = throwbox_deployment.this.sandbox_namespace == "throwbox-sandboxes" && throwbox_deployment.this.jobs[1].variables["sandbox_namespace"] == "throwbox-sandboxes"
    error_message = "sandboxes run in the namespace the agent's token is scoped to"
  }
  assert {
    condition     = nonsensitive(jsondecode(throwbox_deployment.this.nomad_variables["nomad/jobs/throwbox-executor-agent"])) == { nomad_token = "TOKEN-AN-1", consul_token = "TOKEN-AC-2" } && nonsensitive(jsondecode(throwbox_deployment.this.nomad_variables["nomad/jobs/throwbox-control-plane"])) == { consul_token = "TOKEN-CP-3" }
    error_message = "each job's variable holds its own tokens, and only those"
  }
  assert {
    condition     = !strcontains(nonsensitive(jsonencode(throwbox_deployment.this.jobs)), "TOKEN-")
    error_message = "no token in any job's variables (job specs are readable by every read-job token)"
  }
}

run "acls_on_without_the_components_tokens_is_refused" {
  command = plan
  variables {
    agent_nomad_token = ""
  }
  expect_failures = [throwbox_deployment.this]
}

run "acls_off_gives_no_tokens_and_the_default_namespace" {
  command = plan
  variables {
    acl_enabled                = false
    agent_nomad_token          = ""
    agent_consul_token         = ""
    control_plane_consul_token = ""
  }
  assert {
    condition     = length(throwbox_deployment.this.nomad_variables) == 0 && throwbox_deployment.this.sandbox_namespace == "default" && throwbox_deployment.this.jobs[1].variables["acl_tokens"] == "false"
    error_message = "no Nomad Variables, sandboxes in default"
  }
}

run "jobs_are_registered_in_order_from_the_project_job_files" {
  command = plan
  assert {
    condition     = [for j in throwbox_deployment.this.jobs : j.name] == ["throwbox-kafka-topics", "throwbox-executor-agent", "throwbox-control-plane", "throwbox-load-balancer"]
    error_message = "topics, agents, control plane, load balancer: in that order"
  }
  assert {
    condition     = strcontains(throwbox_deployment.this.jobs[2].hcl, "auto_revert       = true")
    error_message = "the control plane job file is the project's (rolling update with auto_revert)"
  }
  assert {
    condition     = output.api_url == "https://127.0.0.1:8443" && throwbox_deployment.this.ready_url == "https://127.0.0.1:8443/readyz"
    error_message = "the API is the load balancer's address"
  }
}

run "a_bundle_deployment_hands_every_job_the_bundle_and_its_checksum" {
  command = plan
  assert {
    condition     = alltrue([for j in slice(throwbox_deployment.this.jobs, 0, 3) : j.variables["bundle_url"] == var.bundle_url && j.variables["bundle_sha256"] == var.bundle_sha256])
    error_message = "topics, agent and control plane run from the bundle"
  }
  assert {
    condition     = alltrue([for j in throwbox_deployment.this.jobs : !contains(keys(j.variables), "repo_dir")])
    error_message = "no checkout path in a bundle deployment"
  }
}

run "a_checkout_deployment_names_the_checkout" {
  command = plan
  variables {
    bundle_url    = ""
    bundle_sha256 = ""
    repo_dir      = "/opt/throwbox"
  }
  assert {
    condition     = throwbox_deployment.this.jobs[1].variables["repo_dir"] == "/opt/throwbox" && !contains(keys(throwbox_deployment.this.jobs[1].variables), "bundle_url")
    error_message = "the agent runs from repo_dir"
  }
}

run "settings_pools_and_prefix_reach_the_jobs" {
  command = plan
  variables {
    name_prefix             = "tb2"
    pool_sizes              = "python=2,*=0"
    agent_settings          = { THROWBOX_AGENT_TMPFS_MB = "32" }
    control_plane_settings  = { THROWBOX_CP_LOG_LEVEL = "DEBUG" }
    control_plane_instances = 3
    https_port              = 9443
  }
  assert {
    condition     = jsondecode(throwbox_deployment.this.jobs[1].raw_variables["env"]) == { THROWBOX_AGENT_POOL_SIZES = "python=2,*=0", THROWBOX_AGENT_TMPFS_MB = "32", THROWBOX_AGENT_RUNS_TOPIC = "throwbox.runs.tb2", THROWBOX_AGENT_CONSUMER_GROUP = "tb2-agents" }
    error_message = "pool sizes and agent settings are the agent's environment"
  }
  assert {
    condition     = jsondecode(throwbox_deployment.this.jobs[2].raw_variables["env"]) == { THROWBOX_CP_LOG_LEVEL = "DEBUG", THROWBOX_CP_RUNS_TOPIC = "throwbox.runs.tb2" } && throwbox_deployment.this.jobs[2].variables["instances"] == "3"
    error_message = "control plane settings and count"
  }
  assert {
    condition     = output.job_ids.control_plane == "tb2-control-plane" && throwbox_deployment.this.jobs[3].variables["service_name"] == "tb2-api"
    error_message = "the prefix names jobs and services"
  }
  assert {
    condition     = throwbox_deployment.this.kv["throwbox/deployment/tb2/pool_sizes"] == "python=2,*=0"
    error_message = "the deployment records its settings in Consul KV, under its own prefix"
  }
}

run "the_default_deployment_uses_the_shared_runs_topic_and_names_agents_by_node" {
  command = plan
  assert {
    condition     = throwbox_deployment.this.jobs[0].variables["runs_topic"] == "throwbox.runs" && throwbox_deployment.this.jobs[0].variables["agent_group"] == "throwbox-agents"
    error_message = "the topics job creates throwbox.runs and the throwbox-agents group's ACL"
  }
  assert {
    condition     = throwbox_deployment.this.jobs[1].variables["agent_name_prefix"] == "" && throwbox_deployment.this.sandbox_job_prefix == "throwbox-sandbox-"
    error_message = "agents are named by their node; destroy purges every throwbox-sandbox-* job"
  }
  assert {
    condition     = !contains(keys(jsondecode(throwbox_deployment.this.jobs[1].raw_variables["env"])), "THROWBOX_AGENT_RUNS_TOPIC") && jsondecode(throwbox_deployment.this.jobs[2].raw_variables["env"]) == {}
    error_message = "agents and control planes keep their default runs topic and group"
  }
  assert {
    condition     = contains(keys(throwbox_deployment.this.kv), "throwbox/deployment/api_url")
    error_message = "the default deployment's KV keys are throwbox/deployment/*"
  }
  assert {
    condition     = throwbox_deployment.this.destroy_jobs == null
    error_message = "the default deployment's destroy leaves the platform's topics"
  }
}

run "a_second_deployment_keeps_its_runs_agents_and_sandboxes_apart" {
  command = plan
  variables {
    name_prefix = "tf"
  }
  assert {
    condition     = throwbox_deployment.this.jobs[0].variables["runs_topic"] == "throwbox.runs.tf" && throwbox_deployment.this.jobs[0].variables["agent_group"] == "tf-agents"
    error_message = "the topics job creates the deployment's runs topic and its group's ACL"
  }
  assert {
    condition     = jsondecode(throwbox_deployment.this.jobs[1].raw_variables["env"]) == { THROWBOX_AGENT_RUNS_TOPIC = "throwbox.runs.tf", THROWBOX_AGENT_CONSUMER_GROUP = "tf-agents" } && jsondecode(throwbox_deployment.this.jobs[2].raw_variables["env"]) == { THROWBOX_CP_RUNS_TOPIC = "throwbox.runs.tf" }
    error_message = "its agents consume, and its control planes queue on, its own runs topic"
  }
  assert {
    condition     = throwbox_deployment.this.jobs[1].variables["agent_name_prefix"] == "tf-" && throwbox_deployment.this.sandbox_job_prefix == "throwbox-sandbox-tf-"
    error_message = "agents are tf-<node>: destroy purges only this deployment's sandbox jobs"
  }
  assert {
    condition     = alltrue([for k in keys(throwbox_deployment.this.kv) : startswith(k, "throwbox/deployment/tf/")])
    error_message = "its KV keys are its own"
  }
  assert {
    condition     = nonsensitive(contains(keys(throwbox_deployment.this.nomad_variables), "nomad/jobs/tf-executor-agent"))
    error_message = "its agents' tokens are readable by its own agent job"
  }
  assert {
    condition     = length(throwbox_deployment.this.destroy_jobs) == 1 && throwbox_deployment.this.destroy_jobs[0].name == "tf-kafka-topics-remove" && throwbox_deployment.this.destroy_jobs[0].variables["remove"] == "true" && throwbox_deployment.this.destroy_jobs[0].variables["runs_topic"] == "throwbox.runs.tf" && throwbox_deployment.this.destroy_jobs[0].variables["agent_group"] == "tf-agents"
    error_message = "its destroy runs a job removing its own runs topic and its group's ACLs"
  }
}

run "the_tasks_reach_their_nodes_agents_the_provider_the_servers" {
  command = plan
  variables {
    nomad_addr       = "http://10.0.0.11:4646"
    consul_addr      = "http://10.0.0.11:8500"
    node_nomad_addr  = "http://127.0.0.1:4646"
    node_consul_addr = "http://127.0.0.1:8500"
  }
  assert {
    condition     = throwbox_deployment.this.nomad_addr == "http://10.0.0.11:4646" && throwbox_deployment.this.consul_addr == "http://10.0.0.11:8500"
    error_message = "jobs and KV go through the addresses given to the provider"
  }
  assert {
    condition     = alltrue([for i in [1, 2] : throwbox_deployment.this.jobs[i].variables["nomad_addr"] == "http://127.0.0.1:4646" && throwbox_deployment.this.jobs[i].variables["consul_addr"] == "http://127.0.0.1:8500"])
    error_message = "agents and control planes use their node's own agents"
  }
}

run "without_node_addresses_the_tasks_use_the_providers" {
  command = plan
  variables {
    nomad_addr = "http://10.0.0.11:4646"
  }
  assert {
    condition     = throwbox_deployment.this.jobs[1].variables["nomad_addr"] == "http://10.0.0.11:4646" && throwbox_deployment.this.jobs[2].variables["consul_addr"] == "http://127.0.0.1:8500"
    error_message = "node_*_addr default to nomad_addr and consul_addr"
  }
}

run "the_load_balancer_is_placed_on_the_named_node" {
  command = plan
  variables {
    load_balancer_node    = "w1"
    load_balancer_address = "10.0.0.31"
  }
  assert {
    condition     = throwbox_deployment.this.jobs[3].variables["node_name"] == "w1" && output.api_url == "https://10.0.0.31:8443"
    error_message = "the load balancer runs on w1, whose address the API URL is"
  }
}

run "a_generated_certificate_is_not_verified_an_operators_is" {
  command = plan
  assert {
    condition     = throwbox_deployment.this.ready_insecure && output.tls_generated
    error_message = "no certificate given: generated, readiness check without verification"
  }
}

run "an_operator_certificate_is_verified" {
  command = plan
  variables {
    tls_cert_pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"
    tls_key_pem  = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"
  }
  assert {
    condition     = !throwbox_deployment.this.ready_insecure && !output.tls_generated
    error_message = "an operator's certificate is verified"
  }
}

run "destroy_keeps_tenant_data_unless_asked" {
  command = plan
  assert {
    condition     = length(throwbox_deployment.this.purge_kv_prefixes) == 0
    error_message = "keys and functions survive a destroy by default"
  }
}

run "one_control_plane_is_refused" {
  command = plan
  variables {
    control_plane_instances = 1
  }
  expect_failures = [var.control_plane_instances]
}

run "bad_inputs_are_refused" {
  command = plan
  variables {
    kafka_bootstrap = "not a broker"
    pool_sizes      = "python"
    agent_settings  = { THROWBOX_CP_PORT = "1" }
    bundle_sha256   = "xyz"
    node_nomad_addr = "127.0.0.1:4646"
  }
  expect_failures = [var.kafka_bootstrap, var.pool_sizes, var.agent_settings, var.bundle_sha256, var.node_nomad_addr]
}

run "bundle_and_checkout_at_once_are_refused" {
  command = plan
  variables {
    repo_dir = "/opt/throwbox"
  }
  expect_failures = [throwbox_deployment.this]
}

run "more_in_sync_replicas_than_replicas_is_refused" {
  command = plan
  variables {
    kafka_replication_factor  = 3
    kafka_min_insync_replicas = 4
  }
  expect_failures = [throwbox_deployment.this]
}

run "the_topics_job_gets_the_replication_layout" {
  command = plan
  variables {
    kafka_replication_factor  = 3
    kafka_min_insync_replicas = 2
  }
  assert {
    condition     = throwbox_deployment.this.jobs[0].variables["replication_factor"] == "3" && throwbox_deployment.this.jobs[0].variables["min_insync_replicas"] == "2"
    error_message = "replication factor and min.insync.replicas reach the topics job"
  }
}

run "a_certificate_without_its_key_is_refused" {
  command = plan
  variables {
    tls_cert_pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"
  }
  expect_failures = [throwbox_deployment.this]
}
