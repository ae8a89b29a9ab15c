"""Test cases (pure; unit-tested with plain data): compare a test's stdout with the expected one,
map its outcome to a verdict, and sum the verdicts up.

Verdicts: accepted | wrong_answer | time_limit | memory_limit | runtime_error | output_limit |
compile_error | skipped. A test that did not end `ok` gets its outcome's verdict whatever it
printed; an `ok` one is accepted when its stdout matches (or no stdout is expected).
"""

from __future__ import annotations

from collections.abc import Sequence

from throwbox_common.messages import RunTestResult, RunTestsSummary

# Outcome -> verdict for a test that did not end ok. pids_limit (it tried to start more
# processes than allowed) has no verdict of its own: the program failed at run time.
_FAILED = {
    "nonzero_exit": "runtime_error",
    "signaled": "runtime_error",
    "pids_limit": "runtime_error",
    "timeout": "time_limit",
    "memory_limit": "memory_limit",
    "output_limit": "output_limit",
    "compile_error": "compile_error",
}


def _trim_trailing(text: str) -> list[str]:
    """Lines without trailing whitespace, trailing empty lines dropped."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(expected: str, actual: str, compare: str) -> bool:
    """exact: byte for byte; trim_trailing: trailing whitespace of each line and trailing empty
    lines ignored (\\r\\n counts as \\n); tokens: the same whitespace-separated tokens."""
    match compare:
        case "exact":
            return expected == actual
        case "tokens":
            return expected.split() == actual.split()
        case "trim_trailing":
            return _trim_trailing(expected.replace("\r\n", "\n")) == _trim_trailing(actual.replace("\r\n", "\n"))
    raise ValueError(f"unknown compare mode {compare!r}")


def verdict(outcome: str | None, expected_stdout: str | None, stdout: str, compare: str) -> str:
    """A test's verdict from its outcome (None: it did not run) and its output."""
    if outcome is None:
        return "skipped"
    if outcome != "ok":
        return _FAILED[outcome]
    if expected_stdout is None or matches(expected_stdout, stdout, compare):
        return "accepted"
    return "wrong_answer"


def over_memory(outcome: str, peak_bytes: int, limit_bytes: int) -> str:
    """A test whose peak went past its own memory limit (lower than the sandbox's, which the
    kernel enforces) is memory_limit, unless a limit of ours stopped it first."""
    if peak_bytes > limit_bytes and outcome in ("ok", "nonzero_exit", "signaled"):
        return "memory_limit"
    return outcome


def skipped(index: int) -> RunTestResult:
    return RunTestResult(index=index, verdict="skipped")


def summarize(tests: Sequence[RunTestResult]) -> RunTestsSummary:
    """`verdict`: the first test not accepted (in index order), else accepted."""
    passed = sum(1 for t in tests if t.verdict == "accepted")
    first = next((t.verdict for t in tests if t.verdict != "accepted"), "accepted")
    return RunTestsSummary(passed=passed, failed=len(tests) - passed, total=len(tests), verdict=first,
                           skipped=sum(1 for t in tests if t.verdict == "skipped"))


def stops_after(verdict_: str, stop_on_first_failure: bool) -> bool:
    """Whether the remaining tests are skipped after a test with this verdict."""
    return stop_on_first_failure and verdict_ != "accepted"
