# The executor agent: one per Nomad client that offers gVisor sandboxes. It consumes runs
# from Kafka, hands them to warm sandbox allocations and stops each used allocation.
# Deployed by scripts/deploy-agent.sh; raw_exec because it drives Docker and Nomad itself.

variable "repo_dir" {
  type        = string
  description = "Absolute path of the Throwbox checkout on every client node; the agent runs <repo_dir>/.venv/bin/throwbox-agent and reads <repo_dir>/runtimes/runtimes.toml."
}

variable "kafka_bootstrap" {
  type        = string
  default     = "127.0.0.1:9092"
  description = "Kafka bootstrap servers (comma-separated host:port) the agent consumes throwbox.runs and throwbox.control from and writes throwbox.events to."
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

variable "drain_timeout_s" {
  type        = number
  default     = 90
  description = "Seconds the agent keeps finishing its running runs after SIGTERM; must exceed the longest wall-time limit (60 s). Nomad kills the agent 15 s after that."
}

job "throwbox-executor-agent" {
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

      config {
        command = "${var.repo_dir}/.venv/bin/throwbox-agent"
      }

      env {
        THROWBOX_KAFKA_BOOTSTRAP       = var.kafka_bootstrap
        THROWBOX_CONSUL_ADDR           = var.consul_addr
        THROWBOX_NOMAD_ADDR            = var.nomad_addr
        THROWBOX_AGENT_NODE_ID         = "${node.unique.id}"
        # One agent a node: its node's name names it (sandbox jobs, Consul service, results' node).
        THROWBOX_AGENT_NAME            = "${node.unique.name}"
        THROWBOX_AGENT_DATACENTER      = "${node.datacenter}"
        THROWBOX_AGENT_METRICS_LISTEN  = var.metrics_listen
        THROWBOX_AGENT_DRAIN_TIMEOUT_S = var.drain_timeout_s
        THROWBOX_RUNTIMES_FILE         = "${var.repo_dir}/runtimes/runtimes.toml"
        PYTHONUNBUFFERED               = "1"
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
