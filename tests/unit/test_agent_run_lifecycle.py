"""RunLifecycle against fakes at its seams: it fails closed, and the sandbox is always destroyed."""

import asyncio
import json
import struct

import pytest

from throwbox_agent import config, frames
from throwbox_agent.docker_api import ContainerState
from throwbox_agent.errors import CgroupError, DockerError
from throwbox_agent.metrics import AgentMetrics
from throwbox_agent.outcome import KillReason
from throwbox_agent.pool import Sandbox
from throwbox_agent.run import RunDeps, RunLifecycle
from throwbox_common import runtimes
from throwbox_common.messages import Finished, JobFile, Limits, Output, RunJob, Started, now_ms

REGISTRY = runtimes.load()
PYTHON = REGISTRY.resolve("python")
CONFIG = config.load({}, registry=REGISTRY)


def job(**limits) -> RunJob:
    lim = dict(wall_time_ms=5000, cpu_time_ms=5000, memory_mb=64, pids=32, output_bytes=1000) | limits
    return RunJob(run_id="r1", tenant="t", language="python", version=PYTHON.version, entrypoint="main.py",
                  files=[JobFile(name="main.py", content=b"print(1)")], limits=Limits(**lim),
                  created_at_ms=now_ms())


def launcher_out(*frame_list) -> list[tuple[int, bytes]]:
    return [(frames.DOCKER_STDOUT, frames.encode(t, p)) for t, p in frame_list]


class FakeAttachment:
    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.written = bytearray()
        self.closed = False
        self.eof = asyncio.Event()

    async def write(self, data):
        self.written += data

    async def read(self):
        await asyncio.sleep(0)
        if self.chunks:
            return [self.chunks.pop(0)]
        await self.eof.wait()       # stays open until killed
        return []

    def close(self):
        self.closed = True

    def sent_frames(self):
        return frames.FrameDecoder(allowed=frozenset({frames.HEADER, frames.STDIN, frames.STDIN_EOF})).feed(
            bytes(self.written))


class FakeDocker:
    def __init__(self, attachment, attach_error=None):
        self.attachment = attachment
        self.attach_error = attach_error

    async def attach(self, cid, timeout_s=5):
        if self.attach_error:
            raise self.attach_error
        return self.attachment

    async def inspect(self, cid):
        return ContainerState(running=True, status="running", exit_code=None, oom_killed=False, pid=4242)

    async def wait_stopped(self, cid, timeout_s):
        return ContainerState(running=False, status="exited", exit_code=0, oom_killed=False, pid=0)


class FakePool:
    """Hands out one sandbox; its end (recorded with the reason) kills it: the stream ends."""

    def __init__(self, attachment=None):
        self.attachment = attachment
        self.released = []
        self.reasons = []

    async def acquire(self, key, timeout_s):
        return Sandbox("alloc-1", "job-1", "cid-1", key, 0.0, self)

    def release(self, sb, reason):
        self.released.append(sb.alloc_id)
        self.reasons.append(reason)
        if self.attachment is not None:
            self.attachment.eof.set()
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakePublisher:
    def __init__(self):
        self.events = []

    async def publish(self, event):
        self.events.append(event)

    async def publish_acked(self, event, preceded_by=()):
        self.events += [*preceded_by, event]


def lifecycle(attachment, *, limits_error=None, attach_error=None, weight_error=None, weighed=None, **job_limits):
    pool, pub, docker = FakePool(attachment), FakePublisher(), FakeDocker(attachment, attach_error)
    applied = []

    def weigh_sandboxes(paths, cpu_shares):
        assert cpu_shares == CONFIG.sandboxes_cpu_shares
        if weight_error:
            raise weight_error
        if weighed is not None:
            weighed.append(len(attachment.written))
        return True

    def apply_limits(paths, memory_bytes, cpus, cpu_shares):
        if limits_error:
            raise limits_error
        assert cpu_shares == CONFIG.run_cpu_shares
        applied.append((memory_bytes, len(attachment.written)))

    deps = RunDeps(config=CONFIG, pool=pool, docker=docker, publisher=pub, metrics=AgentMetrics(),
                   agent_name="a", apply_limits=apply_limits, find_cgroups=lambda pid: None,
                   weigh_sandboxes=weigh_sandboxes)
    return RunLifecycle(job(**job_limits), PYTHON, deps), pool, pub, docker, applied


