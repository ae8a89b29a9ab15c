"""Work spreads over the workers; each result names its node."""

from cluster import assert_ran_once, ready_workers, submit_many


def test_runs_land_on_every_worker_and_name_it(api):
    workers = ready_workers()
    assert len(workers) >= 2, workers
    ids = submit_many(api, 16, sleep_s=2)
    results = api.wait_all(ids, 240)
    print("nodes:", sorted(r["node"] for r in results.values()))
    assert all((r["status"], r["outcome"]) == ("completed", "ok") for r in results.values()), results
    assert all(r["stdout"] == "start\ndone\n" for r in results.values())
    assert {r["node"] for r in results.values()} == set(workers)
    assert_ran_once(api, results)
