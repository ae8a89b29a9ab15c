package main

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad-autoscaler/plugins/base"
	"github.com/hashicorp/nomad-autoscaler/plugins/target"
	"github.com/hashicorp/nomad-autoscaler/sdk"
)

// keyMode selects the implementation; the autoscaler starts one plugin process per agent
// target block, so each block has its own mode.
const keyMode = "mode"

const (
	modeLocal     = "local"
	modeOpenStack = "openstack"
)

// Target is what the binary serves: it picks the implementation from the agent's target
// config (SetConfig) and forwards to it.
type Target struct {
	log  hclog.Logger
	impl target.Target
}

var _ target.Target = (*Target)(nil)

// NewTarget returns an unconfigured target (SetConfig chooses the mode).
func NewTarget(log hclog.Logger) *Target { return &Target{log: log} }

// PluginInfo implements base.Base: one plugin name for both modes.
func (t *Target) PluginInfo() (*base.PluginInfo, error) {
	return &base.PluginInfo{Name: pluginName, PluginType: sdk.PluginTypeTarget}, nil
}

// SetConfig implements base.Base.
func (t *Target) SetConfig(config map[string]string) error {
	var impl target.Target
	switch mode := config[keyMode]; mode {
	case "", modeLocal:
		impl = NewPlugin(t.log)
	case modeOpenStack:
		impl = NewOpenStack(t.log)
	default:
		return fmt.Errorf("%s: %q is not %q or %q", keyMode, mode, modeLocal, modeOpenStack)
	}
	if err := impl.SetConfig(config); err != nil {
		return err
	}
	t.impl = impl
	return nil
}

// Status implements target.Target.
func (t *Target) Status(cfg map[string]string) (*sdk.TargetStatus, error) {
	if t.impl == nil {
		return nil, fmt.Errorf("%s: not configured", pluginName)
	}
	return t.impl.Status(cfg)
}

// Scale implements target.Target.
func (t *Target) Scale(action sdk.ScalingAction, cfg map[string]string) error {
	if t.impl == nil {
		return fmt.Errorf("%s: not configured", pluginName)
	}
	return t.impl.Scale(action, cfg)
}
