# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""Test cases (judging) end to end: a private executor agent (python and c pools, its own runs
topic) and a private control plane queuing on that topic, driven over HTTP and SSE; plus the
agent's records on Kafka directly (output tagged with its test, one test record per test).

One compile, then each test as its own process from a fresh copy of the build: verdicts per
test, the summary, per-test limits that end the test and not the run, stop_on_first_failure,
the three compare modes, a compile error for every test, functions with tests.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from agent_process import private_agent, private_pipeline, wait_until
from cp_stack import Api, ControlPlane, create_key, revoke_key, unique_tenant
from pipeline import DEFAULT_LIMITS

from throwbox_common import runtimes
from throwbox_common.messages import (
    Finished,
    JobFile,
    JobTest,
    JobTests,
    Limits,
    Output,
    RunJob,
    RunTestEnded,
    now_ms,
)

pytestmark = pytest.mark.timeout(300)
REGISTRY = runtimes.load()
PYTHON = REGISTRY.resolve("python")
C = REGISTRY.resolve("c")

DOUBLE_C = r"""
#include <stdio.h>
#warning "compiled once"
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 2;
    printf("%ld\n", 2 * n);
    return 0;
}
"""


@pytest.fixture(scope="module")
def agent():
    with private_agent({PYTHON: 2, C: 2}, prefix="judge") as a:
        yield a


@pytest.fixture(scope="module")
def api(agent):
    with ControlPlane(runs_topic=agent.runs_topic) as cp:
        key = create_key(unique_tenant("judge"))
        wait_until(lambda: cp_sees_agent(cp), 30, "the control plane sees the private agent")
        yield Api(cp.url, key)
        revoke_key(key)


def cp_sees_agent(cp: ControlPlane) -> bool:
    import json
    import urllib.request
    with urllib.request.urlopen(cp.url + "/readyz", timeout=5) as r:
        return bool(json.loads(r.read())["capacity"]["agents"])


async def run(api: Api, body: dict, timeout_s: float = 120) -> dict:
    reply = await api.call("POST", "/v1/runs?wait=true", body, timeout_s=timeout_s)
    assert reply.status in (200, 202), reply
    if reply.json["status"] in ("queued", "running"):
        return await final(api, reply.json["id"], timeout_s)
    return reply.json


