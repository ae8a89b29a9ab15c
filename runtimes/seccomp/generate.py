#!/usr/bin/env python3
"""Generate sandbox.json, the seccomp profile of every sandbox (Docker's profile format).

Allowlist: anything not named below fails with EPERM. Every x86_64 syscall is either in
ALLOWED (grouped by what needs it) or in DENIED (with the reason), so a reader sees each
decision; `python3 generate.py --check` fails if the committed JSON is stale.

Under gVisor (runsc --oci-seccomp, release 20221219) the filter holds for the container's
PID 1 (throwbox-launcher) and its descendants, i.e. all user code; see docs/runtimes.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "sandbox.json"

EPERM = 1  # runsc 20221219 returns EPERM whatever the errno asked for
AF_UNIX = 1

# Namespace flags of clone(2): a new namespace is as dangerous as unshare(2).
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
CLONE_NAMESPACES = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC
                    | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

# personality(2) values glibc, the JVM and `setarch` use; anything else (e.g. READ_IMPLIES_EXEC,
# ADDR_NO_RANDOMIZE) is refused. 0xffffffff only queries.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

ALLOWED: dict[str, list[str]] = {
    "files and descriptors": [
        "read", "write", "open", "openat", "openat2", "close", "close_range", "creat",
        "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
        "lseek", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
        "access", "faccessat", "faccessat2", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "flock",
        "ioctl", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "truncate", "ftruncate",
        "fallocate", "fadvise64", "readahead", "sendfile", "splice", "tee", "vmsplice", "copy_file_range",
        "getdents", "getdents64", "getcwd", "chdir", "fchdir",
        "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat",
        "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "mknod", "mknodat",
        "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "umask",
        "utime", "utimes", "utimensat", "futimesat",
        "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
        "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    ],
    "waiting for events": [
        "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4",
        "timerfd_create", "timerfd_settime", "timerfd_gettime",
        "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        "io_setup", "io_destroy", "io_getevents", "io_pgetevents", "io_submit", "io_cancel",
    ],
    "memory": [
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore",
        "mlock", "mlock2", "munlock", "mlockall", "munlockall", "memfd_create", "membarrier",
        "get_mempolicy", "pkey_alloc", "pkey_free", "pkey_mprotect",
    ],
    "processes and threads": [
        "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
        "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv",
        # clone3 keeps its flags in memory, out of seccomp's reach. Allowed here because
        # runsc --oci-seccomp ignores errnoRet (a refusal is EPERM, and glibc then fails
        # pthread_create instead of falling back to clone); throwbox-launcher's own filter
        # (runtimes/launcher/guard.go) makes it ENOSYS for every program instead, so glibc
        # uses the filtered clone: gVisor 20221219 does not implement clone3, runsc-go does.
        "clone3",
        "arch_prctl", "prctl", "seccomp", "getpid", "gettid", "getppid", "getpgrp", "getpgid",
        "setpgid", "getsid", "setsid", "pidfd_open", "pidfd_send_signal",
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
        "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
        "ioprio_get", "ioprio_set", "getrlimit", "setrlimit", "prlimit64", "getrusage", "times",
        "capget", "capset",
        # Identity: without capabilities these can only switch between the ids already held.
        "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
        "setfsuid", "setfsgid", "setgroups",
    ],
    "signals": [
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
        "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "pause",
        "kill", "tkill", "tgkill", "alarm", "getitimer", "setitimer", "restart_syscall",
    ],
    "time": [
        "time", "gettimeofday", "clock_gettime", "clock_getres", "nanosleep", "clock_nanosleep",
        "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
    ],
    "system information": ["uname", "sysinfo", "getrandom", "getcpu"],
    # AF_UNIX only (socket/socketpair are filtered below): local IPC, e.g. multiprocessing.
    "sockets": [
        "connect", "accept", "accept4", "bind", "listen", "getsockname", "getpeername",
        "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
        "setsockopt", "getsockopt",
    ],
    "System V and POSIX IPC (private to the sandbox)": [
        "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semtimedop", "semctl",
        "msgget", "msgsnd", "msgrcv", "msgctl",
        "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    ],
}

# Allowed only with the argument filters in CONDITIONAL below.
FILTERED = ["socket", "socketpair", "clone", "personality"]

# Refused, with the reason. Everything the brief requires denied is here.
DENIED: dict[str, list[str]] = {
    "debugging other processes": ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"],
    "mounts and namespaces": [
        "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount",
        "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    ],
    "kernel keyring": ["keyctl", "add_key", "request_key"],
    "kernel attack surface": [
        "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
        "modify_ldt", "lookup_dcookie", "fanotify_init", "fanotify_mark",
        "name_to_handle_at", "open_by_handle_at", "memfd_secret", "remap_file_pages",
        "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    ],
    "kernel modules and rebooting": [
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
        "create_module", "get_kernel_syms", "query_module", "reboot",
    ],
    "host administration": [
        "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "vhangup",
        "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "sethostname", "setdomainname",
        "iopl", "ioperm", "_sysctl", "ustat", "sysfs", "uselib",
    ],
    "NUMA placement of other processes' memory": [
        "mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages",
        "process_madvise", "process_mrelease",
    ],
    "obsolete or never implemented on x86_64": [
        "set_thread_area", "get_thread_area", "epoll_ctl_old", "epoll_wait_old", "nfsservctl",
        "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security", "vserver",
    ],
}


def _arg(index: int, value: int, op: str = "SCMP_CMP_EQ", value_two: int = 0) -> dict:
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


CONDITIONAL: list[dict] = [
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [_arg(0, AF_UNIX)]},
    {"names": ["socketpair"], "action": "SCMP_ACT_ALLOW", "args": [_arg(0, AF_UNIX)]},
    # (flags & CLONE_NAMESPACES) == 0: threads and processes, no new namespaces.
    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
     "args": [_arg(0, CLONE_NAMESPACES, "SCMP_CMP_MASKED_EQ", 0)]},
    *({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [_arg(0, p)]} for p in PERSONALITIES),
]


def _allowed() -> list[str]:
    names = [n for group in ALLOWED.values() for n in group]
    denied = {n for group in DENIED.values() for n in group}
    duplicates = {n for n in names if names.count(n) > 1}
    clash = (set(names) | set(FILTERED)) & denied
    if duplicates or clash or set(names) & set(FILTERED):
        raise SystemExit(f"inconsistent lists: duplicates {sorted(duplicates)}, allowed and denied {sorted(clash)}")
    return sorted(names)


def profile() -> dict:
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": _allowed(), "action": "SCMP_ACT_ALLOW"}, *CONDITIONAL],
    }


def render() -> str:
    return json.dumps(profile(), indent=1) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
