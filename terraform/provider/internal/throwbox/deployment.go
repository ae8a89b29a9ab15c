package throwbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type deployment struct{ c *clients }

func newDeployment() resource.Resource { return &deployment{} }

type jobModel struct {
	Name      types.String `tfsdk:"name"`
	HCL       types.String `tfsdk:"hcl"`
	Variables types.Map    `tfsdk:"variables"`
	Raw       types.Map    `tfsdk:"raw_variables"`
}

type deploymentModel struct {
	ID               types.String `tfsdk:"id"`
	NomadAddr        types.String `tfsdk:"nomad_addr"`
	ConsulAddr       types.String `tfsdk:"consul_addr"`
	Jobs             types.List   `tfsdk:"jobs"`
	DestroyJobs      types.List   `tfsdk:"destroy_jobs"`
	KV               types.Map    `tfsdk:"kv"`
	PurgeKVPrefixes  types.List   `tfsdk:"purge_kv_prefixes"`
	SandboxJobPrefix types.String `tfsdk:"sandbox_job_prefix"`
	SandboxNamespace types.String `tfsdk:"sandbox_namespace"`
	NomadToken       types.String `tfsdk:"nomad_token"`
	ConsulToken      types.String `tfsdk:"consul_token"`
	NomadVariables   types.Map    `tfsdk:"nomad_variables"`
	ReadyURL         types.String `tfsdk:"ready_url"`
	ReadyInsecure    types.Bool   `tfsdk:"ready_insecure"`
	TimeoutS         types.Int64  `tfsdk:"timeout_s"`
	JobDigests       types.Map    `tfsdk:"job_digests"`
}

func (r *deployment) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_deployment"
}

func (r *deployment) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Throwbox installed on a Nomad cluster: its Nomad jobs (registered in order, each waited " +
			"for until healthy), Consul KV defaults, and the readiness of the whole through the load balancer.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The deployment's id (its Nomad address).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"nomad_addr": schema.StringAttribute{Optional: true,
				Description: "Nomad HTTP API URL (default: the provider's nomad_addr)."},
			"consul_addr": schema.StringAttribute{Optional: true,
				Description: "Consul HTTP API URL for kv (default: the provider's consul_addr)."},
			"jobs": schema.ListNestedAttribute{Required: true,
				Description:  "Nomad job files with their variables, registered in this order (destroyed in reverse).",
				NestedObject: jobObject(),
			},
			"destroy_jobs": schema.ListNestedAttribute{Optional: true,
				Description: "Batch jobs run to completion on destroy, once the jobs and sandboxes are stopped, then purged " +
					"(e.g. removing a deployment's own Kafka topic).",
				NestedObject: jobObject(),
			},
			"kv": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Description: "Consul KV keys and values written before the jobs and deleted on destroy."},
			"purge_kv_prefixes": schema.ListAttribute{Optional: true, ElementType: types.StringType,
				Description: "Consul KV prefixes deleted recursively on destroy (e.g. throwbox/: keys, functions). Default none."},
			"sandbox_job_prefix": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("throwbox-sandbox-"),
				Description: "Job ID prefix of the agents' warm sandbox pools, purged on destroy after the agents stopped."},
			"nomad_token": schema.StringAttribute{Optional: true, Sensitive: true,
				Description: "Nomad ACL token for this deployment (default: the provider's nomad_token)."},
			"consul_token": schema.StringAttribute{Optional: true, Sensitive: true,
				Description: "Consul ACL token for kv (default: the provider's consul_token)."},
			"sandbox_namespace": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("default"),
				Description: "Nomad namespace of the sandbox pools (the agents' THROWBOX_AGENT_NOMAD_NAMESPACE; with ACLs throwbox-sandboxes)."},
			"nomad_variables": schema.MapAttribute{Optional: true, Sensitive: true, ElementType: types.StringType,
				Description: "Nomad Variables written (namespace default) before the jobs and deleted on destroy: path -> JSON object of items, " +
					"e.g. the agents' tokens at nomad/jobs/<agent job> (only that job's tasks can read them)."},
			"ready_url": schema.StringAttribute{Optional: true,
				Description: "URL answering 200 once Throwbox serves (the load balancer's /readyz), polled after every apply."},
			"ready_insecure": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Accept any TLS certificate from ready_url (a generated certificate)."},
			"timeout_s": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(900),
				Description: "Longest wait of one create, update or destroy, in seconds."},
			"job_digests": schema.MapAttribute{Computed: true, ElementType: types.StringType,
				Description: "Digest of each job's parsed spec: a plan shows exactly the jobs an apply re-registers."},
		},
	}
}

