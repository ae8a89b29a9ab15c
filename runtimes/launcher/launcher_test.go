package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the exec helper, as the launcher binary does.
// Tests must not run in parallel: the launcher reaps with wait4(-1).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == execChildFlag {
		execChild(os.Args[2:])
	}
	// As launcherMain does outside a sandbox: orphans come to us, like to PID 1.
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	os.Exit(m.Run())
}

func encodeFrame(kind byte, payload []byte) []byte {
	buf := make([]byte, 5+len(payload))
	buf[0] = kind
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	return buf
}

type testHeader struct {
	Files      []fileSpec        `json:"files"`
	Compile    []string          `json:"compile"`
	Run        []string          `json:"run"`
	Env        map[string]string `json:"env"`
	CPUTimeS   uint64            `json:"cpu_time_s"`
	NProc      uint64            `json:"nproc"`
	NoFile     uint64            `json:"nofile"`
	FSizeBytes uint64            `json:"fsize_bytes"`
	Tests      bool              `json:"tests,omitempty"`
}

func newHeader(run ...string) testHeader {
	return testHeader{Run: run, Env: map[string]string{}, CPUTimeS: 10, NProc: 4096, NoFile: 256, FSizeBytes: 1 << 20}
}

func (h testHeader) withFile(name, content string) testHeader {
	h.Files = append(h.Files, fileSpec{Name: name, ContentB64: base64.StdEncoding.EncodeToString([]byte(content))})
	return h
}

func (h testHeader) frame(t *testing.T) []byte {
	t.Helper()
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return encodeFrame(frameHeader, data)
}

type frameRec struct {
	kind    byte
	payload []byte
}

func parseAll(t *testing.T, data []byte) []frameRec {
	t.Helper()
	var out []frameRec
	r := bytes.NewReader(data)
	for {
		kind, payload, err := readFrame(r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("launcher output is not a clean frame stream: %v", err)
		}
		out = append(out, frameRec{kind, payload})
	}
}

type outcome struct {
	frames []frameRec
	dir    string
}

func (o outcome) kinds() string {
	var b strings.Builder
	for _, f := range o.frames {
		b.WriteByte(f.kind)
	}
	return b.String()
}

func (o outcome) joined(kind byte) string {
	var b strings.Builder
	for _, f := range o.frames {
		if f.kind == kind {
			b.Write(f.payload)
		}
	}
	return b.String()
}

func (o outcome) json(t *testing.T, kind byte) map[string]any {
	t.Helper()
	for _, f := range o.frames {
		if f.kind == kind {
			var v map[string]any
			if err := json.Unmarshal(f.payload, &v); err != nil {
				t.Fatalf("frame %c: %v", kind, err)
			}
			return v
		}
	}
	t.Fatalf("no %c frame in %q", kind, o.kinds())
	return nil
}

func (o outcome) last(t *testing.T) byte {
	t.Helper()
	if len(o.frames) == 0 {
		t.Fatal("no frames")
	}
	return o.frames[len(o.frames)-1].kind
}

// serveWith runs the launcher over in, with a fresh scratch dir, and returns its frames.
func serveWith(t *testing.T, in io.Reader) outcome {
	t.Helper()
	return serveIn(t, in, "")
}

