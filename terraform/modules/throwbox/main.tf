# Throwbox on an existing Nomad cluster (with Consul and Kafka): the project's own job files
# (nomad-jobs/) registered by the throwbox provider in order (topics, agents, control plane,
# load balancer), each waited for until healthy; the readiness of the whole checked through
# the load balancer.

locals {
  jobs_dir = var.jobs_dir != "" ? var.jobs_dir : "${path.module}/../../../nomad-jobs"
  # The bundle (versioned artifacts) or the checkout: the job variables of the one in use.
  source = { for k, v in {
    bundle_url    = var.bundle_url
    bundle_sha256 = var.bundle_sha256
    repo_dir      = var.bundle_url == "" ? var.repo_dir : ""
  } : k => v if v != "" }
  # Each job's Kafka principal: <dir>/admin.properties (topics and ACLs), agent, control-plane
  # (scripts/kafka/broker.sh writes them); no dir: unauthenticated.
  kafka_credentials = { for who, file in {
    admin         = "admin.properties"
    agent         = "agent.properties"
    control_plane = "control-plane.properties"
  } : who => var.kafka_credentials_dir == "" ? "" : "${var.kafka_credentials_dir}/${file}" }
  names = {
    topics        = "${var.name_prefix}-kafka-topics"
    topics_remove = "${var.name_prefix}-kafka-topics-remove"
    agent         = "${var.name_prefix}-executor-agent"
    control_plane = "${var.name_prefix}-control-plane"
    load_balancer = "${var.name_prefix}-load-balancer"
  }
  api_service = "${var.name_prefix}-api"
  # Another name_prefix is a second deployment, possibly beside the default one (the local
  # cluster's own agents): its agents take runs from their own topic in their own group, and
  # their names (hence sandbox jobs and Consul service ids) carry the prefix, so neither
  # deployment takes the other's runs, counts the other's capacity or purges its sandboxes.
  # Tenants (Consul KV) and the events and control topics stay shared.
  second            = var.name_prefix != "throwbox"
  runs_topic        = local.second ? "throwbox.runs.${var.name_prefix}" : "throwbox.runs"
  agent_group       = local.second ? "${var.name_prefix}-agents" : "throwbox-agents"
  agent_name_prefix = local.second ? "${var.name_prefix}-" : ""
  kv_dir            = local.second ? "throwbox/deployment/${var.name_prefix}" : "throwbox/deployment"
  agent_env = merge(
    var.pool_sizes == "" ? {} : { THROWBOX_AGENT_POOL_SIZES = var.pool_sizes },
    local.second ? { THROWBOX_AGENT_RUNS_TOPIC = local.runs_topic, THROWBOX_AGENT_CONSUMER_GROUP = local.agent_group } : {},
    var.agent_settings,
  )
  control_plane_env = merge(
    local.second ? { THROWBOX_CP_RUNS_TOPIC = local.runs_topic } : {},
    var.control_plane_settings,
  )
  # What the tasks use on their node (its own Nomad and Consul agents), when the addresses
  # the provider reaches from outside differ.
  node_nomad_addr   = var.node_nomad_addr != "" ? var.node_nomad_addr : var.nomad_addr
  node_consul_addr  = var.node_consul_addr != "" ? var.node_consul_addr : var.consul_addr
  sandbox_namespace = var.acl_enabled ? "throwbox-sandboxes" : "default"
  # Each component's tokens, readable by its own job's tasks only (nomad/jobs/<job>).
  nomad_variables = var.acl_enabled ? {
    "nomad/jobs/${local.names.agent}" = jsonencode({
      nomad_token = var.agent_nomad_token, consul_token = var.agent_consul_token
    })
    "nomad/jobs/${local.names.control_plane}" = jsonencode({ consul_token = var.control_plane_consul_token })
  } : {}
  topics_variables = merge(local.source, {
    kafka_bootstrap        = var.kafka_bootstrap
    kafka_credentials_file = local.kafka_credentials.admin
    replication_factor     = tostring(var.kafka_replication_factor)
    min_insync_replicas    = tostring(var.kafka_min_insync_replicas)
    runs_topic             = local.runs_topic
    agent_group            = local.agent_group
  })
  api_url   = "https://${var.load_balancer_address}:${var.https_port}"
  ready_url = "${local.api_url}/readyz"
  kv = merge(
    {
      "${local.kv_dir}/source"         = var.bundle_url != "" ? var.bundle_url : "checkout:${var.repo_dir}"
      "${local.kv_dir}/api_url"        = local.api_url
      "${local.kv_dir}/control_planes" = tostring(var.control_plane_instances)
      "${local.kv_dir}/pool_sizes"     = var.pool_sizes
    },
    { for k, v in var.kv_defaults : "throwbox/${k}" => v },
  )
}

