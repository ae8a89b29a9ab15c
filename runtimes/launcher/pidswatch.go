package main

import (
	"os"
	"syscall"
	"time"
)

// A fork bomb as an outcome. RLIMIT_NPROC makes a fork or thread past the run's pids limit
// fail with EAGAIN, which a program may ignore and retry until the wall clock ends it; the
// launcher cannot see a failed fork, but it can see the sandbox's task count. RLIMIT_NPROC
// counts every task of uid 65534 in the sandbox (the launcher's own threads included; gVisor
// does the same), so a count at the limit means the next fork fails. A run held at its limit
// for pidsSamplesAtLimit samples in a row is stopped, and X says `"pids_limit": true`.
const (
	pidsSampleInterval = 50 * time.Millisecond
	pidsSamplesAtLimit = 2
)

// limitWatch decides from successive task counts whether the run sits at its limit.
type limitWatch struct {
	limit  int // tasks
	needed int // consecutive samples at the limit
	streak int
}

// observe takes one sample; true once the limit was reached in `needed` samples in a row.
func (w *limitWatch) observe(tasks int) bool {
	if tasks >= w.limit {
		w.streak++
	} else {
		w.streak = 0
	}
	return w.streak >= w.needed
}

// countTasks counts the tasks (threads) of every process listed in procDir. A process that
// exits while it is counted simply counts less.
func countTasks(procDir string) int {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !isDigits(e.Name()) {
			continue
		}
		if tasks, err := os.ReadDir(procDir + "/" + e.Name() + "/task"); err == nil {
			n += len(tasks)
		}
	}
	return n
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// effectiveNProc is the RLIMIT_NPROC the helper will set: the header's, lowered to the hard
// limit the launcher itself runs under (the container's ulimit), as lowerRlimit does.
func effectiveNProc(header uint64) uint64 {
	var have syscall.Rlimit
	if err := syscall.Getrlimit(rlimitNProc, &have); err != nil {
		return header
	}
	return min(header, have.Max)
}

// watchPids samples procDir until stop is closed; when the run sits at its limit it calls
// atLimit once and returns.
func watchPids(procDir string, limit uint64, stop <-chan struct{}, atLimit func()) {
	w := limitWatch{limit: int(min(limit, 1<<30)), needed: pidsSamplesAtLimit}
	tick := time.NewTicker(pidsSampleInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if w.observe(countTasks(procDir)) {
				atLimit()
				return
			}
		}
	}
}
