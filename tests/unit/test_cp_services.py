"""The control plane's services with fakes at the seam (Consul KV, the Kafka bus, the clock):
submission, idempotency, the queue bound, a failed publication, cancel and the reaper."""

import asyncio
import json

import pytest

from throwbox_common import capacity_meta
from throwbox_common.capacity_meta import RuntimeCapacity
from throwbox_common.messages import Cancel, Finished, Started, Submitted
from throwbox_common.runtimes import Limits, Registry, Runtime
from throwbox_control.admission import Quota
from throwbox_control.auth import Principal
from throwbox_control.bus import KafkaUnavailable
from throwbox_control.config import Settings
from throwbox_control.consul import Entry
from throwbox_control.errors import ApiError
from throwbox_control.reaper import REAP_GRACE_MS
from throwbox_control.services import Services
from throwbox_control.validation import check_run, decode, run_request_decoder

PY = Runtime("python", "3.11.2", "throwbox/python:3.11.2-1", "py", ("python3", "{entrypoint}"))
LIMITS = Limits(wall_time_ms=10_000, cpu_time_ms=10_000, memory_mb=256, pids=64, output_bytes=1 << 20)
REGISTRY = Registry([PY], LIMITS, LIMITS)
T0 = 1_800_000_000_000


class FakeKV:
    def __init__(self):
        self.data: dict[str, Entry] = {}
        self.index = 0

    async def get(self, key):
        return self.data.get(key)

    async def put(self, key, value):
        self.index += 1
        self.data[key] = Entry(key, value, self.index)

    async def cas(self, key, value, index):
        current = self.data.get(key)
        if (current.modify_index if current else 0) != index:
            return None
        await self.put(key, value)
        return self.index

    async def delete(self, key, index=None):
        current = self.data.get(key)
        if current is None or (index is not None and current.modify_index != index):
            return False
        del self.data[key]
        return True

    async def list(self, prefix):
        return [e for k, e in sorted(self.data.items()) if k.startswith(prefix)]

    async def leader(self):
        return True

    async def close(self):
        pass


class FakeBus:
    """Kafka as the services see it; what is published comes back to the run view, as the real
    consumer reads it back."""

    def __init__(self, view):
        self.view = view
        self.producer = object()
        self.consumer_ok = True
        self.caught_up = asyncio.Event()
        self.caught_up.set()
        self.published: list = []
        self.fail_next = False

    async def publish_submission(self, submitted, job):
        if self.fail_next:
            self.fail_next = False
            raise KafkaUnavailable("broker away")
        self.published += [submitted, job]
        self.view.apply(submitted)

    async def publish_event(self, rec):
        self.published.append(rec)
        self.view.apply(rec)

    async def publish_control(self, rec):
        self.published.append(rec)

    async def sync(self):
        pass

    async def lag(self):
        return 0

    async def start(self):
        pass

    async def stop(self):
        pass


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def services(**settings) -> tuple[Services, FakeBus, Clock]:
    clock = Clock()
    buses: list[FakeBus] = []

    def make_bus(view):
        buses.append(FakeBus(view))
        return buses[0]
    svc = Services(Settings(**settings), REGISTRY, kv=FakeKV(), make_bus=make_bus, clock=clock)
    agents_can_start(svc, rate=1.0, idle=1)
    return svc, buses[0], clock


def agents_can_start(svc: Services, rate: float, idle: int, agents: int = 1) -> None:
    svc.capacity.set_agents([{"agent": f"a{i}", "runs_topic": "throwbox.runs",
                              **capacity_meta.encode({PY.key: RuntimeCapacity(idle, 2, rate)})}
                             for i in range(agents)])


def run(**fields):
    body = {"language": "python", "files": [{"name": "main.py", "content": "print(1)"}], **fields}
    return check_run(decode(json.dumps(body).encode(), run_request_decoder), REGISTRY, Settings())


ALICE = Principal("alice", Quota(max_concurrent=50, runs_per_minute=1000))
BOB = Principal("bob", Quota(max_concurrent=50, runs_per_minute=1000))


async def test_a_submitted_run_is_announced_then_queued_with_its_start_deadline():
    svc, bus, clock = services(queue_timeout_ms=30_000)
    run_id, st = await svc.submit(ALICE, run(args=["x"]))
    submitted, job = bus.published
    assert isinstance(submitted, Submitted) and submitted.run_id == job.run_id == run_id
    assert (job.tenant, job.args, job.created_at_ms) == ("alice", ["x"], T0)
    assert job.start_deadline_ms == submitted.start_deadline_ms == T0 + 30_000
    assert st.status == "queued" and svc.view.tenant_queued(PY.key, "alice") == 1


