package throwbox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// nomad is the little of Nomad's HTTP API a deployment needs.
type nomad struct {
	addr      string
	client    *http.Client
	namespace string // of the jobs and allocations asked about; empty: Nomad's default
}

func (n *nomad) url(path string) string {
	u := strings.TrimRight(n.addr, "/") + path
	if n.namespace == "" {
		return u
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return u + sep + "namespace=" + url.QueryEscape(n.namespace)
}

// putVariable writes a Nomad Variable (the agents' and control planes' tokens: a job's
// tasks read nomad/jobs/<job>); deleteVariable removes it (gone already: fine).
func (n *nomad) putVariable(ctx context.Context, path string, items map[string]string) error {
	body := map[string]any{"Path": path, "Items": items}
	return call(ctx, n.client, "PUT", n.url("/v1/var/"+path), body, nil, nil)
}

func (n *nomad) deleteVariable(ctx context.Context, path string) error {
	err := call(ctx, n.client, "DELETE", n.url("/v1/var/"+path), nil, nil, nil)
	if isNotFound(err) {
		return nil
	}
	return err
}

// parse turns a job file and its variables into the job's JSON, as `nomad job run` would.
func (n *nomad) parse(ctx context.Context, hcl string, vars, raw map[string]string) (map[string]any, error) {
	var job map[string]any
	body := map[string]any{"JobHCL": hcl, "Canonicalize": true, "Variables": hclVarFile(vars, raw)}
	if err := call(ctx, n.client, "POST", n.url("/v1/jobs/parse"), body, &job, nil); err != nil {
		return nil, err
	}
	return job, nil
}

func (n *nomad) register(ctx context.Context, job map[string]any) error {
	return call(ctx, n.client, "POST", n.url("/v1/jobs"), map[string]any{"Job": job}, nil, nil)
}

// job returns the registered job, or nil when there is none.
func (n *nomad) job(ctx context.Context, id string) (map[string]any, error) {
	var job map[string]any
	err := call(ctx, n.client, "GET", n.url("/v1/job/"+url.PathEscape(id)), nil, &job, nil)
	if isNotFound(err) {
		return nil, nil
	}
	return job, err
}

func (n *nomad) deregister(ctx context.Context, id string, purge bool) error {
	err := call(ctx, n.client, "DELETE", n.url(fmt.Sprintf("/v1/job/%s?purge=%t", url.PathEscape(id), purge)), nil, nil, nil)
	if isNotFound(err) {
		return nil
	}
	return err
}

type allocStub struct {
	ID               string
	JobID            string
	JobVersion       int
	ClientStatus     string
	DesiredStatus    string
	TaskGroup        string
	DeploymentStatus *struct{ Healthy *bool }
	TaskStates       map[string]struct {
		State  string
		Failed bool
		Events []struct{ DisplayMessage string }
	}
}

func (a allocStub) terminal() bool {
	return a.ClientStatus == "complete" || a.ClientStatus == "failed" || a.ClientStatus == "lost"
}

func (a allocStub) describe() string {
	var msgs []string
	for task, st := range a.TaskStates {
		last := ""
		if len(st.Events) > 0 {
			last = st.Events[len(st.Events)-1].DisplayMessage
		}
		msgs = append(msgs, fmt.Sprintf("%s: %s (%s)", task, st.State, last))
	}
	return fmt.Sprintf("alloc %s v%d %s/%s %s", a.ID[:8], a.JobVersion, a.DesiredStatus, a.ClientStatus, strings.Join(msgs, "; "))
}

func (n *nomad) allocations(ctx context.Context, id string) ([]allocStub, error) {
	var allocs []allocStub
	err := call(ctx, n.client, "GET", n.url("/v1/job/"+url.PathEscape(id)+"/allocations?all=true"), nil, &allocs, nil)
	if isNotFound(err) {
		return nil, nil
	}
	return allocs, err
}

// allAllocations lists the allocations of every namespace: the sandbox pools' are in their own
// (throwbox-sandboxes with ACLs), and a destroy must see those gone too.
func (n *nomad) allAllocations(ctx context.Context) ([]allocStub, error) {
	var allocs []allocStub
	all := &nomad{addr: n.addr, client: n.client, namespace: "*"}
	return allocs, call(ctx, n.client, "GET", all.url("/v1/allocations"), nil, &allocs, nil)
}

func (n *nomad) jobIDs(ctx context.Context, prefix string) ([]string, error) {
	var jobs []struct{ ID string }
	if err := call(ctx, n.client, "GET", n.url("/v1/jobs?prefix="+url.QueryEscape(prefix)), nil, &jobs, nil); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	return ids, nil
}

func (n *nomad) gc(ctx context.Context) error {
	return call(ctx, n.client, "PUT", n.url("/v1/system/gc"), nil, nil, nil)
}

type deploymentInfo struct {
	ID                string
	JobVersion        int
	Status            string
	StatusDescription string
}

func (n *nomad) latestDeployment(ctx context.Context, id string) (*deploymentInfo, error) {
	var d *deploymentInfo
	err := call(ctx, n.client, "GET", n.url("/v1/job/"+url.PathEscape(id)+"/deployment"), nil, &d, nil)
	if isNotFound(err) {
		return nil, nil
	}
	return d, err
}

// poll calls check every interval until it reports done or an error, or the context ends
// (then the last state check described is in the error).
func poll(ctx context.Context, what string, check func() (bool, string, error)) error {
	last := ""
	for {
		done, state, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if state != "" {
			last = state
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up (%v); last state: %s", what, ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}

// waitSettled waits until the registered version of a job has done what its type promises:
// a service job's deployment is successful (healthy allocations; a failed one is reverted by
// Nomad's auto_revert and fails the apply), every allocation of a system job runs the new
// version with no old one left running, a batch job's allocations of this version completed.
func (n *nomad) waitSettled(ctx context.Context, id, jobType string) error {
	job, err := n.job(ctx, id)
	if err != nil {
		return err
	}
	if job == nil {
		return fmt.Errorf("job %s vanished after it was registered", id)
	}
	version := int(job["Version"].(float64))
	return poll(ctx, "job "+id+" to settle", func() (bool, string, error) {
		if jobType == "service" {
			d, err := n.latestDeployment(ctx, id)
			if err != nil {
				return false, "", err
			}
			if d != nil && d.JobVersion == version {
				switch d.Status {
				case "successful":
					return true, "", nil
				case "failed", "cancelled":
					return false, "", fmt.Errorf("deployment of job %s version %d %s: %s", id, version, d.Status, d.StatusDescription)
				}
				return false, "deployment " + d.Status + ": " + d.StatusDescription, nil
			}
		}
		allocs, err := n.allocations(ctx, id)
		if err != nil {
			return false, "", err
		}
		var current, oldRunning, done, failed int
		var states []string
		for _, a := range allocs {
			states = append(states, a.describe())
			if a.JobVersion < version {
				if !a.terminal() && a.DesiredStatus == "run" {
					oldRunning++
				}
				continue
			}
			switch {
			case jobType == "batch" && a.ClientStatus == "complete":
				done++
			case a.ClientStatus == "failed":
				failed++
			case jobType != "batch" && a.ClientStatus == "running" && a.DesiredStatus == "run" &&
				(a.DeploymentStatus == nil || a.DeploymentStatus.Healthy == nil || *a.DeploymentStatus.Healthy):
				done++
			}
			if a.DesiredStatus == "run" && !a.terminal() {
				current++
			}
		}
		state := strings.Join(states, " | ")
		if jobType == "batch" {
			if done > 0 && current == 0 {
				return true, "", nil
			}
			if failed > 0 && current == 0 && done == 0 {
				j, err := n.job(ctx, id)
				if err == nil && j != nil && j["Status"] == "dead" {
					return false, "", fmt.Errorf("batch job %s failed: %s", id, state)
				}
			}
			return false, state, nil
		}
		if jobType == "service" {
			return false, state, nil // only a successful deployment settles a service job
		}
		return done > 0 && done == current && oldRunning == 0, state, nil
	})
}
