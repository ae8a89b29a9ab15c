# Consul policy of the cluster's operations (ops/consul_file_sd.py: the catalog -> Prometheus
# file_sd bridge): read services and nodes.
service_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
