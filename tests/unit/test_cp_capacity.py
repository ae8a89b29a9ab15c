"""Admission by capacity: the queue bound from the live agents, fair shares, Retry-After (pure),
the per-tenant queue counts of the run view, and the Consul watch's filtering."""

import pytest

from throwbox_common import capacity_meta
from throwbox_common.capacity_meta import RuntimeCapacity
from throwbox_common.messages import Finished, RunResult, Started, Submitted
from throwbox_control import config
from throwbox_control.capacity import (
    AgentCapacity,
    Bound,
    CapacityWatch,
    QueuePlaces,
    decide_queue,
    fair_share,
    parse_agent,
    queue_bound,
    retry_after_s,
    sandbox_runtimes,
)
from throwbox_control.runview import RunView

RT = "bash-5.2.15"


def agent(name="a", rate=3.0, idle=2, size=10, topic="throwbox.runs", runtime=RT):
    return AgentCapacity(name=name, runs_topic=topic,
                         runtimes={runtime: RuntimeCapacity(idle=idle, size=size, start_rate_per_s=rate)})


def bound(queued_max=100, rate=4.0, agents=1):
    return Bound(queued_max=queued_max, start_rate_per_s=rate, agents=agents)


def test_the_bound_is_what_the_agents_can_start_within_the_queue_timeout_with_a_safety_margin():
    b = queue_bound([agent(rate=3.0, idle=2)], RT, queue_timeout_ms=30_000, start_margin_ms=5_000,
                    safety=0.8, outer_max=1000)
    assert b.queued_max == 61          # floor(0.8 * (2 + 3 * 25))
    assert b.start_rate_per_s == 3.0 and b.agents == 1


def test_each_runtime_has_its_own_bound_from_its_own_sandboxes():
    agents = [agent(rate=3.0, idle=1), agent("j", rate=0.5, idle=1, runtime="java-17")]
    assert queue_bound(agents, RT, 30_000, 5_000, 1.0, 1000).queued_max == 76
    assert queue_bound(agents, "java-17", 30_000, 5_000, 1.0, 1000).queued_max == 13
    assert queue_bound(agents, "ruby-3", 30_000, 5_000, 1.0, 1000).agents == 0


def test_the_bound_grows_with_each_worker_and_is_capped_by_the_fixed_outer_limit():
    one = queue_bound([agent()], RT, 30_000, 5_000, 0.8, 1000)
    two = queue_bound([agent("a"), agent("b")], RT, 30_000, 5_000, 0.8, 1000)
    assert two.queued_max in (2 * one.queued_max, 2 * one.queued_max + 1)   # floor of the sum
    assert queue_bound([agent(rate=500.0)], RT, 30_000, 5_000, 0.8, 1000).queued_max == 1000


def test_no_live_agent_means_no_room_at_all():
    b = queue_bound([], RT, 30_000, 5_000, 0.8, 1000)
    assert b.queued_max == 0 and b.agents == 0
    d = decide_queue(b, queued=0, tenant_queued=0, tenants_wanting=1)
    assert not d.admitted and "no executor agent" in d.reason and d.retry_after_s >= 1


def test_a_run_is_refused_once_the_queue_reaches_the_bound_with_a_retry_after_from_the_backlog():
    assert decide_queue(bound(100, 4.0), queued=99, tenant_queued=0, tenants_wanting=1).admitted
    d = decide_queue(bound(100, 4.0), queued=100, tenant_queued=0, tenants_wanting=1)
    assert not d.admitted and d.retry_after_s == 1
    d = decide_queue(bound(100, 4.0), queued=140, tenant_queued=0, tenants_wanting=1)
    assert d.retry_after_s == 11      # 41 runs above the bound at 4/s


def test_the_fixed_outer_limit_counts_every_runtimes_queue():
    d = decide_queue(bound(100, 4.0), queued=5, tenant_queued=0, tenants_wanting=1, queued_all=1000,
                     outer_max=1000)
    assert not d.admitted and "limit of 1000" in d.reason