// jobObject: a Nomad job file with its variables (the elements of jobs and destroy_jobs).
func jobObject() schema.NestedAttributeObject {
	return schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
		"name":      schema.StringAttribute{Required: true, Description: "The job's ID (must match the file's job block)."},
		"hcl":       schema.StringAttribute{Required: true, Description: "The job file's text (HCL2)."},
		"variables": schema.MapAttribute{Optional: true, ElementType: types.StringType, Description: "Values of the job file's variables (strings; HCL converts them to number or bool variables)."},
		"raw_variables": schema.MapAttribute{Optional: true, ElementType: types.StringType,
			Description: "Job file variables given as HCL expressions, for map and list variables (e.g. jsonencode(...))."},
	}}
}

func (r *deployment) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if req.ProviderData != nil {
		r.c = req.ProviderData.(*clients)
	}
}

func (r *deployment) nomadFor(m *deploymentModel) *nomad {
	addr := r.c.nomadAddr
	if !m.NomadAddr.IsNull() && m.NomadAddr.ValueString() != "" {
		addr = m.NomadAddr.ValueString()
	}
	token := r.c.nomadToken
	if !m.NomadToken.IsNull() && m.NomadToken.ValueString() != "" {
		token = m.NomadToken.ValueString()
	}
	return &nomad{addr: addr, client: tokenClient("X-Nomad-Token", token)}
}

func (r *deployment) consulToken(m *deploymentModel) string {
	if !m.ConsulToken.IsNull() && m.ConsulToken.ValueString() != "" {
		return m.ConsulToken.ValueString()
	}
	return r.c.consulToken
}

func (r *deployment) consulFor(m *deploymentModel) string {
	if !m.ConsulAddr.IsNull() && m.ConsulAddr.ValueString() != "" {
		return strings.TrimRight(m.ConsulAddr.ValueString(), "/")
	}
	return strings.TrimRight(r.c.consulAddr, "/")
}

// parsedJob is one configured job, parsed by Nomad.
type parsedJob struct {
	name, jobType, digest string
	spec                  map[string]any
}

// parseJobs parses every configured job; known is false when some input is not known yet.
func (r *deployment) parseJobs(ctx context.Context, m *deploymentModel) (jobs []parsedJob, known bool, diags diag.Diagnostics) {
	return r.parseJobList(ctx, m, m.Jobs)
}

// parseJobList: the job files of `list` (jobs or destroy_jobs) parsed by Nomad; known is false
// while an input is unknown (plan time).
func (r *deployment) parseJobList(ctx context.Context, m *deploymentModel, list types.List) (jobs []parsedJob, known bool, diags diag.Diagnostics) {
	if list.IsUnknown() {
		return nil, false, nil
	}
	if list.IsNull() {
		return nil, true, nil
	}
	var models []jobModel
	diags.Append(list.ElementsAs(ctx, &models, false)...)
	if diags.HasError() {
		return nil, false, diags
	}
	n := r.nomadFor(m)
	seen := map[string]bool{}
	for _, jm := range models {
		if jm.Name.IsUnknown() || jm.HCL.IsUnknown() || jm.Variables.IsUnknown() {
			return nil, false, diags
		}
		if jm.Raw.IsUnknown() {
			return nil, false, diags
		}
		vars, raw := map[string]string{}, map[string]string{}
		for _, pair := range []struct {
			from types.Map
			to   map[string]string
		}{{jm.Variables, vars}, {jm.Raw, raw}} {
			for k, v := range pair.from.Elements() {
				if v.IsUnknown() {
					return nil, false, diags
				}
				if s, ok := v.(types.String); ok && !s.IsNull() {
					pair.to[k] = s.ValueString()
				}
			}
		}
		name := jm.Name.ValueString()
		if seen[name] {
			diags.AddError("Duplicate job", "job "+name+" is configured twice")
			return nil, false, diags
		}
		seen[name] = true
		spec, err := n.parse(ctx, jm.HCL.ValueString(), vars, raw)
		if err != nil {
			diags.AddError("Nomad could not parse job "+name, err.Error())
			return nil, false, diags
		}
		if spec["ID"] != name {
			diags.AddError("Job name mismatch", fmt.Sprintf("job %q: the file defines job %v", name, spec["ID"]))
			return nil, false, diags
		}
		digest, err := jobDigest(spec)
		if err != nil {
			diags.AddError("Digest of job "+name, err.Error())
			return nil, false, diags
		}
		jobType, _ := spec["Type"].(string)
		jobs = append(jobs, parsedJob{name: name, jobType: jobType, digest: digest, spec: spec})
	}
	return jobs, true, diags
}

