"""Test ordering: modules that disturb shared services run last.

test_load.py floods the control plane and test_failures.py stops and restarts Kafka, Consul,
Nomad, agents and sandboxes (restoring each in `finally`). Running them after everything else
keeps their disturbance away from the other tests of the same session.
"""

from __future__ import annotations

LAST = ("test_load.py", "test_failures.py")   # in this order, after every other module


def pytest_collection_modifyitems(session, config, items):
    def rank(item) -> int:
        name = item.path.name
        return LAST.index(name) + 1 if name in LAST else 0
    items.sort(key=rank)  # stable: the order within each group is kept
