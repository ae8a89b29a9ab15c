terraform {
  # Validations that refer to other variables need Terraform >= 1.9; tested with OpenTofu 1.12.6.
  required_version = ">= 1.9.0"

  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 3.4"
    }
  }
}
