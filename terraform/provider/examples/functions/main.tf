# Functions as code: a tenant's functions managed through Throwbox's public API with its key,
# checked against the runtimes the API offers.
#   THROWBOX_API_KEY=... tofu apply -var api_url=https://127.0.0.1:8443

terraform {
  required_providers {
    throwbox = {
      source  = "registry.local/throwbox/throwbox"
      version = "~> 0.1"
    }
  }
}

variable "api_url" {
  type        = string
  default     = "https://127.0.0.1:8443"
  description = "Throwbox's API (the deployment's load balancer)."
}

variable "api_insecure" {
  type        = bool
  default     = true
  description = "Accept the load balancer's generated certificate."
}

provider "throwbox" {
  api_url      = var.api_url
  api_insecure = var.api_insecure
  # api_key from $THROWBOX_API_KEY
}

data "throwbox_runtimes" "all" {}

resource "throwbox_function" "greet" {
  name        = "greet"
  language    = "python"
  description = "Greets the name in its JSON input."
  files = [{
    name    = "main.py"
    content = "import json, sys\nprint('hello, ' + json.load(sys.stdin)['name'])\n"
  }]

  lifecycle {
    precondition {
      condition     = contains([for r in data.throwbox_runtimes.all.runtimes : r.language], "python")
      error_message = "The API offers no python runtime."
    }
  }
}

output "languages" {
  description = "Languages the API offers."
  value       = distinct([for r in data.throwbox_runtimes.all.runtimes : r.language])
}

output "function_revision" {
  description = "The stored revision of the greet function."
  value       = throwbox_function.greet.revision
}
