"""The agent's held-back runs: round robin across tenants per runtime, and its start-rate meter."""

from throwbox_agent.fair_queue import FairQueue
from throwbox_agent.start_rate import StartRateMeter


def drain(q, runtime):
    out = []
    while (item := q.pop(runtime)) is not None:
        out.append(item)
    return out


def test_a_tenants_burst_does_not_go_before_another_tenants_later_run():
    q = FairQueue()
    for i in range(5):
        q.push("bash-5", "big", f"big{i}")
    q.push("bash-5", "small", "small0")
    assert drain(q, "bash-5") == ["big0", "small0", "big1", "big2", "big3", "big4"]
    assert len(q) == 0 and q.runtimes() == []


def test_a_tenant_that_joins_goes_before_the_tenant_served_last():
    q = FairQueue()
    for i in range(5):
        q.push("bash-5", "big", f"big{i}")
    assert q.pop("bash-5") == "big0"          # in flight when the small tenant's run arrives
    q.push("bash-5", "small", "small0")
    assert q.pop("bash-5") == "small0"
    assert drain(q, "bash-5") == ["big1", "big2", "big3", "big4"]


def test_tenants_take_turns_and_each_tenants_runs_keep_their_order():
    q = FairQueue()
    for tenant, n in (("a", 3), ("b", 2), ("c", 1)):
        for i in range(n):
            q.push("py", tenant, f"{tenant}{i}")
    assert drain(q, "py") == ["a0", "b0", "c0", "a1", "b1", "a2"]


def test_with_n_tenants_waiting_a_tenants_next_run_waits_behind_at_most_n_minus_1_others():
    q = FairQueue()
    tenants = [f"t{i}" for i in range(6)]
    for i in range(50):
        for t in tenants:
            q.push("bash", t, (t, i))
    order = drain(q, "bash")
    for t in tenants:
        positions = [k for k, (tenant, _) in enumerate(order) if tenant == t]
        gaps = [b - a - 1 for a, b in zip(positions, positions[1:], strict=False)]
        assert max(gaps) <= len(tenants) - 1


def test_runtimes_are_held_apart_so_one_never_waits_behind_another():
    q = FairQueue()
    q.push("java", "a", "j1")
    q.push("bash", "a", "b1")
    assert q.pop("bash") == "b1"
    assert q.waiting("java") == 1 and q.runtimes() == ["java"]


def test_held_runs_of_revoked_partitions_are_taken_out():
    q = FairQueue()
    for i in range(4):
        q.push("py", "a" if i % 2 else "b", (i % 2, i))
    dropped = q.remove_if(lambda item: item[0] == 1)
    assert sorted(dropped) == [(1, 1), (1, 3)]
    assert len(q) == 2 and drain(q, "py") == [(0, 0), (0, 2)]


def test_the_start_rate_keeps_its_prior_until_the_agent_has_a_backlog():
    m = StartRateMeter(prior_per_s=2.0)
    for k in range(20):
        m.observe(k * 0.25, backlogged=False)
        if k % 2 == 0:
            m.started(k * 0.25)
    assert m.rate_per_s == 2.0 and m.samples == 0


def test_the_start_rate_is_measured_over_backlogged_seconds_only():
    m = StartRateMeter(prior_per_s=2.0)
    t = 0.0
    for _ in range(40):              # 10 s with a backlog, 4 starts a second
        m.observe(t, backlogged=True)
        m.started(t)
        t += 0.25
    assert 3.5 <= m.rate_per_s <= 4.5
    measured = m.rate_per_s
    for _ in range(40):              # 10 s idle: slow arrivals say nothing of the capacity
        m.observe(t, backlogged=False)
        if int(t * 4) % 8 == 0:
            m.started(t)
        t += 0.25
    assert m.rate_per_s == measured


def test_a_backlog_that_starts_nothing_drives_the_rate_down():
    m = StartRateMeter(prior_per_s=3.0)
    for k in range(80):
        m.observe(k * 0.25, backlogged=True)
    assert m.rate_per_s < 0.5


def test_a_stalled_loop_does_not_count_as_a_sample():
    m = StartRateMeter(prior_per_s=2.0)
    m.observe(0.0, True)
    m.started(0.1)
    m.observe(5.0, True)
    assert m.samples == 0 and m.rate_per_s == 2.0
