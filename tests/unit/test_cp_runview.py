"""Control plane run view: seq numbering, final result, memory bounds, SSE framing, key cache."""

import asyncio
import json

from throwbox_common.messages import Finished, Output, RunResult, RunTestEnded, Started, Submitted, Usage
from throwbox_control.admission import Quota
from throwbox_control.auth import KeyStore, key_hash, new_key
from throwbox_control.consul import ConsulError, Entry
from throwbox_control.runview import RunView
from throwbox_control.sse import parse_after, sse_event


def submitted(rid="r1", tenant="acme"):
    return Submitted(run_id=rid, tenant=tenant, language="python", version="3.11.2", created_at_ms=1000)


def finished(rid="r1", status="completed", stdout="hi\n"):
    return Finished(run_id=rid, result=RunResult(id=rid, language="python", version="3.11.2",
                                                 status=status, outcome="ok", exit_code=0,
                                                 stdout=stdout, created_at="2026-01-01T00:00:00.000Z"))


def events(view, rid="r1", after=0):
    return [json.loads(e) for _, e in view.get(rid).events_after(after)]


def test_a_tests_output_carries_its_index_and_a_test_event_ends_it():
    v = RunView()
    for rec in (submitted(), Started(run_id="r1"),
                Output(run_id="r1", stream="stdout", stage="run", data="4\n", test=0),
                RunTestEnded(run_id="r1", index=0, verdict="accepted", outcome="ok", exit_code=0,
                             usage=Usage(wall_ms=3, cpu_ms=2, memory_peak_bytes=9)),
                finished()):
        v.apply(rec)
    evs = events(v)
    assert evs[1] == {"type": "stdout", "seq": 2, "stage": "run", "data": "4\n", "test": 0}
    assert evs[2] == {"type": "test", "seq": 3, "index": 0, "verdict": "accepted", "outcome": "ok", "exit_code": 0,
                      "signal": None, "stdout_truncated": False, "stderr_truncated": False,
                      "usage": {"wall_ms": 3, "cpu_ms": 2, "memory_peak_bytes": 9}}
    assert evs[3]["type"] == "result" and "tests" not in evs[3]["result"]


def test_events_are_numbered_in_record_order_with_the_result_last():
    v = RunView()
    for rec in (submitted(), Started(run_id="r1"), Output(run_id="r1", stream="stdout", stage="run", data="a"),
                Output(run_id="r1", stream="stderr", stage="compile", data="b"), finished()):
        v.apply(rec)
    evs = events(v)
    assert [e["seq"] for e in evs] == [1, 2, 3, 4]
    assert evs[0] == {"type": "status", "seq": 1, "status": "running"}
    assert evs[1] == {"type": "stdout", "seq": 2, "stage": "run", "data": "a"}
    assert evs[2] == {"type": "stderr", "seq": 3, "stage": "compile", "data": "b"}
    assert evs[3]["type"] == "result" and evs[3]["result"]["status"] == "completed"


def test_submitted_is_internal_and_sets_the_owner():
    v = RunView()
    v.apply(submitted(tenant="acme"))
    st = v.get("r1")
    assert st.tenant == "acme" and st.status == "queued" and events(v) == []


def test_records_after_the_result_are_ignored():
    v = RunView()
    for rec in (submitted(), Started(run_id="r1"), finished(),
                Output(run_id="r1", stream="stdout", stage="run", data="late"), finished(status="failed")):
        v.apply(rec)
    evs = events(v)
    assert len(evs) == 2 and evs[-1]["result"]["status"] == "completed"


def test_a_duplicate_started_record_gives_one_status_event():
    v = RunView()
    for rec in (submitted(), Started(run_id="r1"), Started(run_id="r1")):
        v.apply(rec)
    assert len(events(v)) == 1


def test_two_views_fed_the_same_records_number_identically():
    recs = [submitted(), Started(run_id="r1"), Output(run_id="r1", stream="stdout", stage="run", data="x"), finished()]
    a, b = RunView(), RunView()
    for r in recs:
        a.apply(r)
        b.apply(r)
    assert a.get("r1").events == b.get("r1").events


