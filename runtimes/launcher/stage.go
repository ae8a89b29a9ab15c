package main

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// launchError means the stage's command never started (reported as an L frame).
type launchError struct{ msg string }

func (e *launchError) Error() string { return e.msg }

// stageResult is what C and X report.
type stageResult struct {
	ExitCode  *int    `json:"exit_code"`
	Signal    *string `json:"signal"`
	PidsLimit bool    `json:"pids_limit,omitempty"` // stopped at its pids limit (pidswatch.go)
}

func resultOf(ws syscall.WaitStatus) stageResult {
	switch {
	case ws.Exited():
		code := ws.ExitStatus()
		return stageResult{ExitCode: &code}
	case ws.Signaled():
		name := signalName(ws.Signal())
		return stageResult{Signal: &name}
	}
	return stageResult{} // stopped/continued: not reported by a blocking wait4 without WUNTRACED
}

func (r stageResult) ok() bool { return r.ExitCode != nil && *r.ExitCode == 0 }

// stage is one process tree (compile or run): started through the exec helper, its stdout
// and stderr streamed as frames, every process of it killed and reaped when its first
// process exits.
type stage struct {
	l                *launcher
	argv             []string
	limits           limits
	stdin            *stdinQueue // nil: /dev/null
	outKind, errKind byte
	watchPids        bool          // stop it when it sits at its pids limit (the run stage)
	onStart          func(pid int) // called once its process runs (a test's kill needs the pid)
	maxRSSBytes      int64         // after run: the peak resident memory of its first process (and the children it waited for)
}

func (s *stage) run() (stageResult, time.Duration, error) {
	var closeAfterStart, closeAtEnd []*os.File
	defer func() {
		for _, f := range append(closeAfterStart, closeAtEnd...) {
			f.Close()
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closeAtEnd = append(closeAtEnd, r, w)
		}
		return
	}

	var stdinR, stdinW *os.File
	var err error
	if s.stdin == nil {
		if stdinR, err = os.Open(os.DevNull); err != nil {
			return stageResult{}, 0, &launchError{"open /dev/null: " + err.Error()}
		}
		closeAtEnd = append(closeAtEnd, stdinR)
	} else if stdinR, stdinW, err = pipe(); err != nil {
		return stageResult{}, 0, &launchError{"pipe: " + err.Error()}
	}
	outR, outW, err := pipe()
	if err != nil {
		return stageResult{}, 0, &launchError{"pipe: " + err.Error()}
	}
	errR, errW, err := pipe()
	if err != nil {
		return stageResult{}, 0, &launchError{"pipe: " + err.Error()}
	}
	reportR, reportW, err := pipe()
	if err != nil {
		return stageResult{}, 0, &launchError{"pipe: " + err.Error()}
	}

	started := time.Now()
	pid, err := syscall.ForkExec(s.l.exe, helperArgs(s.l.exe, s.limits, s.argv), &syscall.ProcAttr{
		Dir:   s.l.workDir,
		Env:   s.l.env,
		Files: []uintptr{stdinR.Fd(), outW.Fd(), errW.Fd(), reportW.Fd()},
		// Own process group: outside PID 1 (tests) the group is what gets killed at the end.
		Sys: &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return stageResult{}, 0, &launchError{"start helper: " + err.Error()}
	}
	if s.onStart != nil {
		s.onStart(pid)
	}
	// Only the child may hold the write ends, or the readers never see EOF.
	stdinR.Close()
	outW.Close()
	errW.Close()
	reportW.Close()

	var atLimit atomic.Bool
	if s.watchPids && s.l.procDir != "" {
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			watchPids(s.l.procDir, effectiveNProc(s.limits.NProc), stop, func() {
				atLimit.Store(true)
				s.l.killStage(pid)
			})
		}()
		defer func() { close(stop); <-stopped }()
	}

	var streams sync.WaitGroup
	for _, p := range []struct {
		r    *os.File
		kind byte
	}{{outR, s.outKind}, {errR, s.errKind}} {
		streams.Add(1)
		go func() {
			defer streams.Done()
			s.l.stream(p.r, p.kind)
		}()
	}
	if s.stdin != nil {
		go forwardStdin(s.stdin, stdinW)
		defer s.stdin.detach()
	}

	report, _ := io.ReadAll(reportR) // EOF at the helper's successful exec or exit
	status, rusage, waitErr := s.l.waitFor(pid)
	s.maxRSSBytes = rusage.Maxrss * 1024 // Linux reports kilobytes
	wall := time.Since(started)
	s.l.killRemaining(pid)
	streams.Wait()
	switch {
	case len(report) > 0:
		return stageResult{}, wall, &launchError{string(report)}
	case waitErr != nil:
		return stageResult{}, wall, &launchError{"wait: " + waitErr.Error()}
	}
	res := resultOf(status)
	res.PidsLimit = atLimit.Load()
	return res, wall, nil
}

// stream sends everything read from r as frames of kind, each chunk as soon as it is read.
func (l *launcher) stream(r io.Reader, kind byte) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if l.out.write(kind, buf[:n]) != nil {
				io.Copy(io.Discard, r) // the agent is gone: keep the child from blocking
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitFor reaps children (including reparented orphans) until pid exits; pid's resource usage.
func (l *launcher) waitFor(pid int) (syscall.WaitStatus, syscall.Rusage, error) {
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		got, err := syscall.Wait4(-1, &ws, 0, &ru)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return 0, ru, err // ECHILD: cannot happen while pid is ours and unreaped
		case got == pid:
			return ws, ru, nil
		}
	}
}

// killStage kills the stage's processes without reaping them (the stage's wait does): as
// PID 1 every other process in the sandbox, elsewhere (tests) the stage's process group.
func (l *launcher) killStage(pgid int) {
	if l.isInit {
		syscall.Kill(-1, syscall.SIGKILL)
	} else {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// killRemaining kills every process the stage left behind and reaps them all. As PID 1,
// kill(-1) reaches every other process in the sandbox; elsewhere (tests) the stage's
// process group.
func (l *launcher) killRemaining(pgid int) {
	for {
		l.killStage(pgid)
		_, err := syscall.Wait4(-1, nil, 0, nil)
		if errors.Is(err, syscall.ECHILD) {
			return
		}
	}
}
