"""Runtime images + throwbox-launcher + seccomp profile under the real gVisor (runsc).

Each test starts one container the way a sandbox is started (tests/launcher_client.py) and
speaks the launcher protocol of docs/architecture.md to it. Images come from
scripts/build-images.sh; without them (or without dockerd+runsc) the tests skip, under
CI=true they fail.
"""

from __future__ import annotations

import hashlib
import json
import select
import subprocess
import time
from pathlib import Path

import pytest
from launcher_client import docker_command, frame, header, parse_frames, run_program
from stack import require_image

from throwbox_common.runtimes import Runtime, load

REPO = Path(__file__).resolve().parents[2]
REGISTRY = load()
COMPILED = [r for r in REGISTRY.runtimes if r.compiled]
PYTHON = REGISTRY.resolve("python")
BASH = REGISTRY.resolve("bash")


def example_files(runtime: Runtime) -> dict[str, bytes]:
    root = REPO / "runtimes" / "examples" / runtime.language
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def runtime_limits(runtime: Runtime) -> dict[str, int]:
    """The launcher limits and container memory a run of the runtime gets by default (its tuned
    defaults: JVMs, the BEAM and heavy compilers get more time, memory and tasks)."""
    limits = REGISTRY.effective_limits(runtime, None)
    return {"memory_mb": limits.memory_mb, "nproc": limits.pids, "cpu_time_s": -(-limits.cpu_time_ms // 1000),
            "timeout_s": max(120, 2 * limits.wall_time_ms / 1000)}


def run_runtime(runtime: Runtime, files: dict[str, bytes | str], stdin: bytes = b"", args: list[str] | None = None,
                **kwargs):
    require_image(runtime.image)
    names = list(files)
    entrypoint = runtime.entrypoint if runtime.entrypoint in files else names[0]
    return run_program(runtime.image, files, runtime.run_command(entrypoint, args or [], names),
                       compile=runtime.compile_command(entrypoint, names), stdin=stdin,
                       **{**runtime_limits(runtime), **kwargs})


def assert_clean_exit(result) -> None:
    assert result.launch_error is None, result.launch_error
    assert result.kinds[-1] == "X", result.kinds
    assert result.exited["exit_code"] == 0 and result.exited["signal"] is None, (result.exited, result.stderr_text)
    assert isinstance(result.exited["wall_ms"], int)


@pytest.mark.parametrize("runtime", REGISTRY.runtimes, ids=lambda r: r.key)
def test_every_runtimes_hello_example_reads_stdin_and_greets_within_its_default_limits(runtime):
    result = run_runtime(runtime, example_files(runtime), stdin=b"throwbox\n")
    assert_clean_exit(result)
    assert result.stdout == "Hello, throwbox!\n"
    assert result.stderr_text == ""
    if runtime.compiled:
        assert result.compiled == {"exit_code": 0, "signal": None}, result.compile_output
        assert result.kinds.index("C") < result.kinds.index("o")
    else:
        assert "C" not in result.kinds


# SQL has no exit status of its own: the sqlite3 example prints the same lines and ends with 0.
EXIT_CODE = {"sqlite3": 0}
UNICODE_LINE = "Grüße, 世界 ✓"


@pytest.mark.parametrize("runtime", REGISTRY.runtimes, ids=lambda r: r.key)
def test_every_runtimes_example_prints_its_args_and_unicode_and_exits_with_code_3(runtime):
    result = run_runtime(runtime, example_files(runtime), stdin="wörld\nsecond line\n".encode(), args=["a b", "-v"])
    assert result.launch_error is None, result.launch_error
    assert result.compiled in (None, {"exit_code": 0, "signal": None}), result.compile_output
    assert result.stdout == f"Hello, wörld!\narg: a b\narg: -v\n{UNICODE_LINE}\n", (result.stdout, result.stderr_text)
    assert result.exited["exit_code"] == EXIT_CODE.get(runtime.language, 3), (result.exited, result.stderr_text)
    assert result.exited["signal"] is None


# A program that does not compile, per compiled language: the compiler's message names the culprit.
COMPILE_ERRORS = {
    "c": ("int main(void) { return missing_symbol; }\n", "missing_symbol"),
    "cpp": ("int main() { return missing_symbol; }\n", "missing_symbol"),
    "go": ("package main\n\nfunc main() { missingSymbol() }\n", "missingSymbol"),
    "java": ("public class Main { public static void main(String[] a) { missingSymbol(); } }\n", "missingSymbol"),
    "rust": ("fn main() { missing_symbol(); }\n", "missing_symbol"),
    "typescript": ("const n: number = missingSymbol;\n", "missingSymbol"),
    "fortran": ("program main\n  call missing_symbol(\nend program main\n", "rror"),
    "ada": ("procedure Main is\nbegin\n   Missing_Symbol;\nend Main;\n", "Missing_Symbol"),
    "pascal": ("program Main;\nbegin\n  MissingSymbol;\nend.\n", "MissingSymbol"),
    "d": ("void main() { missingSymbol(); }\n", "missingSymbol"),
    "cobol": ("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. MAIN.\n       PROCEDURE DIVISION.\n"
              "           MOVE MISSING-SYMBOL TO X.\n", "MISSING-SYMBOL"),
    "crystal": ("missing_symbol\n", "missing_symbol"),
    "erlang": ("-module(main).\n-export([main/1]).\nmain(_) -> missing_symbol(.\n", "syntax error"),
    "kotlin": ("fun main() { missingSymbol() }\n", "missingSymbol"),
    "scala": ("@main def run(): Unit = missingSymbol()\n", "missingSymbol"),
    "ocaml": ("let () = missing_symbol ()\n", "missing_symbol"),
    "haskell": ("main :: IO ()\nmain = missingSymbol\n", "missingSymbol"),
    "csharp": ("class P { static void Main() { MissingSymbol(); } }\n", "MissingSymbol"),
}


def test_every_compiled_runtime_has_a_compile_error_case():
    assert {r.language for r in COMPILED} == set(COMPILE_ERRORS)


@pytest.mark.parametrize("runtime", COMPILED, ids=lambda r: r.key)
def test_a_program_that_does_not_compile_reports_a_failed_compile_and_does_not_run(runtime):
    source, culprit = COMPILE_ERRORS[runtime.language]
    result = run_runtime(runtime, {runtime.entrypoint: source}, stdin=b"x\n")
    assert result.launch_error is None, result.launch_error
    assert result.kinds[-2:] == ["C", "X"] and "o" not in result.kinds, result.kinds
    assert result.compiled["exit_code"] not in (0, None), result.compiled
    assert culprit in result.compile_output, result.compile_output
    assert result.exited == {"exit_code": None, "signal": None, "wall_ms": 0}


@pytest.mark.parametrize("runtime", COMPILED, ids=lambda r: r.key)
def test_compiled_programs_also_run_from_the_noexec_tmpfs_that_nomad_mounts(runtime):
    result = run_runtime(runtime, example_files(runtime), stdin=b"nomad\n", tmpfs="mounts-api")
    assert_clean_exit(result)
    assert result.stdout == "Hello, nomad!\n"


def test_a_c_compile_error_reports_a_failed_compile_and_skips_the_run():
    c = REGISTRY.resolve("c")
    result = run_runtime(c, {"main.c": "int main(void) { return missing_symbol; }\n"})
    assert result.kinds[-2:] == ["C", "X"] and "o" not in result.kinds and "e" not in result.kinds
    assert result.compiled["exit_code"] not in (0, None) and result.compiled["signal"] is None
    assert "missing_symbol" in result.compile_output and "error" in result.compile_output
    assert result.exited == {"exit_code": None, "signal": None, "wall_ms": 0}


PYTHONS = [r for r in REGISTRY.runtimes if r.language == "python"]


@pytest.mark.parametrize("runtime", PYTHONS, ids=lambda r: r.key)
def test_every_python_has_numpy_and_pandas(runtime):
    program = "import numpy, pandas\nprint(int(numpy.arange(5).sum()), pandas.DataFrame({'a': [1, 2]})['a'].sum())\n"
    result = run_runtime(runtime, {"main.py": program}, memory_mb=256)
    assert_clean_exit(result)
    assert result.stdout == "10 3\n"


def test_the_default_python_has_scipy_and_sympy():
    program = (
        "import scipy.integrate, scipy.optimize, sympy\n"
        "x = sympy.symbols('x')\n"
        "print(sympy.integrate(x**2, (x, 0, 3)), sympy.factor(x**2 - 1))\n"
        "area, _ = scipy.integrate.quad(lambda t: t * t, 0, 3)\n"
        "root = scipy.optimize.brentq(lambda t: t * t - 2, 0, 2)\n"
        "print(round(area, 6), round(root, 6))\n")
    result = run_runtime(PYTHON, {"main.py": program}, memory_mb=256)
    assert_clean_exit(result)
    assert result.stdout == "9 (x - 1)*(x + 1)\n9.0 1.414214\n"


# What each language reports as its version, to check the image holds the registry's version.
VERSION_PROGRAMS = {
    "python": ("main.py", "import platform; print(platform.python_version())"),
    "javascript": ("main.js", "console.log(process.versions.node)"),
    "c": ("main.c", '#include <stdio.h>\nint main(void){printf("%d.%d.%d\\n", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);}'),
    "cpp": ("main.cpp", '#include <cstdio>\nint main(){std::printf("%d.%d.%d\\n", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);}'),
    "go": ("main.go", 'package main\nimport ("fmt"; "runtime"; "strings")\nfunc main(){fmt.Println(strings.TrimPrefix(runtime.Version(), "go"))}'),
    "java": ("Main.java", 'public class Main { public static void main(String[] a) { System.out.println(System.getProperty("java.version")); } }'),
    "ruby": ("main.rb", "puts RUBY_VERSION"),
    "bash": ("main.sh", 'echo "${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"'),
}


@pytest.mark.parametrize("runtime", [r for r in REGISTRY.runtimes if r.language in VERSION_PROGRAMS],
                         ids=lambda r: r.key)
def test_every_runtime_runs_the_version_the_registry_names(runtime):
    name, source = VERSION_PROGRAMS[runtime.language]
    result = run_program_named(runtime, name, source)
    assert_clean_exit(result)
    assert result.stdout == runtime.version + "\n"


def run_program_named(runtime: Runtime, name: str, source: str):
    require_image(runtime.image)
    return run_program(runtime.image, {name: source}, runtime.run_command(name, []),
                       compile=runtime.compile_command(name), memory_mb=256)


# Each probe prints the errno name of a raw syscall, or "ok".
SYSCALL_PROBES = r"""
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
def probe(nr, *args):
    ret = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return "ok" if ret >= 0 else errno.errorcode[ctypes.get_errno()]
results = {
    "ptrace": probe(101, 0, 0, 0, 0),                   # PTRACE_TRACEME
    "mount": probe(165, 0, 0, 0, 0, 0),
    "unshare": probe(272, 0x10000000),                  # CLONE_NEWUSER
    "clone_newuser": probe(56, 0x10000000 | 17, 0, 0, 0, 0),
    "keyctl": probe(250, 0, 0, 0),
    "bpf": probe(321, 0, 0, 0),
    "perf_event_open": probe(298, 0, 0, 0, 0, 0),
    "userfaultfd": probe(323, 0),
    "socket_inet": probe(41, 2, 1, 0),                  # AF_INET, SOCK_STREAM
    "socket_inet6": probe(41, 10, 2, 0),                # AF_INET6, SOCK_DGRAM
    "socket_netlink": probe(41, 16, 3, 0),              # AF_NETLINK, SOCK_RAW
    "socketpair_inet": probe(53, 2, 1, 0, 0),
    "socket_unix": probe(41, 1, 1, 0),                  # AF_UNIX must keep working
}
print(json.dumps(results))
"""

DENIED_PROBES = ["ptrace", "mount", "unshare", "clone_newuser", "keyctl", "bpf", "perf_event_open", "userfaultfd",
                 "socket_inet", "socket_inet6", "socket_netlink", "socketpair_inet"]


def test_user_code_started_by_the_launcher_gets_eperm_for_every_denied_syscall():
    result = run_runtime(PYTHON, {"main.py": SYSCALL_PROBES})
    assert_clean_exit(result)
    probes = json.loads(result.stdout)
    assert {name: probes[name] for name in DENIED_PROBES} == dict.fromkeys(DENIED_PROBES, "EPERM")
    assert probes["socket_unix"] == "ok"


def test_without_the_profile_the_same_probes_are_not_refused_so_the_eperm_comes_from_it():
    require_image(PYTHON.image)
    result = run_program(PYTHON.image, {"main.py": SYSCALL_PROBES}, ["python3", "main.py"], seccomp="unconfined")
    assert_clean_exit(result)
    probes = json.loads(result.stdout)
    assert probes["ptrace"] == "ok" and probes["socket_inet"] == "ok", probes


def test_threads_processes_and_unix_socket_ipc_still_work_under_the_profile():
    program = ("import multiprocessing as mp, subprocess, threading\n"
               "def square(x):\n    return x * x\n"
               "if __name__ == '__main__':\n"
               "    t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
               "    print(subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout, end='')\n"
               "    with mp.Pool(2) as pool:\n        print(sum(pool.map(square, range(10))))\n"
               "    a, b = mp.Pipe()\n    a.send('over a socketpair')\n    print(b.recv())\n")
    result = run_runtime(PYTHON, {"main.py": program})
    assert_clean_exit(result)
    assert result.stdout == "thread\nchild\n285\nover a socketpair\n"


def test_a_fork_bomb_stops_at_rlimit_nproc_under_gvisor():
    program = ("import errno, os, time\nforked = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
               "            time.sleep(30)\n            os._exit(0)\n        forked += 1\nexcept OSError as e:\n"
               "    print(errno.errorcode[e.errno], forked)\n")
    result = run_runtime(PYTHON, {"main.py": program}, nproc=20)
    assert_clean_exit(result)
    code, forked = result.stdout.split()
    # The launcher's own threads and Python count towards the same uid's 20 tasks.
    assert code == "EAGAIN" and 5 <= int(forked) < 20


def test_a_busy_loop_is_ended_by_sigxcpu_at_its_cpu_time_limit():
    result = run_runtime(BASH, {"main.sh": "while :; do :; done\n"}, cpu_time_s=1)
    assert result.exited["exit_code"] is None and result.exited["signal"] == "SIGXCPU", result.exited


def test_background_processes_do_not_hold_back_the_result():
    started = time.monotonic()
    result = run_runtime(BASH, {"main.sh": "sleep 60 &\nsleep 60 &\necho started\n"})
    assert_clean_exit(result)
    assert result.stdout == "started\n"
    assert time.monotonic() - started < 30


def test_megabytes_of_stdin_and_stdout_pass_through_intact():
    data = bytes(range(256)) * 12_000  # ~3 MiB: several I frames
    result = run_runtime(BASH, {"main.sh": "sha256sum\nhead -c 3000000 /dev/zero\n"}, stdin=data)
    assert_clean_exit(result)
    digest, rest = result.stdout[:64], result.stdout[64:]
    assert digest == hashlib.sha256(data).hexdigest()
    assert rest.endswith("\0" * 3_000_000)


def test_a_bad_file_name_fails_the_launch_and_nothing_runs():
    require_image(BASH.image)
    result = run_program(BASH.image, {"../escape.sh": "echo no"}, ["bash", "../escape.sh"])
    assert result.kinds == ["L"] and "../escape.sh" in result.launch_error
    assert result.returncode == 0


def test_output_is_streamed_while_the_program_is_still_running():
    require_image(BASH.image)
    frames = header({"main.sh": "echo first\nsleep 2\necho second\n"}, ["bash", "main.sh"]) + frame(b"Z")
    proc = subprocess.Popen(docker_command(BASH.image), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        proc.stdin.write(frames)
        proc.stdin.close()
        data, first_at, deadline = b"", None, time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            chunk = proc.stdout.read1(65536) if ready else b""
            if ready and not chunk:
                break
            data += chunk
            if first_at is None and b"first" in data:
                first_at = time.monotonic()
        ended_at = time.monotonic()
    finally:
        proc.kill()
        proc.wait()
    assert [k for k, _ in parse_frames(data)] == ["o", "o", "X"]
    assert first_at is not None and ended_at - first_at >= 1.5
