// Package throwbox is the Throwbox provider: a deployment onto Nomad through Nomad's and
// Consul's HTTP APIs, and functions and runtimes through Throwbox's public API.
package throwbox

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// New returns the provider factory providerserver.Serve wants.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &throwboxProvider{version: version} }
}

type throwboxProvider struct{ version string }

// clients is what Configure hands to resources and data sources.
type clients struct {
	nomadAddr   string
	consulAddr  string
	nomadToken  string
	consulToken string
	apiURL      string
	apiKey      string
	insecure    bool
}

type providerModel struct {
	NomadAddr   types.String `tfsdk:"nomad_addr"`
	ConsulAddr  types.String `tfsdk:"consul_addr"`
	NomadToken  types.String `tfsdk:"nomad_token"`
	ConsulToken types.String `tfsdk:"consul_token"`
	APIURL      types.String `tfsdk:"api_url"`
	APIKey      types.String `tfsdk:"api_key"`
	APIInsecure types.Bool   `tfsdk:"api_insecure"`
}

func (p *throwboxProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "throwbox"
	resp.Version = p.version
}

func (p *throwboxProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Deploys Throwbox onto a Nomad cluster and manages its functions.",
		Attributes: map[string]schema.Attribute{
			"nomad_addr": schema.StringAttribute{Optional: true,
				Description: "HTTP URL of the Nomad API (default: $NOMAD_ADDR, else http://127.0.0.1:4646)."},
			"consul_addr": schema.StringAttribute{Optional: true,
				Description: "HTTP URL of the Consul API (default: $CONSUL_HTTP_ADDR, else http://127.0.0.1:8500)."},
			"nomad_token": schema.StringAttribute{Optional: true, Sensitive: true,
				Description: "Nomad ACL token that registers the jobs and writes their Nomad Variables (default: $NOMAD_TOKEN; none: Nomad without ACLs)."},
			"consul_token": schema.StringAttribute{Optional: true, Sensitive: true,
				Description: "Consul ACL token that writes and deletes the deployment's KV keys (default: $CONSUL_HTTP_TOKEN; none: Consul without ACLs)."},
			"api_url": schema.StringAttribute{Optional: true,
				Description: "Throwbox public API URL for throwbox_function and throwbox_runtimes (default: $THROWBOX_API_URL)."},
			"api_key": schema.StringAttribute{Optional: true, Sensitive: true,
				Description: "Tenant API key for throwbox_function and throwbox_runtimes (default: $THROWBOX_API_KEY)."},
			"api_insecure": schema.BoolAttribute{Optional: true,
				Description: "Accept any TLS certificate from api_url (a generated, self-signed load balancer certificate)."},
		},
	}
}

func orEnv(v types.String, env, fallback string) string {
	if !v.IsNull() && !v.IsUnknown() && v.ValueString() != "" {
		return v.ValueString()
	}
	if e := os.Getenv(env); e != "" {
		return e
	}
	return fallback
}

func (p *throwboxProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := &clients{
		nomadAddr:   orEnv(m.NomadAddr, "NOMAD_ADDR", "http://127.0.0.1:4646"),
		consulAddr:  orEnv(m.ConsulAddr, "CONSUL_HTTP_ADDR", "http://127.0.0.1:8500"),
		nomadToken:  orEnv(m.NomadToken, "NOMAD_TOKEN", ""),
		consulToken: orEnv(m.ConsulToken, "CONSUL_HTTP_TOKEN", ""),
		apiURL:      orEnv(m.APIURL, "THROWBOX_API_URL", ""),
		apiKey:      orEnv(m.APIKey, "THROWBOX_API_KEY", ""),
		insecure:    !m.APIInsecure.IsNull() && m.APIInsecure.ValueBool(),
	}
	resp.ResourceData = c
	resp.DataSourceData = c
}

func (p *throwboxProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newDeployment, newFunction}
}

func (p *throwboxProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newRuntimes}
}
