"""The `judging` section: 100 test cases of a C program in one run (compiled once, each test its
own process from a fresh copy of the build) against the same 100 inputs as 100 separate runs
(each compiled, each in its own sandbox), submitted as a judge would: as many at once as there
are warm sandboxes. The ratio of the two, and what one more test costs inside a run."""

from __future__ import annotations

import asyncio
import statistics
import time

from infra import Agent, log
from latency import _pool_full
from workloads import Api, percentiles

POOL = 4             # warm C sandboxes of the section's agent (the separate runs' concurrency)
TESTS = 100
PROGRAM = r"""
#include <stdio.h>
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 2;
    printf("%ld\n", 2 * n);
    return 0;
}
"""


def _body(tests: list[dict] | None = None, stdin: str | None = None) -> dict:
    body: dict = {"language": "c", "files": [{"name": "main.c", "content": PROGRAM}]}
    if tests is not None:
        body["tests"] = tests
    if stdin is not None:
        body["stdin"] = stdin
    return body


def _tests(n: int) -> list[dict]:
    return [{"stdin": f"{i}\n", "expected_stdout": f"{2 * i}\n"} for i in range(n)]


async def _one_run(api: Api, agent: Agent, n_tests: int) -> dict:
    await _pool_full(agent, "c-12.2.0")
    r = await api.run(_body(_tests(n_tests)))
    b = r.body or {}
    ok = r.status == 200 and (b.get("summary") or {}).get("passed") == n_tests
    if not ok:
        raise RuntimeError(f"a run with {n_tests} tests did not pass them all: {r.status} "
                           f"{ {k: b.get(k) for k in ('status', 'outcome', 'summary', 'error')} }")
    return {"e2e_ms": r.e2e_ms, "run_ms": b["timings"]["run_ms"],
            "tests_wall_ms": sum(t["usage"]["wall_ms"] for t in b["tests"])}


async def _separate_runs(api: Api, agent: Agent, n: int) -> dict:
    await _pool_full(agent, "c-12.2.0")
    sem = asyncio.Semaphore(POOL)
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        async with sem:
            r = await api.run(_body(stdin=f"{i}\n"))
            if r.status != 200 or (r.body or {}).get("stdout") != f"{2 * i}\n":
                failed += 1
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return {"total_ms": round((time.perf_counter() - t0) * 1000), "failed": failed}


async def tests_vs_runs(api: Api, agent: Agent, quick: bool) -> dict:
    reps = 2 if quick else 5
    one_test = [await _one_run(api, agent, 1) for _ in range(reps)]
    hundred = [await _one_run(api, agent, TESTS) for _ in range(reps)]
    log(f"  one run, {TESTS} tests: e2e {percentiles([h['e2e_ms'] for h in hundred])}")
    separate = await _separate_runs(api, agent, TESTS)
    log(f"  {TESTS} separate runs, {POOL} at once: {separate['total_ms']} ms ({separate['failed']} failed)")
    one_ms = statistics.median(h["e2e_ms"] for h in hundred)
    per_test_ms = (statistics.median(h["run_ms"] for h in hundred)
                   - statistics.median(o["run_ms"] for o in one_test)) / (TESTS - 1)
    return {
        "tests": TESTS, "pool": POOL, "reps": reps,
        "one_run_e2e_ms": percentiles([h["e2e_ms"] for h in hundred]),
        "one_run_run_ms": percentiles([h["run_ms"] for h in hundred]),
        "one_run_tests_wall_ms": percentiles([h["tests_wall_ms"] for h in hundred]),
        "one_test_run_e2e_ms": percentiles([o["e2e_ms"] for o in one_test]),
        "separate_runs": separate,
        # What one more test costs in a run (the run's run_ms with 100 tests minus with 1, per test),
        # and how much of it the program's own wall time is.
        "per_test_ms": round(per_test_ms, 1),
        "program_wall_per_test_ms": round(statistics.median(h["tests_wall_ms"] for h in hundred) / TESTS, 1),
        "ratio_separate_over_one": round(separate["total_ms"] / one_ms, 1),
    }


def markdown(sec: dict) -> list[str]:
    sep = sec["separate_runs"]
    return ["", "## Test cases: one run with 100 tests vs 100 runs", "",
            f"A C program that doubles a number, {sec['tests']} inputs. One run with `tests` (compiled once, "
            "each test its own process from a fresh copy of the build, one after another in one sandbox) "
            f"against {sec['tests']} separate runs of the same program and inputs, {sec['pool']} at once "
            f"(the agent's {sec['pool']} warm C sandboxes), each compiled. {sec['reps']} samples of the one run.", "",
            "| | one run, 100 tests (e2e p50) | 100 separate runs (total) | ratio | one more test in a run | "
            "of which the program's wall | one run, 1 test (e2e p50) |",
            "|---|---|---|---|---|---|---|",
            f"| ms | {sec['one_run_e2e_ms']['p50']:.0f} | {sep['total_ms']} ({sep['failed']} failed) | "
            f"{sec['ratio_separate_over_one']}x | {sec['per_test_ms']} | {sec['program_wall_per_test_ms']} | "
            f"{sec['one_test_run_e2e_ms']['p50']:.0f} |"]
