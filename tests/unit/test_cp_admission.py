"""Control plane admission: pure decisions and the Consul-backed batcher (with a fake KV)."""

import asyncio

import pytest

from throwbox_control.admission import (
    Admission,
    Quota,
    TenantCounters,
    active_count,
    bucket_of,
    decide,
    release,
)
from throwbox_control.consul import ConsulError, Entry

Q = Quota(max_concurrent=2, runs_per_minute=5)
T0 = 1_800_000_000_000 - 1_800_000_000_000 % 60_000  # start of a minute bucket


class FakeKV:
    """In-memory Consul KV with ModifyIndex and CAS, able to fail like an unreachable Consul."""

    def __init__(self):
        self.data: dict[str, tuple[bytes, int]] = {}
        self.index = 0
        self.down = False
        self.writes = 0

    def _check(self):
        if self.down:
            raise ConsulError("down")

    async def get(self, key):
        self._check()
        await asyncio.sleep(0)
        if key not in self.data:
            return None
        v, i = self.data[key]
        return Entry(key, v, i)

    async def cas(self, key, value, index):
        self._check()
        await asyncio.sleep(0.001)
        current = self.data.get(key, (b"", 0))[1]
        if current != index:
            return None
        self.index += 1
        self.writes += 1
        self.data[key] = (value, self.index)
        return self.index


# ---- pure decisions


def test_runs_are_admitted_up_to_max_concurrent_then_quota_exceeded():
    c = TenantCounters()
    assert decide(c, Q, T0 + 99_000, T0).admitted
    assert decide(c, Q, T0 + 99_000, T0).admitted
    d = decide(c, Q, T0 + 99_000, T0)
    assert (d.admitted, d.code, d.retry_after_s) == (False, "quota_exceeded", 1)


def test_a_released_slot_admits_the_next_run():
    c = TenantCounters()
    decide(c, Q, T0 + 99_000, T0)
    decide(c, Q, T0 + 99_000, T0)
    assert release(c, bucket_of(T0 + 99_000))
    assert decide(c, Q, T0 + 99_000, T0).admitted


def test_releasing_more_than_was_admitted_never_goes_below_zero():
    c = TenantCounters()
    decide(c, Q, T0 + 99_000, T0)
    assert release(c, bucket_of(T0 + 99_000))
    assert not release(c, bucket_of(T0 + 99_000))
    assert active_count(c, T0) == 0


def test_an_expired_slot_comes_back_so_a_lost_release_cannot_leak():
    c = TenantCounters()
    decide(c, Q, T0 + 10, T0)
    decide(c, Q, T0 + 10, T0)
    assert not decide(c, Q, T0 + 99_000, T0 + 1).admitted
    assert decide(c, Q, T0 + 99_000, int(bucket_of(T0 + 10)) + 1).admitted


def test_the_stored_value_stays_small_however_many_runs_are_active():
    import msgspec
    c = TenantCounters()
    q = Quota(max_concurrent=10**9, runs_per_minute=10**9)
    for i in range(100_000):
        decide(c, q, T0 + 60_000 + (i % 3000), T0)
    assert active_count(c, T0) == 100_000
    assert len(msgspec.json.encode(c)) < 300


def test_runs_per_minute_is_rate_limited_with_a_retry_after():
    q = Quota(max_concurrent=100, runs_per_minute=3)
    c = TenantCounters()
    for _ in range(3):
        assert decide(c, q, T0 + 99_000, T0 + 1000).admitted
    d = decide(c, q, T0 + 99_000, T0 + 1000)
    assert (d.admitted, d.code) == (False, "rate_limited")
    assert d.retry_after_s == 59  # the bucket rolls over at T0 + 60 s


