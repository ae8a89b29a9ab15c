package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Test cases: the program is compiled once, then the agent starts each test with a T frame
// (its command, rlimits and, as I… Z frames, its stdin), one at a time: the next T comes only
// after the agent has read this test's Y. Every test starts from a fresh copy of the build
// dir as the compile left it, with every other writable place emptied, so no test sees what
// an earlier one wrote. D (or the end of the agent's stream) ends the tests; X follows.

// sandboxWritableDirs: every place user code can write in a sandbox (the rootfs is read-only,
// Nomad's task dirs are sealed to root by the agent).
var sandboxWritableDirs = []string{"/tmp", "/dev/shm"}

// snapshotSkip: top-level names of the build dir not copied into a test's dir: compiler
// caches in HOME (the Go build cache and GOPATH), which the built program does not need.
var snapshotSkip = map[string]bool{".cache": true, ".go": true}

// testStart is the T frame. Limits are pointers so that a missing one is an error, not 0.
type testStart struct {
	Index    int      `json:"index"`
	Run      []string `json:"run"`
	CPUTimeS *uint64  `json:"cpu_time_s"`
	NProc    *uint64  `json:"nproc"`
}

// testEnd is the Y frame. MaxRSSBytes: the test's own peak memory (wait4's ru_maxrss of its
// first process, which counts the children it waited for); the sandbox's cgroup cannot say it,
// as gVisor may keep an earlier test's memory.
type testEnd struct {
	Index int `json:"index"`
	stageResult
	WallMS      int64 `json:"wall_ms"`
	MaxRSSBytes int64 `json:"max_rss_bytes"`
}

// queuedTest is a T frame with the stdin that follows it.
type queuedTest struct {
	start testStart
	err   error // a T frame that does not parse
	stdin *stdinQueue
}

// runningTest is the test a K frame may stop.
type runningTest struct {
	mu    sync.Mutex
	index int
	pid   int // 0: none running
}

func (l *launcher) killTest(index int) {
	l.running.mu.Lock()
	defer l.running.mu.Unlock()
	if l.running.pid != 0 && l.running.index == index {
		l.killStage(l.running.pid)
	}
}

func (l *launcher) setRunning(index, pid int) {
	l.running.mu.Lock()
	l.running.index, l.running.pid = index, pid
	l.running.mu.Unlock()
}

// readTestFrames reads the agent's frames in tests mode: each T becomes a queued test whose
// stdin the following I/Z frames fill; K stops the running test. The channel closes at D or
// at the end of the stream (which also ends the last test's stdin).
func readTestFrames(in io.Reader, kill func(index int)) <-chan queuedTest {
	tests := make(chan queuedTest, 1)
	go func() {
		var current *stdinQueue
		defer func() {
			if current != nil {
				current.end()
			}
			close(tests)
		}()
		for {
			kind, payload, err := readFrame(in)
			if err != nil {
				if err != io.EOF {
					fmt.Fprintln(os.Stderr, "throwbox-launcher: reading frames:", err)
				}
				return
			}
			switch kind {
			case frameTestStart:
				if current != nil {
					current.end()
				}
				current = newStdinQueue()
				var st testStart
				err := json.Unmarshal(payload, &st)
				tests <- queuedTest{start: st, err: err, stdin: current}
			case frameStdin:
				if current != nil {
					current.push(payload)
				}
			case frameStdinEnd:
				if current != nil {
					current.end()
				}
			case frameTestKill:
				var k struct {
					Index int `json:"index"`
				}
				if json.Unmarshal(payload, &k) == nil {
					kill(k.Index)
				}
			case frameTestsDone:
				return
			default:
				fmt.Fprintf(os.Stderr, "throwbox-launcher: ignoring frame %q in tests mode\n", kind)
			}
		}
	}()
	return tests
}

func (t testStart) limits(base limits) (limits, error) {
	if len(t.Run) == 0 || t.Run[0] == "" {
		return base, errors.New("run must be a non-empty command")
	}
	if err := checkArgs(t.Run); err != nil {
		return base, err
	}
	if t.CPUTimeS == nil || *t.CPUTimeS == 0 || t.NProc == nil || *t.NProc == 0 {
		return base, errors.New("cpu_time_s and nproc must be positive integers")
	}
	base.CPUTimeS, base.NProc = *t.CPUTimeS, *t.NProc
	return base, nil
}

