package throwbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// httpError is a non-2xx answer, kept whole so callers can tell 404 from the rest.
type httpError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body))
}

func isNotFound(err error) bool {
	he, ok := err.(*httpError)
	return ok && he.Status == http.StatusNotFound
}

func httpClient(insecure bool) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // operator's choice (generated cert)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: transport}
}

// withToken sends an ACL token (header X-Nomad-Token or X-Consul-Token) on every request of
// the client; an empty token sends none (a cluster without ACLs).
type withToken struct {
	next          http.RoundTripper
	header, token string
}

func (t withToken) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(t.header, t.token)
	return t.next.RoundTrip(req)
}

func tokenClient(header, token string) *http.Client {
	c := httpClient(false)
	if token != "" {
		c.Transport = withToken{next: c.Transport, header: header, token: token}
	}
	return c
}

// call sends body (JSON, or raw bytes for a []byte) and decodes a JSON answer into out (when
// not nil). headers are extra request headers.
func call(ctx context.Context, client *http.Client, method, url string, body any, out any, headers map[string]string) error {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		reader = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &httpError{Method: method, URL: url, Status: resp.StatusCode, Body: string(data)}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}