async def test_the_sandboxes_weight_is_set_before_the_program_starts_and_its_failure_is_no_failure():
    ok = launcher_out((frames.RUN_DONE, json.dumps({"exit_code": 0, "signal": None, "wall_ms": 3}).encode()))
    weighed: list[int] = []
    lc, _, _, _, _ = lifecycle(FakeAttachment(ok), weighed=weighed)
    assert (await lc.execute()).status == "completed"
    assert weighed == [0]                           # before the header was written
    lc, _, _, _, _ = lifecycle(FakeAttachment(ok), weight_error=CgroupError("cannot write cpu.shares"))
    result = await lc.execute()
    assert (result.status, result.outcome) == ("completed", "ok")   # a weight, not a limit


async def test_a_run_whose_limits_cannot_be_applied_fails_closed_and_never_starts():
    att = FakeAttachment([])
    lc, pool, pub, _, _ = lifecycle(att, limits_error=CgroupError("cannot write memory.limit_in_bytes"))
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "limits_failed")
    assert "memory.limit_in_bytes" in result.error.message
    assert att.written == b""                       # no header: the program never ran
    assert pool.released == ["alloc-1"]
    assert isinstance(pub.events[-1], Finished)


async def test_limits_are_in_place_before_the_header_is_sent_and_the_events_are_in_order():
    att = FakeAttachment(launcher_out((b"o", b"hi\n"), (b"X", json.dumps({"exit_code": 0, "signal": None}).encode())))
    lc, pool, pub, _, applied = lifecycle(att)
    result = await lc.execute()
    assert (result.status, result.outcome, result.stdout) == ("completed", "ok", "hi\n")
    assert applied == [(64 * 1024 * 1024, 0)]       # written while nothing had been sent yet
    sent = att.sent_frames()
    assert sent[0][0] == frames.HEADER and sent[-1] == (frames.STDIN_EOF, b"")
    header = json.loads(sent[0][1])
    assert header["run"] == ["python3", "-u", "main.py"] and header["cpu_time_s"] == 5
    assert [type(e) for e in pub.events] == [Started, Output, Finished]
    assert pool.released == ["alloc-1"] and att.closed


async def test_a_sandbox_that_cannot_be_attached_fails_the_run_and_is_still_destroyed():
    lc, pool, pub, _, _ = lifecycle(FakeAttachment([]), attach_error=DockerError("attach: refused"))
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "sandbox_failed")
    assert pool.released == ["alloc-1"]


async def test_a_sandbox_whose_container_is_not_running_fails_the_run_and_its_attachment_is_closed():
    att = FakeAttachment([])
    lc, pool, _, docker, _ = lifecycle(att)

    async def stopped(cid):
        return ContainerState(running=False, status="exited", exit_code=2, oom_killed=False, pid=0)
    docker.inspect = stopped
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "sandbox_failed")
    assert att.written == b"" and att.closed and pool.released == ["alloc-1"]


async def test_output_over_the_cap_kills_the_sandbox_and_keeps_exactly_the_cap():
    att = FakeAttachment(launcher_out((b"o", b"x" * 600), (b"e", b"y" * 600)))
    lc, pool, pub, docker, _ = lifecycle(att, output_bytes=1000)
    result = await lc.execute()
    assert (result.status, result.outcome) == ("completed", "output_limit")
    assert len(result.stdout) + len(result.stderr) == 1000 and result.stderr_truncated
    assert pool.reasons == ["killed: output_limit"] and pool.released == ["alloc-1"]


async def test_the_wall_deadline_kills_a_program_that_never_ends():
    att = FakeAttachment(launcher_out((b"o", b"tick\n")))
    lc, pool, _, _, _ = lifecycle(att, wall_time_ms=200)
    result = await asyncio.wait_for(lc.execute(), 5)
    assert (result.outcome, result.signal) == ("timeout", "SIGKILL")
    assert pool.reasons == ["killed: timeout"] and pool.released == ["alloc-1"]


async def test_a_stream_that_ends_without_an_exit_report_fails_as_sandbox_lost():
    att = FakeAttachment([])
    att.eof.set()
    lc, pool, _, _, _ = lifecycle(att)
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "sandbox_lost")
    assert pool.released == ["alloc-1"]


