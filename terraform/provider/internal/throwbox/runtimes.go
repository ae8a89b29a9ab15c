package throwbox

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type runtimes struct{ c *clients }

func newRuntimes() datasource.DataSource { return &runtimes{} }

type runtimeModel struct {
	Language types.String   `tfsdk:"language"`
	Version  types.String   `tfsdk:"version"`
	Aliases  []types.String `tfsdk:"aliases"`
	Compiled types.Bool     `tfsdk:"compiled"`
}

type runtimesModel struct {
	Runtimes []runtimeModel `tfsdk:"runtimes"`
}

func (d *runtimes) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_runtimes"
}

func (d *runtimes) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The runtimes the API offers (GET /v1/runtimes).",
		Attributes: map[string]schema.Attribute{
			"runtimes": schema.ListNestedAttribute{Computed: true, Description: "Every installed runtime.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"language": schema.StringAttribute{Computed: true, Description: "Language name."},
					"version":  schema.StringAttribute{Computed: true, Description: "Installed version."},
					"aliases":  schema.ListAttribute{Computed: true, ElementType: types.StringType, Description: "Other names."},
					"compiled": schema.BoolAttribute{Computed: true, Description: "Whether programs are compiled first."},
				}}},
		},
	}
}

func (d *runtimes) Configure(_ context.Context, req datasource.ConfigureRequest, _ *datasource.ConfigureResponse) {
	if req.ProviderData != nil {
		d.c = req.ProviderData.(*clients)
	}
}

func (d *runtimes) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	a, err := d.c.api()
	if err != nil {
		resp.Diagnostics.AddError("Reading runtimes", err.Error())
		return
	}
	var out []struct {
		Language string
		Version  string
		Aliases  []string
		Compiled bool
	}
	if err := a.do(ctx, "GET", "/v1/runtimes", nil, &out); err != nil {
		resp.Diagnostics.AddError("Reading runtimes", err.Error())
		return
	}
	m := runtimesModel{Runtimes: []runtimeModel{}}
	for _, r := range out {
		aliases := []types.String{}
		for _, a := range r.Aliases {
			aliases = append(aliases, types.StringValue(a))
		}
		m.Runtimes = append(m.Runtimes, runtimeModel{Language: types.StringValue(r.Language),
			Version: types.StringValue(r.Version), Aliases: aliases, Compiled: types.BoolValue(r.Compiled)})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
