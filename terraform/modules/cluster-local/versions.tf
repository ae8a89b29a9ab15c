terraform {
  # No provider: node-config renders, this module only arranges it per node.
  required_version = ">= 1.9.0"
}
