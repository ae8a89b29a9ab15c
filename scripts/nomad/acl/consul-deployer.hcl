# Consul policy of a Terraform deployment (terraform/modules/throwbox, secrets/consul-deployer.token):
# write and delete the records a deployment keeps of itself, throwbox/deployment/ (the default
# deployment's) and throwbox/deployment/<name_prefix>/ (a second one's). No tenant data (keys,
# quotas, functions): kv_defaults elsewhere under throwbox/ or purge_data_on_destroy need the
# management token.
key_prefix "throwbox/deployment/" {
  policy = "write"
}
