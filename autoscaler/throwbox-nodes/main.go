// Command throwbox-nodes is a nomad-autoscaler (v0.3.7) target plugin for the Throwbox worker
// fleet. One binary, two modes chosen by the agent's target block (config key "mode"):
//   - "local" (the default): adds and removes the local cluster's workers through a command
//     (scripts/cluster/worker.sh), plugin.go;
//   - "openstack": creates and deletes Nova servers of a worker group, openstack.go.
package main

import (
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad-autoscaler/plugins"
)

func main() {
	plugins.Serve(func(log hclog.Logger) interface{} { return NewTarget(log) })
}
