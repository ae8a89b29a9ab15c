"""runtimes/seccomp/sandbox.json: generated, committed, and denying what it must."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "runtimes" / "seccomp" / "sandbox.json"
SYSCALL_TABLE = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")

MUST_DENY = {
    "ptrace", "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "userfaultfd", "process_vm_readv", "process_vm_writev", "io_uring_setup",
}


def load_generator():
    spec = importlib.util.spec_from_file_location("seccomp_generate", REPO / "runtimes" / "seccomp" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def profile() -> dict:
    return json.loads(PROFILE.read_text())


def rules_for(profile: dict, name: str) -> list[dict]:
    return [rule for rule in profile["syscalls"] if name in rule["names"]]


def test_the_committed_profile_is_exactly_what_the_generator_writes():
    assert PROFILE.read_text() == load_generator().render()


def test_anything_not_listed_is_refused_with_eperm(profile):
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    assert profile["architectures"] == ["SCMP_ARCH_X86_64"]


def test_the_required_syscalls_are_allowed_by_no_rule(profile):
    for name in MUST_DENY:
        assert rules_for(profile, name) == [], name


def test_sockets_can_only_be_created_in_the_unix_family(profile):
    for name in ("socket", "socketpair"):
        rules = rules_for(profile, name)
        assert rules == [{"names": [name], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]


def test_clone_is_allowed_only_without_namespace_flags(profile):
    (rule,) = rules_for(profile, "clone")
    (arg,) = rule["args"]
    assert arg["op"] == "SCMP_CMP_MASKED_EQ" and arg["valueTwo"] == 0
    for flag in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000):
        assert arg["value"] & flag, hex(flag)


def test_every_allowed_rule_is_unconditional_or_filters_an_argument(profile):
    for rule in profile["syscalls"]:
        assert rule["action"] == "SCMP_ACT_ALLOW"
        assert rule is profile["syscalls"][0] or rule.get("args"), rule


@pytest.mark.skipif(not SYSCALL_TABLE.exists(), reason="linux-libc-dev headers not installed")
def test_every_x86_64_syscall_is_either_allowed_or_denied_with_a_reason():
    generator = load_generator()
    table = set(re.findall(r"^#define __NR_(\w+) ", SYSCALL_TABLE.read_text(), re.M))
    classified = (set(generator._allowed()) | set(generator.FILTERED)
                  | {n for group in generator.DENIED.values() for n in group})
    assert table - classified == set()
