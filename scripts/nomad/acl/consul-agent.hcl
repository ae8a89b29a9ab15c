# Consul policy of the executor agent (secrets/consul-agent.token): register and deregister its
# throwbox-agent service instance with its health check, and read the other agents' health
# (liveness). No KV at all.
service "throwbox-agent" {
  policy = "write"
}
node_prefix "" {
  policy = "read"
}
