# Consul policy of the control plane (secrets/consul-control-plane.token; also `throwbox keys`):
# its KV prefixes (control-plane/throwbox_control: auth.py, admission.py, store.py) and the
# agents' health entries (capacity and readiness; /v1/health/service also needs node read).
key_prefix "throwbox/keys/" {
  policy = "write"
}
key_prefix "throwbox/admission/" {
  policy = "write"
}
key_prefix "throwbox/functions/" {
  policy = "write"
}
key_prefix "throwbox/idempotency/" {
  policy = "write"
}
service "throwbox-agent" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
