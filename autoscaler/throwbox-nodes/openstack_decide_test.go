package main

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/nomad-autoscaler/sdk/helper/scaleutils"
	"github.com/hashicorp/nomad/api"
)

func member(id, name, status, task string, autoscaled bool, addrs ...string) novaServer {
	meta := map[string]string{metaGroup: "tb-workers"}
	if autoscaled {
		meta[metaAutoscaled] = "true"
	}
	return novaServer{ID: id, Name: name, Status: status, TaskState: task, Metadata: meta, Addresses: addrs}
}

func TestGroupMembersAreTheServersTaggedWithTheGroup(t *testing.T) {
	other := member("x", "tb-workers-as-00000001", novaActive, "", true)
	other.Metadata[metaGroup] = "another"
	untagged := novaServer{ID: "y", Name: "tb-workers-as-00000002", Status: novaActive}
	all := []novaServer{member("a", "tb-worker-0", novaActive, "", false), other, untagged,
		member("b", "tb-workers-as-0000000a", novaBuild, "", true)}
	got := groupMembers(all, "tb-workers")
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Fatalf("members %+v", got)
	}
}

func TestGroupStatusCountsActiveServersAndWaitsForTransitions(t *testing.T) {
	cases := []struct {
		name    string
		members []novaServer
		count   int64
		ready   bool
	}{
		{"empty", nil, 0, true},
		{"all active", []novaServer{member("a", "a", novaActive, "", false), member("b", "b", novaActive, "", true)}, 2, true},
		{"one building", []novaServer{member("a", "a", novaActive, "", false), member("b", "b", novaBuild, "spawning", true)}, 1, false},
		{"building without task state", []novaServer{member("b", "b", novaBuild, "", true)}, 0, false},
		{"one deleting", []novaServer{member("a", "a", novaActive, "", false), member("b", "b", novaActive, novaTaskDeleting, true)}, 1, false},
		{"error and shutoff neither count nor block", []novaServer{member("a", "a", novaActive, "", false),
			member("b", "b", novaError, "", true), member("c", "c", "SHUTOFF", "", true)}, 1, true},
	}
	for _, c := range cases {
		count, ready, reason := groupStatus(c.members)
		if count != c.count || ready != c.ready {
			t.Errorf("%s: count %d ready %v (%s), want %d %v", c.name, count, ready, reason, c.count, c.ready)
		}
		if ready != (reason == "") {
			t.Errorf("%s: ready %v with reason %q", c.name, ready, reason)
		}
	}
}

func TestOnlyServersTheAutoscalerCreatedAreDeletable(t *testing.T) {
	members := []novaServer{
		member("tf", "tb-worker-0", novaActive, "", false),                // Terraform's
		member("s2", "tb-workers-as-00000002", novaActive, "", true),      // ours
		member("s1", "tb-workers-as-00000001", novaActive, "", true),      // ours
		member("renamed", "something-else", novaActive, "", true),         // tag but not our name
		member("building", "tb-workers-as-00000003", novaBuild, "", true), // not yet
		member("deleting", "tb-workers-as-00000004", novaActive, novaTaskDeleting, true),
	}
	if got := deletable(members, "tb-workers-as-"); !reflect.DeepEqual(got, []string{"s1", "s2"}) {
		t.Fatalf("deletable %v", got)
	}
}

func TestScaleDecision(t *testing.T) {
	cases := []struct {
		current, desired int64
		removable        int
		out, in          int
		noop             bool
	}{
		{2, 5, 0, 3, 0, false},
		{5, 2, 3, 0, 3, false},
		{5, 2, 1, 0, 1, false}, // only one server is ours: remove that one
		{2, 1, 0, 0, 0, true},  // only Terraform's workers left
		{3, 3, 1, 0, 0, true},
		{0, 1, 0, 1, 0, false},
	}
	for _, c := range cases {
		out, in, reason := scaleDecision(c.current, c.desired, c.removable)
		if out != c.out || in != c.in || (reason != "") != c.noop {
			t.Errorf("%+v: out %d in %d reason %q", c, out, in, reason)
		}
	}
}

