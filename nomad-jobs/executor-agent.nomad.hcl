# The executor agent: one per Nomad client that offers gVisor sandboxes. It consumes runs
# from Kafka, hands them to warm sandbox allocations and stops each used allocation.
# Deployed by scripts/deploy-agent.sh (from the checkout: repo_dir) or by the throwbox_deployment
# of terraform/modules/throwbox (from the versioned bundle: bundle_url, fetched by Nomad's
# artifact block); raw_exec because it drives Docker and Nomad itself.

variable "repo_dir" {
  type        = string
  default     = ""
  description = "Absolute path of the Throwbox checkout on every client node; the agent runs <repo_dir>/.venv/bin/throwbox-agent and reads <repo_dir>/runtimes/runtimes.toml. Unused when bundle_url is set."
}

variable "bundle_url" {
  type        = string
  default     = ""
  description = "URL of the Throwbox bundle (scripts/build-artifacts.sh: throwbox-bundle-<version>.tar.gz) Nomad fetches and unpacks into the task; empty: run from repo_dir."
}

variable "bundle_sha256" {
  type        = string
  default     = ""
  description = "sha256 of the bundle (its manifest.json entry), checked by Nomad after the download; empty: unchecked."
}

variable "job_name" {
  type        = string
  default     = "throwbox-executor-agent"
  description = "The job's ID (a second deployment on one Nomad cluster needs another)."
}

variable "agent_name_prefix" {
  type        = string
  default     = ""
  description = "Prefix of each agent's name (its node's name follows), which names its sandbox jobs and Consul service: a second deployment on nodes that run another agent needs one (e.g. \"tf-\")."
}

variable "env" {
  type        = map(string)
  default     = {}
  description = "Further THROWBOX_AGENT_* settings (docs/settings.md), e.g. THROWBOX_AGENT_POOL_SIZES."
}

variable "kafka_bootstrap" {
  type        = string
  default     = "127.0.0.1:9092"
  description = "Kafka bootstrap servers (comma-separated host:port) the agent consumes throwbox.runs and throwbox.control from and writes throwbox.events to."
}

variable "kafka_credentials_file" {
  type        = string
  default     = ""
  description = "Absolute path, on every client node, of the agent principal's Kafka SASL/SCRAM credentials file (username= and password= lines, mode 0600, readable by the Nomad client's user: raw_exec runs the agent as that user); the stack's is <kafka dir>/credentials/agent.properties. Empty: unauthenticated, which the project's brokers refuse."
}

variable "consul_addr" {
  type        = string
  default     = "http://127.0.0.1:8500"
  description = "HTTP URL of the Consul agent the executor agent reads shared settings from."
}

variable "nomad_addr" {
  type        = string
  default     = "http://127.0.0.1:4646"
  description = "HTTP URL of the Nomad API the agent uses to manage its warm sandbox jobs and stop used allocations."
}

variable "metrics_listen" {
  type        = string
  default     = "127.0.0.1:9464"
  description = "host:port where the agent serves /healthz and /metrics (scripts/deploy-agent.sh waits for /healthz there); on a cluster the node's address, e.g. \"$${attr.unique.network.ip-address}:9464\", so Prometheus and the node's Consul check reach it."
}

variable "acl_tokens" {
  type        = bool
  default     = false
  description = "true (a cluster with Nomad and Consul ACLs, docs/security.md): the agent's Nomad and Consul tokens come from the Nomad Variable nomad/jobs/<job_name> (items nomad_token, consul_token; scripts/nomad/acl.py agent-vars writes it), rendered into the task's secrets dir; false: no tokens."
}

variable "sandbox_namespace" {
  type        = string
  default     = "default"
  description = "Nomad namespace of the sandbox jobs (THROWBOX_AGENT_NOMAD_NAMESPACE); with ACLs throwbox-sandboxes, the only one the agent's token may submit jobs to."
}

variable "drain_timeout_s" {
  type        = number
  default     = 90
  description = "Seconds the agent keeps finishing its running runs after SIGTERM; must exceed the longest wall-time limit (60 s). Nomad kills the agent 15 s after that."
}

locals {
  bundled  = var.bundle_url != ""
  command  = local.bundled ? "local/throwbox/bin/throwbox-agent" : "${var.repo_dir}/.venv/bin/throwbox-agent"
  runtimes = local.bundled ? "local/throwbox/runtimes/runtimes.toml" : "${var.repo_dir}/runtimes/runtimes.toml"
}

job "throwbox-executor-agent" {
  id          = var.job_name
  type        = "system"
  datacenters = ["*"]
  priority    = 80

  # Only nodes that offer the sandbox runtime run an agent.
  constraint {
    attribute = "${meta.throwbox.sandbox_runtime}"
    operator  = "is_set"
  }

  update {
    max_parallel     = 1
    min_healthy_time = "5s"
    healthy_deadline = "3m"
  }

  group "agent" {
    restart {
      attempts = 10
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    task "agent" {
      driver       = "raw_exec"
      kill_signal  = "SIGTERM"
      kill_timeout = "${var.drain_timeout_s + 15}s"

      dynamic "artifact" {
        for_each = local.bundled ? [var.bundle_url] : []
        content {
          source      = artifact.value
          destination = "local"
          dynamic "options" {
            for_each = var.bundle_sha256 == "" ? [] : [var.bundle_sha256]
            content {
              checksum = "sha256:${options.value}"
            }
          }
        }
      }

      config {
        command = local.command
      }

      # The agent's tokens, readable by this job only (workload identity), as files: never in
      # the job's spec or the environment.
      dynamic "template" {
        for_each = var.acl_tokens ? ["nomad", "consul"] : []
        content {
          destination = "secrets/${template.value}-token"
          perms       = "0600"
          change_mode = "restart"
          data        = "{{ with nomadVar \"nomad/jobs/${var.job_name}\" }}{{ .${template.value}_token }}{{ end }}"
        }
      }

      # The further settings, as an environment file (an env block cannot take a map variable).
      dynamic "template" {
        for_each = length(var.env) > 0 ? [var.env] : []
        content {
          destination = "local/agent.env"
          env         = true
          data        = join("\n", [for k, v in template.value : "${k}=${jsonencode(v)}"])
        }
      }

      env {
        THROWBOX_KAFKA_BOOTSTRAP        = var.kafka_bootstrap
        THROWBOX_KAFKA_CREDENTIALS_FILE = var.kafka_credentials_file
        THROWBOX_CONSUL_ADDR            = var.consul_addr
        THROWBOX_NOMAD_ADDR             = var.nomad_addr
        # Relative to the task's dir (raw_exec's working directory).
        THROWBOX_NOMAD_TOKEN_FILE      = var.acl_tokens ? "secrets/nomad-token" : ""
        THROWBOX_CONSUL_TOKEN_FILE     = var.acl_tokens ? "secrets/consul-token" : ""
        THROWBOX_AGENT_NOMAD_NAMESPACE = var.sandbox_namespace
        THROWBOX_AGENT_NODE_ID         = "${node.unique.id}"
        # One agent a node per deployment: its node's name names it (sandbox jobs, Consul service,
        # results' node), after the deployment's prefix.
        THROWBOX_AGENT_NAME            = "${var.agent_name_prefix}${node.unique.name}"
        THROWBOX_AGENT_DATACENTER      = "${node.datacenter}"
        THROWBOX_AGENT_METRICS_LISTEN  = var.metrics_listen
        THROWBOX_AGENT_DRAIN_TIMEOUT_S = var.drain_timeout_s
        THROWBOX_RUNTIMES_FILE         = local.runtimes
        PYTHONUNBUFFERED               = "1"
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