def test_retry_after_is_at_least_one_second_and_at_most_a_minute():
    assert retry_after_s(10, 10, 1000.0) == 1
    assert retry_after_s(10_000, 10, 1.0) == 60
    assert retry_after_s(5, 10, 0.0) >= 1


def test_a_lone_tenant_may_fill_the_whole_queue():
    assert fair_share(90, 1) == 90
    assert decide_queue(bound(90), queued=89, tenant_queued=89, tenants_wanting=1).admitted


def test_with_several_tenants_each_may_hold_only_its_share_of_the_queue():
    assert fair_share(90, 6) == 15
    assert fair_share(10, 3) == 4
    assert fair_share(2, 6) == 1       # everyone may queue one run while there is any room
    assert fair_share(0, 6) == 0
    d = decide_queue(bound(90), queued=40, tenant_queued=15, tenants_wanting=6)
    assert not d.admitted and "fair share (15)" in d.reason
    assert decide_queue(bound(90), queued=40, tenant_queued=14, tenants_wanting=6).admitted


def test_a_tenant_refused_a_moment_ago_still_counts_as_wanting_a_share_of_that_runtime():
    now = [100.0]
    w = CapacityWatch(kv=None, clock=lambda: now[0])
    assert w.tenants_wanting(RT, ["a"], "a") == 1
    w.refused(RT, "b")
    assert w.tenants_wanting(RT, ["a"], "a") == 2
    assert w.tenants_wanting("java-17", ["a"], "a") == 1
    now[0] += 10
    assert w.tenants_wanting(RT, ["a"], "a") == 1


def test_agent_figures_come_from_service_meta_and_odd_or_draining_agents_are_not_counted():
    meta = {"agent": "n1", "runs_topic": "throwbox.runs",
            **capacity_meta.encode({RT: RuntimeCapacity(idle=3, size=10, start_rate_per_s=2.5)})}
    assert parse_agent(meta) == agent("n1", rate=2.5, idle=3, size=10)
    assert parse_agent({**meta, "draining": "true"}) is None
    assert parse_agent({**meta, "cap_0": "bash=many"}) is None
    assert parse_agent({"agent": "old", "warm_python_idle": "2"}) is None


def test_readyz_names_each_sandbox_runtime_with_its_gvisor_version_platform_and_agents():
    meta = {"agent": "n1", "runs_topic": "throwbox.runs", "oci_runtime": "runsc-go", "sandbox_runtime": "runsc-go",
            "gvisor_version": "go-v0.0.0-20260905035102-160fafc42237", "gvisor_platform": "systrap",
            **capacity_meta.encode({RT: RuntimeCapacity(idle=3, size=10, start_rate_per_s=2.5)})}
    a = parse_agent(meta)
    assert (a.sandbox_runtime, a.gvisor_version, a.gvisor_platform) == (
        "runsc-go", "go-v0.0.0-20260905035102-160fafc42237", "systrap")
    # An agent from before the version was advertised: its runtime name only.
    old = {k: v for k, v in meta.items() if not k.startswith(("gvisor_", "sandbox_"))} | {"oci_runtime": "runsc"}
    assert sandbox_runtimes([a, parse_agent({**meta, "agent": "n2"}), parse_agent(old)]) == [
        {"runtime": "runsc", "gvisor_version": "", "platform": "", "agents": 1},
        {"runtime": "runsc-go", "gvisor_version": "go-v0.0.0-20260905035102-160fafc42237", "platform": "systrap",
         "agents": 2},
    ]


def test_capacity_meta_fits_consuls_limits_however_many_runtimes_there_are():
    figures = {f"lang{i:02d}-{i}.{i}.{i}": RuntimeCapacity(i % 3, 2, 1.25 * i) for i in range(60)}
    meta = capacity_meta.encode(figures)
    assert len(meta) < 64 and all(len(v) <= 512 for v in meta.values())
    assert capacity_meta.decode(meta) == {k: RuntimeCapacity(f.idle, f.size, round(f.start_rate_per_s, 2))
                                         for k, f in figures.items()}


