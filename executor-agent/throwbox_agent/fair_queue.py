"""The runs an agent has taken from Kafka but not started yet, handed out fairly.

Runs are held per runtime (a runtime's runs wait only for that runtime's sandboxes, never behind
another runtime's) and, within a runtime, per tenant: the next run of a runtime comes from the
tenant served least recently (one never served first, then by arrival), each tenant's runs in
arrival order. That is round robin among tenants with waiting runs, where a tenant that joins
goes first: with N tenants waiting for a runtime, a tenant's next run waits behind at most N-1
runs of other tenants (besides those already in flight).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._by_runtime: dict[str, dict[str, deque[T]]] = {}
        self._served: dict[tuple[str, str], int] = {}   # (runtime, tenant) → when last served (-1: never)
        self._arrived: dict[tuple[str, str], int] = {}  # (runtime, tenant) → when it began waiting
        self._clock = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def push(self, runtime: str, tenant: str, item: T) -> None:
        tenants = self._by_runtime.setdefault(runtime, {})
        if tenant not in tenants:
            tenants[tenant] = deque()
            self._clock += 1
            self._arrived[(runtime, tenant)] = self._clock
            self._served.setdefault((runtime, tenant), -1)
        tenants[tenant].append(item)
        self._count += 1

    def runtimes(self) -> list[str]:
        return list(self._by_runtime)

    def waiting(self, runtime: str) -> int:
        return sum(len(q) for q in self._by_runtime.get(runtime, {}).values())

    def pop(self, runtime: str) -> T | None:
        """The next run of `runtime`: the head of the tenant served least recently."""
        tenants = self._by_runtime.get(runtime)
        if not tenants:
            return None
        tenant = min(tenants, key=lambda t: (self._served[(runtime, t)], self._arrived[(runtime, t)]))
        runs = tenants[tenant]
        item = runs.popleft()
        self._clock += 1
        self._served[(runtime, tenant)] = self._clock
        if not runs:
            self._forget(runtime, tenant)
        self._count -= 1
        return item

    def _forget(self, runtime: str, tenant: str) -> None:
        # A tenant with nothing waiting keeps no state (its next run is a newcomer's).
        del self._by_runtime[runtime][tenant]
        self._served.pop((runtime, tenant), None)
        self._arrived.pop((runtime, tenant), None)
        if not self._by_runtime[runtime]:
            del self._by_runtime[runtime]

    def remove_if(self, drop: Callable[[T], bool]) -> list[T]:
        """Take out every held run for which `drop` is true (e.g. of revoked partitions)."""
        dropped: list[T] = []
        for runtime, tenants in list(self._by_runtime.items()):
            for tenant, runs in list(tenants.items()):
                kept = deque()
                for item in runs:
                    (dropped if drop(item) else kept).append(item)
                tenants[tenant] = kept
                if not kept:
                    self._forget(runtime, tenant)
        self._count -= len(dropped)
        return dropped

    def __iter__(self) -> Iterator[T]:
        for tenants in self._by_runtime.values():
            for runs in tenants.values():
                yield from runs