// serveIn is serveWith with the launcher watching the tasks of procDir ("" = no watch).
func serveIn(t *testing.T, in io.Reader, procDir string) outcome {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	var out bytes.Buffer
	l := &launcher{workDir: dir, exe: exe, out: &frameWriter{w: &out}, procDir: procDir}
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

func serve(t *testing.T, frames ...[]byte) outcome {
	t.Helper()
	return serveWith(t, bytes.NewReader(bytes.Join(frames, nil)))
}

func TestAFrameRoundTripsThroughWriterAndReader(t *testing.T) {
	var buf bytes.Buffer
	fw := &frameWriter{w: &buf}
	if err := fw.write('o', []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := fw.write('Z', nil); err != nil {
		t.Fatal(err)
	}
	if got := buf.Bytes(); !bytes.Equal(got, []byte("o\x00\x00\x00\x05helloZ\x00\x00\x00\x00")) {
		t.Fatalf("wire bytes %q", got)
	}
	frames := parseAll(t, buf.Bytes())
	if len(frames) != 2 || string(frames[0].payload) != "hello" || frames[1].kind != 'Z' {
		t.Fatalf("frames %+v", frames)
	}
}

func TestOversizedAndTruncatedFramesAreErrors(t *testing.T) {
	big := []byte{'I', 0, 0x10, 0, 1} // 1 MiB + 1
	if _, _, err := readFrame(bytes.NewReader(big)); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, _, err := readFrame(bytes.NewReader([]byte{'I', 0, 0})); err == nil || err == io.EOF {
		t.Fatalf("truncated header: %v", err)
	}
	if _, _, err := readFrame(bytes.NewReader([]byte{'I', 0, 0, 0, 4, 'a'})); err == nil || err == io.EOF {
		t.Fatalf("truncated payload: %v", err)
	}
	if err := (&frameWriter{w: io.Discard}).write('o', make([]byte, maxFrameBytes+1)); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("writing oversized: %v", err)
	}
}

func TestConcurrentWritersNeverInterleaveFrames(t *testing.T) {
	var buf bytes.Buffer
	fw := &frameWriter{w: &buf}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			payload := bytes.Repeat([]byte{byte('a' + g)}, 1000+g)
			for i := 0; i < 200; i++ {
				fw.write('o', payload)
			}
		}(g)
	}
	wg.Wait()
	frames := parseAll(t, buf.Bytes())
	if len(frames) != 1600 {
		t.Fatalf("%d frames", len(frames))
	}
	for _, f := range frames {
		if len(f.payload) != 1000+int(f.payload[0]-'a') || bytes.Count(f.payload, f.payload[:1]) != len(f.payload) {
			t.Fatal("a frame's payload was mixed with another's")
		}
	}
}

func TestFileNamesThatLeaveTheScratchDirAreRejected(t *testing.T) {
	for _, name := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/..", "..", "a//b", "a/", "./a",
		"a/./b", "a\\b", "a\x00b"} {
		if validateName(name) == nil {
			t.Errorf("%q accepted", name)
		}
	}
	for _, name := range []string{"main.py", "src/pkg/mod.go", "a..b", ".hidden", "dir.d/x"} {
		if err := validateName(name); err != nil {
			t.Errorf("%q rejected: %v", name, err)
		}
	}
}

func TestAHeaderWithoutLimitsOrRunIsRejected(t *testing.T) {
	for _, raw := range []string{
		`{"run": ["true"], "nproc": 1, "nofile": 1, "fsize_bytes": 1}`,
		`{"run": [], "cpu_time_s": 1, "nproc": 1, "nofile": 1, "fsize_bytes": 1}`,
		`{"run": ["true"], "compile": [], "cpu_time_s": 1, "nproc": 1, "nofile": 1, "fsize_bytes": 1}`,
		`{"run": ["true"], "env": {"A=B": "c"}, "cpu_time_s": 1, "nproc": 1, "nofile": 1, "fsize_bytes": 1}`,
		`{"run": ["true"], "files": [{"name": "a", "content_b64": "!!"}], "cpu_time_s": 1, "nproc": 1, "nofile": 1, "fsize_bytes": 1}`,
		`not json`,
	} {
		if _, err := parseHeader([]byte(raw)); err == nil {
			t.Errorf("accepted %s", raw)
		}
	}
}

func TestShellEchoStreamsStdoutAndStderrAndReportsExitZero(t *testing.T) {
	o := serve(t, newHeader("/bin/sh", "-c", "echo out; echo err >&2").frame(t), encodeFrame(frameStdinEnd, nil))
	if o.joined('o') != "out\n" || o.joined('e') != "err\n" {
		t.Fatalf("stdout %q stderr %q", o.joined('o'), o.joined('e'))
	}
	x := o.json(t, frameExited)
	if o.last(t) != frameExited || x["exit_code"] != float64(0) || x["signal"] != nil {
		t.Fatalf("frames %q, X %v", o.kinds(), x)
	}
	if _, ok := x["wall_ms"].(float64); !ok {
		t.Fatalf("X without wall_ms: %v", x)
	}
}

func TestFilesAreWrittenIntoSubdirectoriesOfTheScratchDir(t *testing.T) {
	h := newHeader("/bin/sh", "lib/run.sh").withFile("lib/run.sh", "cat data/in.txt").withFile("data/in.txt", "from a file")
	o := serve(t, h.frame(t))
	if o.joined('o') != "from a file" {
		t.Fatalf("frames %q stdout %q", o.kinds(), o.joined('o'))
	}
}

func TestExitCodeAndSignalOfTheRunAreReported(t *testing.T) {
	x := serve(t, newHeader("/bin/sh", "-c", "exit 3").frame(t)).json(t, frameExited)
	if x["exit_code"] != float64(3) || x["signal"] != nil {
		t.Fatalf("X %v", x)
	}
	x = serve(t, newHeader("/bin/sh", "-c", "kill -SEGV $$").frame(t)).json(t, frameExited)
	if x["exit_code"] != nil || x["signal"] != "SIGSEGV" {
		t.Fatalf("X %v", x)
	}
}