def test_resuming_after_n_gives_only_later_events():
    v = RunView()
    for rec in (submitted(), Started(run_id="r1"), Output(run_id="r1", stream="stdout", stage="run", data="x"), finished()):
        v.apply(rec)
    assert [e["seq"] for e in events(v, after=2)] == [3]
    assert events(v, after=3) == []


def test_queue_depth_and_active_counts_follow_the_records():
    v = RunView()
    v.apply(submitted("a"))
    v.apply(submitted("b"))
    assert (v.queue_depth(), v.active()) == (2, 2)
    v.apply(Started(run_id="a"))
    assert (v.queue_depth(), v.active()) == (1, 2)
    v.apply(finished("a"))
    v.apply(finished("b"))
    assert (v.queue_depth(), v.active()) == (0, 0)


def test_old_event_logs_are_dropped_past_the_budget_but_the_result_stays():
    v = RunView(event_log_budget_bytes=2000, result_budget_bytes=10_000_000)
    for i in range(20):
        rid = f"r{i}"
        v.apply(submitted(rid))
        v.apply(Started(run_id=rid))
        v.apply(Output(run_id=rid, stream="stdout", stage="run", data="x" * 200))
        v.apply(finished(rid))
    old = v.get("r0")
    assert old.events_dropped and old.result is not None
    only = [json.loads(e) for _, e in old.events_after(0)]
    assert [(e["type"], e["seq"]) for e in only] == [("result", 3)]
    assert not v.get("r19").events_dropped


def test_results_past_their_budget_are_forgotten_oldest_first():
    v = RunView(event_log_budget_bytes=1000, result_budget_bytes=3000)
    for i in range(30):
        v.apply(submitted(f"r{i}"))
        v.apply(finished(f"r{i}"))
    assert v.get("r0") is None and v.get("r29") is not None


def test_a_partial_snapshot_carries_output_so_far():
    v = RunView()
    v.apply(submitted())
    v.apply(Started(run_id="r1"))
    v.apply(Output(run_id="r1", stream="stdout", stage="run", data="so far"))
    snap = json.loads(v.get("r1").snapshot())
    assert (snap["status"], snap["stdout"], snap["finished_at"]) == ("running", "so far", None)


async def test_a_late_follower_gets_everything_from_seq_1_then_live_events():
    v = RunView()
    v.apply(submitted())
    v.apply(Started(run_id="r1"))
    got = []

    async def follow():
        async for item in v.follow(v.get("r1"), 0, idle_s=5):
            got.append(item[0])

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.01)
    assert got == [1]
    v.apply(Output(run_id="r1", stream="stdout", stage="run", data="x"))
    v.apply(finished())
    await asyncio.wait_for(task, 2)
    assert got == [1, 2, 3]


async def test_wait_finished_times_out_then_sees_the_result():
    v = RunView()
    v.apply(submitted())
    st = v.get("r1")
    assert not await v.wait_finished(st, 0.01)
    asyncio.get_running_loop().call_later(0.01, v.apply, finished())
    assert await v.wait_finished(st, 2)


def test_on_finished_is_called_once_per_run():
    seen = []
    v = RunView(on_finished=lambda st, result, live: seen.append((st.run_id, result.status, live)))
    v.apply(submitted())
    v.apply(finished())
    v.apply(finished())
    assert seen == [("r1", "completed", False)]


# ---- SSE framing


def test_sse_events_carry_the_seq_as_id_and_json_on_one_data_line():
    assert sse_event(3, b'{"type":"stdout","seq":3}') == b'id: 3\ndata: {"type":"stdout","seq":3}\n\n'


def test_after_wins_over_last_event_id_and_garbage_is_refused():
    assert parse_after(None, None) == 0
    assert parse_after("5", "2") == 5
    assert parse_after(None, "7") == 7
    assert parse_after("-1", None) is None
    assert parse_after("abc", None) is None


# ---- key cache


class KeyKV:
    def __init__(self):
        self.data = {}
        self.down = False
        self.gets = 0

    async def get(self, key):
        self.gets += 1
        if self.down:
            raise ConsulError("down")
        return Entry(key, self.data[key], 1) if key in self.data else None