async def final(api: Api, run_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        result = (await api.call("GET", f"/v1/runs/{run_id}")).json
        if result["status"] not in ("queued", "running"):
            return result
        assert time.monotonic() < deadline, f"run {run_id} did not end"
        await asyncio.sleep(0.3)


def python(code: str, tests: list[dict], **fields) -> dict:
    return {"language": "python", "files": [{"name": "main.py", "content": code}], "tests": tests, **fields}


def verdicts(result: dict) -> list[str]:
    return [t["verdict"] for t in result["tests"]]


# ---------------------------------------------------------------------------------------- verdicts

async def test_a_c_program_with_20_tests_gets_20_verdicts_after_one_compile(api):
    tests = [{"stdin": f"{n}\n", "expected_stdout": f"{2 * n}\n"} for n in range(20)]
    tests[7]["expected_stdout"] = "15\n"              # wrong on purpose
    r = await run(api, {"language": "c", "files": [{"name": "main.c", "content": DOUBLE_C}], "tests": tests})
    assert r["status"] == "completed", r
    assert r["compile"]["exit_code"] == 0 and r["compile"]["stderr"].count("warning: #warning") == 1
    assert [t["index"] for t in r["tests"]] == list(range(20))
    assert verdicts(r) == ["accepted"] * 7 + ["wrong_answer"] + ["accepted"] * 12
    assert [t["stdout"] for t in r["tests"]] == [f"{2 * n}\n" for n in range(20)]
    assert all(t["outcome"] == "ok" and t["exit_code"] == 0 for t in r["tests"])
    assert r["summary"] == {"passed": 19, "failed": 1, "total": 20, "verdict": "wrong_answer", "skipped": 0}
    # The run's outcome is its first failing test's (which exited 0 with the wrong answer).
    assert (r["outcome"], r["exit_code"]) == ("ok", 0)
    assert r["stdout"] == ""                          # each test carries its own

    # The live events: the compile's output once, before any test; each test's stdout tagged
    # with its index and followed by its `test` event; the result last.
    events = [e for _, e in await api.sse(f"/v1/runs/{r['id']}/events")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "status" and kinds[-1] == "result"
    first_test = kinds.index("test")
    compile_events = [i for i, e in enumerate(events) if e.get("stage") == "compile"]
    assert compile_events and max(compile_events) < first_test
    test_events = [e for e in events if e["type"] == "test"]
    assert [(e["index"], e["verdict"]) for e in test_events] == [(t["index"], t["verdict"]) for t in r["tests"]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for i, e in enumerate(events):
        if e["type"] == "stdout" and e["stage"] == "run":
            following = next(x for x in events[i:] if x["type"] == "test")
            assert e["test"] == following["index"]
    assert "stdout" not in test_events[0] and test_events[0]["usage"]["wall_ms"] >= 0


async def test_a_test_cannot_see_what_an_earlier_test_wrote(api):
    code = """
import os
seen = [p for p in ("left.txt", "/tmp/left.txt", "/dev/shm/left.txt") if os.path.exists(p)]
marker = "# TAMP" + "ERED"
src = open("main.py").read()
print("seen", seen, "intact", marker not in src)
for p in ("left.txt", "/tmp/left.txt", "/dev/shm/left.txt"):
    open(p, "w").write("x")
open("main.py", "a").write(marker)
"""
    r = await run(api, python(code, [{}, {}, {}]))
    assert [t["stdout"] for t in r["tests"]] == ["seen [] intact True\n"] * 3, r["tests"]
    assert verdicts(r) == ["accepted"] * 3


async def test_each_test_gets_its_own_stdin_and_args(api):
    code = "import sys\nprint(sys.argv[1:], sys.stdin.read())"
    r = await run(api, python(code, [{"args": ["a", "b"], "stdin": "one"}, {"stdin": "two"}, {"args": ["c"]}]))
    assert [t["stdout"] for t in r["tests"]] == ["['a', 'b'] one\n", "[] two\n", "['c'] \n"]


async def test_a_test_over_its_time_limit_gets_time_limit_and_the_next_tests_still_run(api):
    code = "import sys, time\ntime.sleep(float(sys.stdin.read()))\nprint('done')"
    started = time.monotonic()
    r = await run(api, python(code, [
        {"stdin": "0", "expected_stdout": "done"},
        {"stdin": "30", "expected_stdout": "done", "limits": {"wall_time_ms": 1000}},
        {"stdin": "0.1", "expected_stdout": "done"}]))
    assert r["status"] == "completed"
    assert verdicts(r) == ["accepted", "time_limit", "accepted"]
    assert r["tests"][1]["outcome"] == "timeout" and r["tests"][1]["signal"] == "SIGKILL"
    assert r["summary"]["verdict"] == "time_limit" and r["outcome"] == "timeout"
    assert time.monotonic() - started < 25


async def test_the_runs_wall_clock_bounds_all_its_tests_together(api):
    code = "import time\ntime.sleep(1.2)\nprint('done')"
    started = time.monotonic()
    r = await run(api, python(code, [{"expected_stdout": "done"}] * 6, limits={"wall_time_ms": 3000}))
    assert r["status"] == "completed" and time.monotonic() - started < 20
    # Two tests fit in 3 s, the third is still running when the budget ends, the rest never start.
    assert verdicts(r) == ["accepted", "accepted", "time_limit", "skipped", "skipped", "skipped"], r["tests"]
    assert r["summary"]["verdict"] == "time_limit" and r["summary"]["skipped"] == 3


async def test_a_run_with_tests_cancelled_midway_keeps_the_tests_that_ran(api):
    code = "import sys, time\ntime.sleep(float(sys.stdin.read()))"
    reply = await api.call("POST", "/v1/runs", python(code, [{"stdin": "0"}, {"stdin": "30"}, {"stdin": "0"}]))
    assert reply.status == 202, reply
    run_id = reply.json["id"]

    async def started() -> bool:
        return (await api.call("GET", f"/v1/runs/{run_id}")).json["status"] == "running"
    deadline = time.monotonic() + 60
    while not await started():
        assert time.monotonic() < deadline, "the run did not start"
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)        # test 0 is over, test 1 sleeps
    assert (await api.call("DELETE", f"/v1/runs/{run_id}")).status == 202
    r = await final(api, run_id)
    assert r["status"] == "cancelled"
    assert verdicts(r) == ["accepted", "skipped", "skipped"], r["tests"]


async def test_stop_on_first_failure_skips_the_remaining_tests(api):
    code = "import sys\nn = int(sys.stdin.read())\nsys.exit(3 if n == 1 else 0)"
    tests = [{"stdin": str(n)} for n in range(4)]
    r = await run(api, python(code, tests, stop_on_first_failure=True))
    assert verdicts(r) == ["accepted", "runtime_error", "skipped", "skipped"]
    assert r["tests"][1]["exit_code"] == 3 and r["tests"][2]["outcome"] is None
    assert r["summary"] == {"passed": 1, "failed": 3, "total": 4, "verdict": "runtime_error", "skipped": 2}
    # Without it every test runs.
    r = await run(api, python(code, tests))
    assert verdicts(r) == ["accepted", "runtime_error", "accepted", "accepted"]


@pytest.mark.parametrize(("compare", "right", "wrong"), [
    ("exact", "1 2  \n\n", "1 2\n"),
    ("trim_trailing", "1 2\n", "1\n2\n"),
    ("tokens", "1\n2", "1 3"),
])
async def test_each_compare_mode_tells_a_wrong_answer_from_an_accepted_one(api, compare, right, wrong):
    r = await run(api, python("print('1 2  \\n')", [{"expected_stdout": right}, {"expected_stdout": wrong}],
                              compare=compare))
    assert verdicts(r) == ["accepted", "wrong_answer"], r["tests"]


async def test_a_compile_error_is_the_verdict_of_every_test(api):
    r = await run(api, {"language": "c", "files": [{"name": "main.c", "content": "int main( {"}],
                        "tests": [{"stdin": "1"}, {"stdin": "2"}, {"stdin": "3"}]})
    assert (r["status"], r["outcome"]) == ("completed", "compile_error")
    assert verdicts(r) == ["compile_error"] * 3
    assert r["summary"]["verdict"] == "compile_error" and r["compile"]["exit_code"] != 0


async def test_a_test_over_its_output_or_memory_limit_ends_alone(api):
    code = """
import sys
what = sys.stdin.read()
if what == "flood":
    sys.stdout.write("x" * 100000)
elif what == "grow":
    block = b"x" * (200 * 1024 * 1024)
print("fine")
"""
    r = await run(api, python(code, [
        {"stdin": "flood", "limits": {"output_bytes": 1000}},
        {"stdin": "grow", "limits": {"memory_mb": 128}},
        # The peak is reset before each test: the next test is not charged the last one's.
        {"stdin": "small", "expected_stdout": "fine", "limits": {"memory_mb": 128}}]))
    assert verdicts(r) == ["output_limit", "memory_limit", "accepted"], r["tests"]
    assert r["tests"][0]["stdout_truncated"] and len(r["tests"][0]["stdout"]) == 1000
    assert r["tests"][1]["usage"]["memory_peak_bytes"] > 128 * 1024 * 1024
    assert r["tests"][2]["usage"]["memory_peak_bytes"] < 128 * 1024 * 1024


async def test_a_function_is_invoked_with_tests(api):
    name = f"double-{uuid.uuid4().hex[:8]}"
    spec = {"language": "python", "files": [{"name": "main.py", "content": "print(2 * int(input()))"}]}
    assert (await api.call("PUT", f"/v1/functions/{name}", spec)).status == 201
    try:
        reply = await api.call("POST", f"/v1/functions/{name}/invoke?wait=true", {
            "tests": [{"stdin": "2", "expected_stdout": "4"}, {"stdin": "3", "expected_stdout": "7"}]}, timeout_s=120)
        assert reply.status == 200, reply
        assert verdicts(reply.json) == ["accepted", "wrong_answer"]
        bad = await api.call("POST", f"/v1/functions/{name}/invoke", {"input": 1, "tests": [{}]})
        assert (bad.status, bad.error_code, bad.json["error"]["details"][0]["field"]) == (400, "invalid_request", "input")
    finally:
        await api.call("DELETE", f"/v1/functions/{name}")


# ---------------------------------------------------------------------------------------- records

async def test_the_agent_tags_each_tests_output_and_ends_each_test_with_a_record(agent):
    code = "print(input())"
    limits = Limits(**DEFAULT_LIMITS)
    job = RunJob(run_id=f"t-{uuid.uuid4().hex[:20]}", tenant="agent-tests", language="python",
                 version=PYTHON.version, files=[JobFile(name="main.py", content=code.encode())],
                 entrypoint="main.py", limits=limits, created_at_ms=now_ms(),
                 tests=JobTests(cases=[JobTest(limits=limits, stdin=f"line {i}\n".encode(), expected_stdout=f"line {i}")
                                       for i in range(3)]))
    async with private_pipeline(agent) as pipe:
        fin = await pipe.run(job, 120)
        records = pipe.events[job.run_id]
    assert fin.result.summary.verdict == "accepted" and fin.result.summary.passed == 3
    tagged = [(r.test, r.data) for r in records if isinstance(r, Output)]
    assert "".join(d for t, d in tagged if t == 1) == "line 1\n" and {t for t, _ in tagged} == {0, 1, 2}
    ended = [r for r in records if isinstance(r, RunTestEnded)]
    assert [(e.index, e.verdict) for e in ended] == [(0, "accepted"), (1, "accepted"), (2, "accepted")]
    assert isinstance(records[-1], Finished)


async def test_a_fork_bomb_in_one_test_is_a_runtime_error_and_the_next_test_runs(api):
    code = """
import os, sys, time
if sys.stdin.read() == "bomb":
    while True:
        try:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
        except OSError:
            time.sleep(0.01)
print("fine")
"""
    r = await run(api, python(code, [{"stdin": "bomb", "limits": {"pids": 16}},
                                     {"stdin": "calm", "expected_stdout": "fine"}]))
    assert [(t["verdict"], t["outcome"]) for t in r["tests"]] == [("runtime_error", "pids_limit"), ("accepted", "ok")]
    assert (r["status"], r["outcome"]) == ("completed", "pids_limit")
