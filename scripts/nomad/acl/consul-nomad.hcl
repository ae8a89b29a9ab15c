# Consul policy of the Nomad agents (their consul { token }, secrets/consul-nomad.token): Nomad
# registers its own servers and clients (services nomad, nomad-client) and jobs' services.
agent_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
service_prefix "" {
  policy = "write"
}
