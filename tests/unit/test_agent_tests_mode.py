"""RunLifecycle in tests mode against a fake launcher that answers the agent's frames: one test
at a time, each judged, a test's wall clock or output cap ends it with K (not the run), and the
sandbox is killed only when a test outlives its K."""

import asyncio
import json

import msgspec
from test_agent_run_lifecycle import PYTHON, FakeAttachment, launcher_out, lifecycle

from throwbox_agent import frames, tests_mode
from throwbox_common.messages import JobTest, JobTests, Limits, Output, RunTestEnded

AGENT_FRAMES = frozenset({frames.HEADER, frames.STDIN, frames.STDIN_EOF, frames.TEST_START, frames.TEST_KILL,
                          frames.TESTS_DONE})


class FakeTestsLauncher(FakeAttachment):
    """Answers each T with its behaviour for that test: ("print", text), ("hang",) (ends only at
    K, unless deaf), ("flood", n); D with X."""

    def __init__(self, behaviour: dict[int, tuple], deaf: bool = False):
        super().__init__([])
        self.behaviour, self.deaf = behaviour, deaf
        self.decoder = frames.FrameDecoder(allowed=AGENT_FRAMES)
        self.log: list[tuple[bytes, object]] = []    # agent frames in order (T/K index, D)
        self.hanging: int | None = None
        self.ready = asyncio.Queue()

    def _answer(self, *frame_list):
        for chunk in launcher_out(*frame_list):
            self.ready.put_nowait(chunk)

    def _end(self, index, exit_code=0, signal=None):
        self._answer((frames.TEST_DONE, json.dumps({"index": index, "exit_code": exit_code, "signal": signal,
                                                    "wall_ms": 1, "max_rss_bytes": 1000}).encode()))

    async def write(self, data):
        self.written += data
        for kind, payload in self.decoder.feed(bytes(data)):
            if kind == frames.TEST_START:
                start = msgspec.json.decode(payload, type=frames.TestStart)
                self.log.append((kind, start.index))
                what = self.behaviour.get(start.index, ("print", f"{start.index}\n"))
                if what[0] == "print":
                    self._answer((frames.RUN_STDOUT, what[1].encode()))
                    self._end(start.index, *what[2:])
                elif what[0] == "flood":
                    self._answer((frames.RUN_STDOUT, b"x" * what[1]))
                    self.hanging = start.index
                else:
                    self.hanging = start.index
            elif kind == frames.TEST_KILL:
                index = msgspec.json.decode(payload, type=frames.TestKill).index
                self.log.append((kind, index))
                if index == self.hanging and not self.deaf:
                    self.hanging = None
                    self._end(index, None, "SIGKILL")
            elif kind == frames.TESTS_DONE:
                self.log.append((kind, None))
                self._answer((frames.RUN_DONE, b'{"exit_code": null, "signal": null, "wall_ms": 3}'))

    async def read(self):
        get = asyncio.ensure_future(self.ready.get())
        eof = asyncio.ensure_future(self.eof.wait())
        done, _ = await asyncio.wait({get, eof}, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            eof.cancel()
            return [get.result()]
        get.cancel()
        return []


def with_tests(lc, cases: list[JobTest], **options):
    lc.job.tests = JobTests(cases=cases, **options)
    return lc


def case(expected: str | None = None, **limits) -> JobTest:
    base = dict(wall_time_ms=5000, cpu_time_ms=5000, memory_mb=64, pids=32, output_bytes=1000) | limits
    return JobTest(limits=Limits(**base), stdin=b"in", expected_stdout=expected)


async def test_each_test_starts_after_the_previous_one_ended_and_is_judged():
    att = FakeTestsLauncher({1: ("print", "wrong\n")})
    lc, pool, pub, docker, _ = lifecycle(att)
    with_tests(lc, [case("0"), case("1"), case("2")])
    result = await lc.execute()
    assert att.log == [(frames.TEST_START, 0), (frames.TEST_START, 1), (frames.TEST_START, 2),
                       (frames.TESTS_DONE, None)]
    assert [t.verdict for t in result.tests] == ["accepted", "wrong_answer", "accepted"]
    assert (result.status, result.outcome, result.summary.verdict) == ("completed", "ok", "wrong_answer")
    assert result.stdout == "" and [t.stdout for t in result.tests] == ["0\n", "wrong\n", "2\n"]
    assert result.tests[0].usage.memory_peak_bytes == 1000     # the Y's max_rss_bytes
    # Every test's output record (tagged) comes before its test record.
    records = [e for e in pub.events if isinstance(e, Output | RunTestEnded)]
    assert [(type(e).__name__, getattr(e, "test", None), getattr(e, "index", None)) for e in records] == [
        ("Output", 0, None), ("RunTestEnded", None, 0), ("Output", 1, None), ("RunTestEnded", None, 1),
        ("Output", 2, None), ("RunTestEnded", None, 2)]
    assert pool.reasons == ["run over"] and pool.released == ["alloc-1"]
    sample = lc.deps.metrics.registry.get_sample_value
    assert sample("throwbox_agent_tests_total", {"runtime": PYTHON.key, "verdict": "accepted"}) == 2
    assert sample("throwbox_agent_tests_total", {"runtime": PYTHON.key, "verdict": "wrong_answer"}) == 1


async def test_a_test_past_its_wall_clock_gets_k_and_the_next_test_runs():
    att = FakeTestsLauncher({0: ("hang",)})
    lc, pool, _, _, _ = lifecycle(att)
    with_tests(lc, [case(wall_time_ms=200), case("1")])
    result = await lc.execute()
    assert (frames.TEST_KILL, 0) in att.log and att.log[-1] == (frames.TESTS_DONE, None)
    assert [t.verdict for t in result.tests] == ["time_limit", "accepted"]
    assert (result.outcome, result.tests[0].signal) == ("timeout", "SIGKILL")
    assert pool.reasons == ["run over"]


async def test_a_test_over_its_output_cap_is_stopped_with_its_output_cut_at_the_cap():
    att = FakeTestsLauncher({0: ("flood", 300)})
    lc, _, _, _, _ = lifecycle(att)
    with_tests(lc, [case(output_bytes=100), case("1")])
    result = await lc.execute()
    assert [t.verdict for t in result.tests] == ["output_limit", "accepted"]
    assert result.tests[0].stdout == "x" * 100 and result.tests[0].stdout_truncated


async def test_stop_on_first_failure_sends_d_at_once():
    att = FakeTestsLauncher({0: ("print", "0\n", 3)})
    lc, _, _, _, _ = lifecycle(att)
    with_tests(lc, [case("0"), case("1")], stop_on_first_failure=True)
    result = await lc.execute()
    assert att.log == [(frames.TEST_START, 0), (frames.TESTS_DONE, None)]
    assert [t.verdict for t in result.tests] == ["runtime_error", "skipped"]
    assert (result.summary.failed, result.summary.skipped, result.exit_code) == (2, 1, 3)


async def test_a_test_that_outlives_its_kill_costs_the_sandbox_and_the_rest_are_skipped(monkeypatch):
    monkeypatch.setattr(tests_mode, "KILL_GRACE_S", 0.3)
    att = FakeTestsLauncher({0: ("hang",)}, deaf=True)
    lc, pool, _, _, _ = lifecycle(att)
    with_tests(lc, [case(wall_time_ms=200), case("1")])
    result = await lc.execute()
    assert pool.reasons == ["killed: timeout"]
    assert (result.status, result.outcome) == ("completed", "timeout")
    assert [t.verdict for t in result.tests] == ["time_limit", "skipped"]