func TestTheCPUTimeLimitEndsABusyLoopWithSIGXCPU(t *testing.T) {
	h := newHeader("/bin/sh", "-c", "while :; do :; done")
	h.CPUTimeS = 1
	x := serve(t, h.frame(t)).json(t, frameExited)
	if x["signal"] != "SIGXCPU" && x["signal"] != "SIGKILL" {
		t.Fatalf("X %v", x)
	}
}

func TestTheRunGetsTheHeaderLimitsAsRlimits(t *testing.T) {
	h := newHeader("/bin/sh", "-c", "ulimit -t; ulimit -n; ulimit -p; ulimit -f; ulimit -c")
	h.CPUTimeS, h.NoFile, h.NProc, h.FSizeBytes = 7, 100, 300, 1<<20
	o := serve(t, h.frame(t))
	// dash: -p is RLIMIT_NPROC, -f counts 512-byte blocks.
	if got := o.joined('o'); got != "7\n100\n300\n2048\n0\n" {
		t.Fatalf("ulimits %q (frames %q, stderr %q)", got, o.kinds(), o.joined('e'))
	}
}

func TestStdinFramesReachTheRunAndZClosesIt(t *testing.T) {
	o := serve(t, newHeader("cat").frame(t), encodeFrame(frameStdin, []byte("abc")),
		encodeFrame(frameStdin, []byte("def\n")), encodeFrame(frameStdinEnd, nil))
	if o.joined('o') != "abcdef\n" || o.json(t, frameExited)["exit_code"] != float64(0) {
		t.Fatalf("frames %q stdout %q", o.kinds(), o.joined('o'))
	}
}

func TestStdinArrivingDuringCompilationIsBufferedForTheRun(t *testing.T) {
	h := newHeader("cat")
	h.Compile = []string{"/bin/sh", "-c", "sleep 0.3; echo compiling"}
	o := serve(t, h.frame(t), encodeFrame(frameStdin, []byte("early")), encodeFrame(frameStdinEnd, nil))
	if o.kinds() != "OCoX" || o.joined('O') != "compiling\n" || o.joined('o') != "early" {
		t.Fatalf("frames %q compile %q run %q", o.kinds(), o.joined('O'), o.joined('o'))
	}
	if c := o.json(t, frameCompiled); c["exit_code"] != float64(0) || c["signal"] != nil {
		t.Fatalf("C %v", c)
	}
}

func TestAFailedCompileReportsCAndSkipsTheRun(t *testing.T) {
	h := newHeader("/bin/sh", "-c", "touch ran")
	h.Compile = []string{"/bin/sh", "-c", "echo 'main.c:1: error' >&2; exit 1"}
	o := serve(t, h.frame(t))
	if o.kinds() != "ECX" || o.joined('E') != "main.c:1: error\n" {
		t.Fatalf("frames %q", o.kinds())
	}
	if c := o.json(t, frameCompiled); c["exit_code"] != float64(1) {
		t.Fatalf("C %v", c)
	}
	if x := o.json(t, frameExited); x["exit_code"] != nil || x["signal"] != nil || x["wall_ms"] != float64(0) {
		t.Fatalf("X %v", x)
	}
	if _, err := os.Stat(filepath.Join(o.dir, "ran")); !os.IsNotExist(err) {
		t.Fatal("the run stage ran after a failed compile")
	}
}

func TestACommandThatCannotStartIsALaunchFailure(t *testing.T) {
	o := serve(t, newHeader("no-such-program-xyz").frame(t))
	if o.kinds() != "L" || !strings.Contains(o.json(t, frameLaunchFail)["error"].(string), "no-such-program-xyz") {
		t.Fatalf("frames %q", o.kinds())
	}
}

func TestABadFileNameIsALaunchFailureAndNothingIsWritten(t *testing.T) {
	o := serve(t, newHeader("true").withFile("ok.txt", "x").withFile("../escape", "x").frame(t))
	if o.kinds() != "L" || !strings.Contains(o.json(t, frameLaunchFail)["error"].(string), "../escape") {
		t.Fatalf("frames %q", o.kinds())
	}
	if _, err := os.Stat(filepath.Join(o.dir, "ok.txt")); !os.IsNotExist(err) {
		t.Fatal("files were written although the header was rejected")
	}
}

