"""The pool's allocation watch from Nomad's event stream: applying events, and the watch against a
fake Nomad (subscribe, list, then only newer events; a broken stream is an error to retry); the
allocations it reports ended, and waiting for one."""

import asyncio
import json

import pytest

from throwbox_agent import alloc_watch
from throwbox_agent.alloc_watch import AllocEnds, AllocEventWatch, apply_events, ended_allocs, split_lines
from throwbox_agent.errors import NomadError
from throwbox_agent.nomad_api import AllocStub

JOB = "throwbox-sandbox-a-python"              # the pool's parameterized job
JOBS = {JOB}
SANDBOX_JOB = f"{JOB}/dispatch-1795785497-0c5b4070"   # one sandbox, dispatched from it


def api_alloc(aid: str, client: str = "running", desired: str = "run", job: str = SANDBOX_JOB,
              index: int = 10) -> dict:
    return {"ID": aid, "JobID": job, "ClientStatus": client, "DesiredStatus": desired, "CreateIndex": index,
            "ModifyTime": 1, "TaskStates": {"sandbox": {}}}


def batch(index: int, *allocs: dict) -> dict:
    return {"Index": index, "Events": [{"Topic": "Allocation", "Type": "AllocationUpdated", "Key": a["ID"],
                                        "Index": index, "Payload": {"Allocation": a}} for a in allocs]}


def stub(aid: str, client: str = "running", index: int = 10) -> AllocStub:
    return AllocStub.from_api(api_alloc(aid, client, index=index))


# ---------------------------------------------------------------- pure parts

def test_a_placed_then_running_alloc_is_live_and_a_stopped_one_leaves():
    live: dict = {}
    assert apply_events(live, batch(5, api_alloc("a", "pending")), JOBS, 0)
    assert live["a"].client_status == "pending"
    assert apply_events(live, batch(6, api_alloc("a", "running")), JOBS, 0)
    assert live["a"].client_status == "running"
    assert apply_events(live, batch(7, api_alloc("a", "running", desired="stop")), JOBS, 0)
    assert live == {}


def test_terminal_and_foreign_allocs_never_enter_the_live_set():
    live: dict = {}
    foreign = [api_alloc("o", job="other"), api_alloc("p", job=JOB),   # the pool job itself has none
               api_alloc("q", job=f"{JOB}-3/dispatch-1795785497-0c5b4070")]   # another pool, same prefix
    assert not apply_events(live, batch(5, api_alloc("f", "failed"), *foreign), JOBS, 0)
    assert live == {}


def test_events_already_in_the_list_are_skipped():
    live = {"a": stub("a")}
    # The list (index 9) already saw this alloc stopped and gone; an older event must not revive it.
    live.pop("a")
    assert not apply_events(live, batch(8, api_alloc("a")), JOBS, after_index=9)
    assert live == {}


def test_the_last_event_of_an_alloc_in_a_batch_wins():
    live: dict = {}
    apply_events(live, batch(5, api_alloc("a", "pending"), api_alloc("a", "running", desired="stop")), JOBS, 0)
    assert live == {}


def test_allocs_of_our_jobs_that_ended_on_their_client_are_reported_whatever_their_index():
    ended = ended_allocs(batch(5, api_alloc("c", "complete", desired="stop"), api_alloc("f", "failed"),
                               api_alloc("l", "lost", desired="stop"), api_alloc("r", "running", desired="stop"),
                               api_alloc("p", "pending"), api_alloc("o", "complete", job="other")), JOBS)
    assert ended == ["c", "f", "l"]
    assert ended_allocs({"Index": 1, "Events": [{"Topic": "Job", "Payload": {"Job": {"ID": JOB}}}]}, JOBS) == []


async def test_an_end_wakes_its_waiters_and_one_reported_before_the_wait_is_remembered():
    ends = AllocEnds()
    first, second = (asyncio.create_task(ends.wait("a", 5)) for _ in range(2))
    other = asyncio.create_task(ends.wait("b", 5))
    await asyncio.sleep(0)
    assert not first.done() and ends.waiting() == 3
    ends.ended("a")
    assert await first and await second and not other.done()
    ends.ended("z")                   # e.g. a container that died before anyone waited
    assert await asyncio.wait_for(ends.wait("z", 5), 1)
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)
    assert ends.waiting() == 0


async def test_a_wait_for_an_end_that_never_comes_gives_up_and_leaves_nothing_behind():
    ends = AllocEnds()
    assert await ends.wait("a", 0.05) is False
    assert ends.waiting() == 0


async def test_only_the_most_recent_ends_are_remembered():
    ends = AllocEnds(remember=2)
    for alloc in ("a", "b", "c"):
        ends.ended(alloc)
    assert [await ends.wait(alloc, 0.01) for alloc in ("a", "b", "c")] == [False, True, True]


def test_newline_delimited_json_is_split_across_chunks():
    lines, rest = split_lines(b"", b'{}\n{"Index": 1')
    assert lines == [b"{}"] and rest == b'{"Index": 1'
    lines, rest = split_lines(rest, b', "Events": []}\n\n')
    assert [json.loads(x) for x in lines] == [{"Index": 1, "Events": []}] and rest == b""


