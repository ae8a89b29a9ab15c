# Pure rendering, no provider: the configuration files of Nomad, Consul and Docker on the
# server and worker nodes of a Throwbox cluster, and the cloud-init user data that installs
# them. Values follow scripts/start-nomad.sh, start-consul.sh and start-docker.sh (README.md
# says which come from where), so the local stack and a cluster agree.

locals {
  nomad_data_dir  = "/opt/nomad/data"
  consul_data_dir = "/opt/consul/data"

  # Both flags are required on our platform (docs/security.md, /work/shared platform notes):
  # without --network=none every sandbox start fails; without --oci-seccomp gVisor silently
  # ignores the sandbox's seccomp profile.
  runsc_args = concat(["--network=none", "--oci-seccomp"], var.runsc_extra_args)

  worker_meta = merge(
    var.worker_meta,
    length(var.kafka_bootstrap) > 0 ? { "throwbox.kafka_bootstrap" = join(",", var.kafka_bootstrap) } : {},
    # The executor agent's system job runs only on nodes that set this (nomad-jobs/executor-agent.nomad.hcl).
    { "throwbox.sandbox_runtime" = "runsc" },
  )

  # Empty strings without ACLs: the templates render the ACL blocks only when acl is set.
  secrets = var.acl_enabled ? var.cluster_secrets : {
    consul_gossip_key = "", nomad_gossip_key = "", consul_management_token = "", consul_node_token = "", consul_nomad_token = ""
  }

  common = {
    acl            = var.acl_enabled
    secrets        = local.secrets
    datacenter     = var.datacenter
    region         = var.region
    advertise_addr = var.advertise_addr
    retry_join     = var.server_addresses
    server_count   = var.server_count
  }

  nomad_server = templatefile("${path.module}/templates/nomad-server.hcl.tftpl", merge(local.common, {
    data_dir = local.nomad_data_dir
  }))

  nomad_client = templatefile("${path.module}/templates/nomad-client.hcl.tftpl", merge(local.common, {
    data_dir                      = local.nomad_data_dir
    node_class                    = var.worker_node_class
    meta                          = local.worker_meta
    reconcile_dangling_containers = var.reconcile_dangling_containers
  }))

  consul_server = templatefile("${path.module}/templates/consul.hcl.tftpl", merge(local.common, {
    data_dir = local.consul_data_dir
    server   = true
  }))

  consul_client = templatefile("${path.module}/templates/consul.hcl.tftpl", merge(local.common, {
    data_dir = local.consul_data_dir
    server   = false
  }))

  docker_daemon_json = jsonencode({
    runtimes = {
      runsc = {
        path        = var.runsc_path
        runtimeArgs = local.runsc_args
      }
    }
  })

  # Files per role, path => content: what the user data writes, and what another provisioner
  # (an image build, configuration management) can write instead.
  server_files = {
    "/etc/nomad.d/nomad.hcl"             = local.nomad_server
    "/etc/consul.d/consul.hcl"           = local.consul_server
    "/etc/systemd/system/nomad.service"  = templatefile("${path.module}/templates/nomad.service.tftpl", { binary_dir = var.binary_dir, worker = false })
    "/etc/systemd/system/consul.service" = templatefile("${path.module}/templates/consul.service.tftpl", { binary_dir = var.binary_dir })
  }

  worker_files = {
    "/etc/nomad.d/nomad.hcl"             = local.nomad_client
    "/etc/consul.d/consul.hcl"           = local.consul_client
    "/etc/docker/daemon.json"            = local.docker_daemon_json
    "/etc/systemd/system/nomad.service"  = templatefile("${path.module}/templates/nomad.service.tftpl", { binary_dir = var.binary_dir, worker = true })
    "/etc/systemd/system/consul.service" = templatefile("${path.module}/templates/consul.service.tftpl", { binary_dir = var.binary_dir })
  }

  start_agents = [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", "consul.service"],
    ["systemctl", "enable", "--now", "nomad.service"],
  ]

  server_cloud_config = {
    ssh_authorized_keys = var.ssh_authorized_keys
    # The agents' configs carry tokens and gossip keys: root only.
    write_files = [for path, content in local.server_files : { path = path, content = content, permissions = endswith(path, ".hcl") ? "0600" : "0644" }]
    runcmd = concat(
      [["mkdir", "-p", local.nomad_data_dir, local.consul_data_dir]],
      local.start_agents,
    )
  }

  worker_cloud_config = {
    ssh_authorized_keys = var.ssh_authorized_keys
    # A fresh image's apt lists are empty: update them before installing.
    package_update = var.install_packages
    packages       = var.install_packages ? ["docker.io", "runsc"] : []
    write_files    = [for path, content in local.worker_files : { path = path, content = content, permissions = endswith(path, ".hcl") ? "0600" : "0644" }]
    runcmd = concat(
      [["mkdir", "-p", local.nomad_data_dir, local.consul_data_dir]],
      # dockerd reads daemon.json (runsc registered) only when it starts.
      [["systemctl", "restart", "docker.service"]],
      local.start_agents,
    )
  }

  server_user_data = "#cloud-config\n${yamlencode(local.server_cloud_config)}"
  worker_user_data = "#cloud-config\n${yamlencode(local.worker_cloud_config)}"
}