func TestAStreamThatDoesNotStartWithAHeaderIsALaunchFailure(t *testing.T) {
	if o := serve(t, encodeFrame(frameStdin, []byte("x"))); o.kinds() != "L" {
		t.Fatalf("frames %q", o.kinds())
	}
	if o := serve(t); o.kinds() != "L" {
		t.Fatalf("empty stream: frames %q", o.kinds())
	}
}

func TestBackgroundProcessesAreKilledAndReapedWhenTheRunExits(t *testing.T) {
	start := time.Now()
	o := serve(t, newHeader("/bin/sh", "-c", "sleep 30 & echo $!").frame(t))
	if time.Since(start) > 20*time.Second {
		t.Fatal("the launcher waited for a background process")
	}
	pid := strings.TrimSpace(o.joined('o'))
	if pid == "" || o.last(t) != frameExited {
		t.Fatalf("frames %q", o.kinds())
	}
	if _, err := os.Stat("/proc/" + pid); !os.IsNotExist(err) {
		t.Fatalf("background process %s still exists (or is an unreaped zombie)", pid)
	}
}

func TestTheChildEnvironmentHasHomeLangAndTheHeaderEnvButNoNomadVariables(t *testing.T) {
	t.Setenv("NOMAD_ALLOC_ID", "secret-ish")
	h := newHeader("/bin/sh", "-c", `echo "$HOME|$LANG|$GREETING|${NOMAD_ALLOC_ID:-unset}|$(pwd)"`)
	h.Env["GREETING"] = "hi"
	o := serve(t, h.frame(t))
	if want := o.dir + "|C.UTF-8|hi|unset|" + o.dir + "\n"; o.joined('o') != want {
		t.Fatalf("got %q want %q", o.joined('o'), want)
	}
}

func TestTheLauncherMakesItselfNonDumpable(t *testing.T) {
	if err := setNonDumpable(); err != nil {
		t.Fatal(err)
	}
	const prGetDumpable = 3
	got, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if errno != 0 || got != 0 {
		t.Fatalf("dumpable = %d (%v)", got, errno)
	}
}

func TestSignalNamesAreConventional(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{
		syscall.SIGKILL: "SIGKILL", syscall.SIGXCPU: "SIGXCPU", syscall.SIGSEGV: "SIGSEGV", 34: "SIGRTMIN+0",
	} {
		if got := signalName(sig); got != want {
			t.Errorf("%d: %s, want %s", sig, got, want)
		}
	}
}

func TestAProgramOnANoexecMountIsStartedFromAMemfdCopy(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a noexec tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOEXEC, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	echo, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, echo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(prog).Run(); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("exec on the noexec mount: %v, want EACCES", err)
	}
	o := serve(t, newHeader(prog, "from", "memory").frame(t))
	if o.joined('o') != "from memory\n" || o.json(t, frameExited)["exit_code"] != float64(0) {
		t.Fatalf("frames %q stdout %q", o.kinds(), o.joined('o'))
	}
}

// clone3Probe calls clone3 with a null argument: without the guard the kernel answers EFAULT
// (or EINVAL), with it ENOSYS, so glibc falls back to clone.
const clone3Probe = `import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
rc = libc.syscall(435, None, 0)
print(rc, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
`

func TestTheRunSeesClone3AsNotImplementedAndStillStartsThreads(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	h := newHeader("python3", "probe.py").withFile("probe.py", clone3Probe+
		"import threading; t = threading.Thread(target=print, args=('thread ran',)); t.start(); t.join()\n")
	o := serve(t, h.frame(t), encodeFrame(frameStdinEnd, nil))
	if got := o.joined('o'); got != "-1 ENOSYS\nthread ran\n" {
		t.Fatalf("stdout %q stderr %q", got, o.joined('e'))
	}
}

func TestTheGuardAllowsEveryOtherCall(t *testing.T) {
	prog := guardProgram()
	last := prog[len(prog)-1]
	if last.Code != bpfRetK || last.K != seccompRetAllow {
		t.Fatalf("the filter's default is %+v, want allow", last)
	}
	refused := 0
	for _, ins := range prog {
		if ins.Code == bpfRetK && ins.K != seccompRetAllow {
			refused++
			if ins.K != seccompRetErrno|uint32(syscall.ENOSYS) {
				t.Fatalf("a refusal returns %#x, want ERRNO(ENOSYS)", ins.K)
			}
		}
	}
	if refused != 1 {
		t.Fatalf("%d refusing returns, want exactly 1 (clone3)", refused)
	}
}
