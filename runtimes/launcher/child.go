package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// execChildFlag makes the launcher binary act as the exec helper: Go cannot set rlimits
// between fork and exec, so the launcher starts itself with this flag, the helper sets the
// limits on itself and execs the user's command. The launcher (PID 1) keeps no limits, and
// its own threads only count towards RLIMIT_NPROC as tasks of the same uid.
const execChildFlag = "--exec-child"

// errFD is the helper's report pipe: close-on-exec, so the launcher reads EOF once exec
// succeeded and the error text otherwise.
const errFD = 3

func helperArgs(exe string, lim limits, argv []string) []string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	args := []string{exe, execChildFlag, u(lim.CPUTimeS), u(lim.NProc), u(lim.NoFile), u(lim.FSizeBytes), "--"}
	return append(args, argv...)
}

// execChild runs in the helper process; it never returns.
func execChild(args []string) {
	report := os.NewFile(errFD, "report")
	syscall.CloseOnExec(errFD)
	fail := func(format string, a ...any) {
		fmt.Fprintf(report, format, a...)
		os.Exit(127)
	}
	if len(args) < 6 || args[4] != "--" {
		fail("internal: bad helper arguments")
	}
	var vals [4]uint64
	for i := range vals {
		v, err := strconv.ParseUint(args[i], 10, 64)
		if err != nil {
			fail("internal: bad limit %q", args[i])
		}
		vals[i] = v
	}
	cpu, nproc, nofile, fsize := vals[0], vals[1], vals[2], vals[3]
	for _, rl := range []struct {
		resource int
		cur, max uint64
	}{
		{syscall.RLIMIT_CPU, cpu, cpu + 1}, // SIGXCPU at the soft limit, SIGKILL a second later
		{rlimitNProc, nproc, nproc},
		{syscall.RLIMIT_NOFILE, nofile, nofile},
		{syscall.RLIMIT_FSIZE, fsize, fsize},
		{syscall.RLIMIT_CORE, 0, 0},
	} {
		if err := lowerRlimit(rl.resource, rl.cur, rl.max); err != nil {
			fail("setrlimit(%d): %v", rl.resource, err)
		}
	}
	argv := args[5:]
	path, err := exec.LookPath(argv[0])
	if err == nil {
		err = syscall.Exec(path, argv, os.Environ())
	}
	fail("cannot start %q: %v", argv[0], err)
}

// rlimitNProc is RLIMIT_NPROC (not exported by package syscall).
const rlimitNProc = 6

// lowerRlimit sets a limit, clamped to the hard limit already in force (the container's
// ulimit may be lower than the header's, and without privileges a limit only goes down).
func lowerRlimit(resource int, cur, max uint64) error {
	var have syscall.Rlimit
	if err := syscall.Getrlimit(resource, &have); err != nil {
		return err
	}
	return syscall.Setrlimit(resource, &syscall.Rlimit{Cur: min(cur, have.Max), Max: min(max, have.Max)})
}
