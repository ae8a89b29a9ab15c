"""A destroyed sandbox's alloc dir is collected once the pool's allocation event stream says the
alloc ended: no polling of Nomad; one GET only when no end came in time."""

import asyncio

from test_agent_alloc_watch import JOB, FakeNomad, api_alloc, batch, send, stub

from throwbox_agent import config, factory
from throwbox_agent.factory import NomadDockerFactory
from throwbox_common import runtimes

REGISTRY = runtimes.load()
CONFIG = config.load({}, registry=REGISTRY)


class GcNomad(FakeNomad):
    def __init__(self, status: str = "running"):
        super().__init__()
        self.status = status
        self.calls: list[tuple[str, str]] = []

    async def stop_alloc(self, alloc_id):
        self.calls.append(("stop", alloc_id))

    async def alloc_client_status(self, alloc_id):
        self.calls.append(("get", alloc_id))
        return self.status

    async def gc_alloc(self, alloc_id):
        self.calls.append(("gc", alloc_id))


class QuietDocker:
    """No container starts are ever reported (the factory follows Docker's start events)."""

    async def events(self, filters, since, on_open=None):
        await asyncio.Event().wait()
        yield {}


async def watching_factory(nomad: GcNomad) -> NomadDockerFactory:
    """A factory whose pool watch is up (the pool calls live_allocs with an index all the time)."""
    f = NomadDockerFactory(CONFIG, REGISTRY, nomad, QuietDocker(), "node-1", "runsc")
    nomad.listed.append(([stub("a"), stub("b")], 20))
    await f.live_allocs([JOB], index=1)
    return f


async def gc_done(f: NomadDockerFactory) -> None:
    await asyncio.wait_for(asyncio.gather(*f._gc_tasks), 5)


async def test_the_alloc_dir_is_collected_when_the_stream_reports_the_end_without_asking_nomad():
    nomad = GcNomad()
    f = await watching_factory(nomad)
    await f.destroy("a", "cid-a")
    await asyncio.sleep(0.05)
    assert nomad.calls == [("stop", "a")]            # waiting: no GET while the alloc stops
    send(nomad.streams[0], batch(21, api_alloc("a", "running", desired="stop")))
    await asyncio.sleep(0.05)
    assert nomad.calls == [("stop", "a")]
    send(nomad.streams[0], batch(22, api_alloc("a", "complete", desired="stop")))
    await gc_done(f)
    assert nomad.calls == [("stop", "a"), ("gc", "a")]
    await f.close()


async def test_an_alloc_that_ended_before_it_was_destroyed_is_collected_at_once():
    nomad = GcNomad()
    f = await watching_factory(nomad)
    send(nomad.streams[0], batch(21, api_alloc("b", "failed")))     # its container died by itself
    await asyncio.sleep(0.05)
    await f.destroy("b", "cid-b")
    await gc_done(f)
    assert nomad.calls == [("stop", "b"), ("gc", "b")]
    await f.close()


async def test_without_an_end_in_time_one_get_decides(monkeypatch):
    monkeypatch.setattr(factory, "GC_WAIT_S", 0.1)
    nomad = GcNomad(status="complete")       # ended while the stream was away: no event
    f = await watching_factory(nomad)
    await f.destroy("a", "cid-a")
    await gc_done(f)
    assert nomad.calls == [("stop", "a"), ("get", "a"), ("gc", "a")]
    nomad.calls.clear()
    nomad.status = "running"                 # still not ended: left to Nomad's own GC
    await f.destroy("b", "cid-b")
    await gc_done(f)
    assert nomad.calls == [("stop", "b"), ("get", "b")]
    await f.close()


async def test_without_a_stream_the_gc_waits_then_asks_nomad_once(monkeypatch):
    monkeypatch.setattr(factory, "GC_WAIT_S", 0.1)
    nomad = GcNomad(status="failed")
    f = NomadDockerFactory(CONFIG, REGISTRY, nomad, QuietDocker(), "node-1", "runsc")   # no watch yet
    await f.destroy("a", "cid-a")
    await gc_done(f)
    assert nomad.calls == [("stop", "a"), ("get", "a"), ("gc", "a")]
    await f.close()