def test_the_watch_counts_only_agents_of_its_own_runs_topic():
    w = CapacityWatch(kv=None)
    cap = capacity_meta.encode({RT: RuntimeCapacity(1, 1, 1.0)})
    w.set_agents([{**cap, "agent": "deployed", "runs_topic": "throwbox.runs"},
                  {**cap, "agent": "test", "runs_topic": "private.runs"}])
    assert [a.name for a in w.agents] == ["deployed"]
    assert w.known and w.runtimes() == [RT]


def test_places_taken_before_the_view_counts_a_run_are_seen_by_concurrent_requests():
    places = QueuePlaces()
    a1, a2, b1 = places.take(RT, "a"), places.take(RT, "a"), places.take("java-17", "b")
    assert (places.total, places.of(RT), places.of(RT, "a"), places.tenants(RT)) == (3, 2, 2, ["a"])
    a1.release()
    a1.release()                      # once only
    b1.release()
    assert (places.total, places.of(RT, "a"), places.of("java-17")) == (1, 1, 0)
    a2.release()
    assert places.total == 0 and places.tenants(RT) == []


RT5 = "bash-5"


def _submitted(rid, tenant):
    return Submitted(run_id=rid, tenant=tenant, language="bash", version="5", created_at_ms=1)


def test_the_run_view_counts_queued_runs_per_runtime_and_tenant_until_they_start_or_finish():
    v = RunView()
    for rid, tenant in (("r1", "a"), ("r2", "a"), ("r3", "b")):
        v.apply(_submitted(rid, tenant))
    v.apply(Submitted(run_id="j1", tenant="a", language="java", version="17", created_at_ms=1))
    assert (v.tenant_queued(RT5, "a"), v.tenant_queued(RT5, "b"), v.runtime_queued(RT5)) == (2, 1, 3)
    assert v.queue_depth() == 4 and v.runtime_queued("java-17") == 1
    assert sorted(v.queued_tenants(RT5)) == ["a", "b"]
    v.apply(Started(run_id="r1"))
    v.apply(Finished(run_id="r3", result=RunResult(id="r3", language="bash", version="5", status="cancelled",
                                                   created_at="2026-01-01T00:00:00.000Z")))
    assert (v.tenant_queued(RT5, "a"), v.tenant_queued(RT5, "b")) == (1, 0)
    assert v.queued_tenants(RT5) == ["a"]
    v.apply(Started(run_id="r1"))          # a duplicate changes nothing
    v.apply(_submitted("r2", "a"))
    assert v.tenant_queued(RT5, "a") == 1 and v.runtime_queued(RT5) == 1


def test_a_start_seen_before_its_submission_never_counts_the_run_as_queued():
    v = RunView()
    v.apply(Started(run_id="r9"))
    v.apply(_submitted("r9", "a"))
    assert v.tenant_queued(RT5, "a") == 0 and v.queue_depth() == 0


@pytest.mark.parametrize("env, problem", [
    ({"THROWBOX_CP_QUEUE_BOUND_SAFETY_PERCENT": "150"}, "at most 100"),
    ({"THROWBOX_CP_QUEUE_BOUND_SAFETY_PERCENT": "0"}, "THROWBOX_CP_QUEUE_BOUND_SAFETY_PERCENT"),
    ({"THROWBOX_CP_QUEUE_START_MARGIN_MS": "30000"}, "below THROWBOX_CP_QUEUE_TIMEOUT_MS"),
    ({"THROWBOX_CP_QUEUE_START_MARGIN_MS": "-1"}, "at least 0"),
])
def test_queue_bound_settings_are_validated_at_start_up(env, problem):
    with pytest.raises(config.ConfigError, match=problem):
        config.load(env)
