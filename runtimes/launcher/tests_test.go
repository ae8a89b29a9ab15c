package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testFrame(t *testing.T, index int, cpuS uint64, run ...string) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{"index": index, "run": run, "cpu_time_s": cpuS, "nproc": 4096})
	if err != nil {
		t.Fatal(err)
	}
	return encodeFrame(frameTestStart, data)
}

// testDirs: the build dir and another writable dir the launcher empties before each test.
func testDirs(t *testing.T) (dir, other string) {
	root := t.TempDir()
	dir, other = filepath.Join(root, "run"), filepath.Join(root, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, other
}

// serveTestsIn runs the launcher in tests mode over in and returns its frames.
func serveTestsIn(t *testing.T, in io.Reader) outcome {
	t.Helper()
	dir, other := testDirs(t)
	return serveTestsAt(t, dir, other, in)
}

func serveTestsAt(t *testing.T, dir, other string, in io.Reader) outcome {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	l := &launcher{workDir: dir, exe: exe, out: &frameWriter{w: &out}, wipeDirs: []string{other}}
	done := make(chan error, 1)
	go func() { done <- l.serve(in) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("launcher did not finish within 60s")
	}
	return outcome{parseAll(t, out.Bytes()), dir}
}

func (o outcome) all(t *testing.T, kind byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, f := range o.frames {
		if f.kind == kind {
			var v map[string]any
			if err := json.Unmarshal(f.payload, &v); err != nil {
				t.Fatalf("frame %c: %v", kind, err)
			}
			out = append(out, v)
		}
	}
	return out
}

func testsHeader(compile []string) testHeader {
	h := newHeader("true")
	h.Compile, h.Tests = compile, true
	return h
}

func TestEachTestRunsFromAFreshCopyOfTheBuildAfterOneCompile(t *testing.T) {
	// The compile writes the "build output"; each test reads it, and writes into its dir, into
	// the build output and into another writable dir: the next test must see none of it.
	h := testsHeader([]string{"sh", "-c", "echo built > out.bin && chmod 755 out.bin && echo compiled >&2"})
	dir, other := testDirs(t)
	script := `cat out.bin; test -e leftover && echo SEEN-LEFTOVER; test -e ` + other + `/f && echo SEEN-OTHER;
grep -q changed out.bin && echo SEEN-CHANGED; echo x > leftover; echo changed >> out.bin; echo y > ` + other + `/f;
mkdir -p locked/inner && chmod 000 locked ` + other + `/f`
	var in bytes.Buffer
	in.Write(h.frame(t))
	for i := 0; i < 3; i++ {
		in.Write(testFrame(t, i, 5, "sh", "-c", script))
		in.Write(encodeFrame(frameStdinEnd, nil))
	}
	in.Write(encodeFrame(frameTestsDone, nil))
	o := serveTestsAt(t, dir, other, &in)
	if got := o.kinds(); strings.Count(got, "C") != 1 || strings.Count(got, "Y") != 3 || o.last(t) != 'X' {
		t.Fatalf("frames %q: want one C, three Y, X last", got)
	}
	if out := o.joined(frameRunOut); strings.Contains(out, "SEEN") || strings.Count(out, "built\n") != 3 {
		t.Fatalf("a test saw an earlier test's writes: %q", out)
	}
	if o.joined(frameCompileErr) != "compiled\n" {
		t.Fatalf("compile stderr %q", o.joined(frameCompileErr))
	}
	for i, y := range o.all(t, frameTestEnd) {
		if y["index"] != float64(i) || y["exit_code"] != float64(0) {
			t.Fatalf("Y %d: %v", i, y)
		}
	}
}

func TestEachTestGetsItsOwnStdinAndCPULimitInOrder(t *testing.T) {
	var in bytes.Buffer
	in.Write(testsHeader(nil).frame(t))
	for i, s := range []string{"first", "second"} {
		in.Write(testFrame(t, i, uint64(i+2), "sh", "-c", "cat; echo; ulimit -t"))
		in.Write(encodeFrame(frameStdin, []byte(s)))
		in.Write(encodeFrame(frameStdinEnd, nil))
	}
	in.Write(encodeFrame(frameTestsDone, nil))
	o := serveTestsIn(t, &in)
	if strings.Count(o.kinds(), "Y") != 2 || o.last(t) != 'X' {
		t.Fatalf("frames %q", o.kinds())
	}
	if got := o.joined(frameRunOut); got != "first\n2\nsecond\n3\n" {
		t.Fatalf("stdout %q", got)
	}
}

func TestEachTestReportsItsOwnPeakMemory(t *testing.T) {
	var in bytes.Buffer
	in.Write(testsHeader(nil).frame(t))
	// 64 MiB written by the first test; the second is small.
	in.Write(testFrame(t, 0, 5, "sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' x | (v=$(cat); echo ${#v})"))
	in.Write(encodeFrame(frameStdinEnd, nil))
	in.Write(testFrame(t, 1, 5, "true"))
	in.Write(encodeFrame(frameStdinEnd, nil))
	in.Write(encodeFrame(frameTestsDone, nil))
	o := serveTestsIn(t, &in)
	ys := o.all(t, frameTestEnd)
	if len(ys) != 2 || ys[0]["max_rss_bytes"].(float64) < 64<<20 || ys[1]["max_rss_bytes"].(float64) >= 64<<20 {
		t.Fatalf("Y frames %v", ys)
	}
}

func TestAKillFrameStopsTheRunningTestAndTheNextOneRuns(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		pw.Write(testsHeader(nil).frame(t))
		pw.Write(testFrame(t, 0, 5, "sleep", "30"))
		pw.Write(encodeFrame(frameStdinEnd, nil))
		time.Sleep(300 * time.Millisecond)
		pw.Write(encodeFrame(frameTestKill, []byte(`{"index": 5}`))) // not running: ignored
		pw.Write(encodeFrame(frameTestKill, []byte(`{"index": 0}`)))
		pw.Write(testFrame(t, 1, 5, "echo", "next"))
		pw.Write(encodeFrame(frameStdinEnd, nil))
		pw.Close() // the end of the stream counts as D
	}()
	start := time.Now()
	o := serveTestsIn(t, pr)
	ys := o.all(t, frameTestEnd)
	if len(ys) != 2 || ys[0]["signal"] != "SIGKILL" || ys[1]["exit_code"] != float64(0) || o.last(t) != 'X' {
		t.Fatalf("frames %q, Y %v", o.kinds(), ys)
	}
	if o.joined(frameRunOut) != "next\n" || time.Since(start) > 10*time.Second {
		t.Fatalf("stdout %q after %v", o.joined(frameRunOut), time.Since(start))
	}
}

func TestAFailedCompileInTestsModeRunsNoTest(t *testing.T) {
	var in bytes.Buffer
	in.Write(testsHeader([]string{"sh", "-c", "exit 3"}).frame(t))
	in.Write(testFrame(t, 0, 5, "echo", "never"))
	o := serveTestsIn(t, &in)
	if o.kinds() != "CX" || o.json(t, frameCompiled)["exit_code"] != float64(3) {
		t.Fatalf("frames %q", o.kinds())
	}
}

func TestABadTestFrameIsALaunchFailure(t *testing.T) {
	var in bytes.Buffer
	in.Write(testsHeader(nil).frame(t))
	in.Write(encodeFrame(frameTestStart, []byte(`{"index": 0, "run": ["echo"], "cpu_time_s": 0, "nproc": 1}`)))
	o := serveTestsIn(t, &in)
	if o.kinds() != "L" || !strings.Contains(o.json(t, frameLaunchFail)["error"].(string), "cpu_time_s") {
		t.Fatalf("frames %q", o.kinds())
	}
}