func digestsOf(jobs []parsedJob) map[string]string {
	out := map[string]string{}
	for _, j := range jobs {
		out[j.name] = j.digest
	}
	return out
}

func stringMap(m types.Map) map[string]string {
	out := map[string]string{}
	for k, v := range m.Elements() {
		if s, ok := v.(types.String); ok && !s.IsNull() && !s.IsUnknown() {
			out[k] = s.ValueString()
		}
	}
	return out
}

func toMapValue(m map[string]string) types.Map {
	elems := map[string]attr.Value{}
	for k, v := range m {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}

// ModifyPlan parses every job with Nomad at plan time: the planned job_digests differ from
// the state's for exactly the jobs an apply registers again.
func (r *deployment) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.c == nil {
		return
	}
	var plan deploymentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	jobs, known, diags := r.parseJobs(ctx, &plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !known {
		plan.JobDigests = types.MapUnknown(types.StringType)
	} else {
		plan.JobDigests = toMapValue(digestsOf(jobs))
	}
	if plan.ID.IsUnknown() {
		plan.ID = types.StringValue(r.nomadFor(&plan).addr)
	}
	if !req.State.Raw.IsNull() {
		var state deploymentModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if known {
			if changed := changedJobs(stringMap(state.JobDigests), digestsOf(jobs)); len(changed) > 0 {
				resp.Diagnostics.AddWarning("Jobs to re-register: "+strings.Join(changed, ", "),
					"These Nomad jobs change; each is rolled out and waited for in turn.")
			}
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *deployment) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan deploymentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.apply(ctx, &plan, map[string]string{}, nil)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *deployment) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state deploymentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.apply(ctx, &plan, stringMap(state.JobDigests), stringMap(state.KV))...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply writes the KV defaults, registers the changed jobs one after the other, each waited
// for until settled (a rolling update: a service job's deployment only ends healthy, the
// agents drain their runs before they stop), deregisters removed jobs and waits for the
// ready URL.
func (r *deployment) apply(ctx context.Context, plan *deploymentModel, deployed, oldKV map[string]string) (diags diag.Diagnostics) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(plan.TimeoutS.ValueInt64())*time.Second)
	defer cancel()
	jobs, known, d := r.parseJobs(ctx, plan)
	if diags.Append(d...); diags.HasError() {
		return diags
	}
	if !known {
		diags.AddError("Unknown job inputs", "every job's file and variables must be known at apply time")
		return diags
	}
	n := r.nomadFor(plan)
	for path, items := range stringMap(plan.NomadVariables) {
		var m map[string]string
		if err := json.Unmarshal([]byte(items), &m); err != nil {
			diags.AddError("Nomad Variable "+path, "its value must be a JSON object of strings: "+err.Error())
			return diags
		}
		if err := n.putVariable(ctx, path, m); err != nil {
			diags.AddError("Writing Nomad Variable "+path, err.Error())
			return diags
		}
	}
	consul := r.consulFor(plan)
	kvClient := tokenClient("X-Consul-Token", r.consulToken(plan))
	newKV := stringMap(plan.KV)
	for k, v := range newKV {
		if err := call(ctx, kvClient, "PUT", consul+"/v1/kv/"+k, []byte(v), nil, nil); err != nil {
			diags.AddError("Writing Consul KV "+k, err.Error())
			return diags
		}
	}
	for k := range oldKV {
		if _, ok := newKV[k]; !ok {
			if err := call(ctx, kvClient, "DELETE", consul+"/v1/kv/"+k, nil, nil, nil); err != nil && !isNotFound(err) {
				diags.AddError("Deleting Consul KV "+k, err.Error())
				return diags
			}
		}
	}
	wanted := digestsOf(jobs)
	order := make([]string, 0, len(jobs))
	byName := map[string]parsedJob{}
	for _, j := range jobs {
		order = append(order, j.name)
		byName[j.name] = j
	}
	// A job changed or deleted outside of tofu is registered again.
	for _, name := range order {
		live, err := n.job(ctx, name)
		if err != nil {
			diags.AddError("Reading job "+name, err.Error())
			return diags
		}
		if live == nil || live["Stop"] == true || liveDigest(live) != deployed[name] {
			delete(deployed, name)
		}
	}
	changes := planJobChanges(deployed, order, wanted)
	for _, name := range changes.Register {
		j := byName[name]
		if err := n.register(ctx, withDigest(j.spec, j.digest)); err != nil {
			diags.AddError("Registering job "+name, err.Error())
			return diags
		}
		if err := n.waitSettled(ctx, name, j.jobType); err != nil {
			diags.AddError("Job "+name+" did not become healthy", err.Error())
			return diags
		}
	}
	for _, name := range changes.Deregister {
		if err := n.deregister(ctx, name, true); err != nil {
			diags.AddError("Deregistering job "+name, err.Error())
			return diags
		}
	}
	if readyURL := plan.ReadyURL.ValueString(); readyURL != "" {
		client := httpClient(plan.ReadyInsecure.ValueBool())
		client.Timeout = 5 * time.Second
		err := poll(ctx, "ready URL "+readyURL, func() (bool, string, error) {
			err := call(ctx, client, "GET", readyURL, nil, nil, nil)
			if err != nil {
				return false, err.Error(), nil
			}
			return true, "", nil
		})
		if err != nil {
			diags.AddError("Throwbox is not ready", err.Error())
			return diags
		}
	}
	plan.JobDigests = toMapValue(wanted)
	plan.ID = types.StringValue(n.addr)
	return diags
}

