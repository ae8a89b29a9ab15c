package main

// The openstack mode against a fake Keystone v3 + Nova v2.1 HTTP server written here (no
// OpenStack is reachable from this project's machines) and the fake Nomad of plugin_test.go.
// The plugin's real gophercloud client talks HTTP to both fakes.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad-autoscaler/sdk"
	"github.com/hashicorp/nomad/api"
)

const fakeToken = "tok-1"

type fakeServer struct {
	ID, Name, Status, TaskState string
	Metadata                    map[string]string
	Addr                        string
	polls                       int // GETs left until the current transition completes
}

// fakeCloud serves the Keystone and Nova calls the plugin makes over an in-memory server table.
type fakeCloud struct {
	mu        sync.Mutex
	url       string
	servers   map[string]*fakeServer
	order     []string // creation order
	creates   []map[string]interface{}
	deletes   []string
	auths     []map[string]interface{}
	failAuth  bool
	buildT    int    // GETs of a new server until it is ACTIVE
	deleteT   int    // GETs of a deleted server until it is gone
	buildEnds string // the status a build ends in (ACTIVE, or ERROR)
	nextID    int
	nextHost  int
}

func newFakeCloud(t *testing.T) *fakeCloud {
	c := &fakeCloud{servers: map[string]*fakeServer{}, buildT: 2, deleteT: 2, buildEnds: novaActive, nextHost: 130}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func (c *fakeCloud) add(s *fakeServer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers[s.ID] = s
	c.order = append(c.order, s.ID)
}

func (c *fakeCloud) view(s *fakeServer) map[string]interface{} {
	var task interface{}
	if s.TaskState != "" {
		task = s.TaskState
	}
	out := map[string]interface{}{
		"id": s.ID, "name": s.Name, "status": s.Status, "metadata": s.Metadata,
		"OS-EXT-STS:task_state": task, "links": []interface{}{},
		"addresses": map[string]interface{}{"tb-net": []interface{}{map[string]interface{}{"addr": s.Addr, "version": 4}}},
	}
	if s.Status == novaError {
		out["fault"] = map[string]interface{}{"code": 500, "message": "No valid host was found."}
	}
	return out
}

func (c *fakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reply := func(code int, v interface{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.URL.Path == "/identity/v3/auth/tokens" && r.Method == http.MethodPost {
		var body map[string]interface{}
		_ = json.NewDecoder(r.Body).Decode(&body)
		c.auths = append(c.auths, body)
		if c.failAuth {
			reply(http.StatusUnauthorized, map[string]interface{}{"error": map[string]interface{}{"code": 401, "message": "The request you have made requires authentication."}})
			return
		}
		w.Header().Set("X-Subject-Token", fakeToken)
		reply(http.StatusCreated, map[string]interface{}{"token": map[string]interface{}{
			"methods": []string{"application_credential"}, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"catalog": []interface{}{map[string]interface{}{"type": "compute", "name": "nova", "id": "c1",
				"endpoints": []interface{}{
					map[string]interface{}{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": c.url + "/compute/v2.1", "id": "e1"},
					map[string]interface{}{"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo", "url": c.url + "/elsewhere/v2.1", "id": "e2"},
				}}},
		}})
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/compute/v2.1/") {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("X-Auth-Token") != fakeToken {
		reply(http.StatusUnauthorized, map[string]interface{}{"error": "no token"})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/compute/v2.1")
	switch {
	case path == "/servers/detail" && r.Method == http.MethodGet:
		list := []interface{}{}
		for _, id := range c.order {
			if s, ok := c.servers[id]; ok {
				list = append(list, c.view(s))
			}
		}
		reply(http.StatusOK, map[string]interface{}{"servers": list})
	case path == "/servers" && r.Method == http.MethodPost:
		var body struct {
			Server map[string]interface{} `json:"server"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		c.creates = append(c.creates, body.Server)
		c.nextID++
		meta := map[string]string{}
		for k, v := range body.Server["metadata"].(map[string]interface{}) {
			meta[k] = v.(string)
		}
		s := &fakeServer{ID: fmt.Sprintf("srv-%d", c.nextID), Name: body.Server["name"].(string), Status: novaBuild,
			TaskState: "spawning", Metadata: meta, Addr: fmt.Sprintf("10.20.0.%d", c.nextHost), polls: c.buildT}
		c.nextHost++
		c.servers[s.ID], c.order = s, append(c.order, s.ID)
		reply(http.StatusAccepted, map[string]interface{}{"server": map[string]interface{}{"id": s.ID, "links": []interface{}{}, "adminPass": "x"}})
	case strings.HasPrefix(path, "/servers/"):
		id := strings.TrimPrefix(path, "/servers/")
		s, ok := c.servers[id]
		if !ok {
			reply(http.StatusNotFound, map[string]interface{}{"itemNotFound": map[string]interface{}{"code": 404, "message": "Instance could not be found"}})
			return
		}
		switch r.Method {
		case http.MethodGet:
			// Each read moves a transition on: BUILD ends ACTIVE (or ERROR), a deletion ends gone.
			if s.Status == novaBuild || s.TaskState == novaTaskDeleting {
				s.polls--
				if s.polls <= 0 {
					if s.TaskState == novaTaskDeleting {
						delete(c.servers, id)
						reply(http.StatusNotFound, map[string]interface{}{"itemNotFound": map[string]interface{}{"code": 404}})
						return
					}
					s.Status, s.TaskState = c.buildEnds, ""
				}
			}
			reply(http.StatusOK, map[string]interface{}{"server": c.view(s)})
		case http.MethodDelete:
			c.deletes = append(c.deletes, id)
			s.TaskState, s.polls = novaTaskDeleting, c.deleteT
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

// workerNode: a Nomad node of the pool whose fingerprinted address is addr.
func workerNode(id, name, addr string, idx uint64) *api.Node {
	n := worker(id, name, idx)
	n.Attributes = map[string]string{"unique.network.ip-address": addr}
	return n
}

// osTarget: the binary's Target in openstack mode against the fakes, with two Terraform
// workers (group tag only) in Nova and Nomad.
func osTarget(t *testing.T, cloud *fakeCloud, nomad *fakeNomad, extra map[string]string) (*Target, map[string]string) {
	ud := filepath.Join(t.TempDir(), "worker-user-data")
	if err := os.WriteFile(ud, []byte("#cloud-config\nruncmd: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nomadSrv := httptest.NewServer(nomad)
	t.Cleanup(nomadSrv.Close)
	cfg := map[string]string{
		"mode": "openstack", "nomad_address": nomadSrv.URL,
		"auth_url": cloud.url + "/identity/v3", "application_credential_id": "ac-id",
		"application_credential_secret": "ac-secret", "region_name": "RegionOne",
		"group": "tb-workers", "flavor_id": "flavor-1", "image_id": "image-1", "network_id": "net-1",
		"security_groups": "sg-workers", "user_data_file": ud, "key_name": "ops",
		"openstack_poll_interval": "5ms", "server_build_timeout": "2s", "server_delete_timeout": "2s",
	}
	for k, v := range extra {
		cfg[k] = v
	}
	tg := NewTarget(hclog.NewNullLogger())
	if err := tg.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	policy := map[string]string{"node_class": "throwbox-worker", "datacenter": "dc1",
		"node_drain_deadline": "1m", "node_selector_strategy": "newest_create_index"}
	return tg, policy
}

func terraformWorkers(cloud *fakeCloud, nomad *fakeNomad) {
	for i, addr := range []string{"10.20.0.32", "10.20.0.33"} {
		cloud.add(&fakeServer{ID: fmt.Sprintf("tf-%d", i), Name: fmt.Sprintf("tb-worker-%d", i), Status: novaActive,
			Metadata: map[string]string{metaGroup: "tb-workers", metaRole: "worker"}, Addr: addr})
		nomad.add(workerNode(fmt.Sprintf("node-tf-%d", i), fmt.Sprintf("tb-worker-%d", i), addr, uint64(10+i)))
	}
	// A server of the project outside the group: never counted, never touched.
	cloud.add(&fakeServer{ID: "other", Name: "tb-workers-as-ffffffff", Status: novaActive, Metadata: map[string]string{}, Addr: "10.20.0.99"})
}

func status(t *testing.T, tg *Target, policy map[string]string) *sdk.TargetStatus {
	t.Helper()
	st, err := tg.Status(policy)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestOpenStackScaleOutCreatesServersThenScaleInDeletesExactlyTheDrainedOnes(t *testing.T) {
	cloud, nomad := newFakeCloud(t), &fakeNomad{drainT: 2}
	terraformWorkers(cloud, nomad)
	tg, policy := osTarget(t, cloud, nomad, nil)

	if st := status(t, tg, policy); st.Count != 2 || !st.Ready {
		t.Fatalf("initial status %+v", st)
	}

	// Out: 2 -> 4.
	if err := tg.Scale(sdk.ScalingAction{Count: 4, Direction: sdk.ScaleDirectionUp}, policy); err != nil {
		t.Fatal(err)
	}
	cloud.mu.Lock()
	creates := cloud.creates
	var ours []*fakeServer
	for _, id := range cloud.order {
		if s := cloud.servers[id]; s != nil && s.Metadata[metaAutoscaled] == "true" {
			ours = append(ours, s)
		}
	}
	cloud.mu.Unlock()
	if len(creates) != 2 || len(ours) != 2 {
		t.Fatalf("%d create calls, %d servers of ours", len(creates), len(ours))
	}
	for _, body := range creates {
		ud, _ := base64.StdEncoding.DecodeString(body["user_data"].(string))
		nets := body["networks"].([]interface{})
		sgs := body["security_groups"].([]interface{})
		meta := body["metadata"].(map[string]interface{})
		if body["flavorRef"] != "flavor-1" || body["imageRef"] != "image-1" || body["key_name"] != "ops" ||
			string(ud) != "#cloud-config\nruncmd: []\n" || len(nets) != 1 || nets[0].(map[string]interface{})["uuid"] != "net-1" ||
			len(sgs) != 1 || sgs[0].(map[string]interface{})["name"] != "sg-workers" ||
			meta[metaGroup] != "tb-workers" || meta[metaAutoscaled] != "true" ||
			!strings.HasPrefix(body["name"].(string), "tb-workers-as-") || len(body["name"].(string)) != len("tb-workers-as-")+8 {
			t.Fatalf("create request %v", body)
		}
	}
	if st := status(t, tg, policy); st.Count != 4 || !st.Ready || st.Meta[sdk.TargetStatusMetaKeyLastEvent] == "" {
		t.Fatalf("status after scale-out %+v", st)
	}
	// The new servers boot and their Nomad clients register (newest first in Nomad's list).
	for i, s := range ours {
		nomad.add(workerNode("node-as-"+s.ID, s.Name, s.Addr, uint64(20+i)))
	}

	// In: 4 -> 2. The Terraform workers get the newest create index (as if re-registered last),
	// so newest_create_index would pick them if they were candidates: only ours are.
	nomad.mu.Lock()
	for _, n := range nomad.nodes {
		if strings.HasPrefix(n.ID, "node-tf-") {
			n.CreateIndex += 100
		}
	}
	nomad.mu.Unlock()
	if err := tg.Scale(sdk.ScalingAction{Count: 2, Direction: sdk.ScaleDirectionDown}, policy); err != nil {
		t.Fatal(err)
	}
	cloud.mu.Lock()
	deletes := append([]string(nil), cloud.deletes...)
	_, tf0 := cloud.servers["tf-0"]
	_, tf1 := cloud.servers["tf-1"]
	_, other := cloud.servers["other"]
	cloud.mu.Unlock()
	sort.Strings(deletes)
	if strings.Join(deletes, ",") != ours[0].ID+","+ours[1].ID || !tf0 || !tf1 || !other {
		t.Fatalf("deleted %v (terraform workers kept %v %v, other kept %v)", deletes, tf0, tf1, other)
	}
	nomad.mu.Lock()
	calls := strings.Join(nomad.calls, "\n")
	left := len(nomad.nodes)
	nomad.mu.Unlock()
	for _, s := range ours {
		drain, purge := strings.Index(calls, "/v1/node/node-as-"+s.ID+"/drain"), strings.Index(calls, "/v1/node/node-as-"+s.ID+"/purge")
		if drain < 0 || purge < drain {
			t.Fatalf("node of %s not drained then purged:\n%s", s.ID, calls)
		}
	}
	if strings.Contains(calls, "/v1/node/node-tf-0/drain") || strings.Contains(calls, "/v1/node/node-tf-1/drain") {
		t.Fatalf("a Terraform worker was drained:\n%s", calls)
	}
	if left != 2 {
		t.Fatalf("%d Nomad nodes left", left)
	}
	if st := status(t, tg, policy); st.Count != 2 || !st.Ready {
		t.Fatalf("status after scale-in %+v", st)
	}

	// Below the Terraform workers: nothing the autoscaler may remove.
	err := tg.Scale(sdk.ScalingAction{Count: 1, Direction: sdk.ScaleDirectionDown}, policy)
	if _, ok := err.(*sdk.TargetScalingNoOpError); !ok {
		t.Fatalf("scale-in below the fixed workers: %v, want a no-op", err)
	}
	cloud.mu.Lock()
	if len(cloud.deletes) != 2 {
		t.Fatalf("deletes %v", cloud.deletes)
	}
	// Application credential authentication, once for all these calls.
	auths := cloud.auths
	cloud.mu.Unlock()
	if len(auths) != 1 {
		t.Fatalf("%d authentications", len(auths))
	}
	methods := auths[0]["auth"].(map[string]interface{})["identity"].(map[string]interface{})["methods"].([]interface{})
	if len(methods) != 1 || methods[0] != "application_credential" {
		t.Fatalf("auth request %v", auths[0])
	}
}

func TestOpenStackStatusIsNotReadyWhileAServerBuildsOrIsDeleted(t *testing.T) {
	cloud, nomad := newFakeCloud(t), &fakeNomad{}
	terraformWorkers(cloud, nomad)
	tg, policy := osTarget(t, cloud, nomad, nil)
	cloud.add(&fakeServer{ID: "b", Name: "tb-workers-as-0000000b", Status: novaBuild, TaskState: "spawning",
		Metadata: map[string]string{metaGroup: "tb-workers", metaAutoscaled: "true"}, Addr: "10.20.0.140", polls: 100})
	if st := status(t, tg, policy); st.Ready || st.Count != 2 {
		t.Fatalf("status while building %+v", st)
	}
	// Scale refuses while the group is in transition.
	if err := tg.Scale(sdk.ScalingAction{Count: 5}, policy); err == nil {
		t.Fatal("scaled while a server builds")
	} else if _, ok := err.(*sdk.TargetScalingNoOpError); !ok {
		t.Fatalf("err %v", err)
	}
	cloud.mu.Lock()
	cloud.servers["b"].Status, cloud.servers["b"].TaskState = novaActive, novaTaskDeleting
	cloud.mu.Unlock()
	if st := status(t, tg, policy); st.Ready || st.Count != 2 {
		t.Fatalf("status while deleting %+v", st)
	}
	// A Nomad node initializing holds the pool too (the SDK's readiness check).
	cloud.mu.Lock()
	delete(cloud.servers, "b")
	cloud.mu.Unlock()
	nomad.add(&api.Node{ID: "init", Name: "n", NodeClass: "throwbox-worker", Datacenter: "dc1", Status: "initializing"})
	if st := status(t, tg, policy); st.Ready {
		t.Fatalf("status with an initializing Nomad node %+v", st)
	}
}

func TestOpenStackServerThatFailsToBuildIsDeletedAndReported(t *testing.T) {
	cloud, nomad := newFakeCloud(t), &fakeNomad{}
	terraformWorkers(cloud, nomad)
	cloud.buildEnds = novaError
	tg, policy := osTarget(t, cloud, nomad, nil)
	err := tg.Scale(sdk.ScalingAction{Count: 3}, policy)
	if err == nil || !strings.Contains(err.Error(), "ERROR: No valid host was found.") {
		t.Fatalf("err %v", err)
	}
	cloud.mu.Lock()
	defer cloud.mu.Unlock()
	if len(cloud.deletes) != 1 || cloud.deletes[0] != "srv-1" {
		t.Fatalf("deletes %v", cloud.deletes)
	}
}

func TestOpenStackPasswordAuthAndRegionChooseTheEndpoint(t *testing.T) {
	cloud, nomad := newFakeCloud(t), &fakeNomad{}
	terraformWorkers(cloud, nomad)
	tg, policy := osTarget(t, cloud, nomad, map[string]string{"application_credential_id": "", "application_credential_secret": "",
		"username": "ops", "password": "pw", "project_name": "throwbox"})
	if st := status(t, tg, policy); st.Count != 2 {
		t.Fatalf("status %+v", st)
	}
	cloud.mu.Lock()
	body, _ := json.Marshal(cloud.auths[0])
	cloud.mu.Unlock()
	for _, want := range []string{`"password"`, `"name":"ops"`, `"project":{"domain":{"name":"Default"},"name":"throwbox"}`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("auth request lacks %s: %s", want, body)
		}
	}
	// RegionTwo's endpoint is a path the fake does not serve: the region is what picks it.
	cloud2, nomad2 := newFakeCloud(t), &fakeNomad{}
	tg2, policy2 := osTarget(t, cloud2, nomad2, map[string]string{"region_name": "RegionTwo"})
	if _, err := tg2.Status(policy2); err == nil || !strings.Contains(err.Error(), "listing Nova servers") {
		t.Fatalf("status through RegionTwo: %v", err)
	}
}

func TestOpenStackAuthFailureIsReported(t *testing.T) {
	cloud, nomad := newFakeCloud(t), &fakeNomad{}
	cloud.failAuth = true
	tg, policy := osTarget(t, cloud, nomad, nil)
	if _, err := tg.Status(policy); err == nil || !strings.Contains(err.Error(), "keystone authentication") {
		t.Fatalf("err %v", err)
	}
}

func TestTargetModes(t *testing.T) {
	tg := NewTarget(hclog.NewNullLogger())
	if err := tg.SetConfig(map[string]string{"mode": "aws"}); err == nil || !strings.Contains(err.Error(), `"aws"`) {
		t.Fatalf("unknown mode: %v", err)
	}
	if _, err := tg.Status(map[string]string{}); err == nil {
		t.Fatal("status of an unconfigured target")
	}
	if err := tg.SetConfig(map[string]string{"mode": "openstack"}); err == nil || !strings.Contains(err.Error(), "auth_url") {
		t.Fatalf("openstack mode without settings: %v", err)
	}
	// No mode: the local target, as before.
	if err := tg.SetConfig(map[string]string{"command": "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tg.impl.(*Plugin); !ok {
		t.Fatalf("default mode %T", tg.impl)
	}
	info, err := tg.PluginInfo()
	if err != nil || info.Name != "throwbox-nodes" {
		t.Fatalf("plugin info %+v %v", info, err)
	}
}
