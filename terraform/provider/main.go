// The Throwbox provider for OpenTofu and Terraform: deploys Throwbox onto a Nomad cluster
// (throwbox_deployment) and manages functions through the public API (throwbox_function,
// data source throwbox_runtimes). Built by scripts/ensure-tofu.sh into the local provider
// mirror as registry.local/throwbox/throwbox.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/throwbox/terraform-provider-throwbox/internal/throwbox"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run with support for debuggers")
	flag.Parse()
	err := providerserver.Serve(context.Background(), throwbox.New(version), providerserver.ServeOpts{
		Address: "registry.local/throwbox/throwbox",
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
