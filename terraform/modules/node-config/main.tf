# Pure rendering, no provider: the configuration files of Nomad, Consul and Docker on the
# server and worker nodes of a Throwbox cluster, and the cloud-init user data that installs
# them. Values follow scripts/start-nomad.sh, start-consul.sh and start-docker.sh (README.md
# says which come from where), so the local stack and a cluster agree.

locals {
  nomad_data_dir  = var.nomad_data_dir
  consul_data_dir = var.consul_data_dir

  # Both flags are required on our platform (docs/security.md, /work/shared platform notes):
  # without --network=none every sandbox start fails; without --oci-seccomp gVisor silently
  # ignores the sandbox's seccomp profile.
  runsc_args = concat(["--network=none", "--oci-seccomp"], var.runsc_extra_args)

  worker_meta = merge(
    var.worker_meta,
    length(var.kafka_bootstrap) > 0 ? { "throwbox.kafka_bootstrap" = join(",", var.kafka_bootstrap) } : {},
    # The executor agent's system job runs only on nodes that set this (nomad-jobs/executor-agent.nomad.hcl).
    { "throwbox.sandbox_runtime" = var.sandbox_runtime },
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
    node_name      = var.node_name
    # RPC mutual TLS with scripts/nomad/tls.sh's file names; per role below.
    tls     = var.rpc_tls_enabled
    tls_ca  = "${var.tls_dir}/ca.pem"
    verify  = var.tls_verify
    tls_dir = var.tls_dir
  }

  # The PEM files each role's user data writes into tls_dir (none when rpc_tls is null), with
  # scripts/nomad/tls.sh's names.
  tls_files = {
    for role in ["server", "client"] : role => {
      for name, key in {
        "ca.pem"                 = "ca_pem"
        "consul-${role}.pem"     = "consul_${role}_cert_pem"
        "consul-${role}-key.pem" = "consul_${role}_key_pem"
        "nomad-${role}.pem"      = "nomad_${role}_cert_pem"
        "nomad-${role}-key.pem"  = "nomad_${role}_key_pem"
      } : "${var.tls_dir}/${name}" => var.rpc_tls[key] if var.rpc_tls_enabled && var.rpc_tls != null
    }
  }

  nomad_server = templatefile("${path.module}/templates/nomad-server.hcl.tftpl", merge(local.common, {
    data_dir = local.nomad_data_dir
    tls_role = "server"
  }))

  nomad_client = templatefile("${path.module}/templates/nomad-client.hcl.tftpl", merge(local.common, {
    data_dir                      = local.nomad_data_dir
    tls_role                      = "client"
    node_class                    = var.worker_node_class
    meta                          = local.worker_meta
    reconcile_dangling_containers = var.reconcile_dangling_containers
    network_interface             = var.nomad_network_interface
    cgroup_parent                 = var.nomad_cgroup_parent
  }))

  consul_server = templatefile("${path.module}/templates/consul.hcl.tftpl", merge(local.common, {
    data_dir    = local.consul_data_dir
    server      = true
    tls_role    = "server"
    client_addr = join(" ", var.consul_client_addr)
  }))

  consul_client = templatefile("${path.module}/templates/consul.hcl.tftpl", merge(local.common, {
    data_dir    = local.consul_data_dir
    server      = false
    tls_role    = "client"
    client_addr = join(" ", var.consul_client_addr)
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
  server_files = merge(local.tls_files.server, {
    "/etc/nomad.d/nomad.hcl"             = local.nomad_server
    "/etc/consul.d/consul.hcl"           = local.consul_server
    "/etc/systemd/system/nomad.service"  = templatefile("${path.module}/templates/nomad.service.tftpl", { binary_dir = var.binary_dir, worker = false })
    "/etc/systemd/system/consul.service" = templatefile("${path.module}/templates/consul.service.tftpl", { binary_dir = var.binary_dir })
  })

  worker_files = merge(local.tls_files.client, {
    "/etc/nomad.d/nomad.hcl"             = local.nomad_client
    "/etc/consul.d/consul.hcl"           = local.consul_client
    "/etc/docker/daemon.json"            = local.docker_daemon_json
    "/etc/systemd/system/nomad.service"  = templatefile("${path.module}/templates/nomad.service.tftpl", { binary_dir = var.binary_dir, worker = true })
    "/etc/systemd/system/consul.service" = templatefile("${path.module}/templates/consul.service.tftpl", { binary_dir = var.binary_dir })
  })

  # Root only: the agents' configs (tokens, gossip keys) and the TLS keys.
  secret_file = { for path in keys(merge(local.server_files, local.worker_files)) : path => endswith(path, ".hcl") || endswith(path, "-key.pem") }

  start_agents = [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", "consul.service"],
    ["systemctl", "enable", "--now", "nomad.service"],
  ]

  server_cloud_config = {
    ssh_authorized_keys = var.ssh_authorized_keys
    write_files         = [for path, content in local.server_files : { path = path, content = content, permissions = local.secret_file[path] ? "0600" : "0644" }]
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
    write_files    = [for path, content in local.worker_files : { path = path, content = content, permissions = local.secret_file[path] ? "0600" : "0644" }]
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
