// throwbox-launcher is PID 1 of every sandbox: it reads the run's header, files and stdin
// as frames on its stdin, runs the optional compile command and then the run command as
// children with rlimits, and streams their output and results back as frames on its
// stdout. The protocol is specified in docs/architecture.md ("Sandbox launcher protocol").
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
)

const defaultWorkDir = "/tmp/run"

const prSetChildSubreaper = 36

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// envDropPrefixes: variables of the orchestrator that user code has no business seeing.
var envDropPrefixes = []string{"NOMAD_", "CONSUL_", "VAULT_"}

type launcher struct {
	workDir string
	exe     string // this binary, re-executed as the exec helper
	out     *frameWriter
	isInit  bool     // PID 1: kill(-1) reaches every other process
	env     []string // the children's environment, set from the header
	procDir string   // the sandbox's /proc, whose tasks count towards the pids limit; "" = no watch
	// wipeDirs: emptied before each test besides workDir (every place a test can write),
	// so that no test sees what an earlier one wrote.
	wipeDirs []string
	running  runningTest // the test a K frame may stop
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == execChildFlag {
		execChild(os.Args[2:])
		return
	}
	os.Exit(launcherMain())
}

func launcherMain() int {
	// Same uid as user code: non-dumpable stops it from opening /proc/1/fd/* or ptracing us.
	if err := setNonDumpable(); err != nil {
		fmt.Fprintln(os.Stderr, "throwbox-launcher: prctl(PR_SET_DUMPABLE):", err)
		return 1
	}
	isInit := os.Getpid() == 1
	if !isInit {
		// Outside a sandbox (tests): adopt orphaned descendants like PID 1 would.
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "throwbox-launcher:", err)
		return 1
	}
	l := &launcher{workDir: defaultWorkDir, exe: exe, out: &frameWriter{w: os.Stdout}, isInit: isInit}
	if isInit {
		l.procDir = "/proc" // only in a sandbox is /proc the program's alone
		l.wipeDirs = sandboxWritableDirs
	}
	if err := l.serve(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "throwbox-launcher: writing frames:", err)
		return 1
	}
	return 0
}

func setNonDumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// runEnd is the X frame.
type runEnd struct {
	stageResult
	WallMS int64 `json:"wall_ms"`
}

// serve runs one job. It returns an error only when frames can no longer be written.
func (l *launcher) serve(in io.Reader) error {
	fail := func(msg string) error { return l.out.writeJSON(frameLaunchFail, map[string]string{"error": msg}) }
	kind, payload, err := readFrame(in)
	if err != nil {
		return fail("no header: " + err.Error())
	}
	if kind != frameHeader {
		return fail(fmt.Sprintf("expected header frame 'H', got %q", kind))
	}
	j, err := parseHeader(payload)
	if err != nil {
		return fail(err.Error())
	}
	if err := writeFiles(l.workDir, j.Files); err != nil {
		return fail(err.Error())
	}
	l.env = childEnv(os.Environ(), l.workDir, j.Env)

	var stdin *stdinQueue
	var tests <-chan queuedTest
	if j.Tests {
		tests = readTestFrames(in, l.killTest)
	} else {
		stdin = newStdinQueue()
		go readAgentFrames(in, stdin)
	}

	if j.Compile != nil {
		res, _, err := (&stage{l: l, argv: j.Compile, limits: j.Limits, outKind: frameCompileOut, errKind: frameCompileErr}).run()
		if err != nil {
			return fail("compile: " + err.Error())
		}
		if err := l.out.writeJSON(frameCompiled, res); err != nil {
			return err
		}
		if !res.ok() {
			return l.out.writeJSON(frameExited, runEnd{}) // run skipped
		}
	}
	if j.Tests {
		return l.serveTests(j, tests)
	}
	res, wall, err := (&stage{l: l, argv: j.Run, limits: j.Limits, stdin: stdin, outKind: frameRunOut, errKind: frameRunErr,
		watchPids: true}).run()
	if err != nil {
		return fail("run: " + err.Error())
	}
	return l.out.writeJSON(frameExited, runEnd{stageResult: res, WallMS: wall.Milliseconds()})
}

// childEnv: the image's environment minus the orchestrator's variables, then PATH (if
// missing), HOME and LANG, then the header's env on top.
func childEnv(base []string, home string, extra map[string]string) []string {
	vars := map[string]string{}
	for _, kv := range base {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || hasAnyPrefix(name, envDropPrefixes) {
			continue
		}
		vars[name] = value
	}
	if vars["PATH"] == "" {
		vars["PATH"] = defaultPath
	}
	vars["HOME"] = home
	vars["LANG"] = "C.UTF-8"
	for k, v := range extra {
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