// serveTests runs each test the agent starts, from a fresh copy of the build dir, and
// reports it with Y; then X. A test that cannot start ends the run with L, like a run.
func (l *launcher) serveTests(j *job, tests <-chan queuedTest) error {
	fail := func(msg string) error { return l.out.writeJSON(frameLaunchFail, map[string]string{"error": msg}) }
	snap, err := snapshotDir(l.workDir)
	if err != nil {
		return fail("build output: " + err.Error())
	}
	var total time.Duration
	for q := range tests {
		if q.err != nil {
			return fail("bad test frame: " + q.err.Error())
		}
		lim, err := q.start.limits(j.Limits)
		if err != nil {
			return fail(fmt.Sprintf("bad test frame %d: %v", q.start.Index, err))
		}
		if err := l.freshScratch(snap); err != nil {
			return fail(fmt.Sprintf("test %d: fresh copy of the build: %v", q.start.Index, err))
		}
		index := q.start.Index
		st := &stage{l: l, argv: q.start.Run, limits: lim, stdin: q.stdin, outKind: frameRunOut, errKind: frameRunErr,
			watchPids: true, onStart: func(pid int) { l.setRunning(index, pid) }}
		res, wall, err := st.run()
		l.setRunning(0, 0)
		q.stdin.detach()
		if err != nil {
			return fail(fmt.Sprintf("test %d: %v", index, err))
		}
		total += wall
		if err := l.out.writeJSON(frameTestEnd, testEnd{Index: index, stageResult: res, WallMS: wall.Milliseconds(),
			MaxRSSBytes: st.maxRSSBytes}); err != nil {
			return err
		}
	}
	return l.out.writeJSON(frameExited, runEnd{WallMS: total.Milliseconds()})
}

// snapEntry is one file, directory or symlink of the build dir.
type snapEntry struct {
	rel     string
	mode    fs.FileMode
	content []byte // regular files
	target  string // symlinks
}

// snapshotDir reads the build dir into memory (in walk order: parents first). Only the user's
// code and the launcher write there, and by now nothing else runs.
func snapshotDir(dir string) ([]snapEntry, error) {
	var out []snapEntry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." {
			return nil
		}
		if d.IsDir() && snapshotSkip[rel] {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := snapEntry{rel: rel, mode: info.Mode()}
		switch {
		case info.Mode().IsRegular():
			if e.content, err = os.ReadFile(path); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			if e.target, err = os.Readlink(path); err != nil {
				return err
			}
		case !info.IsDir():
			return nil // fifos, sockets: not part of a build
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// freshScratch empties every writable place and writes the build dir back as the snapshot has it.
func (l *launcher) freshScratch(snap []snapEntry) error {
	for _, d := range append([]string{l.workDir}, l.wipeDirs...) {
		if err := removeContents(d); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(l.workDir, 0o755); err != nil {
		return err
	}
	for _, e := range snap {
		path := filepath.Join(l.workDir, e.rel)
		var err error
		switch {
		case e.mode.IsDir():
			err = os.Mkdir(path, e.mode.Perm()|0o700)
		case e.mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.target, path)
		default:
			err = writeFileMode(path, e.content, e.mode.Perm())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func writeFileMode(path string, content []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return err
	}
	_, werr := f.Write(content)
	return errors.Join(werr, f.Close(), os.Chmod(path, perm))
}

// removeContents removes everything inside dir (not dir itself; a missing dir is fine). A test
// may have left directories it made unwritable: they are opened up and removed again.
func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if os.RemoveAll(path) == nil {
			continue
		}
		openUp(path)
		if err := os.RemoveAll(path); err != nil {
			return err
		}
	}
	return nil
}

// openUp makes path and every directory under it writable and searchable by its owner.
func openUp(path string) {
	if info, err := os.Lstat(path); err != nil || !info.IsDir() {
		return
	}
	os.Chmod(path, 0o700)
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		openUp(filepath.Join(path, e.Name()))
	}
}
