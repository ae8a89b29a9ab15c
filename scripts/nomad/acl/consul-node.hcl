# Consul policy of the Consul agents themselves (acl.tokens.agent, secrets/consul-node.token):
# register their node and its checks in the catalog.
node_prefix "" {
  policy = "write"
}
service_prefix "" {
  policy = "read"
}
