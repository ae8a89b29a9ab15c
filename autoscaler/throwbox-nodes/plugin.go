package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad-autoscaler/plugins/base"
	"github.com/hashicorp/nomad-autoscaler/plugins/target"
	"github.com/hashicorp/nomad-autoscaler/sdk"
	"github.com/hashicorp/nomad-autoscaler/sdk/helper/nomad"
	"github.com/hashicorp/nomad-autoscaler/sdk/helper/scaleutils/nodepool"
	"github.com/hashicorp/nomad-autoscaler/sdk/helper/scaleutils/nodeselector"
	"github.com/hashicorp/nomad/api"
)

const pluginName = "throwbox-nodes"

// Configuration keys: from the agent's target block (SetConfig) or the policy's target block
// (Status/Scale; the policy wins).
const (
	keyCommand        = "command"            // the worker script: `<command> add`, `<command> remove <name>`
	keyCommandTimeout = "command_timeout"    // the longest one add/remove may take (default 5m)
	keyReadyTimeout   = "node_ready_timeout" // the longest an added node may take to be ready (default 3m)
	keyDrainDeadline  = sdk.TargetConfigKeyDrainDeadline
	keyPollInterval   = "poll_interval" // how often node state is read while waiting (default 1s)
)

const (
	defaultCommandTimeout = 5 * time.Minute
	defaultReadyTimeout   = 3 * time.Minute
	defaultDrainDeadline  = 3 * time.Minute
	// drainGrace: how long past the drain deadline the plugin waits for Nomad to report the
	// drain complete (system jobs such as the agent stop only after the others are gone).
	drainGrace          = 2 * time.Minute
	defaultPollInterval = time.Second
	nodeStatusReady     = "ready"
	nodeStatusInit      = "initializing"
	nodeEligible        = "eligible"
)

var _ target.Target = (*Plugin)(nil)

// Plugin is the target: a pool of Nomad client nodes (by node class and/or datacenter) whose
// members are started and stopped by a local command.
type Plugin struct {
	log    hclog.Logger
	config map[string]string
	nomad  *api.Client

	mu        sync.Mutex
	busy      bool  // a scale action runs: Status says not ready
	lastEvent int64 // unix ns of the end of the last scale action (0: none yet)
}

// NewPlugin returns an unconfigured plugin (SetConfig configures it).
func NewPlugin(log hclog.Logger) *Plugin { return &Plugin{log: log} }

// PluginInfo implements base.Base.
func (p *Plugin) PluginInfo() (*base.PluginInfo, error) {
	return &base.PluginInfo{Name: pluginName, PluginType: sdk.PluginTypeTarget}, nil
}

// SetConfig implements base.Base. The autoscaler merges its own Nomad settings (nomad_address,
// ...) into config; a nomad_address given here wins.
func (p *Plugin) SetConfig(config map[string]string) error {
	client, err := api.NewClient(nomad.ConfigFromNamespacedMap(config))
	if err != nil {
		return fmt.Errorf("nomad client: %v", err)
	}
	p.config = config
	p.nomad = client
	return nil
}

// value reads a key from the policy's target config, then the plugin's config.
func (p *Plugin) value(cfg map[string]string, key string) (string, bool) {
	if v, ok := cfg[key]; ok && v != "" {
		return v, true
	}
	v, ok := p.config[key]
	return v, ok && v != ""
}

func (p *Plugin) duration(cfg map[string]string, key string, def time.Duration) (time.Duration, error) {
	v, ok := p.value(cfg, key)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration", key, v)
	}
	return d, nil
}

// poolConfig is the pool identification (node_class, datacenter) from either config.
func (p *Plugin) poolConfig(cfg map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{sdk.TargetConfigKeyClass, sdk.TargetConfigKeyDatacenter, sdk.TargetConfigNodeSelectorStrategy} {
		if v, ok := p.value(cfg, k); ok {
			out[k] = v
		}
	}
	return out
}