async def test_a_bad_launcher_frame_fails_the_run_as_launch_failed():
    att = FakeAttachment([(frames.DOCKER_STDOUT, b"Q" + struct.pack(">I", 0))])
    lc, pool, _, _, _ = lifecycle(att)
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "launch_failed")
    assert pool.released == ["alloc-1"]


class BlockingPool(FakePool):
    async def acquire(self, key, timeout_s):
        await asyncio.Event().wait()


async def test_a_run_still_waiting_for_a_sandbox_can_be_abandoned_without_a_result():
    from throwbox_agent.run import RunAbandoned
    lc, _, pub, _, _ = lifecycle(FakeAttachment([]))
    lc.deps.pool = BlockingPool()
    task = asyncio.create_task(lc.execute())
    await asyncio.sleep(0.01)
    assert lc.abandon() is True
    with pytest.raises(RunAbandoned):
        await asyncio.wait_for(task, 2)
    assert pub.events == []


async def test_a_run_that_has_started_is_not_abandoned():
    att = FakeAttachment(launcher_out((b"X", json.dumps({"exit_code": 0, "signal": None}).encode())))
    lc, _, _, _, _ = lifecycle(att)
    await lc.execute()
    assert lc.abandon() is False


async def test_the_sandbox_is_made_ready_while_started_is_acknowledged_and_the_program_waits_for_the_ack():
    att = FakeAttachment(launcher_out((b"X", json.dumps({"exit_code": 0, "signal": None}).encode())))
    lc, pool, pub, _, applied = lifecycle(att)
    acked = asyncio.Event()
    publish_acked = pub.publish_acked

    async def slow_started(event, preceded_by=()):
        if isinstance(event, Started):
            await acked.wait()          # Kafka has not acknowledged Started yet
        await publish_acked(event, preceded_by)
    pub.publish_acked = slow_started
    task = asyncio.create_task(lc.execute())
    for _ in range(100):
        if applied:
            break
        await asyncio.sleep(0.01)
    assert applied == [(64 * 1024 * 1024, 0)]    # attached, limits on: meanwhile
    assert att.written == b"" and not task.done()  # but no header before the ack
    acked.set()
    result = await asyncio.wait_for(task, 5)
    assert (result.status, result.outcome) == ("completed", "ok")
    assert att.sent_frames()[0][0] == frames.HEADER
    assert [type(e) for e in pub.events] == [Started, Finished] and pool.released == ["alloc-1"]


async def test_a_run_whose_task_dirs_cannot_be_sealed_fails_closed_and_never_starts(tmp_path):
    from throwbox_agent.errors import TaskDirError
    att = FakeAttachment([])
    lc, pool, pub, _, _ = lifecycle(att)
    sealed = []

    def seal(alloc_dir, task):
        sealed.append((alloc_dir, task))
        raise TaskDirError(f"task dir {alloc_dir}/{task}/local does not exist")

    lc.deps.alloc_root, lc.deps.seal_task_dirs = tmp_path, seal
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "limits_failed")
    assert sealed == [(tmp_path / "alloc-1", "sandbox")]
    assert att.written == b""                       # no header: the program never ran
    assert pool.released == ["alloc-1"]


async def test_a_failed_compile_ends_at_its_exit_frame_as_compile_error():
    att = FakeAttachment(launcher_out(
        (b"E", b"main.c: error\n"), (b"C", json.dumps({"exit_code": 1, "signal": None}).encode()),
        (b"X", json.dumps({"exit_code": None, "signal": None, "wall_ms": 0}).encode())))
    lc, pool, _, _, _ = lifecycle(att)
    result = await asyncio.wait_for(lc.execute(), 5)     # no waiting for the stream's end
    assert (result.status, result.outcome) == ("completed", "compile_error")
    assert result.compile.stderr == "main.c: error\n" and result.compile.exit_code == 1
    assert pool.released == ["alloc-1"]


