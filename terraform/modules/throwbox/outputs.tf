output "api_url" {
  description = "The one client address of Throwbox: the load balancer's HTTPS URL (append /v1/...)."
  value       = local.api_url
}

output "ready_url" {
  description = "The readiness URL through the load balancer that every apply waited for."
  value       = local.ready_url
}

output "job_ids" {
  description = "Nomad job IDs of the deployment by role (topics, agent, control_plane, load_balancer)."
  value       = local.names
}

output "job_digests" {
  description = "Digest of each job's spec as Nomad parsed it; an apply re-registers exactly the jobs whose digest changes."
  value       = throwbox_deployment.this.job_digests
}

output "api_service" {
  description = "Consul service name of the control plane instances (the load balancer's upstreams)."
  value       = local.api_service
}

output "tls_generated" {
  description = "Whether the load balancer serves a self-signed certificate generated on its node (no tls_cert_pem given)."
  value       = nonsensitive(var.tls_cert_pem == "")
}
