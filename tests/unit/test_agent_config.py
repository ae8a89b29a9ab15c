"""Agent settings: defaults, overrides, and every bad value rejected at start-up with a clear message."""

from pathlib import Path

import pytest

from throwbox_agent import config
from throwbox_agent.errors import ConfigError
from throwbox_common import runtimes

REGISTRY = runtimes.load()
PROFILE = str(config.DEFAULT_SECCOMP)


def load(**env):
    return config.load({f"THROWBOX_AGENT_{k}": v for k, v in env.items()}, registry=REGISTRY)


def test_defaults_come_from_the_registry_and_the_documented_addresses():
    cfg = load()
    assert cfg.kafka_bootstrap == "127.0.0.1:9092"
    assert (cfg.metrics_host, cfg.metrics_port) == ("127.0.0.1", 9464)
    assert cfg.oci_runtime == "runsc-go"
    assert cfg.pool_sizes == {r.key: r.warm for r in REGISTRY.runtimes}
    # Every runtime has a pool, an on-demand one (floor 0) for those with warm = 0.
    assert any(r.warm == 0 for r in REGISTRY.runtimes)
    # Pools follow demand by default: the floors (an on-demand pool counting 1) plus a burst of 4
    # may be in flight.
    assert (cfg.pool_burst, cfg.max_in_flight) == (4, sum(max(1, r.warm) for r in REGISTRY.runtimes) + 4)
    assert cfg.run_cpu_shares == 4096 and load(RUN_CPU_SHARES="2048").run_cpu_shares == 2048
    assert cfg.sandboxes_cpu_shares == 8192 and load(SANDBOXES_CPU_SHARES="0").sandboxes_cpu_shares == 0


def test_an_unknown_setting_is_rejected_and_named():
    with pytest.raises(ConfigError, match="THROWBOX_AGENT_POOL_SIZE\\b"):
        load(POOL_SIZE="python=3")


def test_the_health_url_the_stack_scripts_use_is_not_mistaken_for_a_typo():
    assert load(HEALTH_URL="http://127.0.0.1:9464/healthz").name


@pytest.mark.parametrize("key,value,problem", [
    ("OCI_RUNTIME", "kata", "not one of"),
    ("METRICS_LISTEN", "9464", "host:port"),
    ("METRICS_LISTEN", "127.0.0.1:99999", "outside"),
    ("MAX_IN_FLIGHT", "lots", "not an integer"),
    ("MAX_IN_FLIGHT", "0", "outside"),
    ("NAME", "My Agent", "must match"),
    ("NODE_ID", "node-1", "not a Nomad node id"),
    ("NOMAD_ADDR", "127.0.0.1:4646", "http"),
    ("POOL_SIZES", "python", "NAME=COUNT"),
    ("POOL_SIZES", "intercal=2", "no runtime"),
    ("POOL_SIZES", "*=0", "no runtime with a pool"),
    ("POOL_SIZES", "python=lots", "a number or demand"),
    ("SECCOMP_PROFILE", "runtimes/seccomp/sandbox.json", "absolute"),
    ("SECCOMP_PROFILE", "/nonexistent/profile.json", "does not exist"),
    ("STOP_POOLS_ON_EXIT", "maybe", "true/false"),
    ("KAFKA_BOOTSTRAP", "kafka", "host:port"),
    ("RUN_CPU_SHARES", "1", "outside"),
    ("RUN_CPU_SHARES", "1000000", "outside"),
    ("SANDBOXES_CPU_SHARES", "1", "not a cgroup weight"),
    ("SANDBOXES_CPU_SHARES", "-5", "outside"),
])
def test_a_bad_value_stops_the_agent_with_a_message_naming_the_setting(key, value, problem):
    with pytest.raises(ConfigError) as e:
        load(**{key: value})
    assert config.env_name(key) in str(e.value) or key == "POOL_SIZES"
    assert problem in str(e.value)


PYTHONS = [r.key for r in REGISTRY.runtimes if r.language == "python"]   # every version


def test_pool_sizes_name_languages_keys_and_a_default_for_the_rest():
    cfg = load(POOL_SIZES="python=3,*=1")
    assert len(PYTHONS) == 2 and all(cfg.pool_sizes[k] == 3 for k in PYTHONS)
    assert all(n == 1 for k, n in cfg.pool_sizes.items() if k not in PYTHONS)
    assert cfg.max_in_flight == 3 * len(PYTHONS) + len(REGISTRY.runtimes) - len(PYTHONS)


def test_a_runtime_key_wins_over_its_language_whatever_the_order():
    python = REGISTRY.resolve("python").key
    assert load(POOL_SIZES=f"{python}=5,python=2").pool_sizes[python] == 5


def test_a_pool_size_of_zero_means_no_pool_for_that_runtime():
    cfg = load(POOL_SIZES="python=2,*=0")
    assert list(cfg.pool_sizes) == PYTHONS
    assert cfg.max_in_flight == 2 * len(PYTHONS)


def test_demand_gives_a_pool_of_floor_zero_that_runs_one_at_a_time():
    lua = REGISTRY.resolve("lua").key
    cfg = load(POOL_SIZES="python=2,lua=demand,*=0")
    assert cfg.pool_sizes == dict.fromkeys(PYTHONS, 2) | {lua: 0}
    assert cfg.max_in_flight == 2 * len(PYTHONS) + 1
    assert load(POOL_SIZES="*=demand").pool_sizes == {r.key: 0 for r in REGISTRY.runtimes}


def test_runtimes_not_named_get_their_registry_warm_count_and_warm_0_is_an_on_demand_pool():
    cfg = load(POOL_SIZES="python=3")
    assert cfg.pool_sizes == {r.key: 3 if r.language == "python" else r.warm for r in REGISTRY.runtimes}


def test_runc_is_selectable_and_max_in_flight_can_be_set():
    cfg = load(OCI_RUNTIME="runc", MAX_IN_FLIGHT="7", SECCOMP_PROFILE=PROFILE)
    assert (cfg.oci_runtime, cfg.max_in_flight, cfg.seccomp_profile) == ("runc", 7, Path(PROFILE))


@pytest.mark.parametrize("hostname,name", [
    ("worker-3.dc1.example.com", "worker-3"),
    ("My_Host", "my-host"),
    ("---", "agent"),
    ("a" * 80, "a" * 40),
])
def test_the_default_name_is_derived_from_the_hostname_and_safe_for_a_nomad_job_id(hostname, name):
    assert config.default_agent_name(hostname) == name


def test_given_pool_sizes_are_fixed_pools_unless_a_burst_is_asked_for():
    assert config.load({"THROWBOX_AGENT_POOL_SIZES": "python=2,*=0"}, REGISTRY).pool_burst == 0
    cfg = config.load({"THROWBOX_AGENT_POOL_SIZES": "python=2,*=0", "THROWBOX_AGENT_POOL_BURST": "3"}, REGISTRY)
    assert (cfg.pool_burst, cfg.max_in_flight) == (3, 2 * len(PYTHONS) + 3)
