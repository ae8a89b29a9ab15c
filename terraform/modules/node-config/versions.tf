terraform {
  # Variable validations that refer to other variables need OpenTofu 1.8 / Terraform 1.9.
  required_version = ">= 1.8.0"
}