func TestServerIDForNodeMapsTheNodeAddressToExactlyOneServer(t *testing.T) {
	members := []novaServer{
		member("s1", "n1", novaActive, "", true, "10.20.0.130", "203.0.113.5"),
		member("s2", "n2", novaActive, "", true, "10.20.0.131"),
		member("d1", "d1", novaActive, "", true, "10.20.0.140"),
		member("d2", "d2", novaActive, "", true, "10.20.0.140"),
	}
	node := func(addr string) *api.Node {
		n := &api.Node{ID: "node-1", Attributes: map[string]string{}}
		if addr != "" {
			n.Attributes["unique.network.ip-address"] = addr
		}
		return n
	}
	attr := "unique.network.ip-address"
	if got := serverIDForNode(node("10.20.0.131"), attr, members); got != "s2" {
		t.Fatalf("got %q", got)
	}
	for _, addr := range []string{"", "10.20.0.99", "10.20.0.140"} {
		got := serverIDForNode(node(addr), attr, members)
		if got != unmappedIDPrefix+"node-1" {
			t.Fatalf("address %q mapped to %q", addr, got)
		}
	}
}

func TestServersToDeleteAreExactlyTheDrainedNodesServers(t *testing.T) {
	drained := []scaleutils.NodeResourceID{{NomadNodeID: "n1", RemoteResourceID: "s1"}, {NomadNodeID: "n2", RemoteResourceID: "s2"}}
	got, err := serversToDelete(drained, []string{"s1", "s2", "s3"})
	if err != nil || !reflect.DeepEqual(got, []string{"s1", "s2"}) {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := serversToDelete(append(drained, scaleutils.NodeResourceID{NomadNodeID: "n9", RemoteResourceID: "tf"}), []string{"s1", "s2"}); err == nil ||
		!strings.Contains(err.Error(), "n9") {
		t.Fatalf("a server we did not create: %v", err)
	}
	if _, err := serversToDelete([]scaleutils.NodeResourceID{{NomadNodeID: "n1", RemoteResourceID: "s1"}, {NomadNodeID: "n2", RemoteResourceID: "s1"}}, []string{"s1"}); err == nil {
		t.Fatal("one server for two nodes accepted")
	}
}

func TestServerNamesAndAddresses(t *testing.T) {
	if got := newServerName("tb-workers-as-", [4]byte{0xde, 0xad, 0x00, 0x01}); got != "tb-workers-as-dead0001" {
		t.Fatalf("name %q", got)
	}
	addrs := serverAddresses(map[string]interface{}{
		"tb-net": []interface{}{
			map[string]interface{}{"addr": "10.20.0.130", "version": 4.0},
			map[string]interface{}{"addr": "203.0.113.5", "OS-EXT-IPS:type": "floating"},
		},
		"bad": "not a list",
	})
	if !reflect.DeepEqual(addrs, []string{"10.20.0.130", "203.0.113.5"}) {
		t.Fatalf("addresses %v", addrs)
	}
}

// ---- configuration ----

func validOSConfig() map[string]string {
	return map[string]string{
		"auth_url": "https://keystone.example:5000/v3", "application_credential_id": "ac",
		"application_credential_secret": "sec", "region_name": "RegionOne", "group": "tb-workers",
		"flavor_id": "f", "image_id": "i", "network_id": "n", "security_groups": "sg1, sg2",
		"user_data_file": "/etc/ud",
	}
}

func fakeEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func readOK(path string) ([]byte, error) {
	if path == "/etc/ud" {
		return []byte("#cloud-config\n"), nil
	}
	return nil, os.ErrNotExist
}

func TestOSConfigValid(t *testing.T) {
	c, err := parseOSConfig(validOSConfig(), fakeEnv(nil), readOK)
	if err != nil {
		t.Fatal(err)
	}
	if c.namePrefix != "tb-workers-as-" || !reflect.DeepEqual(c.securityGroups, []string{"sg1", "sg2"}) ||
		string(c.userData) != "#cloud-config\n" || c.buildTimeout != defaultBuildTimeout ||
		c.nodeAddressAttribute != "unique.network.ip-address" || c.region != "RegionOne" {
		t.Fatalf("config %+v", c)
	}
}

func TestOSConfigFallsBackToTheEnvironment(t *testing.T) {
	cfg := validOSConfig()
	for _, k := range []string{"auth_url", "application_credential_id", "application_credential_secret", "region_name"} {
		delete(cfg, k)
	}
	env := fakeEnv(map[string]string{"OS_AUTH_URL": "http://k:5000/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
		"OS_PROJECT_NAME": "proj", "OS_REGION_NAME": "R2"})
	c, err := parseOSConfig(cfg, env, readOK)
	if err != nil {
		t.Fatal(err)
	}
	if c.authURL != "http://k:5000/v3" || c.username != "u" || c.projectName != "proj" || c.region != "R2" ||
		c.userDomainName != "Default" || c.projectDomain != "Default" {
		t.Fatalf("config %+v", c)
	}
	// The target config wins over the environment.
	cfg["region_name"] = "R1"
	if c, _ = parseOSConfig(cfg, env, readOK); c.region != "R1" {
		t.Fatalf("region %q", c.region)
	}
}

func TestOSConfigErrorsNameTheSetting(t *testing.T) {
	cases := []struct {
		change func(map[string]string)
		want   string
	}{
		{func(c map[string]string) { delete(c, "auth_url") }, "auth_url"},
		{func(c map[string]string) { c["auth_url"] = "keystone:5000" }, "not an http(s) URL"},
		{func(c map[string]string) { delete(c, "application_credential_secret") }, "go together"},
		{func(c map[string]string) {
			delete(c, "application_credential_id")
			delete(c, "application_credential_secret")
		}, "no credentials"},
		{func(c map[string]string) {
			delete(c, "application_credential_id")
			delete(c, "application_credential_secret")
			c["username"], c["password"] = "u", "p"
		}, "project_id or project_name"},
		{func(c map[string]string) { delete(c, "group") }, "group is required"},
		{func(c map[string]string) { c["group"] = "Bad_Group" }, "group:"},
		{func(c map[string]string) { c["name_prefix"] = strings.Repeat("a", 60) + "-" }, "name_prefix"},
		{func(c map[string]string) { delete(c, "flavor_id") }, "flavor_id is required"},
		{func(c map[string]string) { delete(c, "image_id") }, "image_id is required"},
		{func(c map[string]string) { delete(c, "network_id") }, "network_id is required"},
		{func(c map[string]string) { c["user_data_file"] = "/missing" }, "user_data_file:"},
		{func(c map[string]string) { c["server_build_timeout"] = "-1s" }, "server_build_timeout"},
	}
	for _, c := range cases {
		cfg := validOSConfig()
		c.change(cfg)
		_, err := parseOSConfig(cfg, fakeEnv(nil), readOK)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
	big := func(string) ([]byte, error) { return make([]byte, maxUserDataBytes+1), nil }
	if _, err := parseOSConfig(validOSConfig(), fakeEnv(nil), big); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized user data: %v", err)
	}
	empty := func(string) ([]byte, error) { return nil, nil }
	if _, err := parseOSConfig(validOSConfig(), fakeEnv(nil), empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty user data: %v", err)
	}
	failing := func(string) ([]byte, error) { return nil, errors.New("permission denied") }
	if _, err := parseOSConfig(validOSConfig(), fakeEnv(nil), failing); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("unreadable user data: %v", err)
	}
}
