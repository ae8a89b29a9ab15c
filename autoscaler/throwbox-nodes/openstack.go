package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad-autoscaler/plugins/base"
	"github.com/hashicorp/nomad-autoscaler/sdk"
	"github.com/hashicorp/nomad-autoscaler/sdk/helper/nomad"
	"github.com/hashicorp/nomad-autoscaler/sdk/helper/scaleutils"
	"github.com/hashicorp/nomad/api"
)

// OpenStack is the openstack mode: a worker group of Nova servers. Scale-out creates servers
// from the configured flavor, image, network, security groups and user data; scale-in lets the
// SDK's cluster utilities pick and drain Nomad nodes (node_selector_strategy,
// node_drain_deadline), then deletes exactly the servers of those nodes. See
// docs/cluster.md "Autoscaling on OpenStack".
type OpenStack struct {
	log     hclog.Logger
	config  map[string]string
	os      *osConfig
	utils   *scaleutils.ClusterScaleUtils
	authOpt gophercloud.AuthOptions

	mu        sync.Mutex
	compute   *gophercloud.ServiceClient // authenticated lazily, kept (gophercloud re-authenticates)
	busy      bool
	lastEvent int64
}

// NewOpenStack returns an unconfigured openstack target.
func NewOpenStack(log hclog.Logger) *OpenStack { return &OpenStack{log: log} }

// PluginInfo implements base.Base.
func (o *OpenStack) PluginInfo() (*base.PluginInfo, error) {
	return &base.PluginInfo{Name: pluginName, PluginType: sdk.PluginTypeTarget}, nil
}

// SetConfig implements base.Base: validates the OpenStack settings (config, then OS_*) and the
// user data file; authentication waits for the first call, so an agent starts while Keystone
// is unreachable and says so in Status.
func (o *OpenStack) SetConfig(config map[string]string) error {
	c, err := parseOSConfig(config, os.Getenv, readUserData)
	if err != nil {
		return err
	}
	utils, err := scaleutils.NewClusterScaleUtils(nomad.ConfigFromNamespacedMap(config), o.log)
	if err != nil {
		return err
	}
	o.config, o.os, o.utils = config, c, utils
	o.authOpt = gophercloud.AuthOptions{
		IdentityEndpoint:            c.authURL,
		ApplicationCredentialID:     c.appCredID,
		ApplicationCredentialSecret: c.appCredSecret,
		Username:                    c.username,
		Password:                    c.password,
		DomainName:                  c.userDomainName,
		AllowReauth:                 true,
	}
	if c.appCredID == "" {
		o.authOpt.TenantID, o.authOpt.TenantName = c.projectID, c.projectName
		if c.projectID == "" {
			o.authOpt.Scope = &gophercloud.AuthScope{ProjectName: c.projectName, DomainName: c.projectDomain}
		} else {
			o.authOpt.Scope = &gophercloud.AuthScope{ProjectID: c.projectID}
		}
	}
	return nil
}

// nova returns the compute client, authenticating on first use.
func (o *OpenStack) nova(ctx context.Context) (*gophercloud.ServiceClient, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.compute != nil {
		return o.compute, nil
	}
	provider, err := openstack.NewClient(o.authOpt.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("openstack client: %v", err)
	}
	provider.HTTPClient = http.Client{Timeout: time.Minute}
	if err := openstack.Authenticate(ctx, provider, o.authOpt); err != nil {
		return nil, fmt.Errorf("keystone authentication at %s: %v", o.authOpt.IdentityEndpoint, err)
	}
	compute, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{Region: o.os.region})
	if err != nil {
		return nil, fmt.Errorf("nova endpoint (region %q): %v", o.os.region, err)
	}
	o.compute = compute
	return compute, nil
}

// members lists the project's servers and keeps the group's.
func (o *OpenStack) members(ctx context.Context) ([]novaServer, error) {
	client, err := o.nova(ctx)
	if err != nil {
		return nil, err
	}
	pages, err := servers.List(client, servers.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing Nova servers: %v", err)
	}
	list, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, fmt.Errorf("reading Nova servers: %v", err)
	}
	all := make([]novaServer, 0, len(list))
	for _, s := range list {
		all = append(all, fromNova(s))
	}
	return groupMembers(all, o.os.group), nil
}

