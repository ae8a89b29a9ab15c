package throwbox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// api is Throwbox's public API with one tenant's key.
type api struct {
	base   string
	key    string
	client *http.Client
}

func (c *clients) api() (*api, error) {
	if c == nil || c.apiURL == "" || c.apiKey == "" {
		return nil, fmt.Errorf("the provider needs api_url and api_key (or THROWBOX_API_URL and THROWBOX_API_KEY)")
	}
	return &api{base: strings.TrimRight(c.apiURL, "/"), key: c.apiKey, client: httpClient(c.insecure)}, nil
}

func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	return call(ctx, a.client, method, a.base+path, body, out, map[string]string{"Authorization": "Bearer " + a.key})
}

func functionPath(name string) string { return "/v1/functions/" + url.PathEscape(name) }
