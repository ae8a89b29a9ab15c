package throwbox

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type function struct{ c *clients }

func newFunction() resource.Resource { return &function{} }

type fileModel struct {
	Name    types.String `tfsdk:"name"`
	Content types.String `tfsdk:"content"`
}

type functionModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	Language    types.String `tfsdk:"language"`
	Version     types.String `tfsdk:"version"`
	Files       []fileModel  `tfsdk:"files"`
	Entrypoint  types.String `tfsdk:"entrypoint"`
	Description types.String `tfsdk:"description"`
	Env         types.Map    `tfsdk:"env"`
	Revision    types.Int64  `tfsdk:"revision"`
}

func (r *function) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_function"
}

func (r *function) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A Throwbox function of the provider key's tenant (PUT/GET/DELETE /v1/functions/{name}).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The function's name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Required: true, Description: "Function name, [a-z0-9][a-z0-9-]{0,62}.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"language":    schema.StringAttribute{Required: true, Description: "Runtime language or alias."},
			"version":     schema.StringAttribute{Optional: true, Description: "Runtime version prefix (default: newest)."},
			"entrypoint":  schema.StringAttribute{Optional: true, Description: "The file run (default: the runtime's)."},
			"description": schema.StringAttribute{Optional: true, Description: "Free text."},
			"env":         schema.MapAttribute{Optional: true, ElementType: types.StringType, Description: "Environment of every invocation."},
			"files": schema.ListNestedAttribute{Required: true, Description: "The function's files.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":    schema.StringAttribute{Required: true, Description: "Relative path."},
					"content": schema.StringAttribute{Required: true, Description: "UTF-8 content."},
				}}},
			"revision": schema.Int64Attribute{Computed: true, Description: "The revision the API gave the stored function."},
		},
	}
}

func (r *function) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if req.ProviderData != nil {
		r.c = req.ProviderData.(*clients)
	}
}

func (m *functionModel) body() map[string]any {
	files := make([]map[string]any, 0, len(m.Files))
	for _, f := range m.Files {
		files = append(files, map[string]any{"name": f.Name.ValueString(), "content": f.Content.ValueString(), "encoding": "utf8"})
	}
	b := map[string]any{"language": m.Language.ValueString(), "files": files}
	if !m.Version.IsNull() {
		b["version"] = m.Version.ValueString()
	}
	if !m.Entrypoint.IsNull() {
		b["entrypoint"] = m.Entrypoint.ValueString()
	}
	if !m.Description.IsNull() {
		b["description"] = m.Description.ValueString()
	}
	if !m.Env.IsNull() {
		b["env"] = stringMap(m.Env)
	}
	return b
}

func (r *function) put(ctx context.Context, m *functionModel) error {
	a, err := r.c.api()
	if err != nil {
		return err
	}
	var out struct{ Revision int64 }
	if err := a.do(ctx, "PUT", functionPath(m.Name.ValueString()), m.body(), &out); err != nil {
		return err
	}
	m.ID = m.Name
	m.Revision = types.Int64Value(out.Revision)
	return nil
}

func (r *function) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m functionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.put(ctx, &m); err != nil {
		resp.Diagnostics.AddError("Creating function", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *function) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m functionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.put(ctx, &m); err != nil {
		resp.Diagnostics.AddError("Updating function", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Read keeps the configured fields and refreshes the revision: a function deleted or changed
// through the API outside of tofu shows up in the next plan.
func (r *function) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m functionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	a, err := r.c.api()
	if err != nil {
		resp.Diagnostics.AddError("Reading function", err.Error())
		return
	}
	var out struct {
		Language string
		Revision int64
	}
	err = a.do(ctx, "GET", functionPath(m.Name.ValueString()), nil, &out)
	if isNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Reading function", err.Error())
		return
	}
	m.Revision = types.Int64Value(out.Revision)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *function) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m functionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	a, err := r.c.api()
	if err == nil {
		err = a.do(ctx, "DELETE", functionPath(m.Name.ValueString()), nil, nil)
	}
	if err != nil && !isNotFound(err) {
		resp.Diagnostics.AddError("Deleting function", err.Error())
	}
}

func (r *function) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
}

var _ resource.ResourceWithImportState = &function{}
