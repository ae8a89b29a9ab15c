package throwbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// digestMeta is the job meta key the provider stores each job's spec digest under, so a read
// sees a job re-registered by someone else (the key is gone or differs) as drift.
const digestMeta = "throwbox.spec_digest"

// jobDigest is the digest of a job as Nomad parsed it (/v1/jobs/parse, canonicalized), so a
// change of the job file or of one of its variables, and only that, changes it. The digest
// meta key itself is left out (a parsed spec never has it; a live one does).
func jobDigest(job map[string]any) (string, error) {
	clean := make(map[string]any, len(job))
	for k, v := range job {
		clean[k] = v
	}
	// No meta, null meta and empty meta are the same spec.
	delete(clean, "Meta")
	if meta, ok := job["Meta"].(map[string]any); ok {
		m := make(map[string]any, len(meta))
		for k, v := range meta {
			if k != digestMeta {
				m[k] = v
			}
		}
		if len(m) > 0 {
			clean["Meta"] = m
		}
	}
	// encoding/json writes map keys sorted: the same spec gives the same bytes.
	data, err := json.Marshal(clean)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16], nil
}

// withDigest returns the job with its digest in its meta, as it is registered.
func withDigest(job map[string]any, digest string) map[string]any {
	out := make(map[string]any, len(job)+1)
	for k, v := range job {
		out[k] = v
	}
	meta := map[string]any{}
	if m, ok := job["Meta"].(map[string]any); ok {
		for k, v := range m {
			meta[k] = v
		}
	}
	meta[digestMeta] = digest
	out["Meta"] = meta
	return out
}

// jobChanges is what an apply does to go from the deployed digests to the wanted ones:
// register the jobs (in the configuration's order) whose digest differs or that are new,
// and deregister those no longer configured (in the reverse of their name order).
type jobChanges struct {
	Register   []string
	Deregister []string
}

func planJobChanges(deployed map[string]string, order []string, wanted map[string]string) jobChanges {
	var c jobChanges
	for _, name := range order {
		if have, ok := deployed[name]; !ok || have != wanted[name] {
			c.Register = append(c.Register, name)
		}
	}
	for name := range deployed {
		if _, ok := wanted[name]; !ok {
			c.Deregister = append(c.Deregister, name)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(c.Deregister)))
	return c
}

// hclVarFile renders job variables as an HCL variables file (the /v1/jobs/parse Variables
// field). vars are literal strings (HCL converts them to a variable's declared number or bool
// type), template sequences escaped so a value is taken literally; raw values are HCL
// expressions written as they are (a map or list variable: jsonencode() output is one).
func hclVarFile(vars, raw map[string]string) string {
	all := map[string]string{}
	for k, v := range vars {
		v = strings.NewReplacer("${", "$${", "%{", "%%{").Replace(v)
		data, _ := json.Marshal(v) // a JSON string is a valid HCL quoted string here
		all[k] = string(data)
	}
	for k, v := range raw {
		all[k] = v
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s = %s\n", k, all[k])
	}
	return b.String()
}

// changedJobs names the jobs whose digest differs between two digest maps (added, removed or
// changed), sorted: what a plan's job_digests diff shows.
func changedJobs(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
