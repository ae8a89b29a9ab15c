package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
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
	if err := installClone3Guard(); err != nil {
		fail("seccomp (clone3 guard): %v", err)
	}
	argv := args[5:]
	// A name with a slash is used as it is: LookPath would refuse a file on a noexec mount.
	path, err := argv[0], error(nil)
	if !strings.Contains(path, "/") {
		path, err = exec.LookPath(path)
	}
	if err == nil {
		err = syscall.Exec(path, argv, os.Environ())
	}
	if errors.Is(err, syscall.EACCES) {
		// Typically the compiled program on the noexec scratch tmpfs (Docker mounts tmpfs
		// through its Mounts API always noexec, and that is all Nomad can ask for).
		err = execFromMemory(path, argv, os.Environ())
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

// execFromMemory copies an executable file into a memfd and execs that (execveat with
// AT_EMPTY_PATH), which a noexec mount does not prevent. It returns only on failure.
func execFromMemory(path string, argv, env []string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return syscall.EACCES
	}
	name, _ := syscall.BytePtrFromString("throwbox-exec")
	fd, _, errno := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(name)), mfdCloexec, 0)
	if errno != 0 {
		return fmt.Errorf("memfd_create: %w", errno)
	}
	mem := os.NewFile(fd, "memfd")
	defer mem.Close()
	if _, err := io.Copy(mem, src); err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	empty, _ := syscall.BytePtrFromString("")
	_, _, errno = syscall.Syscall6(sysExecveat, fd, uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), atEmptyPath, 0)
	return fmt.Errorf("execveat: %w", errno)
}

const (
	sysMemfdCreate = 319 // x86_64
	sysExecveat    = 322 // x86_64
	mfdCloexec     = 0x1
	atEmptyPath    = 0x1000
)