func liveDigest(job map[string]any) string {
	if meta, ok := job["Meta"].(map[string]any); ok {
		if d, ok := meta[digestMeta].(string); ok {
			return d
		}
	}
	return ""
}

// Read reports each job's digest as registered (its meta): a job re-registered or deleted
// outside of tofu shows up as a change in the next plan. With none of its jobs left, the
// deployment is gone.
func (r *deployment) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state deploymentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	n := r.nomadFor(&state)
	live := map[string]string{}
	any := false
	for name := range stringMap(state.JobDigests) {
		job, err := n.job(ctx, name)
		if err != nil {
			resp.Diagnostics.AddError("Reading job "+name, err.Error())
			return
		}
		if job == nil || job["Stop"] == true {
			live[name] = ""
			continue
		}
		any = true
		live[name] = liveDigest(job)
	}
	if !any {
		resp.State.RemoveResource(ctx)
		return
	}
	state.JobDigests = toMapValue(live)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Delete stops the jobs in reverse order and waits until their allocations ended (the agents
// drain their runs first), purges the agents' sandbox pools, purges every job, has Nomad
// collect the dead allocations, and deletes the KV defaults and the purge_kv_prefixes.
func (r *deployment) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state deploymentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(state.TimeoutS.ValueInt64())*time.Second)
	defer cancel()
	n := r.nomadFor(&state)
	var names []string
	if !state.Jobs.IsNull() && !state.Jobs.IsUnknown() {
		var models []jobModel
		resp.Diagnostics.Append(state.Jobs.ElementsAs(ctx, &models, false)...)
		for i := len(models) - 1; i >= 0; i-- {
			names = append(names, models[i].Name.ValueString())
		}
	}
	if err := r.stopAndWait(ctx, n, names); err != nil {
		resp.Diagnostics.AddError("Stopping Throwbox's jobs", err.Error())
		return
	}
	sn := &nomad{addr: n.addr, client: n.client, namespace: state.SandboxNamespace.ValueString()}
	sandboxes, err := sn.jobIDs(ctx, state.SandboxJobPrefix.ValueString())
	if err == nil && state.SandboxJobPrefix.ValueString() != "" {
		err = r.stopAndWait(ctx, sn, sandboxes)
	}
	if err != nil {
		resp.Diagnostics.AddError("Stopping the sandbox pools", err.Error())
		return
	}
	cleanups, d := r.runDestroyJobs(ctx, n, &state)
	if resp.Diagnostics.Append(d...); resp.Diagnostics.HasError() {
		return
	}
	names = append(names, cleanups...) // purged with the others below
	for _, name := range names {
		if err := n.deregister(ctx, name, true); err != nil {
			resp.Diagnostics.AddError("Purging job "+name, err.Error())
			return
		}
	}
	for _, name := range sandboxes {
		if err := sn.deregister(ctx, name, true); err != nil {
			resp.Diagnostics.AddError("Purging job "+name, err.Error())
			return
		}
	}
	all := append(names, sandboxes...)
	gone := map[string]bool{}
	for _, name := range all {
		gone[name] = true
	}
	err = poll(ctx, "Nomad to collect the allocations", func() (bool, string, error) {
		if err := n.gc(ctx); err != nil {
			return false, "", err
		}
		allocs, err := n.allAllocations(ctx)
		if err != nil {
			return false, "", err
		}
		left := 0
		for _, a := range allocs {
			if gone[a.JobID] {
				left++
			}
		}
		return left == 0, fmt.Sprintf("%d allocations left", left), nil
	})
	if err != nil {
		resp.Diagnostics.AddError("Collecting allocations", err.Error())
		return
	}
	resp.Diagnostics.Append(r.deleteData(ctx, n, &state)...)
}

