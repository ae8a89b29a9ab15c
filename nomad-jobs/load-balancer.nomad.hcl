# The one client address of Throwbox: Debian's HAProxy (package haproxy, /usr/sbin/haproxy on
# the node) terminating TLS and balancing over the control plane instances Consul reports
# (the template re-renders on every change of the service and HAProxy reloads without
# dropping connections). TLS with the operator's certificate, or a self-signed one generated
# at start (a local apply). Deployed by the throwbox_deployment of terraform/modules/throwbox.

variable "job_name" {
  type        = string
  default     = "throwbox-load-balancer"
  description = "The job's ID (a second deployment on one Nomad cluster needs another)."
}

variable "service_name" {
  type        = string
  default     = "throwbox-api"
  description = "Consul service of the control plane instances (the upstreams)."
}

variable "lb_service_name" {
  type        = string
  default     = "throwbox-lb"
  description = "Consul service the load balancer registers as."
}

variable "listen_address" {
  type        = string
  default     = "0.0.0.0"
  description = "Address HAProxy binds its HTTPS listener to."
}

variable "https_port" {
  type        = number
  default     = 8443
  description = "Static port of the HTTPS listener on the load balancer's node."
}

variable "tls_cert_pem" {
  type        = string
  default     = ""
  description = "PEM certificate (chain) of the listener; empty: a self-signed one is generated at start."
}

variable "tls_key_pem" {
  type        = string
  default     = ""
  description = "PEM private key of tls_cert_pem."
}

variable "haproxy_bin" {
  type        = string
  default     = "/usr/sbin/haproxy"
  description = "HAProxy on the node (Debian package haproxy)."
}

variable "node_constraint" {
  type        = string
  default     = ""
  description = "Nomad node class the load balancer runs on; empty: any node."
}

variable "node_name" {
  type        = string
  default     = ""
  description = "Nomad node name the load balancer runs on, so its address is known (a cluster whose clients are all workers); empty: any node."
}

job "throwbox-load-balancer" {
  id          = var.job_name
  type        = "service"
  datacenters = ["*"]
  priority    = 70

  dynamic "constraint" {
    for_each = var.node_constraint == "" ? [] : [var.node_constraint]
    content {
      attribute = "${node.class}"
      value     = constraint.value
    }
  }

  dynamic "constraint" {
    for_each = var.node_name == "" ? [] : [var.node_name]
    content {
      attribute = "${node.unique.name}"
      value     = constraint.value
    }
  }

  update {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "5s"
    healthy_deadline = "2m"
    auto_revert      = true
  }

  group "lb" {
    count = 1

    network {
      port "https" {
        static = var.https_port
      }
    }

    service {
      name     = var.lb_service_name
      port     = "https"
      provider = "consul"
      check {
        name     = "tls"
        type     = "tcp"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "haproxy" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["local/start.sh"]
      }

      # The operator's certificate and key (HAProxy reads both from one file).
      template {
        destination = "secrets/operator.pem"
        perms       = "0600"
        data        = var.tls_cert_pem == "" ? "# none" : "${trimspace(var.tls_cert_pem)}\n${trimspace(var.tls_key_pem)}\n"
      }

      template {
        destination = "local/start.sh"
        data        = <<-SH
          set -e
          cert="$NOMAD_SECRETS_DIR/listener.pem"
          if grep -q "BEGIN" "$NOMAD_SECRETS_DIR/operator.pem"; then
            cp "$NOMAD_SECRETS_DIR/operator.pem" "$cert"
          elif [ ! -s "$cert" ]; then
            openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=throwbox" \
              -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:$NOMAD_IP_https" \
              -keyout "$NOMAD_SECRETS_DIR/generated.key" -out "$NOMAD_SECRETS_DIR/generated.crt" 2>/dev/null
            cat "$NOMAD_SECRETS_DIR/generated.crt" "$NOMAD_SECRETS_DIR/generated.key" >"$cert"
          fi
          chmod 600 "$cert"
          # -W: master-worker, so SIGUSR2 reloads the configuration without dropping connections.
          exec ${var.haproxy_bin} -W -db -f "$NOMAD_TASK_DIR/haproxy.cfg"
        SH
      }

      template {
        destination   = "local/haproxy.cfg"
        change_mode   = "signal"
        change_signal = "SIGUSR2"
        # An instance leaving Consul (5 s before it stops) leaves HAProxy within a second or so.
        wait {
          min = "500ms"
          max = "2s"
        }
        data = <<-CFG
          global
            maxconn 4096
            log stderr format short local0 warning
          defaults
            mode http
            log global
            option httplog
            timeout connect 5s
            timeout client 90s
            timeout server 90s
            timeout http-request 30s
            # A request the chosen instance refused at connect goes to another one.
            retries 3
            option redispatch
          frontend api
            bind ${var.listen_address}:{{ env "NOMAD_PORT_https" }} ssl crt {{ env "NOMAD_SECRETS_DIR" }}/listener.pem
            option forwardfor
            default_backend control_plane
          backend control_plane
            balance leastconn
            option httpchk GET /readyz
            http-check expect status 200
          {{- range service "${var.service_name}" }}
            server {{ .ID | replaceAll ":" "_" }} {{ .Address }}:{{ .Port }} check inter 2s fall 2 rise 1
          {{- end }}
        CFG
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
