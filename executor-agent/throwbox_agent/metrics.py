"""Prometheus metrics of one agent (own registry, so tests can build as many agents as they like)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pool_size = Gauge("throwbox_agent_pool_size", "Configured warm sandboxes per runtime",
                               ["runtime"], registry=r)
        self.pool_idle = Gauge("throwbox_agent_pool_idle", "Idle running sandboxes per runtime",
                               ["runtime"], registry=r)
        self.acquire_seconds = Histogram(
            "throwbox_agent_acquire_seconds", "Time a run waited for its sandbox", ["runtime"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=r)
        self.cold_starts = Counter("throwbox_agent_cold_starts_total",
                                   "Acquires that had to wait for Nomad to place a sandbox",
                                   ["runtime"], registry=r)
        self.runs = Counter("throwbox_agent_runs_total", "Runs by status and outcome",
                            ["runtime", "status", "outcome"], registry=r)
        self.tests = Counter("throwbox_agent_tests_total", "Test cases of runs with tests, by verdict",
                             ["runtime", "verdict"], registry=r)
        self.sandbox_lifetime_seconds = Histogram(
            "throwbox_agent_sandbox_lifetime_seconds", "From handing a sandbox to a run to stopping it",
            ["runtime"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r)
        self.replacement_seconds = Histogram(
            "throwbox_agent_replacement_seconds", "From creating a sandbox (its dispatch) to its container running",
            ["runtime"], buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60), registry=r)
        self.in_flight = Gauge("throwbox_agent_runs_in_flight", "Runs held by this agent", registry=r)
