"""The executor agent end to end: RunJob on Kafka -> agent -> warm Nomad sandbox (gVisor) -> events.

A private agent subprocess per module (own name, own runs topic and consumer group, own metrics
port, python pool only), so it neither disturbs nor is disturbed by the deployed agent; its pool
jobs are stopped and purged afterwards.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from agent_process import (
    AgentProcess,
    get_json,
    nomad,
    private_agent,
    private_pipeline,
    sandbox_allocs,
    wait_until,
)
from pipeline import Pipeline, delete_topic, ensure_topic, make_job
from stack import CONSUL_ADDR, KAFKA_BOOTSTRAP, require_image, require_stack

from throwbox_common import runtimes
from throwbox_common.messages import Cancel, Finished, Output, Started, StdinData, StdinEof

REGISTRY = runtimes.load()
PYTHON = REGISTRY.resolve("python")
C = REGISTRY.resolve("c")
POOL_SIZE = 2

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def agent():
    with private_agent({PYTHON: POOL_SIZE, C: 1}, start_timeout_s=120) as a:
        yield a


@pytest.fixture
async def pipe(agent):
    async with private_pipeline(agent) as p:
        yield p


def container_running(alloc_id: str) -> bool:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", f"sandbox-{alloc_id}"],
                         capture_output=True, text=True, timeout=20)
    return out.returncode == 0 and out.stdout.strip() == "true"


# ---------------------------------------------------------------------------------------- outcomes

async def test_hello_world_runs_and_its_events_come_back_in_order(pipe):
    job = make_job('print("hello, world")')
    fin = await pipe.run(job)
    r = fin.result
    assert (r.status, r.outcome, r.exit_code, r.signal) == ("completed", "ok", 0, None)
    assert r.stdout == "hello, world\n" and r.stderr == ""
    kinds = [type(e) for e in pipe.events[job.run_id]]
    assert kinds[0] is Started and kinds[-1] is Finished and Output in kinds
    assert r.usage.cpu_ms > 0 and r.usage.memory_peak_bytes > 0
    assert r.timings.total_ms >= r.timings.run_ms > 0


async def test_stdout_is_streamed_while_the_program_still_runs(pipe):
    job = make_job('import time\nprint("first", flush=True)\ntime.sleep(3)\nprint("second")')
    await pipe.submit(job)

    def streamed() -> list[Output]:
        return [e for e in pipe.events[job.run_id] if isinstance(e, Output)]
    # The line may come in more than one chunk (the first chunk is sent as soon as it is read, and
    # "first" and its newline can be two writes): wait until all of it has arrived.
    await pipe.wait_for(job.run_id, lambda e: "".join(o.data for o in streamed()) == "first\n", 60)
    assert all(o.stream == "stdout" and o.stage == "run" for o in streamed())
    assert not any(isinstance(e, Finished) for e in pipe.events[job.run_id])
    fin = await pipe.result(job.run_id)
    assert fin.result.stdout == "first\nsecond\n"


async def test_a_nonzero_exit_is_reported_with_its_code(pipe):
    r = (await pipe.run(make_job('import sys\nprint("bye", file=sys.stderr)\nsys.exit(3)'))).result
    assert (r.status, r.outcome, r.exit_code, r.stderr) == ("completed", "nonzero_exit", 3, "bye\n")


async def test_a_program_killed_by_its_own_signal_is_signaled_with_the_signal_name(pipe):
    r = (await pipe.run(make_job("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"))).result
    assert (r.status, r.outcome, r.exit_code, r.signal) == ("completed", "signaled", None, "SIGSEGV")


async def test_the_wall_clock_limit_is_enforced_from_outside_and_the_sandbox_is_gone(pipe):
    job = make_job("import time\nwhile True: time.sleep(1)", wall_time_ms=1500)
    t0 = time.monotonic()
    fin = await pipe.run(job)
    elapsed = time.monotonic() - t0
    started = next(e for e in pipe.events[job.run_id] if isinstance(e, Started))
    assert (fin.result.status, fin.result.outcome) == ("completed", "timeout")
    assert 1.4 <= fin.result.timings.run_ms / 1000 < 6 and elapsed < 20
    await asyncio.to_thread(wait_until, lambda: not container_running(started.sandbox), 30,
                            f"container of {started.sandbox} gone")


async def test_a_cpu_time_limit_ends_the_run_as_timeout(pipe):
    r = (await pipe.run(make_job("while True: pass", cpu_time_ms=1000, wall_time_ms=30_000))).result
    assert (r.status, r.outcome) == ("completed", "timeout")
    assert r.signal == "SIGXCPU"


async def test_a_memory_bomb_ends_as_memory_limit(pipe):
    job = make_job("a = []\nwhile True: a.append(bytearray(1 << 20))", memory_mb=96)
    r = (await pipe.run(job)).result
    assert (r.status, r.outcome) == ("completed", "memory_limit")
    # The cgroup may record a peak a page or so over its limit (seen: +4 KiB) before the OOM kill.
    assert r.usage.memory_peak_bytes <= (96 << 20) + (64 << 10)


async def test_an_output_flood_is_stopped_with_exactly_output_bytes_kept(pipe):
    job = make_job('import sys\nwhile True: sys.stdout.write("x" * 4096)', output_bytes=100_000)
    fin = await pipe.run(job)
    r = fin.result
    assert (r.status, r.outcome) == ("completed", "output_limit")
    assert len(r.stdout.encode()) == 100_000 and r.stdout_truncated and not r.stderr_truncated
    streamed = "".join(e.data for e in pipe.events[job.run_id] if isinstance(e, Output))
    assert streamed == r.stdout


async def test_stdin_from_the_job_is_delivered_and_closed(pipe):
    job = make_job("import sys\nprint(sys.stdin.read().upper(), end='')", stdin=b"hello stdin\n")
    r = (await pipe.run(job)).result
    assert (r.outcome, r.stdout) == ("ok", "HELLO STDIN\n")


async def test_interactive_stdin_arrives_through_control_records(pipe):
    code = "import sys\nfor line in sys.stdin:\n    print('got', line.strip(), flush=True)\nprint('eof')"
    job = make_job(code, interactive=True)
    await pipe.submit(job)
    await pipe.wait_for(job.run_id, lambda e: isinstance(e, Started))
    await pipe.control(StdinData(run_id=job.run_id, data="one\n"))
    # `python3 -u` writes "got", " ", "one", "\n" separately: they may arrive as several chunks.
    await pipe.wait_for(job.run_id, lambda _: "got one\n" in "".join(
        e.data for e in pipe.events[job.run_id] if isinstance(e, Output)))
    await pipe.control(StdinData(run_id=job.run_id, data="two\n"))
    await pipe.control(StdinEof(run_id=job.run_id))
    r = (await pipe.result(job.run_id)).result
    assert (r.outcome, r.stdout) == ("ok", "got one\ngot two\neof\n")


async def test_a_cancel_record_stops_the_run_and_it_ends_cancelled(pipe):
    job = make_job('import time\nprint("up", flush=True)\ntime.sleep(60)', wall_time_ms=30_000)
    await pipe.submit(job)
    await pipe.wait_for(job.run_id, lambda e: isinstance(e, Output))
    t0 = time.monotonic()
    await pipe.control(Cancel(run_id=job.run_id))
    r = (await pipe.result(job.run_id, 30)).result
    assert (r.status, r.outcome, r.error) == ("cancelled", None, None)
    assert time.monotonic() - t0 < 10


async def test_a_cancel_sent_before_the_run_is_picked_up_still_cancels_it(pipe):
    job = make_job('import time\ntime.sleep(60)', wall_time_ms=30_000)
    await pipe.control(Cancel(run_id=job.run_id))
    r = (await pipe.run(job, 60)).result
    assert (r.status, r.outcome) == ("cancelled", None)


async def test_cancelling_runs_that_wait_for_a_sandbox_leaves_no_sandbox_behind(pipe, agent):
    jobs = [make_job("import time\ntime.sleep(30)", wall_time_ms=40_000) for _ in range(POOL_SIZE + 3)]
    for job in jobs:
        await pipe.submit(job)
    await pipe.wait_for(jobs[0].run_id, lambda e: isinstance(e, Started))
    for job in jobs:
        await pipe.control(Cancel(run_id=job.run_id))
    results = [(await pipe.result(job.run_id, 60)).result for job in jobs]
    assert {r.status for r in results} == {"cancelled"}
    await asyncio.to_thread(
        wait_until, lambda: agent.pool(PYTHON)["idle"] == POOL_SIZE and agent.pool(PYTHON)["in_use"] == 0,
        90, "pool full again with nothing held")
    live = sandbox_allocs(agent.job_of(PYTHON))
    assert sum(a["ClientStatus"] == "running" and a["DesiredStatus"] == "run" for a in live) == POOL_SIZE


async def test_a_run_past_its_start_deadline_fails_with_queue_timeout_without_running(pipe):
    job = make_job('print("never")', start_deadline_ms=int(time.time() * 1000) - 1000)
    r = (await pipe.run(job)).result
    assert (r.status, r.error.code, r.stdout) == ("failed", "queue_timeout", "")
    assert not any(isinstance(e, Started) for e in pipe.events[job.run_id])


async def test_a_compiled_program_is_compiled_then_run(pipe):
    code = '#include <stdio.h>\nint main(void) { printf("compiled\\n"); return 0; }\n'
    r = (await pipe.run(make_job(code, language=C.language, version=C.version, entrypoint="main.c"))).result
    assert (r.status, r.outcome, r.stdout) == ("completed", "ok", "compiled\n")
    assert r.compile is not None and (r.compile.exit_code, r.compile.outcome) == (0, "ok")


async def test_a_compile_failure_ends_as_compile_error_with_the_compilers_output(pipe):
    job = make_job("int main(void) { return nope; }\n", language=C.language, version=C.version,
                   entrypoint="main.c")
    r = (await pipe.run(job)).result
    assert (r.status, r.outcome) == ("completed", "compile_error")
    assert r.compile.exit_code != 0 and "nope" in r.compile.stderr
    assert r.stdout == ""
    assert any(isinstance(e, Output) and e.stage == "compile" for e in pipe.events[job.run_id])


# ---------------------------------------------------------------------------------------- pool

async def test_a_sandbox_is_never_reused_each_run_sees_a_fresh_tmp(pipe, agent):
    code = ("import os\nseen = os.path.exists('/tmp/marker')\nopen('/tmp/marker', 'w').write('x')\n"
            "print('reused' if seen else 'fresh', sorted(os.listdir('/tmp/run')))")
    sandboxes = set()
    for _ in range(POOL_SIZE + 2):
        job = make_job(code)
        r = (await pipe.run(job)).result
        assert r.stdout == "fresh ['main.py']\n", r
        sandboxes.add(next(e for e in pipe.events[job.run_id] if isinstance(e, Started)).sandbox)
    assert len(sandboxes) == POOL_SIZE + 2


async def test_a_runs_nomad_alloc_dir_is_sealed_during_the_run_and_leaves_the_host_after_it(pipe, agent):
    # /alloc is a host directory: the agent makes it read-only for the program before it starts.
    code = ("import errno\ntry:\n    open('/alloc/probe.bin', 'wb').write(b'x' * 1000000)\n    print('written')\n"
            "except OSError as e:\n    print(errno.errorcode[e.errno])")
    job = make_job(code)
    r = (await pipe.run(job)).result
    assert r.stdout == "EACCES\n"
    alloc_id = next(e for e in pipe.events[job.run_id] if isinstance(e, Started)).sandbox
    data_dir = Path(nomad("GET", "/v1/agent/self")["config"]["DataDir"])
    await asyncio.to_thread(wait_until, lambda: not (data_dir / "alloc" / alloc_id).exists(), 60,
                            f"alloc dir of {alloc_id} removed")


async def test_the_pool_refills_after_use(pipe, agent):
    for _ in range(POOL_SIZE):
        await pipe.run(make_job("pass"))
    t0 = time.monotonic()
    await asyncio.to_thread(wait_until, lambda: agent.pool(PYTHON)["idle"] == POOL_SIZE, 60, "pool refilled")
    print(f"pool refilled {POOL_SIZE} sandboxes in {time.monotonic() - t0:.2f}s")
    live = sandbox_allocs(agent.job_of(PYTHON))
    running = [a for a in live if a["ClientStatus"] == "running" and a["DesiredStatus"] == "run"]
    assert len(running) == POOL_SIZE


async def test_a_warm_sandbox_is_handed_out_without_waiting(pipe, agent):
    await asyncio.to_thread(wait_until, lambda: agent.pool(PYTHON)["idle"] == POOL_SIZE, 60, "pool full")
    r = (await pipe.run(make_job("pass"))).result
    assert r.timings.sandbox_ms < 500
    assert f'throwbox_agent_acquire_seconds_count{{runtime="{PYTHON.key}"}}' in agent.metrics()


# ---------------------------------------------------------------------------------------- Kafka

async def test_a_run_id_that_already_has_a_result_is_never_run_again(pipe, agent):
    job = make_job('print("once")')
    await pipe.run(job)
    # The duplicate and a later sentinel go to one partition: when the sentinel is done, the
    # duplicate has been decided.
    sentinel = make_job('print("sentinel")')
    await pipe.submit(job, partition=0)
    await pipe.submit(sentinel, partition=0)
    await pipe.result(sentinel.run_id)
    events = pipe.events[job.run_id]
    assert sum(isinstance(e, Started) for e in events) == 1
    assert sum(isinstance(e, Finished) for e in events) == 1


async def test_a_redelivered_run_started_by_a_dead_agent_ends_as_agent_lost(pipe, agent):
    job = make_job('print("lost")')
    ghost = Started(run_id=job.run_id, agent="ghost-agent-that-died", sandbox=str(uuid.uuid4()),
                    at_ms=int(time.time() * 1000))
    meta = await pipe.publish_event(ghost)
    await asyncio.to_thread(
        wait_until, lambda: agent.health()["events_positions"].get(str(meta.partition), 0) > meta.offset,
        30, "the agent has read the ghost's Started record")
    r = (await pipe.run(job)).result
    assert (r.status, r.error.code) == ("failed", "agent_lost")
    assert sum(isinstance(e, Started) for e in pipe.events[job.run_id]) == 1   # only the ghost's


def test_the_agent_is_registered_in_consul_with_a_passing_health_check(agent):
    def passing():
        _, entries = get_json(f"{CONSUL_ADDR}/v1/health/service/throwbox-agent?passing=true")
        return any(e["Service"]["Meta"].get("agent") == agent.name for e in entries or [])
    wait_until(passing, 30, "consul check passing")
    health = agent.health()
    assert health["status"] == "ok" and health["pools"][PYTHON.key]["size"] == POOL_SIZE


# ---------------------------------------------------------------------------------------- shutdown

def consul_has_agent(name: str) -> bool:
    _, entries = get_json(f"{CONSUL_ADDR}/v1/health/service/throwbox-agent")
    return any(e["Service"]["Meta"].get("agent") == name for e in entries or [])


async def test_on_sigterm_the_agent_finishes_its_running_run_then_deregisters_and_exits():
    require_stack("docker", "kafka", "consul", "nomad")
    require_image(PYTHON.image)
    a = AgentProcess({PYTHON: 1}, start_timeout_s=120)
    await ensure_topic(KAFKA_BOOTSTRAP, a.runs_topic)
    await asyncio.to_thread(a.start)
    p = Pipeline(KAFKA_BOOTSTRAP, a.runs_topic)
    await p.start()
    try:
        await asyncio.to_thread(wait_until, lambda: consul_has_agent(a.name), 30, "registered in consul")
        job = make_job('import time\nprint("start", flush=True)\ntime.sleep(3)\nprint("end")')
        await p.submit(job)
        await p.wait_for(job.run_id, lambda e: isinstance(e, Output))
        a.signal_stop()
        r = (await p.result(job.run_id, 60)).result
        assert (r.status, r.outcome, r.stdout) == ("completed", "ok", "start\nend\n")
        assert await asyncio.to_thread(a.proc.wait, 60) == 0
        assert not consul_has_agent(a.name)
        assert nomad("GET", f"/v1/job/{a.job_of(PYTHON)}")["Stop"] is True
    finally:
        await p.close()
        await asyncio.to_thread(a.stop)
        await delete_topic(KAFKA_BOOTSTRAP, a.runs_topic)
