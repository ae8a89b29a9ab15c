"""Control-plane settings from THROWBOX_* environment variables, validated at start-up.

Unknown THROWBOX_CP_* keys are an error (a typo must not silently fall back to a default).
Other THROWBOX_* variables belong to other components (agent, CLI) and are left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from throwbox_common import env as read
from throwbox_common import topics

PREFIX = "THROWBOX_CP_"
TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PLAYGROUND_DIST = Path(__file__).resolve().parents[2] / "playground" / "dist"


class ConfigError(ValueError):
    """A setting is unknown or has an invalid value."""


@dataclass(frozen=True)
class Settings:
    # listen address
    host: str = "127.0.0.1"
    port: int = 8080
    instance_id: str = ""
    # dependencies (shared names, not CP-specific)
    kafka_bootstrap: str = "127.0.0.1:9092"
    consul_addr: str = "http://127.0.0.1:8500"
    nomad_addr: str = "http://127.0.0.1:4646"
    # the topic runs are queued on (the agents consuming it are the capacity admission counts)
    runs_topic: str = topics.RUNS
    # size caps (bytes)
    max_body_bytes: int = 8 * 1024 * 1024
    max_file_bytes: int = 4 * 1024 * 1024
    max_files_total_bytes: int = 6 * 1024 * 1024
    max_stdin_bytes: int = 1024 * 1024
    # ?wait=true gives up (202) after this long
    wait_cap_ms: int = 65_000
    # global admission
    max_active_runs: int = 2000
    max_queue_depth: int = 1000          # outer limit of the capacity-derived queue bound
    queue_timeout_ms: int = 30_000
    # the queue bound: safety% x sum(idle + start rate x (queue timeout - this margin)) over live agents
    queue_start_margin_ms: int = 5_000
    queue_bound_safety_percent: int = 80
    # default per-tenant quotas (a key may carry its own)
    default_max_concurrent: int = 20
    default_runs_per_minute: int = 1200
    # caches
    key_cache_ttl_ms: int = 5_000
    event_log_cache_bytes: int = 128 * 1024 * 1024
    result_cache_bytes: int = 256 * 1024 * 1024
    # how far back the run view reads throwbox.events at start (default: its whole retention)
    history_ms: int = 7 * 24 * 3600 * 1000
    # timeouts of dependency calls
    consul_timeout_ms: int = 1_000
    consul_retry_after_ms: int = 3_000
    log_level: str = "INFO"
    # Piston (/api/v2) and Judge0 (/judge0) routes only: the tenant that serves requests without a
    # key, with the default quotas ("" = none: every request needs a key). Logged at start.
    compat_keyless_tenant: str = ""
    # the playground at / (docs/playground.md): its built files, and a file whose key the page
    # pre-fills for browsers on this machine (set only by scripts/start-control-plane.sh)
    playground_dir: str = str(PLAYGROUND_DIST)
    playground_dev_key_file: str = ""

    def __repr__(self) -> str:  # no secrets here, but keep it short and stable
        return "Settings(" + ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)) + ")"


# Settings read from names outside THROWBOX_CP_ (shared with the agent and the CLI).
SHARED_NAMES = {
    "kafka_bootstrap": "THROWBOX_KAFKA_BOOTSTRAP",
    "consul_addr": "THROWBOX_CONSUL_ADDR",
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
            elif f.name in ("consul_addr", "nomad_addr"):
                value = read.http_address(name, raw)
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