func fromNova(s servers.Server) novaServer {
	return novaServer{ID: s.ID, Name: s.Name, Status: s.Status, TaskState: s.TaskState,
		Metadata: s.Metadata, Addresses: serverAddresses(s.Addresses)}
}

// merged: the agent's target config overlaid with the policy's (the SDK utilities read
// node_class, datacenter, drain and purge settings from one map). node_purge defaults to true:
// a deleted server's Nomad node would otherwise stay "down" until Nomad's GC.
func (o *OpenStack) merged(cfg map[string]string) map[string]string {
	out := map[string]string{sdk.TargetConfigKeyNodePurge: "true"}
	for k, v := range o.config {
		out[k] = v
	}
	for k, v := range cfg {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// Status implements target.Target: Count is the group's ACTIVE servers; Ready is false while a
// member is building or deleting, a scale action of this plugin runs, or the Nomad pool has a
// node initializing or draining.
func (o *OpenStack) Status(cfg map[string]string) (*sdk.TargetStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	poolReady, err := o.utils.IsPoolReady(o.merged(cfg))
	if err != nil {
		return nil, fmt.Errorf("nomad node pool: %v", err)
	}
	members, err := o.members(ctx)
	if err != nil {
		return nil, err
	}
	count, ready, reason := groupStatus(members)
	o.mu.Lock()
	busy, last := o.busy, o.lastEvent
	o.mu.Unlock()
	if reason != "" {
		o.log.Debug("group not ready", "group", o.os.group, "reason", reason)
	}
	st := &sdk.TargetStatus{Ready: ready && poolReady && !busy, Count: count, Meta: map[string]string{}}
	if last > 0 {
		st.Meta[sdk.TargetStatusMetaKeyLastEvent] = strconv.FormatInt(last, 10)
	}
	return st, nil
}

// Scale implements target.Target.
func (o *OpenStack) Scale(action sdk.ScalingAction, cfg map[string]string) error {
	if action.Count == sdk.StrategyActionMetaValueDryRunCount {
		return nil
	}
	o.mu.Lock()
	if o.busy {
		o.mu.Unlock()
		return sdk.NewTargetScalingNoOpError("a scale action is already running")
	}
	o.busy = true
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.busy, o.lastEvent = false, time.Now().UnixNano()
		o.mu.Unlock()
	}()

	ctx := context.Background()
	members, err := o.members(ctx)
	if err != nil {
		return err
	}
	current, ready, reason := groupStatus(members)
	if !ready {
		return sdk.NewTargetScalingNoOpError("group %s: %s", o.os.group, reason)
	}
	removable := deletable(members, o.os.namePrefix)
	out, in, why := scaleDecision(current, action.Count, len(removable))
	switch {
	case out > 0:
		return o.scaleOut(ctx, out)
	case in > 0:
		return o.scaleIn(ctx, o.merged(cfg), members, removable, in)
	default:
		return sdk.NewTargetScalingNoOpError("group %s: %s", o.os.group, why)
	}
}

// scaleOut creates num servers, then waits until each is ACTIVE. A server that ends in ERROR
// (or is still building at server_build_timeout) is deleted and reported.
func (o *OpenStack) scaleOut(ctx context.Context, num int) error {
	client, err := o.nova(ctx)
	if err != nil {
		return err
	}
	var created []string
	var errs []string
	for i := 0; i < num; i++ {
		var random [4]byte
		if _, err := rand.Read(random[:]); err != nil {
			return err
		}
		name := newServerName(o.os.namePrefix, random)
		var opts servers.CreateOptsBuilder = servers.CreateOpts{
			Name:             name,
			FlavorRef:        o.os.flavorID,
			ImageRef:         o.os.imageID,
			SecurityGroups:   o.os.securityGroups,
			UserData:         o.os.userData,
			AvailabilityZone: o.os.availabilityZone,
			Networks:         []servers.Network{{UUID: o.os.networkID}},
			Metadata: map[string]string{metaGroup: o.os.group, metaAutoscaled: autoscaledMetaVal,
				metaRole: "worker"},
		}
		if o.os.keyName != "" {
			opts = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: o.os.keyName}
		}
		s, err := servers.Create(ctx, client, opts, nil).Extract()
		if err != nil {
			errs = append(errs, fmt.Sprintf("creating server %s: %v", name, err))
			break // quota or a bad setting: the next ones would fail alike
		}
		o.log.Info("server created", "group", o.os.group, "name", name, "id", s.ID)
		created = append(created, s.ID)
	}
	for _, id := range created {
		if err := o.waitActive(ctx, client, id); err != nil {
			errs = append(errs, err.Error())
			if derr := servers.Delete(ctx, client, id).ExtractErr(); derr != nil && !gophercloud.ResponseCodeIs(derr, http.StatusNotFound) {
				errs = append(errs, fmt.Sprintf("deleting the failed server %s: %v", id, derr))
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (o *OpenStack) waitActive(ctx context.Context, client *gophercloud.ServiceClient, id string) error {
	deadline := time.Now().Add(o.os.buildTimeout)
	for {
		s, err := servers.Get(ctx, client, id).Extract()
		switch {
		case err != nil:
			o.log.Warn("reading a new server", "id", id, "error", err)
		case s.Status == novaActive:
			o.log.Info("server active", "name", s.Name, "id", id)
			return nil
		case s.Status == novaError:
			return fmt.Errorf("server %s (%s) went to ERROR: %s", s.Name, id, s.Fault.Message)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s was not ACTIVE within %s", id, o.os.buildTimeout)
		}
		time.Sleep(o.os.pollInterval)
	}
}

// scaleIn: the SDK picks num nodes among those whose server this plugin may delete, drains
// them, and the plugin deletes exactly their servers.
func (o *OpenStack) scaleIn(ctx context.Context, cfg map[string]string, members []novaServer, removable []string, num int) error {
	client, err := o.nova(ctx)
	if err != nil {
		return err
	}
	attr := o.os.nodeAddressAttribute
	o.utils.ClusterNodeIDLookupFunc = func(n *api.Node) (string, error) {
		return serverIDForNode(n, attr, members), nil
	}
	drained, err := o.utils.RunPreScaleInTasksWithRemoteCheck(ctx, cfg, removable, num)
	if err != nil {
		return fmt.Errorf("selecting and draining nodes: %v", err)
	}
	ids, err := serversToDelete(drained, removable)
	if err != nil {
		if e := o.utils.RunPostScaleInTasksOnFailure(drained); e != nil {
			o.log.Error("making the drained nodes eligible again", "error", e)
		}
		return err
	}
	var done, failed []scaleutils.NodeResourceID
	var errs []string
	for i, id := range ids {
		o.log.Info("deleting server", "group", o.os.group, "id", id, "nomad_node", drained[i].NomadNodeID)
		if err := o.deleteAndWait(ctx, client, id); err != nil {
			errs = append(errs, err.Error())
			failed = append(failed, drained[i])
			continue
		}
		done = append(done, drained[i])
	}
	if len(failed) > 0 {
		if e := o.utils.RunPostScaleInTasksOnFailure(failed); e != nil {
			errs = append(errs, e.Error())
		}
	}
	if len(done) > 0 {
		if e := o.utils.RunPostScaleInTasks(ctx, cfg, done); e != nil {
			o.log.Warn("purging the removed nodes", "error", e)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// deleteAndWait deletes the server and waits until Nova no longer has it.
func (o *OpenStack) deleteAndWait(ctx context.Context, client *gophercloud.ServiceClient, id string) error {
	if err := servers.Delete(ctx, client, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return fmt.Errorf("deleting server %s: %v", id, err)
	}
	deadline := time.Now().Add(o.os.deleteTimeout)
	for {
		_, err := servers.Get(ctx, client, id).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s was still there %s after its deletion", id, o.os.deleteTimeout)
		}
		time.Sleep(o.os.pollInterval)
	}
}
