from throwbox_agent.pool_sizing import ArrivalMeter, target_sizes


def test_without_arrivals_every_runtime_keeps_its_floor():
    assert target_sizes({"python": 1, "java": 1}, {}, replace_s=4, burst=4) == {"python": 1, "java": 1}


def test_a_busy_runtime_gets_what_it_lacks_from_the_burst_budget():
    # 1 run/s and 4 s to replace a sandbox: 4 warm sandboxes keep runs from waiting.
    assert target_sizes({"python": 1, "java": 1}, {"java": 1.0}, replace_s=4, burst=8) == {"python": 1, "java": 4}


def test_the_budget_is_shared_in_proportion_when_it_is_short():
    sizes = target_sizes({"a": 1, "b": 1, "c": 1}, {"a": 3.0, "b": 1.0}, replace_s=2, burst=4)
    # a lacks 5, b lacks 1: 4 x 5/6 = 3.33 and 0.67 -> 3 and 1 (largest remainder)
    assert sizes == {"a": 4, "b": 2, "c": 1}
    assert sum(sizes.values()) == 3 + 4


def test_no_burst_means_fixed_pools():
    assert target_sizes({"python": 2}, {"python": 50.0}, replace_s=4, burst=0) == {"python": 2}


def test_the_meter_forgets_arrivals_older_than_its_window():
    m = ArrivalMeter(window_s=10)
    for t in (0, 1, 2, 9):
        m.note("python", t)
    assert m.rates_per_s(9.5)["python"] == 0.4
    assert m.rates_per_s(11.5)["python"] == 0.2
    assert m.rates_per_s(30)["python"] == 0.0


def test_an_on_demand_runtime_keeps_one_sandbox_while_runs_of_it_wait_even_with_no_budget_left():
    floors = {"python": 1, "lua": 0, "tcl": 0}
    assert target_sizes(floors, {}, replace_s=4, burst=0) == {"python": 1, "lua": 0, "tcl": 0}
    sizes = target_sizes(floors, {"python": 5.0, "lua": 0.1}, replace_s=4, burst=2, waiting={"lua": 1})
    assert sizes == {"python": 3, "lua": 1, "tcl": 0}      # the budget went to python; lua still gets 1
    assert target_sizes(floors, {"lua": 1.0}, replace_s=4, burst=8, waiting={"lua": 2})["lua"] == 4
    assert target_sizes(floors, {}, replace_s=4, burst=0, waiting={"python": 3})["python"] == 1
