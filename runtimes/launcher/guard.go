package main

import (
	"runtime"
	"syscall"
	"unsafe"
)

// The clone3 guard. gVisor releases from 2023 on implement clone3, and our sandbox seccomp
// profile cannot refuse it usefully: gVisor answers a refused call with EPERM whatever errno
// the profile asks for, and glibc (pthread_create, posix_spawn, fork in some builds) falls
// back to clone only on ENOSYS, so programs would fail to start threads. The exec helper
// therefore installs this filter on itself right before exec: clone3 fails with ENOSYS (as
// on a kernel without it), everything else is allowed. The filter is inherited by the
// program and all its descendants and cannot be removed. The sandbox profile
// (runtimes/seccomp/sandbox.json) still applies on top of it.

const (
	seccompSetModeFilter   = 1 // SECCOMP_SET_MODE_FILTER
	seccompFilterFlagTsync = 1 // SECCOMP_FILTER_FLAG_TSYNC: every thread of the helper
	seccompRetAllow        = 0x7fff0000
	seccompRetErrno        = 0x00050000
	prSetNoNewPrivs        = 38
	// Offsets in struct seccomp_data.
	seccompDataNr   = 0
	seccompDataArch = 4
	// BPF opcodes.
	bpfLdWAbs = syscall.BPF_LD | syscall.BPF_W | syscall.BPF_ABS
	bpfJeqK   = syscall.BPF_JMP | syscall.BPF_JEQ | syscall.BPF_K
	bpfRetK   = syscall.BPF_RET | syscall.BPF_K
)

// guardProgram: on this architecture, clone3 -> ENOSYS; anything else (another
// architecture's calls included) is allowed.
func guardProgram() []syscall.SockFilter {
	return []syscall.SockFilter{
		{Code: bpfLdWAbs, K: seccompDataArch},
		{Code: bpfJeqK, Jt: 0, Jf: 3, K: auditArch},
		{Code: bpfLdWAbs, K: seccompDataNr},
		{Code: bpfJeqK, Jt: 0, Jf: 1, K: sysClone3},
		{Code: bpfRetK, K: seccompRetErrno | uint32(syscall.ENOSYS)},
		{Code: bpfRetK, K: seccompRetAllow},
	}
}

// installClone3Guard installs the filter on the calling process (all its threads).
func installClone3Guard() error {
	runtime.LockOSThread() // the exec follows on this thread
	// Required for an unprivileged filter; the sandbox has it already (no-new-privileges).
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); errno != 0 {
		return errno
	}
	prog := guardProgram()
	fprog := syscall.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := syscall.RawSyscall(sysSeccomp, seccompSetModeFilter, seccompFilterFlagTsync,
		uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return errno
	}
	return nil
}
