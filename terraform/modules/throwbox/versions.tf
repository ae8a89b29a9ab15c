terraform {
  # Cross-variable references in preconditions and mock providers: OpenTofu 1.8+.
  required_version = ">= 1.8.0"
  required_providers {
    throwbox = {
      # Built from terraform/provider by scripts/ensure-tofu.sh into a local filesystem mirror.
      source  = "registry.local/throwbox/throwbox"
      version = "~> 0.1"
    }
  }
}