resource "throwbox_deployment" "this" {
  nomad_addr  = var.nomad_addr
  consul_addr = var.consul_addr
  timeout_s   = var.timeout_s
  # Empty: the provider's (NOMAD_TOKEN, CONSUL_HTTP_TOKEN).
  nomad_token        = var.nomad_token == "" ? null : var.nomad_token
  consul_token       = var.consul_token == "" ? null : var.consul_token
  nomad_variables    = local.nomad_variables
  sandbox_namespace  = local.sandbox_namespace
  sandbox_job_prefix = "throwbox-sandbox-${local.agent_name_prefix}"

  jobs = [
    {
      name      = local.names.topics
      hcl       = file("${local.jobs_dir}/kafka-topics.nomad.hcl")
      variables = merge(local.topics_variables, { job_name = local.names.topics })
    },
    {
      name = local.names.agent
      hcl  = file("${local.jobs_dir}/executor-agent.nomad.hcl")
      variables = merge(local.source, {
        job_name               = local.names.agent
        kafka_bootstrap        = var.kafka_bootstrap
        kafka_credentials_file = local.kafka_credentials.agent
        consul_addr            = local.node_consul_addr
        nomad_addr             = local.node_nomad_addr
        agent_name_prefix      = local.agent_name_prefix
        metrics_listen         = var.agent_metrics_listen
        drain_timeout_s        = tostring(var.agent_drain_timeout_s)
        acl_tokens             = tostring(var.acl_enabled)
        sandbox_namespace      = local.sandbox_namespace
      })
      raw_variables = { env = jsonencode(local.agent_env) }
    },
    {
      name = local.names.control_plane
      hcl  = file("${local.jobs_dir}/control-plane.nomad.hcl")
      variables = merge(local.source, {
        job_name               = local.names.control_plane
        service_name           = local.api_service
        instances              = tostring(var.control_plane_instances)
        kafka_bootstrap        = var.kafka_bootstrap
        kafka_credentials_file = local.kafka_credentials.control_plane
        consul_addr            = local.node_consul_addr
        nomad_addr             = local.node_nomad_addr
        acl_tokens             = tostring(var.acl_enabled)
      })
      raw_variables = { env = jsonencode(local.control_plane_env) }
    },
    {
      name = local.names.load_balancer
      hcl  = file("${local.jobs_dir}/load-balancer.nomad.hcl")
      variables = {
        job_name        = local.names.load_balancer
        service_name    = local.api_service
        lb_service_name = "${var.name_prefix}-lb"
        https_port      = tostring(var.https_port)
        node_name       = var.load_balancer_node
        tls_cert_pem    = var.tls_cert_pem
        tls_key_pem     = var.tls_key_pem
      }
    },
  ]

  kv = local.kv
  # A second deployment's own runs topic and its ACLs go with it (the default deployment's
  # topics hold the platform's runs and events, and stay).
  destroy_jobs = local.second ? [{
    name          = local.names.topics_remove
    hcl           = file("${local.jobs_dir}/kafka-topics.nomad.hcl")
    variables     = merge(local.topics_variables, { job_name = local.names.topics_remove, remove = "true" })
    raw_variables = null
  }] : null
  purge_kv_prefixes = var.purge_data_on_destroy ? ["throwbox/"] : []
  ready_url         = local.ready_url
  # A generated certificate cannot be verified; an operator's can.
  ready_insecure = nonsensitive(var.tls_cert_pem == "")

  lifecycle {
    precondition {
      condition     = (var.bundle_url == "") != (var.repo_dir == "")
      error_message = "Set exactly one of bundle_url (versioned artifacts) and repo_dir (a checkout on every node)."
    }
    precondition {
      condition     = !var.acl_enabled || (var.agent_nomad_token != "" && var.agent_consul_token != "" && var.control_plane_consul_token != "")
      error_message = "With acl_enabled (the default), set agent_nomad_token, agent_consul_token and control_plane_consul_token (scripts/nomad/acl.py apply writes them; docs/security.md)."
    }
    precondition {
      condition     = var.kafka_min_insync_replicas <= var.kafka_replication_factor
      error_message = "kafka_min_insync_replicas cannot exceed kafka_replication_factor."
    }
    precondition {
      condition     = (var.tls_cert_pem == "") == (var.tls_key_pem == "")
      error_message = "Set both tls_cert_pem and tls_key_pem, or neither (a generated certificate)."
    }
  }
}
