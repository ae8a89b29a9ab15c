# The control plane (public API) as a Nomad service job: `count` instances on dynamic ports,
# each registered in Consul with a /readyz check; the load balancer (load-balancer.nomad.hcl)
# sends to the passing ones. A rolling update replaces one instance at a time, waits for its
# checks, and reverts to the last healthy version when the new one never gets healthy.
# Deployed by the throwbox_deployment of terraform/modules/throwbox; runs from the versioned
# bundle (bundle_url) or a checkout on every node (repo_dir).

variable "job_name" {
  type        = string
  default     = "throwbox-control-plane"
  description = "The job's ID (a second deployment on one Nomad cluster needs another)."
}

variable "service_name" {
  type        = string
  default     = "throwbox-api"
  description = "Consul service the instances register as; the load balancer's upstreams."
}

variable "instances" {
  type        = number
  default     = 2
  description = "Control plane instances (at least 2: one may be replaced while the other serves)."
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
  description = "Absolute path of a Throwbox checkout with its .venv on every node; unused when bundle_url is set."
}

variable "kafka_bootstrap" {
  type        = string
  default     = "127.0.0.1:9092"
  description = "Kafka bootstrap servers (comma-separated host:port)."
}

variable "kafka_credentials_file" {
  type        = string
  default     = ""
  description = "Absolute path on every node of the control plane principal's Kafka SASL/SCRAM credentials file (username=, password=; mode 0600, readable by the Nomad client's user). Empty: unauthenticated, which the project's brokers refuse."
}

variable "consul_addr" {
  type        = string
  default     = "http://127.0.0.1:8500"
  description = "HTTP URL of the Consul agent (API keys, functions, admission)."
}

variable "nomad_addr" {
  type        = string
  default     = "http://127.0.0.1:4646"
  description = "HTTP URL of the Nomad API (readiness)."
}

variable "acl_tokens" {
  type        = bool
  default     = false
  description = "true (Consul with ACLs, docs/security.md): the control plane's Consul token comes from the Nomad Variable nomad/jobs/<job_name> (item consul_token), rendered into the task's secrets dir; false: no token."
}

variable "env" {
  type        = map(string)
  default     = {}
  description = "Further THROWBOX_CP_* settings of every instance, by name (docs/settings.md lists them)."
}

locals {
  bundled = var.bundle_url != ""
  command = local.bundled ? "local/throwbox/bin/throwbox-control-plane" : "${var.repo_dir}/.venv/bin/throwbox-control-plane"
}

job "throwbox-control-plane" {
  id          = var.job_name
  type        = "service"
  datacenters = ["*"]
  priority    = 70

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "5s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }

  group "api" {
    count = var.instances

    # Two instances on one node are allowed (a single-node cluster); spread when there are more.
    spread {
      attribute = "${node.unique.id}"
    }

    network {
      port "http" {}
    }

    service {
      name     = var.service_name
      port     = "http"
      provider = "consul"
      check {
        name     = "readyz"
        type     = "http"
        path     = "/readyz"
        interval = "5s"
        timeout  = "2s"
      }
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    task "control-plane" {
      driver      = "raw_exec"
      kill_signal = "SIGTERM"
      # Deregistered from Consul first: the load balancer stops sending it requests before it stops.
      shutdown_delay = "5s"
      kill_timeout   = "30s"

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

      env {
        THROWBOX_KAFKA_BOOTSTRAP        = var.kafka_bootstrap
        THROWBOX_KAFKA_CREDENTIALS_FILE = var.kafka_credentials_file
        THROWBOX_CONSUL_ADDR            = var.consul_addr
        THROWBOX_NOMAD_ADDR             = var.nomad_addr
        # Relative to the task's dir (raw_exec's working directory).
        THROWBOX_CONSUL_TOKEN_FILE = var.acl_tokens ? "secrets/consul-token" : ""
        THROWBOX_CP_HOST           = "${NOMAD_IP_http}"
        THROWBOX_CP_PORT           = "${NOMAD_PORT_http}"
        THROWBOX_CP_INSTANCE_ID    = "${node.unique.name}-${NOMAD_ALLOC_INDEX}"
        PYTHONUNBUFFERED           = "1"
      }

      # Its Consul token, readable by this job only (workload identity), as a file.
      dynamic "template" {
        for_each = var.acl_tokens ? ["consul"] : []
        content {
          destination = "secrets/${template.value}-token"
          perms       = "0600"
          change_mode = "restart"
          data        = "{{ with nomadVar \"nomad/jobs/${var.job_name}\" }}{{ .${template.value}_token }}{{ end }}"
        }
      }

      dynamic "template" {
        for_each = length(var.env) > 0 ? [var.env] : []
        content {
          destination = "local/control-plane.env"
          env         = true
          data        = join("\n", [for k, v in template.value : "${k}=${jsonencode(v)}"])
        }
      }

      resources {
        cpu    = 300
        memory = 768
      }
    }
  }
}