// deleteData deletes what the deployment wrote besides its jobs: its Nomad Variables, its KV
// keys and the purge_kv_prefixes.
func (r *deployment) deleteData(ctx context.Context, n *nomad, state *deploymentModel) (diags diag.Diagnostics) {
	for path := range stringMap(state.NomadVariables) {
		if err := n.deleteVariable(ctx, path); err != nil {
			diags.AddError("Deleting Nomad Variable "+path, err.Error())
			return diags
		}
	}
	consul := r.consulFor(state)
	kvClient := tokenClient("X-Consul-Token", r.consulToken(state))
	for k := range stringMap(state.KV) {
		if err := call(ctx, kvClient, "DELETE", consul+"/v1/kv/"+k, nil, nil, nil); err != nil && !isNotFound(err) {
			diags.AddError("Deleting Consul KV "+k, err.Error())
			return diags
		}
	}
	if !state.PurgeKVPrefixes.IsNull() {
		var prefixes []string
		diags.Append(state.PurgeKVPrefixes.ElementsAs(ctx, &prefixes, false)...)
		for _, p := range prefixes {
			if p == "" {
				continue // never the whole KV store
			}
			if err := call(ctx, kvClient, "DELETE", consul+"/v1/kv/"+p+"?recurse=true", nil, nil, nil); err != nil && !isNotFound(err) {
				diags.AddError("Deleting Consul KV prefix "+p, err.Error())
				return diags
			}
		}
	}
	return diags
}

// runDestroyJobs runs the deployment's clean-up jobs (destroy_jobs) once nothing of it runs any
// more, each to completion, and returns their names.
func (r *deployment) runDestroyJobs(ctx context.Context, n *nomad, state *deploymentModel) (names []string, diags diag.Diagnostics) {
	cleanups, _, d := r.parseJobList(ctx, state, state.DestroyJobs)
	if diags.Append(d...); diags.HasError() {
		return nil, diags
	}
	for _, j := range cleanups {
		if err := n.register(ctx, j.spec); err != nil {
			diags.AddError("Registering clean-up job "+j.name, err.Error())
			return names, diags
		}
		if err := n.waitSettled(ctx, j.name, j.jobType); err != nil {
			diags.AddError("Clean-up job "+j.name+" did not complete", err.Error())
			return names, diags
		}
		names = append(names, j.name)
	}
	return names, diags
}

// stopAndWait stops the jobs (kept, not purged, so their allocations stay visible) and waits
// until each allocation is terminal.
func (r *deployment) stopAndWait(ctx context.Context, n *nomad, names []string) error {
	for _, name := range names {
		if err := n.deregister(ctx, name, false); err != nil {
			return err
		}
	}
	return poll(ctx, "allocations to stop", func() (bool, string, error) {
		var running []string
		for _, name := range names {
			allocs, err := n.allocations(ctx, name)
			if err != nil {
				return false, "", err
			}
			for _, a := range allocs {
				if !a.terminal() {
					running = append(running, a.describe())
				}
			}
		}
		return len(running) == 0, strings.Join(running, " | "), nil
	})
}

var _ resource.ResourceWithModifyPlan = &deployment{}
