"""Destroying a sandbox: docker kill, and a Nomad call only when Docker cannot end it. Its alloc
dir is collected once the pool's allocation event stream says the alloc ended: no polling of
Nomad; one GET only when no end came in time."""

import asyncio

from test_agent_alloc_watch import JOB, SANDBOX_JOB, FakeNomad, api_alloc, batch, send, stub

from throwbox_agent import config, factory
from throwbox_agent.errors import DockerError
from throwbox_agent.factory import NomadDockerFactory
from throwbox_common import runtimes

REGISTRY = runtimes.load()
CONFIG = config.load({}, registry=REGISTRY)


class GcNomad(FakeNomad):
    def __init__(self, status: str = "running"):
        super().__init__()
        self.status = status
        self.calls: list[tuple[str, str]] = []

    async def stop_job(self, job_id, purge=False):
        self.calls.append(("stop", job_id))

    async def allocation(self, alloc_id):
        self.calls.append(("get", alloc_id))
        return {"ID": alloc_id, "ClientStatus": self.status}

    async def gc_alloc(self, alloc_id):
        self.calls.append(("gc", alloc_id))


class QuietDocker:
    """No container starts are ever reported (the factory follows Docker's start events);
    kill answers `kill_result` (or raises it)."""

    def __init__(self, kill_result="killed"):
        self.kill_result = kill_result
        self.killed: list[str] = []

    async def events(self, filters, since, on_open=None):
        await asyncio.Event().wait()
        yield {}

    async def kill(self, container, signal="SIGKILL"):
        self.killed.append(container)
        if isinstance(self.kill_result, Exception):
            raise self.kill_result
        return self.kill_result


async def watching_factory(nomad: GcNomad, docker: QuietDocker | None = None) -> NomadDockerFactory:
    """A factory whose pool watch is up (the pool calls live_allocs with an index all the time)."""
    f = NomadDockerFactory(CONFIG, REGISTRY, nomad, docker or QuietDocker(), "node-1", "runsc")
    nomad.listed.append(([stub("a"), stub("b")], 20))
    await f.live_allocs([JOB], index=1)
    return f


async def gc_done(f: NomadDockerFactory) -> None:
    await asyncio.wait_for(asyncio.gather(*f._gc_tasks), 5)


async def test_a_used_sandbox_is_killed_through_docker_and_collected_when_the_stream_reports_its_end():
    nomad, docker = GcNomad(), QuietDocker()
    f = await watching_factory(nomad, docker)
    await f.destroy("a", SANDBOX_JOB, "cid-a")
    await asyncio.sleep(0.05)
    assert docker.killed == ["cid-a"]
    assert nomad.calls == []                         # no stop (it would cost an evaluation), no GET
    send(nomad.streams[0], batch(21, api_alloc("a", "failed")))
    await gc_done(f)
    assert nomad.calls == [("gc", "a")]
    await f.close()


async def test_a_used_sandbox_that_ended_by_itself_is_collected_at_once_with_no_stop():
    for result in ("not_running", "gone"):           # the launcher exited after its run
        nomad = GcNomad()
        f = await watching_factory(nomad, QuietDocker(result))
        send(nomad.streams[0], batch(21, api_alloc("b", "complete")))
        await asyncio.sleep(0.05)
        await f.destroy("b", SANDBOX_JOB, "cid-b")
        await gc_done(f)
        assert nomad.calls == [("gc", "b")], result
        await f.close()


async def test_a_sandbox_never_seen_running_is_stopped_through_nomad_unless_docker_killed_it(monkeypatch):
    monkeypatch.setattr(factory, "GC_WAIT_S", 0.1)
    for result, calls in (("gone", [("stop", SANDBOX_JOB)]), ("not_running", [("stop", SANDBOX_JOB)]),
                          ("killed", [])):
        nomad, docker = GcNomad(status="pending"), QuietDocker(result)
        f = await watching_factory(nomad, docker)
        await f.destroy("a", SANDBOX_JOB, None)      # stale, or found dead: maybe not started yet
        assert docker.killed == ["sandbox-a"], result
        assert nomad.calls == calls, result
        await f.close()


async def test_when_docker_fails_the_sandbox_is_stopped_through_nomad():
    nomad = GcNomad()
    f = await watching_factory(nomad, QuietDocker(DockerError("docker is down")))
    await f.destroy("a", SANDBOX_JOB, "cid-a")
    assert nomad.calls == [("stop", SANDBOX_JOB)]
    await f.close()


async def test_without_an_end_in_time_one_get_decides(monkeypatch):
    monkeypatch.setattr(factory, "GC_WAIT_S", 0.1)
    nomad = GcNomad(status="complete")       # ended while the stream was away: no event
    f = await watching_factory(nomad)
    await f.destroy("a", SANDBOX_JOB, "cid-a")
    await gc_done(f)
    assert nomad.calls == [("get", "a"), ("gc", "a")]
    nomad.calls.clear()
    nomad.status = "running"                 # still not ended: left to Nomad's own GC
    await f.destroy("b", SANDBOX_JOB, "cid-b")
    await gc_done(f)
    assert nomad.calls == [("get", "b")]
    await f.close()


async def test_without_a_stream_the_gc_waits_then_asks_nomad_once(monkeypatch):
    monkeypatch.setattr(factory, "GC_WAIT_S", 0.1)
    nomad = GcNomad(status="failed")
    f = NomadDockerFactory(CONFIG, REGISTRY, nomad, QuietDocker(), "node-1", "runsc")   # no watch yet
    await f.destroy("a", SANDBOX_JOB, "cid-a")
    await gc_done(f)
    assert nomad.calls == [("get", "a"), ("gc", "a")]
    await f.close()


class RegisteringNomad(GcNomad):
    def __init__(self, existing):
        super().__init__()
        self.existing = existing

    async def job(self, job_id):
        return self.existing

    async def stop_job(self, job_id, purge=False):
        self.calls.append(("purge" if purge else "stop", job_id))

    async def register_job(self, job):
        self.calls.append(("register", job["ID"]))
        return 7


async def test_a_pool_job_of_the_service_job_design_is_purged_before_the_parameterized_one_is_registered():
    runtime = REGISTRY.resolve("python")
    for existing, purged in (({"ID": "x", "Type": "service"}, True),
                             ({"ID": "x", "Type": "batch", "ParameterizedJob": {"Payload": "forbidden"}}, False),
                             (None, False)):
        nomad = RegisteringNomad(existing)
        f = NomadDockerFactory(CONFIG, REGISTRY, nomad, QuietDocker(), "node-1", "runsc")
        assert await f.ensure_pool(runtime) == 7
        job_id = nomad.calls[-1][1]
        assert nomad.calls == ([("purge", job_id)] if purged else []) + [("register", job_id)], existing