async def test_an_exit_frame_marked_pids_limit_ends_the_run_as_pids_limit_with_its_output():
    att = FakeAttachment(launcher_out(
        (b"o", b"bomb\n"),
        (b"X", json.dumps({"exit_code": None, "signal": "SIGKILL", "wall_ms": 140, "pids_limit": True}).encode())))
    lc, _, _, _, _ = lifecycle(att)
    result = await asyncio.wait_for(lc.execute(), 5)
    assert (result.status, result.outcome, result.exit_code, result.signal) == ("completed", "pids_limit", None, "SIGKILL")
    assert result.stdout == "bomb\n" and result.error is None


async def test_output_after_a_quiet_spell_is_published_at_once_not_after_the_coalescing_window(monkeypatch):
    # A window far longer than the test: only a leading-edge flush can publish the chunk meanwhile.
    monkeypatch.setattr("throwbox_agent.output.COALESCE_S", 3600.0)
    att = FakeAttachment(launcher_out((b"o", b"first\n")))          # then the stream stays open
    lc, _, pub, _, _ = lifecycle(att, wall_time_ms=600_000)          # no wall-clock end meanwhile
    published = asyncio.Event()
    record = pub.publish

    async def publish(event):
        await record(event)
        if isinstance(event, Output):
            published.set()
    pub.publish = publish
    run = asyncio.create_task(lc.execute())
    try:
        await asyncio.wait_for(published.wait(), 5)
        assert [e.data for e in pub.events if isinstance(e, Output)] == ["first\n"]
    finally:
        lc.kill(KillReason.CANCEL)
        await run


async def test_a_burst_of_output_is_coalesced_after_its_first_chunk(monkeypatch):
    monkeypatch.setattr("throwbox_agent.output.COALESCE_S", 3600.0)
    done = json.dumps({"exit_code": 0, "signal": None}).encode()
    att = FakeAttachment(launcher_out((b"o", b"a\n"), (b"o", b"b\n"), (b"o", b"c\n"), (b"X", done)))
    lc, _, pub, _, _ = lifecycle(att)
    result = await lc.execute()
    assert result.stdout == "a\nb\nc\n"
    # The first chunk went out alone; the rest waited for the window and left with the final flush.
    assert [e.data for e in pub.events if isinstance(e, Output)] == ["a\n", "b\nc\n"]


class EmptyPool(FakePool):
    """No sandbox ever becomes free: acquire gives up after the wait it is given."""

    def __init__(self):
        super().__init__()
        self.waits_s = []

    async def acquire(self, key, timeout_s):
        from throwbox_agent.errors import SandboxUnavailable
        self.waits_s.append(timeout_s)
        raise SandboxUnavailable(f"no {key} sandbox within {timeout_s:.1f}s")


async def test_a_run_waits_for_a_sandbox_until_its_start_deadline_and_then_ends_as_a_queue_timeout():
    lc, _, pub, _, _ = lifecycle(FakeAttachment([]))
    lc.deps.pool = pool = EmptyPool()
    lc.job.start_deadline_ms = now_ms() + 90_000        # longer than the agent's acquire timeout
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "queue_timeout")
    assert 85 <= pool.waits_s[0] <= 90
    assert [type(e) for e in pub.events] == [Finished]  # never started


async def test_a_run_without_a_start_deadline_waits_the_agents_acquire_timeout_and_ends_as_no_sandbox():
    lc, _, _, _, _ = lifecycle(FakeAttachment([]))
    lc.deps.pool = pool = EmptyPool()
    result = await lc.execute()
    assert (result.status, result.error.code) == ("failed", "no_sandbox")
    assert pool.waits_s == [CONFIG.acquire_timeout_ms / 1000]


async def test_an_oom_killed_sandbox_reports_its_limit_as_peak_when_the_cgroup_vanished_before_the_last_read():
    att = FakeAttachment(launcher_out((b"o", b"growing\n")))
    att.eof.set()                                    # the stream ends with no exit report
    lc, _, _, docker, _ = lifecycle(att, memory_mb=128)

    async def oom_killed(cid, timeout_s):
        return ContainerState(running=False, status="exited", exit_code=137, oom_killed=True, pid=0)
    docker.wait_stopped = oom_killed
    result = await asyncio.wait_for(lc.execute(), 5)
    assert (result.status, result.outcome) == ("completed", "memory_limit")
    assert result.usage.memory_peak_bytes == 128 << 20      # no cgroup read at all here