# ---------------------------------------------------------------- against a fake Nomad

class FakeContent:
    def __init__(self):
        self.chunks: asyncio.Queue = asyncio.Queue()

    async def readuntil(self, sep: bytes) -> bytes:
        return await self.chunks.get()

    async def iter_any(self):
        while True:
            chunk = await self.chunks.get()
            if chunk is None:
                return
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk


class FakeResponse:
    def __init__(self):
        self.content = FakeContent()
        self.closed = False

    def close(self):
        self.closed = True


class FakeNomad:
    def __init__(self):
        self.listed: list[tuple[list[AllocStub], int]] = []
        self.streams: list[FakeResponse] = []
        self.paths: list[str] = []

    async def open_stream(self, path, read_timeout_s):
        self.paths.append(path)
        resp = FakeResponse()
        resp.content.chunks.put_nowait(b"{}\n")      # Nomad's first heartbeat
        self.streams.append(resp)
        return resp

    async def live_allocs(self, job_ids):
        return self.listed.pop(0)


def send(resp: FakeResponse, *batches: dict) -> None:
    resp.content.chunks.put_nowait(b"".join(json.dumps(b).encode() + b"\n" for b in batches))


async def test_the_watch_lists_once_then_follows_only_newer_events():
    nomad = FakeNomad()
    nomad.listed.append(([stub("a")], 20))
    watch = AllocEventWatch(nomad, [JOB])
    allocs, index = await watch.next(1)
    assert [a.id for a in allocs] == ["a"] and index == 20
    # Topic keys are whole job IDs, so the watch takes every allocation event and keeps its own.
    assert nomad.paths == ["/v1/event/stream?topic=Allocation"]
    stream = nomad.streams[0]
    # An event the list already holds (index 19) changes nothing; a newer placement does.
    send(stream, batch(19, api_alloc("a", "running", desired="stop")), batch(21, api_alloc("b", "pending")))
    allocs, index = await asyncio.wait_for(watch.next(index), 5)
    assert sorted(a.id for a in allocs) == ["a", "b"] and index == 21
    send(stream, batch(22, api_alloc("a", "complete", desired="stop")))
    allocs, index = await asyncio.wait_for(watch.next(index), 5)
    assert [a.id for a in allocs] == ["b"] and index == 22
    await watch.close()
    assert stream.closed


async def test_with_nothing_new_the_watch_still_answers_after_its_wait():
    nomad = FakeNomad()
    nomad.listed.append(([stub("a")], 20))
    watch = AllocEventWatch(nomad, [JOB])
    _, index = await watch.next(1)
    allocs, again = await asyncio.wait_for(watch.next(index, wait_s=0.05), 5)
    assert [a.id for a in allocs] == ["a"] and again == index
    await watch.close()


async def test_a_broken_stream_is_an_error_and_the_next_call_subscribes_and_lists_again():
    nomad = FakeNomad()
    nomad.listed += [([stub("a")], 20), ([stub("b")], 30)]
    watch = AllocEventWatch(nomad, [JOB])
    _, index = await watch.next(1)
    nomad.streams[0].content.chunks.put_nowait(None)     # Nomad closed the stream (restart)
    with pytest.raises(NomadError):
        await asyncio.wait_for(watch.next(index), 5)
    allocs, index = await watch.next(index)
    assert [a.id for a in allocs] == ["b"] and index == 30 and len(nomad.streams) == 2
    await watch.close()


async def test_a_periodic_list_replaces_the_view_unless_the_stream_is_ahead(monkeypatch):
    nomad = FakeNomad()
    nomad.listed += [([stub("a")], 20), ([stub("c")], 25), ([], 26)]
    watch = AllocEventWatch(nomad, [JOB])
    _, index = await watch.next(1)
    send(nomad.streams[0], batch(27, api_alloc("b", "pending")))
    allocs, index = await asyncio.wait_for(watch.next(index), 5)
    assert sorted(a.id for a in allocs) == ["a", "b"] and index == 27
    monkeypatch.setattr(alloc_watch, "RESYNC_S", 0.0)
    # A list older than what the stream already applied is ignored (index 25 < 27).
    allocs, _ = await asyncio.wait_for(watch.next(index, wait_s=0.05), 5)
    assert sorted(a.id for a in allocs) == ["a", "b"]
    await watch.close()


async def test_the_watch_reports_every_alloc_the_stream_says_ended_including_already_listed_events():
    nomad = FakeNomad()
    nomad.listed.append(([stub("a"), stub("b")], 20))
    ended: list[str] = []
    watch = AllocEventWatch(nomad, [JOB], on_ended=ended.append)
    _, index = await watch.next(1)
    send(nomad.streams[0], batch(19, api_alloc("a", "complete", desired="stop")),
         batch(21, api_alloc("b", "running", desired="stop")), batch(22, api_alloc("b", "complete", desired="stop")))
    for _ in range(100):
        if len(ended) == 2:
            break
        await asyncio.sleep(0.01)
    assert ended == ["a", "b"]
    await watch.close()