async def test_keys_are_looked_up_by_hash_and_served_from_cache_when_consul_is_down():
    kv = KeyKV()
    key = new_key()
    kv.data["throwbox/keys/" + key_hash(key)] = b'{"tenant":"acme","created_at":"x","max_concurrent":3}'
    store = KeyStore(kv, Quota(10, 100), ttl_ms=0)
    p = await store.lookup(key)
    assert p.tenant == "acme" and p.quota == Quota(3, 100)
    kv.down = True
    assert (await store.lookup(key)).tenant == "acme"  # last known answer
    assert await KeyStore(KeyKV(), Quota(1, 1)).lookup("tbx_nope") is None


async def test_a_key_in_steady_use_is_read_again_in_the_background_and_a_revocation_still_takes_effect(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("throwbox_control.auth.time.monotonic", lambda: clock[0])
    kv = KeyKV()
    key = new_key()
    path = "throwbox/keys/" + key_hash(key)
    kv.data[path] = b'{"tenant":"acme","created_at":"x"}'
    store = KeyStore(kv, Quota(10, 100), ttl_ms=1000)
    assert (await store.lookup(key)).tenant == "acme" and kv.gets == 1
    clock[0] += 0.4
    assert (await store.lookup(key)).tenant == "acme" and kv.gets == 1     # fresh: the cache alone
    del kv.data[path]                                                     # revoked
    clock[0] += 0.2                                                       # past half the TTL
    assert (await store.lookup(key)).tenant == "acme"                     # answered at once...
    for _ in range(5):
        await asyncio.sleep(0)
    assert kv.gets == 2                                                   # ...and read again meanwhile
    assert await store.lookup(key) is None                                # the revocation is seen


async def test_an_unknown_key_never_seen_while_consul_is_down_raises():
    kv = KeyKV()
    kv.down = True
    try:
        await KeyStore(kv, Quota(1, 1)).lookup("tbx_x")
    except ConsulError:
        return
    raise AssertionError("expected ConsulError")


def test_a_librarys_repeated_log_message_is_let_through_once_per_interval():
    import logging

    from throwbox_control.logs import RepeatFilter

    f = RepeatFilter(every_s=60)

    def rec(name, msg):
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), None)

    assert f.filter(rec("aiokafka.client", "Unable connect to node %s"))
    assert not f.filter(rec("aiokafka.client", "Unable connect to node %s"))
    assert f.filter(rec("aiokafka.client", "another message"))
    assert f.filter(rec("throwbox.bus", "x")) and f.filter(rec("throwbox.bus", "x"))  # ours: never dropped


def test_a_run_lost_with_its_agent_keeps_the_output_it_had_streamed_and_its_node():
    from throwbox_common.messages import ErrorInfo
    v = RunView()
    lost = RunResult(id="r1", language="python", version="3.11.2", status="failed",
                     created_at="2026-01-01T00:00:00.000Z", error=ErrorInfo(code="agent_lost", message="gone"))
    for rec in (submitted(), Started(run_id="r1", agent="w2"),
                Output(run_id="r1", stream="stdout", stage="run", data="start\n"),
                Output(run_id="r1", stream="stderr", stage="run", data="warn\n"),
                Finished(run_id="r1", result=lost)):
        v.apply(rec)
    result = json.loads(v.get("r1").result)
    assert (result["status"], result["error"]["code"]) == ("failed", "agent_lost")
    assert (result["stdout"], result["stderr"], result["node"]) == ("start\n", "warn\n", "w2")


def test_an_ordinary_failure_is_not_given_streamed_output():
    from throwbox_common.messages import ErrorInfo
    v = RunView()
    failed = RunResult(id="r1", language="python", version="3.11.2", status="failed",
                       created_at="2026-01-01T00:00:00.000Z", error=ErrorInfo(code="sandbox_lost", message="x"))
    for rec in (submitted(), Started(run_id="r1", agent="w2"),
                Output(run_id="r1", stream="stdout", stage="run", data="start\n"), Finished(run_id="r1", result=failed)):
        v.apply(rec)
    assert json.loads(v.get("r1").result)["stdout"] == ""
