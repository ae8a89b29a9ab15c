// Command throwbox-nodes is a nomad-autoscaler (v0.3.7) target plugin that adds and removes the
// local cluster's worker nodes (scripts/cluster/worker.sh) for a cluster scaling policy.
package main

import (
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad-autoscaler/plugins"
)

func main() {
	plugins.Serve(func(log hclog.Logger) interface{} { return NewPlugin(log) })
}
