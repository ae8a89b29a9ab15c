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