def test_the_rate_window_slides_from_one_minute_to_the_next():
    q = Quota(max_concurrent=100, runs_per_minute=4)
    c = TenantCounters()
    for _ in range(4):
        decide(c, q, T0 + 999_000, T0)
    # 30 s into the next minute the previous 4 count half: 2 used, 2 free
    assert decide(c, q, T0 + 999_000, T0 + 90_000).admitted
    assert decide(c, q, T0 + 999_000, T0 + 90_000).admitted
    d = decide(c, q, T0 + 999_000, T0 + 90_000)
    assert d.code == "rate_limited" and d.retry_after_s >= 1
    # two minutes later everything is forgotten
    assert decide(c, q, T0 + 999_000, T0 + 240_000).admitted


# ---- the shared batcher


async def test_admission_is_shared_between_instances_through_the_kv():
    kv = FakeKV()
    now = [T0]
    a, b = Admission(kv, clock=lambda: now[0]), Admission(kv, clock=lambda: now[0])
    assert (await a.admit("t", "r1", Q, T0 + 99_000)).admitted
    assert (await b.admit("t", "r2", Q, T0 + 99_000)).admitted
    assert (await a.admit("t", "r3", Q, T0 + 99_000)).code == "quota_exceeded"  # after a CAS conflict
    await b.release("t", "r1")  # not b's run: nothing happens
    assert (await a.admit("t", "r3", Q, T0 + 99_000)).code == "quota_exceeded"
    await a.release("t", "r1")  # the admitter gives it back, once
    await a.release("t", "r1")
    now[0] += 1000  # b's cached counters are old enough to be re-read before refusing
    assert (await b.admit("t", "r3", Q, T0 + 99_000)).admitted
    assert (await b.admit("t", "r4", Q, T0 + 99_000)).code == "quota_exceeded"


async def test_concurrent_requests_of_one_tenant_are_decided_in_few_writes():
    kv = FakeKV()
    adm = Admission(kv, clock=lambda: T0)
    q = Quota(max_concurrent=50, runs_per_minute=1000)
    results = await asyncio.gather(*(adm.admit("t", f"r{i}", q, T0 + 99_000) for i in range(80)))
    assert sum(d.admitted for d in results) == 50
    assert sum(d.code == "quota_exceeded" for d in results) == 30
    assert kv.writes <= 3


async def test_a_refusal_rereads_counters_that_another_instance_may_have_lowered():
    kv = FakeKV()
    now = [T0]
    a, b = Admission(kv, clock=lambda: now[0]), Admission(kv, clock=lambda: now[0])
    await b.admit("t", "r1", Q, T0 + 99_000)
    await b.admit("t", "r2", Q, T0 + 99_000)
    assert (await a.admit("t", "r3", Q, T0 + 99_000)).code == "quota_exceeded"  # a caches the counters
    await b.release("t", "r1")
    now[0] += 1000
    assert (await a.admit("t", "r3", Q, T0 + 99_000)).admitted


async def test_releasing_an_unknown_run_writes_nothing():
    kv = FakeKV()
    adm = Admission(kv, clock=lambda: T0)
    await adm.admit("t", "r1", Q, T0 + 99_000)
    writes = kv.writes
    await adm.release("t", "never-admitted")
    assert kv.writes == writes


async def test_when_consul_is_down_admission_falls_back_to_local_counting():
    kv = FakeKV()
    now = [T0]
    adm = Admission(kv, retry_after_ms=3000, clock=lambda: now[0])
    kv.down = True
    assert (await adm.admit("t", "r1", Q, T0 + 99_000)).admitted
    assert (await adm.admit("t", "r2", Q, T0 + 99_000)).admitted
    assert (await adm.admit("t", "r3", Q, T0 + 99_000)).code == "quota_exceeded"
    assert not adm.consul_ok
    kv.down = False
    now[0] += 3001
    assert adm.consul_ok
    assert (await adm.admit("t", "r4", Q, T0 + 99_000)).admitted  # shared state again


@pytest.mark.parametrize("value", [b"", b"not json"])
async def test_unreadable_counters_are_replaced_not_fatal(value):
    kv = FakeKV()
    kv.data["throwbox/admission/t"] = (value, 7)
    kv.index = 7
    assert (await Admission(kv, clock=lambda: T0).admit("t", "r1", Q, T0 + 99_000)).admitted