// pool lists the pool's nodes: all of them, and those that count (ready, eligible, not draining).
func (p *Plugin) pool(cfg map[string]string) (all, counted []*api.NodeListStub, err error) {
	ident, err := nodepool.NewClusterNodePoolIdentifier(p.poolConfig(cfg))
	if err != nil {
		return nil, nil, err
	}
	nodes, _, err := p.nomad.Nodes().List(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("listing Nomad nodes: %v", err)
	}
	for _, n := range nodes {
		if !ident.IsPoolMember(n) {
			continue
		}
		all = append(all, n)
		if counts(n) {
			counted = append(counted, n)
		}
	}
	return all, counted, nil
}

func counts(n *api.NodeListStub) bool {
	return n.Status == nodeStatusReady && n.SchedulingEligibility == nodeEligible && !n.Drain
}

// Status implements target.Target: Count is the pool's ready, eligible nodes; Ready is false
// while a scale action of this plugin runs or a pool node is starting or draining.
func (p *Plugin) Status(cfg map[string]string) (*sdk.TargetStatus, error) {
	all, counted, err := p.pool(cfg)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	busy, last := p.busy, p.lastEvent
	p.mu.Unlock()
	ready := !busy
	for _, n := range all {
		if n.Status == nodeStatusInit || n.Drain {
			ready = false
		}
	}
	st := &sdk.TargetStatus{Ready: ready, Count: int64(len(counted)), Meta: map[string]string{}}
	if last > 0 {
		st.Meta[sdk.TargetStatusMetaKeyLastEvent] = strconv.FormatInt(last, 10)
	}
	return st, nil
}

// Scale implements target.Target. Out: `<command> add` once per missing node, each waited for
// until Nomad has it ready. In: ONE node per action (whatever the difference): chosen by the
// SDK's node selector (node_selector_strategy, default least_busy), drained through Nomad with
// node_drain_deadline (the executor agent finishes its runs in flight), then `<command> remove
// <name>` and a purge from Nomad.
func (p *Plugin) Scale(action sdk.ScalingAction, cfg map[string]string) error {
	if action.Count == sdk.StrategyActionMetaValueDryRunCount {
		return nil
	}
	p.mu.Lock()
	if p.busy {
		p.mu.Unlock()
		return sdk.NewTargetScalingNoOpError("a scale action is already running")
	}
	p.busy = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.busy = false
		p.lastEvent = time.Now().UnixNano()
		p.mu.Unlock()
	}()

	_, counted, err := p.pool(cfg)
	if err != nil {
		return err
	}
	current := int64(len(counted))
	switch {
	case action.Count > current:
		return p.scaleOut(cfg, int(action.Count-current))
	case action.Count < current:
		return p.scaleIn(cfg, counted)
	default:
		return sdk.NewTargetScalingNoOpError("the pool already has %d node(s)", current)
	}
}

func (p *Plugin) command(cfg map[string]string) (string, time.Duration, error) {
	cmd, ok := p.value(cfg, keyCommand)
	if !ok {
		return "", 0, fmt.Errorf("required config key %q is not set", keyCommand)
	}
	timeout, err := p.duration(cfg, keyCommandTimeout, defaultCommandTimeout)
	return cmd, timeout, err
}

// run runs the command with args and returns the last non-empty line of its stdout.
func (p *Plugin) run(cmd string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		p.log.Debug("command output", "command", cmd, "args", args, "stderr", s)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", cmd, strings.Join(args, " "), err, tail(stderr.String()))
	}
	return lastLine(stdout.String()), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 500 {
		s = "..." + s[len(s)-500:]
	}
	return s
}

