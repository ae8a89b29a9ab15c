package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeProc makes a /proc with one process per entry of tasksPerProcess, plus entries that
// are not processes.
func fakeProc(t *testing.T, tasksPerProcess ...int) string {
	t.Helper()
	dir := t.TempDir()
	for i, n := range tasksPerProcess {
		for j := 0; j < n; j++ {
			if err := os.MkdirAll(filepath.Join(dir, fmt.Sprint(i+1), "task", fmt.Sprint(100*i+j+1)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, other := range []string{"self/task/1", "sys/kernel", "net"} {
		if err := os.MkdirAll(filepath.Join(dir, other), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTheLimitIsReachedOnlyAfterEnoughSamplesInARowAtIt(t *testing.T) {
	w := limitWatch{limit: 10, needed: 2}
	for i, c := range []struct {
		tasks int
		want  bool
	}{{9, false}, {10, false}, {9, false}, {10, false}, {12, true}} {
		if got := w.observe(c.tasks); got != c.want {
			t.Fatalf("sample %d (%d tasks): %v, want %v", i, c.tasks, got, c.want)
		}
	}
}

func TestEveryThreadOfEveryProcessIsCountedAndNothingElse(t *testing.T) {
	if got := countTasks(fakeProc(t, 5, 1, 3)); got != 9 {
		t.Fatalf("countTasks = %d, want 9", got)
	}
	if got := countTasks(filepath.Join(t.TempDir(), "missing")); got != 0 {
		t.Fatalf("countTasks of no /proc = %d", got)
	}
}

func TestARunHeldAtItsPidsLimitIsStoppedAndXSaysSo(t *testing.T) {
	h := newHeader("/bin/sh", "-c", "echo started; sleep 30")
	h.NProc = 8
	start := time.Now()
	o := serveIn(t, bytes.NewReader(h.frame(t)), fakeProc(t, 5, 3))
	x := o.json(t, frameExited)
	if x["pids_limit"] != true || x["signal"] != "SIGKILL" || x["exit_code"] != nil {
		t.Fatalf("X %v", x)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stopped after %v", took)
	}
}

func TestARunBelowItsPidsLimitEndsOnItsOwnWithoutThePidsLimitMark(t *testing.T) {
	h := newHeader("/bin/sh", "-c", "sleep 0.3; echo done")
	h.NProc = 8
	o := serveIn(t, bytes.NewReader(h.frame(t)), fakeProc(t, 5, 2))
	x := o.json(t, frameExited)
	if _, marked := x["pids_limit"]; marked || x["exit_code"] != float64(0) || o.joined(frameRunOut) != "done\n" {
		t.Fatalf("X %v, stdout %q", x, o.joined(frameRunOut))
	}
}

func TestTheCompileStageIsNotWatched(t *testing.T) {
	h := newHeader("/bin/sh", "-c", "sleep 30")
	h.Compile = []string{"/bin/sh", "-c", "sleep 0.3"}
	h.NProc = 8
	o := serveIn(t, bytes.NewReader(h.frame(t)), fakeProc(t, 8))
	if c := o.json(t, frameCompiled); c["exit_code"] != float64(0) || c["pids_limit"] != nil {
		t.Fatalf("C %v", c)
	}
	if x := o.json(t, frameExited); x["pids_limit"] != true {
		t.Fatalf("X %v", x)
	}
}
