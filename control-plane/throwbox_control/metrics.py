"""Prometheus metrics of one instance (a private registry, exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

registry = CollectorRegistry(auto_describe=True)

runs_finished = Counter(
    "throwbox_runs_finished_total", "Runs whose result this instance has seen, by status and outcome",
    ["status", "outcome"], registry=registry)
runs_submitted = Counter("throwbox_runs_submitted_total", "Runs accepted by this instance", registry=registry)
admission_refused = Counter("throwbox_admission_refused_total", "Run submissions refused, by code",
                            ["code"], registry=registry)
request_latency = Histogram(
    "throwbox_http_request_duration_seconds", "HTTP request latency by route and status",
    ["method", "route", "status"], registry=registry,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
runs_queued = Gauge("throwbox_runs_queued", "Runs submitted but not yet started (queue depth)", registry=registry)
queue_bound = Gauge("throwbox_admission_queue_bound",
                    "Runs of a runtime that may wait for a sandbox cluster-wide (from the live agents' start rates)",
                    ["runtime"], registry=registry)
start_rate = Gauge("throwbox_admission_start_rate_per_second",
                   "Runs of a runtime per second the live agents start with a backlog (measured, summed)",
                   ["runtime"], registry=registry)
live_agents = Gauge("throwbox_admission_live_agents", "Executor agents whose capacity admission counts",
                    registry=registry)
runs_active = Gauge("throwbox_runs_active", "Runs submitted and not yet finished", registry=registry)
events_lag = Gauge("throwbox_events_consumer_lag_records",
                   "Records on throwbox.events this instance has not applied yet", registry=registry)
warm_idle = Gauge("throwbox_warm_pool_idle", "Idle warm sandboxes, from the agents' Consul registrations",
                  ["agent", "runtime"], registry=registry)
warm_size = Gauge("throwbox_warm_pool_size", "Warm pool target size, from the agents' Consul registrations",
                  ["agent", "runtime"], registry=registry)
kafka_under_replicated = Gauge(
    "throwbox_kafka_under_replicated_partitions",
    "Kafka partitions with fewer in-sync replicas than replicas (or no leader), from the topic metadata",
    registry=registry)
dependency_up = Gauge("throwbox_dependency_up", "1 when a dependency answered the last check",
                      ["dependency"], registry=registry)


def render() -> bytes:
    return generate_latest(registry)
