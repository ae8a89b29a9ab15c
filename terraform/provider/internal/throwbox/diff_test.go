package throwbox

import (
	"reflect"
	"strings"
	"testing"
)

func job(image string, meta map[string]any) map[string]any {
	j := map[string]any{"ID": "throwbox-control-plane", "Type": "service",
		"TaskGroups": []any{map[string]any{"Name": "api", "Count": 2.0,
			"Tasks": []any{map[string]any{"Config": map[string]any{"image": image}}}}}}
	if meta != nil {
		j["Meta"] = meta
	}
	return j
}

func digest(t *testing.T, j map[string]any) string {
	t.Helper()
	d, err := jobDigest(j)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTheSameSpecHasTheSameDigestAndAChangedOneAnother(t *testing.T) {
	a, b := digest(t, job("v1", nil)), digest(t, job("v1", nil))
	if a != b || len(a) != 16 {
		t.Fatalf("same spec, digests %q and %q", a, b)
	}
	if digest(t, job("v2", nil)) == a {
		t.Fatal("a changed spec kept its digest")
	}
}

func TestTheDigestMetaKeyIsNotPartOfTheDigest(t *testing.T) {
	plain := job("v1", nil)
	d := digest(t, plain)
	registered := withDigest(plain, d)
	if got := digest(t, registered); got != d {
		t.Fatalf("registered job digests to %q, parsed one to %q", got, d)
	}
	if liveDigest(registered) != d {
		t.Fatal("the registered job does not carry its digest")
	}
	if _, ok := plain["Meta"]; ok {
		t.Fatal("withDigest changed its input")
	}
	// Other meta keys count.
	withOther := withDigest(job("v1", map[string]any{"team": "ops"}), d)
	if digest(t, withOther) == d {
		t.Fatal("a meta change kept the digest")
	}
}

func TestOnlyChangedAndNewJobsAreRegisteredInConfigurationOrder(t *testing.T) {
	deployed := map[string]string{"topics": "a", "agent": "b", "cp": "c", "lb": "d", "old": "e"}
	wanted := map[string]string{"topics": "a", "agent": "B", "cp": "c", "lb": "D", "new": "f"}
	got := planJobChanges(deployed, []string{"topics", "agent", "cp", "lb", "new"}, wanted)
	want := jobChanges{Register: []string{"agent", "lb", "new"}, Deregister: []string{"old"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestNothingChangesWhenTheDigestsAreEqual(t *testing.T) {
	d := map[string]string{"agent": "b", "cp": "c"}
	got := planJobChanges(d, []string{"agent", "cp"}, d)
	if len(got.Register) != 0 || len(got.Deregister) != 0 {
		t.Fatalf("got %+v", got)
	}
	if c := changedJobs(d, d); len(c) != 0 {
		t.Fatalf("changedJobs: %v", c)
	}
}

func TestChangedJobsNamesAddedRemovedAndChanged(t *testing.T) {
	got := changedJobs(map[string]string{"a": "1", "b": "2", "c": "3"}, map[string]string{"a": "1", "b": "X", "d": "4"})
	if !reflect.DeepEqual(got, []string{"b", "c", "d"}) {
		t.Fatalf("got %v", got)
	}
}

func TestVariablesAreRenderedLiterallySortedAndQuoted(t *testing.T) {
	got := hclVarFile(map[string]string{"z": "1", "a": `say "hi" ${x} %{y}`}, map[string]string{"m": `{"K":"v"}`})
	want := "a = \"say \\\"hi\\\" $${x} %%{y}\"\nm = {\"K\":\"v\"}\nz = \"1\"\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if strings.Contains(hclVarFile(map[string]string{"k": "a\nb"}, nil), "a\nb") {
		t.Fatal("a newline was not escaped")
	}
}