async def test_the_same_idempotency_key_gives_the_same_run_once():
    svc, bus, _ = services()
    first, _ = await svc.submit(ALICE, run(idempotency_key="k-1"))
    again, _ = await svc.submit(ALICE, run(idempotency_key="k-1"))
    other, _ = await svc.submit(BOB, run(idempotency_key="k-1"))
    assert again == first and other != first
    assert sum(isinstance(r, Submitted) for r in bus.published) == 2


async def test_without_a_live_agent_a_run_is_refused_and_nothing_is_queued():
    svc, bus, _ = services()
    svc.capacity.set_agents([])
    with pytest.raises(ApiError) as e:
        await svc.submit(ALICE, run())
    assert (e.value.status, e.value.code) == (503, "overloaded") and e.value.retry_after_s >= 1
    assert bus.published == [] and svc.view.queue_depth() == 0


async def test_a_full_queue_refuses_at_once_and_a_second_tenant_keeps_its_share():
    svc, bus, _ = services(queue_timeout_ms=30_000, queue_start_margin_ms=5_000, queue_bound_safety_percent=100)
    agents_can_start(svc, rate=0.2, idle=0)          # bound: 0.2 x 25 s = 5 runs
    accepted = []
    for _ in range(8):
        try:
            accepted.append((await svc.submit(ALICE, run()))[0])
        except ApiError as e:
            assert e.code == "overloaded"
    assert len(accepted) == 5
    with pytest.raises(ApiError):                     # full for everybody
        await svc.submit(BOB, run())
    svc.view.apply(Started(run_id=accepted[0]))      # room again: alice is over her share of 2
    with pytest.raises(ApiError) as e:
        await svc.submit(ALICE, run())
    assert "fair share" in e.value.message
    assert (await svc.submit(BOB, run()))[0]


async def test_a_run_that_could_not_be_published_is_refused_and_gives_back_its_places():
    svc, bus, _ = services()
    bus.fail_next = True
    with pytest.raises(ApiError) as e:
        await svc.submit(ALICE, run(idempotency_key="k-2"))
    assert e.value.status == 503
    assert svc._places.total == 0                    # noqa: SLF001 - the queue place is back
    assert not svc.admission._held                   # noqa: SLF001 - and the tenant's slot
    again, _ = await svc.submit(ALICE, run(idempotency_key="k-2"))
    assert any(isinstance(r, Submitted) and r.run_id == again for r in bus.published)


async def test_cancelling_a_queued_run_ends_it_here_and_a_started_one_is_left_to_its_agent():
    svc, bus, _ = services()
    queued, st = await svc.submit(ALICE, run())
    await svc.cancel(st)
    assert any(isinstance(r, Cancel) for r in bus.published)
    assert svc.view.get(queued).status == "cancelled"
    started, st2 = await svc.submit(ALICE, run())
    svc.view.apply(Started(run_id=started, agent="a0", at_ms=T0))
    await svc.cancel(st2)
    assert svc.view.get(started).status == "running"
    assert not any(isinstance(r, Finished) and r.run_id == started for r in bus.published)


async def test_the_reaper_fails_a_run_never_started_and_one_whose_agent_went_silent():
    svc, bus, clock = services(queue_timeout_ms=30_000)
    never, _ = await svc.submit(ALICE, run())
    lost, _ = await svc.submit(ALICE, run())
    fresh, _ = await svc.submit(BOB, run())
    svc.view.apply(Started(run_id=lost, agent="a0", at_ms=T0))
    await svc.reaper.reap_once(T0 + 30_000 + REAP_GRACE_MS - 1, 0)
    assert svc.view.get(never).status == "queued"
    svc.view.get(fresh).created_ms = T0 + 60_000                  # submitted later: not due yet
    svc.view.get(fresh).start_deadline_ms = T0 + 90_000
    await svc.reaper.reap_once(T0 + 30_000 + REAP_GRACE_MS, 0)
    result = json.loads(svc.view.get(never).result)
    assert (result["status"], result["error"]["code"]) == ("failed", "queue_timeout")
    assert svc.view.get(lost).status == "running" and svc.view.get(fresh).status == "queued"
    await svc.reaper.reap_once(T0 + svc.max_wall_ms + 60_000, 0)
    result = json.loads(svc.view.get(lost).result)
    assert (result["status"], result["error"]["code"]) == ("failed", "executor_lost")


async def test_a_run_reaped_while_no_agent_is_alive_says_so():
    svc, _, _ = services(queue_timeout_ms=30_000)
    run_id, _ = await svc.submit(ALICE, run())
    svc.capacity.set_agents([])
    await svc.reaper.reap_once(T0 + 30_000 + REAP_GRACE_MS, 0)
    assert "no executor agent" in json.loads(svc.view.get(run_id).result)["error"]["message"]
