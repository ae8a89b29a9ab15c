package main

// Pure decisions of the openstack mode: no I/O, unit tested in openstack_decide_test.go.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/nomad-autoscaler/sdk/helper/scaleutils"
	"github.com/hashicorp/nomad/api"
)

// Nova server states the decisions use.
const (
	novaActive        = "ACTIVE"
	novaBuild         = "BUILD"
	novaError         = "ERROR"
	novaTaskDeleting  = "deleting"
	unmappedIDPrefix  = "unmapped-nomad-node:"
	autoscaledMetaVal = "true"
)

// novaServer is what the decisions need of a Nova server.
type novaServer struct {
	ID        string
	Name      string
	Status    string
	TaskState string // OS-EXT-STS:task_state: "" when no operation runs
	Metadata  map[string]string
	Addresses []string // fixed and floating IPs, all networks
}

// groupMembers: the servers whose metadata names the group (Terraform's fixed workers and the
// ones this plugin created).
func groupMembers(all []novaServer, group string) []novaServer {
	var out []novaServer
	for _, s := range all {
		if s.Metadata[metaGroup] == group {
			out = append(out, s)
		}
	}
	return out
}

// groupStatus: count is the group's ACTIVE servers that are not being deleted; ready is false
// while any member is being built or has an operation under way (deleting, rebooting, ...).
// ERROR and SHUTOFF servers neither count nor block: they need an operator, and holding the
// whole group for them would stop scaling.
func groupStatus(members []novaServer) (count int64, ready bool, reason string) {
	ready = true
	var busy []string
	for _, s := range members {
		if s.Status == novaActive && s.TaskState != novaTaskDeleting {
			count++
		}
		if s.Status == novaBuild || s.TaskState != "" {
			ready = false
			state := s.Status
			if s.TaskState != "" {
				state += "/" + s.TaskState
			}
			busy = append(busy, s.Name+" "+state)
		}
	}
	if !ready {
		reason = "servers in transition: " + strings.Join(busy, ", ")
	}
	return count, ready, reason
}

// deletable: the IDs of the members this plugin may delete: created by it (metadata and name
// prefix both), ACTIVE, no operation under way. Sorted for stable logs.
func deletable(members []novaServer, namePrefix string) []string {
	var ids []string
	for _, s := range members {
		if s.Metadata[metaAutoscaled] == autoscaledMetaVal && strings.HasPrefix(s.Name, namePrefix) &&
			s.Status == novaActive && s.TaskState == "" {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// scaleDecision: how many servers to create (out > 0) or remove (in > 0) to go from current to
// desired, with at most len(deletable) removable. A scale-in that can remove nothing (only
// Terraform's fixed workers left) is a no-op with a reason.
func scaleDecision(current, desired int64, removable int) (out, in int, reason string) {
	switch {
	case desired > current:
		return int(desired - current), 0, ""
	case desired < current:
		n := int(current - desired)
		if n > removable {
			n = removable
		}
		if n == 0 {
			return 0, 0, fmt.Sprintf("scale-in to %d of %d: none of the group's servers was created by the autoscaler", desired, current)
		}
		return 0, n, ""
	default:
		return 0, 0, fmt.Sprintf("the group already has %d server(s)", current)
	}
}

// serverIDForNode maps a Nomad node to its Nova server: the member whose addresses hold the
// node's address attribute (Nomad's fingerprinted IP). A node without a match (another cloud's,
// a local one, an address in two servers) gets a placeholder that is never a server ID, so the
// SDK's remote check leaves it out instead of failing the whole scale-in.
func serverIDForNode(node *api.Node, attribute string, members []novaServer) string {
	addr := node.Attributes[attribute]
	if addr == "" {
		return unmappedIDPrefix + node.ID
	}
	var found []string
	for _, s := range members {
		for _, a := range s.Addresses {
			if a == addr {
				found = append(found, s.ID)
				break
			}
		}
	}
	if len(found) != 1 {
		return unmappedIDPrefix + node.ID
	}
	return found[0]
}

// serversToDelete: the servers of the drained nodes, each checked against the deletable set:
// a node whose server is not deletable is an error (nothing is deleted then), never a guess.
func serversToDelete(drained []scaleutils.NodeResourceID, deletableIDs []string) ([]string, error) {
	ok := map[string]bool{}
	for _, id := range deletableIDs {
		ok[id] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range drained {
		if !ok[n.RemoteResourceID] {
			return nil, fmt.Errorf("drained Nomad node %s maps to %q, not a server this target created", n.NomadNodeID, n.RemoteResourceID)
		}
		if seen[n.RemoteResourceID] {
			return nil, fmt.Errorf("two drained Nomad nodes map to server %s", n.RemoteResourceID)
		}
		seen[n.RemoteResourceID] = true
		out = append(out, n.RemoteResourceID)
	}
	return out, nil
}

// newServerName: the prefix and 8 hex digits of random (4 bytes).
func newServerName(prefix string, random [4]byte) string {
	return fmt.Sprintf("%s%x", prefix, random[:])
}

// serverAddresses flattens Nova's addresses ({"net": [{"addr": "10.0.0.5", ...}]}).
func serverAddresses(addresses map[string]interface{}) []string {
	var out []string
	for _, v := range addresses {
		list, _ := v.([]interface{})
		for _, item := range list {
			m, _ := item.(map[string]interface{})
			if a, ok := m["addr"].(string); ok && a != "" {
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}
