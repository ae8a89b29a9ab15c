package throwbox

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A destroy waits until no allocation of its jobs is left, the sandbox pools' included: those
// live in another namespace than the deployment's jobs, so the listing must cover every one.
func TestAllAllocationsListsEveryNamespace(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		ns := r.URL.Query().Get("namespace")
		var out []allocStub
		if ns == "*" {
			out = []allocStub{{ID: "a1", JobID: "tf-executor-agent"}, {ID: "a2", JobID: "throwbox-sandbox-tf-w1-python-3-11"}}
		} else {
			out = []allocStub{{ID: "a1", JobID: "tf-executor-agent"}}
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	for _, ns := range []string{"", "default", "throwbox-sandboxes"} {
		n := &nomad{addr: srv.URL, client: srv.Client(), namespace: ns}
		allocs, err := n.allAllocations(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(allocs) != 2 {
			t.Fatalf("namespace %q: %d allocations listed, want both namespaces' 2 (asked %v)", ns, len(allocs), asked)
		}
	}
}

// The jobs of a deployment are asked about in its namespace, the default one when none is set.
func TestURLAddsTheNamespaceOnlyWhenSet(t *testing.T) {
	n := &nomad{addr: "http://n:4646/"}
	if got := n.url("/v1/jobs?prefix=x"); got != "http://n:4646/v1/jobs?prefix=x" {
		t.Fatalf("no namespace: %s", got)
	}
	n.namespace = "throwbox-sandboxes"
	if got := n.url("/v1/jobs?prefix=x"); got != "http://n:4646/v1/jobs?prefix=x&namespace=throwbox-sandboxes" {
		t.Fatalf("with a namespace: %s", got)
	}
	if got := n.url("/v1/job/a"); got != "http://n:4646/v1/job/a?namespace=throwbox-sandboxes" {
		t.Fatalf("with a namespace, no query: %s", got)
	}
}
