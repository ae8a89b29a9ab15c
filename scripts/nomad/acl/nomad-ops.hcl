# Nomad policy of the cluster's operations (nomad-autoscaler and its throwbox-nodes target
# plugin, scripts/cluster/ops.sh): read jobs and scaling policies everywhere, drain and mark
# nodes ineligible (node write). It cannot submit jobs.
namespace "*" {
  policy       = "read"
  capabilities = ["list-scaling-policies", "read-scaling-policy", "read-job-scaling"]
}

node {
  policy = "write"
}

agent {
  policy = "read"
}

operator {
  policy = "read"
}
