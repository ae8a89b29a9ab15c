"""Control-plane settings from THROWBOX_* environment variables, validated at start-up.

Unknown THROWBOX_CP_* keys are an error (a typo must not silently fall back to a default).
Other THROWBOX_* variables belong to other components (agent, CLI) and are left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from throwbox_common import acl_tokens, kafka_client, topics
from throwbox_common import env as read
from throwbox_common.settings import Setting

PREFIX = "THROWBOX_CP_"
TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PLAYGROUND_DIST = Path(__file__).resolve().parents[2] / "playground" / "dist"


class ConfigError(ValueError):
    """A setting is unknown or has an invalid value."""


def _s(default, description: str, unit: str = ""):
    """A setting: its default, meaning and unit, documented from here (docs/settings.md)."""
    return field(default=default, metadata={"description": description, "unit": unit})


@dataclass(frozen=True)
class Settings:
    host: str = _s("127.0.0.1", "address the API listens on")
    port: int = _s(8080, "port the API listens on")
    instance_id: str = _s("", "this instance's name in every log line (default: host:port)")
    kafka_bootstrap: str = _s("127.0.0.1:9092", "Kafka bootstrap servers, host:port[,host:port]")
    consul_addr: str = _s("http://127.0.0.1:8500", "Consul HTTP address")
    consul_token_file: str = _s("", acl_tokens.CONSUL_TOKEN_HELP + " (the control plane's: its KV prefixes, "
                                    "agents' health)")
    nomad_addr: str = _s("http://127.0.0.1:4646", "Nomad HTTP address, or a comma-separated list of a "
                                                     "cluster's servers (readiness only: ok when one has a leader)")
    runs_topic: str = _s(topics.RUNS, "topic runs are queued on; the agents consuming it are the capacity "
                                      "admission counts (tests and the bench use their own)")
    max_body_bytes: int = _s(8 * 1024 * 1024, "largest request body", "bytes")
    max_file_bytes: int = _s(4 * 1024 * 1024, "largest file of a run or function", "bytes")
    max_files_total_bytes: int = _s(6 * 1024 * 1024, "largest total of a run's files", "bytes")
    max_stdin_bytes: int = _s(1024 * 1024, "largest stdin of a run", "bytes")
    wait_cap_ms: int = _s(65_000, "?wait=true answers 202 after this long", "ms")
    max_active_runs: int = _s(2000, "global cap: runs submitted and not finished (503 beyond)")
    max_queue_depth: int = _s(1000, "fixed outer limit of the capacity-derived queue bound (all runtimes)")
    queue_timeout_ms: int = _s(30_000, "a run not started this long after submission ends queue_timeout", "ms")
    queue_start_margin_ms: int = _s(5_000, "the queue bound counts starts within queue timeout minus this", "ms")
    queue_bound_safety_percent: int = _s(80, "the queue bound is this share of what the agents' measured rates "
                                             "can start in time", "%")
    default_max_concurrent: int = _s(20, "a key's concurrent runs unless it carries its own quota")
    default_runs_per_minute: int = _s(1200, "a key's runs per minute unless it carries its own quota")
    key_cache_ttl_ms: int = _s(5_000, "how long a looked-up API key is trusted before Consul is asked again", "ms")
    event_log_cache_bytes: int = _s(128 * 1024 * 1024, "memory for finished runs' event logs", "bytes")
    result_cache_bytes: int = _s(256 * 1024 * 1024, "memory for finished runs' results", "bytes")
    history_ms: int = _s(7 * 24 * 3600 * 1000, "how far back the run view reads throwbox.events at start "
                                               "(older runs are 404 after a restart)", "ms")
    consul_timeout_ms: int = _s(1_000, "timeout of one Consul call", "ms")
    consul_retry_after_ms: int = _s(3_000, "after a Consul failure, admission counts per instance this long", "ms")
    log_level: str = _s("INFO", "DEBUG, INFO, WARNING or ERROR (JSON lines on stderr)")
    compat_keyless_tenant: str = _s("", "Piston (/api/v2) and Judge0 (/judge0) routes only: the tenant that serves "
                                        "requests without a key, with the default quotas (empty: none). Logged at start")
    playground_dir: str = _s(str(PLAYGROUND_DIST), "the playground's built files (served at /)")
    playground_dev_key_file: str = _s("", "a file whose key the playground pre-fills for browsers on this "
                                          "machine (set by scripts/start-control-plane.sh only; empty: off)")

    def __repr__(self) -> str:  # no secrets here, but keep it short and stable
        return "Settings(" + ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)) + ")"


# Settings read from names outside THROWBOX_CP_ (shared with the agent and the CLI).
SHARED_NAMES = {
    "kafka_bootstrap": "THROWBOX_KAFKA_BOOTSTRAP",
    "consul_addr": "THROWBOX_CONSUL_ADDR",
    "consul_token_file": acl_tokens.CONSUL_TOKEN_FILE,
    "nomad_addr": "THROWBOX_NOMAD_ADDR",
}

POSITIVE = {
    "port", "max_body_bytes", "max_file_bytes", "max_files_total_bytes", "max_stdin_bytes",
    "wait_cap_ms", "max_active_runs", "max_queue_depth", "queue_timeout_ms", "queue_bound_safety_percent",
    "default_max_concurrent", "default_runs_per_minute", "key_cache_ttl_ms",
    "event_log_cache_bytes", "result_cache_bytes", "history_ms", "consul_timeout_ms", "consul_retry_after_ms",
}


def env_name(field_name: str) -> str:
    return SHARED_NAMES.get(field_name, PREFIX + field_name.upper())


def declarations() -> list[Setting]:
    """Every control-plane setting as documented in docs/settings.md."""
    out = []
    for f in fields(Settings):
        default = f.default
        if f.name == "playground_dir":
            default = "<checkout>/playground/dist"
        out.append(Setting(env_name(f.name), str(default), f.metadata["description"], f.metadata["unit"]))
    return out


def load(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    known = {env_name(f.name): f for f in fields(Settings)}
    values: dict[str, object] = {}
    try:
        read.reject_unknown(env, PREFIX, sorted(known))
        for name, f in known.items():
            if name not in env:
                continue
            raw = env[name]
            if f.type in ("int", int):
                value: object = read.integer(name, raw, minimum=1 if f.name in POSITIVE else None,
                                             maximum=65535 if f.name == "port" else None)
            elif f.name == "consul_addr":
                value = read.http_address(name, raw)
            elif f.name == "consul_token_file":
                value = read.token_file(name, raw)
            elif f.name == "nomad_addr":
                value = read.http_addresses(name, raw)
            elif f.name == "log_level":
                value = read.log_level(name, raw)
            elif f.name in ("instance_id", "playground_dev_key_file"):  # empty: unset
                value = raw.strip()
            elif f.name == "compat_keyless_tenant":
                value = raw.strip()
                if value and not TENANT_NAME.match(value):
                    raise read.SettingError(f"{name}: {raw!r} is not a tenant name ([A-Za-z0-9][A-Za-z0-9._-]{{0,63}})")
            elif f.name == "runs_topic":
                value = read.non_empty(name, raw)
                if not re.match(r"^[\w.-]+$", value):
                    raise read.SettingError(f"{name}: {value!r} is not a topic name")
            else:
                value = read.non_empty(name, raw)
            values[f.name] = value
        kafka_client.from_env(env)    # the credentials file must be there and private
    except read.SettingError as e:
        raise ConfigError(str(e)) from None
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.queue_bound_safety_percent > 100:
        raise ConfigError(f"{env_name('queue_bound_safety_percent')} is a percentage: at most 100")
    if not 0 <= settings.queue_start_margin_ms < settings.queue_timeout_ms:
        raise ConfigError(f"{env_name('queue_start_margin_ms')} must be at least 0 and below {env_name('queue_timeout_ms')}")
    if settings.max_file_bytes > settings.max_body_bytes:
        raise ConfigError(f"{env_name('max_file_bytes')} may not exceed {env_name('max_body_bytes')}")
    return settings