func (p *Plugin) scaleOut(cfg map[string]string, num int) error {
	cmd, timeout, err := p.command(cfg)
	if err != nil {
		return err
	}
	readyTimeout, err := p.duration(cfg, keyReadyTimeout, defaultReadyTimeout)
	if err != nil {
		return err
	}
	poll, err := p.duration(cfg, keyPollInterval, defaultPollInterval)
	if err != nil {
		return err
	}
	for i := 0; i < num; i++ {
		name, err := p.run(cmd, timeout, "add")
		if err != nil {
			return fmt.Errorf("adding a node: %v", err)
		}
		if name == "" {
			return fmt.Errorf("adding a node: %s add printed no node name", cmd)
		}
		p.log.Info("node added; waiting until Nomad has it ready", "node", name)
		if err := p.waitReady(cfg, name, readyTimeout, poll); err != nil {
			return err
		}
		p.log.Info("node ready", "node", name)
	}
	return nil
}

func (p *Plugin) waitReady(cfg map[string]string, name string, timeout, poll time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, counted, err := p.pool(cfg)
		if err == nil {
			for _, n := range counted {
				if n.Name == name {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s was not ready in the pool within %s", name, timeout)
		}
		time.Sleep(poll)
	}
}

func (p *Plugin) scaleIn(cfg map[string]string, counted []*api.NodeListStub) error {
	cmd, timeout, err := p.command(cfg)
	if err != nil {
		return err
	}
	deadline, err := p.duration(cfg, keyDrainDeadline, defaultDrainDeadline)
	if err != nil {
		return err
	}
	poll, err := p.duration(cfg, keyPollInterval, defaultPollInterval)
	if err != nil {
		return err
	}
	selector, err := nodeselector.NewSelector(p.poolConfig(cfg), p.nomad, p.log)
	if err != nil {
		return err
	}
	chosen := selector.Select(counted, 1)
	if len(chosen) != 1 || chosen[0] == nil {
		return fmt.Errorf("node selector %s chose no node of %d", selector.Name(), len(counted))
	}
	node := chosen[0]
	p.log.Info("draining node", "node", node.Name, "id", node.ID, "selector", selector.Name(), "deadline", deadline.String())
	if _, err := p.nomad.Nodes().UpdateDrain(node.ID, &api.DrainSpec{Deadline: deadline}, false, nil); err != nil {
		return fmt.Errorf("draining node %s: %v", node.Name, err)
	}
	if err := p.waitDrained(node, deadline+drainGrace, poll); err != nil {
		// Put the node back into service rather than leave it half drained.
		if _, e := p.nomad.Nodes().UpdateDrain(node.ID, nil, true, nil); e != nil {
			p.log.Error("ending the failed drain", "node", node.Name, "error", e)
		}
		return err
	}
	p.log.Info("node drained; removing it", "node", node.Name)
	if _, err := p.run(cmd, timeout, "remove", node.Name); err != nil {
		return fmt.Errorf("removing node %s: %v", node.Name, err)
	}
	if _, _, err := p.nomad.Nodes().Purge(node.ID, nil); err != nil && !isNotFound(err) {
		p.log.Warn("purging the removed node", "node", node.Name, "error", err)
	}
	p.log.Info("node removed", "node", node.Name)
	return nil
}

// waitDrained polls the node until Nomad reports its drain complete (no drain strategy left,
// the node ineligible).
func (p *Plugin) waitDrained(node *api.NodeListStub, timeout, poll time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		info, _, err := p.nomad.Nodes().Info(node.ID, nil)
		switch {
		case err != nil:
			p.log.Warn("reading a draining node", "node", node.Name, "error", err)
		case info.DrainStrategy == nil && !info.Drain:
			if info.SchedulingEligibility != nodeEligible {
				return nil
			}
			return fmt.Errorf("the drain of node %s was cancelled", node.Name)
		}
		if time.Now().After(end) {
			return fmt.Errorf("node %s did not finish draining within %s", node.Name, timeout)
		}
		time.Sleep(poll)
	}
}

// isNotFound: this Nomad API version reports HTTP errors as text only ("Unexpected response
// code: 404 (...)").
func isNotFound(err error) bool {
	return strings.Contains(err.Error(), "code: 404")
}
