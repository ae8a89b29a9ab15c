# Creates Throwbox's Kafka topics when missing (scripts/create_topics.py; existing topics are
# left as they are): a batch job the throwbox_deployment registers first and waits for. With
# remove = true, a second deployment's destroy job: its runs topic and ACLs deleted.

variable "job_name" {
  type        = string
  default     = "throwbox-kafka-topics"
  description = "The job's ID (a second deployment on one Nomad cluster needs another)."
}

variable "bundle_url" {
  type        = string
  default     = ""
  description = "URL of the Throwbox bundle (scripts/build-artifacts.sh); empty: run from repo_dir."
}

variable "bundle_sha256" {
  type        = string
  default     = ""
  description = "sha256 of the bundle, checked by Nomad after the download; empty: unchecked."
}

variable "repo_dir" {
  type        = string
  default     = ""
  description = "Absolute path of a Throwbox checkout with its .venv on the node; unused when bundle_url is set."
}

variable "kafka_bootstrap" {
  type        = string
  default     = "127.0.0.1:9092"
  description = "Kafka bootstrap servers (comma-separated host:port)."
}

variable "kafka_credentials_file" {
  type        = string
  default     = ""
  description = "Absolute path on the node of the Kafka admin's SASL/SCRAM credentials file (username=, password=; mode 0600): creating topics and the platform's ACLs needs the admin. Empty: unauthenticated, which the project's brokers refuse."
}

variable "replication_factor" {
  type        = number
  default     = 1
  description = "Replication factor of the created topics (3 on a cluster with 3 brokers)."
}

variable "min_insync_replicas" {
  type        = number
  default     = 0
  description = "min.insync.replicas of the created topics (2 with 3 brokers: an acknowledged write is on two); 0: the brokers' default."
}

variable "runs_topic" {
  type        = string
  default     = "throwbox.runs"
  description = "The deployment's runs topic (created like throwbox.runs, with its ACLs for the agent and control plane principals); the shared topics are created as well when missing."
}

variable "agent_group" {
  type        = string
  default     = "throwbox-agents"
  description = "Consumer group of the deployment's agents on runs_topic (the agent principal's ACL)."
}

variable "remove" {
  type        = bool
  default     = false
  description = "Instead: delete runs_topic and the ACLs of it and agent_group (a second deployment's, on its destroy)."
}

locals {
  bundled = var.bundle_url != ""
  command = local.bundled ? "local/throwbox/bin/throwbox-create-topics" : "${var.repo_dir}/.venv/bin/python"
  args    = local.bundled ? [] : ["${var.repo_dir}/scripts/create_topics.py"]
}

job "throwbox-kafka-topics" {
  id          = var.job_name
  type        = "batch"
  datacenters = ["*"]

  group "topics" {
    restart {
      attempts = 3
      delay    = "10s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 2
      interval  = "10m"
      unlimited = false
    }

    task "create" {
      driver = "raw_exec"

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
        args = concat(local.args,
          ["--bootstrap", var.kafka_bootstrap, "--wait-s", "120", "--replication-factor", "${var.replication_factor}",
          "--runs-topic", var.runs_topic, "--agent-group", var.agent_group],
          var.min_insync_replicas > 0 ? ["--min-insync-replicas", "${var.min_insync_replicas}"] : [],
        var.remove ? ["--remove"] : [])
      }

      env {
        THROWBOX_KAFKA_CREDENTIALS_FILE = var.kafka_credentials_file
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
