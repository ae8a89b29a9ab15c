"""Agent settings from THROWBOX_AGENT_* environment variables (and the shared dependency names
THROWBOX_KAFKA_BOOTSTRAP, THROWBOX_CONSUL_ADDR, THROWBOX_NOMAD_ADDR), validated at start-up.

Every key the agent knows is listed in `SETTINGS`; any other THROWBOX_AGENT_* variable is a typo
and stops the agent with a message naming it (a silently ignored setting is worse than none).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from throwbox_common import acl_tokens, kafka_client, settings, topics
from throwbox_common import env as read
from throwbox_common import runtimes as runtime_registry
from throwbox_common.settings import Setting

from .errors import ConfigError
from .sandbox_runtime import OCI_RUNTIMES

PREFIX = "THROWBOX_AGENT_"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SECCOMP = REPO_ROOT / "runtimes" / "seccomp" / "sandbox.json"
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")

# key (without prefix) -> help text; the single list of what may be set (docs/settings.md).
SETTINGS: dict[str, str] = {
    "KAFKA_BOOTSTRAP": "Kafka bootstrap servers, host:port[,host:port]",
    "CONSUL_ADDR": "Consul HTTP address",
    "NOMAD_ADDR": "Nomad HTTP address",
    "CONSUL_TOKEN_FILE": acl_tokens.CONSUL_TOKEN_HELP + " (the agent's: register its service, read agents' health)",
    "NOMAD_TOKEN_FILE": acl_tokens.NOMAD_TOKEN_HELP + " (the agent's: its sandbox jobs in NOMAD_NAMESPACE, its node)",
    "NOMAD_NAMESPACE": "Nomad namespace of the sandbox jobs (the secured cluster's: throwbox-sandboxes, where only "
                       "the docker driver is enabled and the agent's token may submit jobs)",
    "DOCKER_SOCKET": "path of the Docker Engine unix socket",
    "NAME": "agent name, [a-z0-9-], <= 40 chars (default: from the hostname)",
    "NODE_ID": "Nomad node id the sandboxes are constrained to (default: the local Nomad client's)",
    "DATACENTER": "Nomad datacenter of the sandbox jobs",
    "METRICS_LISTEN": "host:port of /healthz and /metrics",
    "POOL_SIZES": 'warm sandboxes per runtime, e.g. "python=3,lua=demand,*=0" (default: runtimes.toml warm): each '
                  "pool's floor; 0 = no pool (this agent takes no runs of it), demand = a pool of floor 0 that "
                  "starts a sandbox only for a waiting run (runtimes.toml warm = 0)",
    "POOL_BURST": "extra warm sandboxes the agent gives to the runtimes whose recent arrivals need more than "
                  "their floor (pools follow demand); 0 = fixed pools",
    "POOL_WINDOW_S": "the window of recent arrivals the pools follow",
    "SANDBOX_REPLACE_S": "how long replacing a used sandbox takes, for sizing pools: a runtime receiving r runs/s "
                         "needs r x this many warm sandboxes",
    "OCI_RUNTIME": "dockerd runtime of the sandboxes: runsc-go (a current gVisor, scripts/ensure-runsc-go.sh), "
                   "runsc (Debian's gVisor) or runc; Nomad node meta throwbox.sandbox_runtime overrides; the agent "
                   "stops at start-up when dockerd has it not registered",
    "MAX_IN_FLIGHT": "runs started or starting at once (default: total warm capacity, an on-demand pool "
                     "counting 1); a runtime's own are at most its pool size (at least 1)",
    "LOOKAHEAD": "runs taken from Kafka and held back beyond those in flight, started fairly across tenants "
                 "(round robin per runtime)",
    "START_RATE_PRIOR_PER_S": "runs per second per warm sandbox this agent is assumed to start of a runtime "
                              "with a backlog, until it has measured it (admission's queue bound rests on it)",
    "SECCOMP_PROFILE": "absolute path of the sandbox seccomp profile (JSON)",
    "TMPFS_MB": "size of the sandbox's /tmp scratch in MiB",
    "NOFILE": "RLIMIT_NOFILE inside the sandbox",
    "SHM_MB": "size of /dev/shm in MiB",
    "SANDBOX_CPU_MHZ": "Nomad CPU reservation of one idle sandbox in MHz (scheduling only; a run gets 1 core)",
    "RUN_CPU_SHARES": "cpu.shares of a sandbox while it runs (idle and booting ones keep the MHz above): runs go "
                      "before the pool's refill when cores are contended",
    "SANDBOXES_CPU_SHARES": "cpu.shares of the sandboxes' cgroup parent (/docker) against each host process, so "
                            "runs go before Nomad's and Docker's housekeeping; 0 leaves the host's value",
    "ACQUIRE_TIMEOUT_MS": "how long a run waits for a warm sandbox before it fails",
    "DRAIN_TIMEOUT_S": "on SIGTERM, the longest the agent waits for running runs",
    "RUNS_TOPIC": "topic of RunJob records (tests use a private one)",
    "CONSUMER_GROUP": "consumer group on the runs topic",
    "STOP_POOLS_ON_EXIT": "true: stop this agent's sandbox jobs when it exits (tests)",
    "REGISTER_CONSUL": "false: do not register in Consul",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
}
# Dependencies have one name across components: THROWBOX_<KEY>; THROWBOX_AGENT_<KEY> still works
# (with a warning) for one release.
SHARED = ("KAFKA_BOOTSTRAP", "CONSUL_ADDR", "NOMAD_ADDR", "CONSUL_TOKEN_FILE", "NOMAD_TOKEN_FILE")
UNITS = {"POOL_BURST": "sandboxes", "POOL_WINDOW_S": "s", "SANDBOX_REPLACE_S": "s", "TMPFS_MB": "MiB",
         "SHM_MB": "MiB", "SANDBOX_CPU_MHZ": "MHz", "ACQUIRE_TIMEOUT_MS": "ms",
         "DRAIN_TIMEOUT_S": "s", "START_RATE_PRIOR_PER_S": "per s", "MAX_IN_FLIGHT": "runs", "LOOKAHEAD": "runs"}
DEFAULT_TEXT = {"NAME": "the hostname, made safe", "NODE_ID": "the local Nomad client's",
                "METRICS_LISTEN": "127.0.0.1:9464", "POOL_SIZES": "runtimes.toml `warm`",
                "POOL_BURST": "4, or 0 when POOL_SIZES is given (fixed pools)",
                "MAX_IN_FLIGHT": "the sum of the pool floors (an on-demand pool: 1) plus the burst",
                "SECCOMP_PROFILE": "<checkout>/runtimes/seccomp/sandbox.json"}


def env_name(key: str) -> str:
    return "THROWBOX_" + key if key in SHARED else PREFIX + key


def declarations() -> list[Setting]:
    """Every agent setting as documented in docs/settings.md."""
    defaults = AgentConfig()
    out = []
    for key, description in SETTINGS.items():
        default = DEFAULT_TEXT.get(key)
        if default is None:
            value = getattr(defaults, key.lower())
            default = str(value).lower() if isinstance(value, bool) else str(value)
        aliases = (PREFIX + key,) if key in SHARED else ()
        out.append(Setting(env_name(key), default, description, UNITS.get(key, ""), aliases))
    for key, description in READ_BY_SCRIPTS.items():
        out.append(Setting(PREFIX + key, "http://127.0.0.1:9464/healthz", description))
    return out


# THROWBOX_AGENT_* names the stack scripts use for themselves (not settings of the agent).
READ_BY_SCRIPTS = {"HEALTH_URL": "the URL scripts/deploy-agent.sh polls"}


@dataclass(frozen=True)
class AgentConfig:
    kafka_bootstrap: str = "127.0.0.1:9092"
    consul_addr: str = "http://127.0.0.1:8500"
    nomad_addr: str = "http://127.0.0.1:4646"
    consul_token_file: str = ""             # paths, never the tokens (a config may be logged)
    nomad_token_file: str = ""
    nomad_namespace: str = "default"
    docker_socket: str = "/var/run/docker.sock"
    name: str = "agent"
    node_id: str | None = None
    datacenter: str = "dc1"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    # runtime key -> warm count (its floor; 0: on demand) of the runtimes this agent has a pool for
    pool_sizes: dict[str, int] = field(default_factory=dict)
    pool_burst: int = 4
    pool_window_s: int = 30
    sandbox_replace_s: float = 4.0
    oci_runtime: str = "runsc-go"
    max_in_flight: int = 0
    lookahead: int = 256
    start_rate_prior_per_s: float = 1.0    # per warm sandbox of the runtime
    seccomp_profile: Path = DEFAULT_SECCOMP
    tmpfs_mb: int = 64
    nofile: int = 256
    shm_mb: int = 8
    # Idle sandboxes use no CPU; a small reservation lets every runtime's pool fit on a node.
    sandbox_cpu_mhz: int = 100
    # cpu.shares of a sandbox while it runs a program (idle ones keep the MHz above as theirs).
    run_cpu_shares: int = 4096
    # cpu.shares of all sandboxes together (their cgroup parent) against each host process;
    # 0 leaves the host's value.
    sandboxes_cpu_shares: int = 8192
    acquire_timeout_ms: int = 60_000
    drain_timeout_s: int = 90
    runs_topic: str = topics.RUNS
    consumer_group: str = topics.AGENT_GROUP
    stop_pools_on_exit: bool = False
    register_consul: bool = True
    log_level: str = "INFO"


def default_agent_name(hostname: str | None = None) -> str:
    """Hostname made safe for a Nomad job id and a Consul service id."""
    raw = (hostname or socket.gethostname()).lower().split(".")[0]
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:40].strip("-")
    return name or "agent"


ON_DEMAND = "demand"     # POOL_SIZES count: a pool that keeps no idle sandbox (runtimes.toml `warm = 0`)
NO_POOL = -1


def parse_pool_sizes(text: str, registry: runtime_registry.Registry) -> dict[str, int]:
    """'python=3,lua=demand,*=0' -> {runtime key: floor} of the runtimes this agent has a pool
    for; a language name covers all its versions, a runtime key (python-3.11.2) one version,
    '*' every runtime not named (not given: its runtimes.toml `warm`). A count of 0 leaves the
    runtime out (this agent takes no runs of it); `demand` gives it a pool of floor 0, which
    creates a sandbox only for a run waiting for one (runtimes.toml `warm = 0`)."""
    explicit: dict[str, int] = {}
    star: int | None = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not (value.isdigit() or value == ON_DEMAND):
            raise ConfigError(f"{PREFIX}POOL_SIZES: {part!r} is not NAME=COUNT (COUNT: a number or {ON_DEMAND})")
        count = 0 if value == ON_DEMAND else int(value) or NO_POOL
        if name == "*":
            star = count
            continue
        matched = [r.key for r in registry.runtimes if name in (r.language, r.key)]
        if not matched:
            raise ConfigError(f"{PREFIX}POOL_SIZES: no runtime {name!r} in the registry")
        for key in matched:
            # A runtime key is more specific than its language, whichever comes first.
            if key not in explicit or name == key:
                explicit[key] = count
    sizes = {}
    for r in registry.runtimes:
        size = explicit.get(r.key, star if star is not None else r.warm)
        if size != NO_POOL:
            sizes[r.key] = size
    if not sizes:
        raise ConfigError(f"{PREFIX}POOL_SIZES: {text!r} leaves no runtime with a pool")
    return sizes


def load(env: Mapping[str, str] | None = None,
         registry: runtime_registry.Registry | None = None) -> AgentConfig:
    env = os.environ if env is None else env
    try:
        kafka_client.from_env(env)    # the credentials file must be there and private
        return _load(env, registry)
    except read.SettingError as e:
        raise ConfigError(str(e)) from None


# Settings read as a bounded integer: key -> (field, lowest, highest).
_INTEGERS = {
    "MAX_IN_FLIGHT": ("max_in_flight", 1, 10_000), "LOOKAHEAD": ("lookahead", 0, 100_000),
    "TMPFS_MB": ("tmpfs_mb", 1, 4096), "NOFILE": ("nofile", 16, 1 << 20), "SHM_MB": ("shm_mb", 1, 1024),
    "SANDBOX_CPU_MHZ": ("sandbox_cpu_mhz", 10, 100_000), "RUN_CPU_SHARES": ("run_cpu_shares", 2, 262_144),
    "ACQUIRE_TIMEOUT_MS": ("acquire_timeout_ms", 100, 3_600_000), "DRAIN_TIMEOUT_S": ("drain_timeout_s", 0, 3600),
    "POOL_BURST": ("pool_burst", 0, 1000), "POOL_WINDOW_S": ("pool_window_s", 1, 3600),
}
# Settings read as a name of a given shape: key -> (field, pattern, what a bad value is not).
_NAMES = {
    "NAME": ("name", _NAME_RE.pattern, f"must match {_NAME_RE.pattern}"),
    "NODE_ID": ("node_id", r"^[0-9a-f-]{36}$", "is not a Nomad node id (uuid)"),
    "DATACENTER": ("datacenter", r"^[\w-]+$", "is not a datacenter name"),
    "RUNS_TOPIC": ("runs_topic", r"^[\w.-]+$", "is not a topic name"),
    "NOMAD_NAMESPACE": ("nomad_namespace", r"^[a-zA-Z0-9-]{1,128}$", "is not a Nomad namespace name"),
}


def _parse(key: str, name: str, text: str, registry: runtime_registry.Registry) -> dict:
    """The AgentConfig fields one setting gives (ConfigError for a bad value)."""
    if key in _INTEGERS:
        field_name, low, high = _INTEGERS[key]
        return {field_name: read.integer(name, text, low, high)}
    if key in _NAMES:
        field_name, pattern, problem = _NAMES[key]
        if not re.match(pattern, text):
            raise ConfigError(f"{name}: {text!r} {problem}")
        return {field_name: text}
    match key:
        case "KAFKA_BOOTSTRAP":
            if not all(re.match(r"^[\w.-]+:\d+$", s.strip()) for s in text.split(",")):
                raise ConfigError(f"{name}: {text!r} is not host:port[,host:port]")
            return {"kafka_bootstrap": text}
        case "CONSUL_ADDR" | "NOMAD_ADDR":
            return {key.lower(): read.http_address(name, text)}
        case "CONSUL_TOKEN_FILE" | "NOMAD_TOKEN_FILE":
            return {key.lower(): read.token_file(name, text)}
        case "DOCKER_SOCKET":
            return {"docker_socket": text}
        case "METRICS_LISTEN":
            host, sep, port = text.rpartition(":")
            if not sep or not host:
                raise ConfigError(f"{name}: {text!r} is not host:port")
            return {"metrics_host": host, "metrics_port": read.integer(name, port, 1, 65535)}
        case "POOL_SIZES":
            return {"pool_sizes": parse_pool_sizes(text, registry)}
        case "SANDBOX_REPLACE_S":
            return {"sandbox_replace_s": float(read.integer(name, text, 1, 600))}
        case "OCI_RUNTIME":
            if text not in OCI_RUNTIMES:
                raise ConfigError(f"{name}: {text!r} is not one of {OCI_RUNTIMES}")
            return {"oci_runtime": text}
        case "START_RATE_PRIOR_PER_S":
            try:
                rate = float(text)
            except ValueError:
                raise ConfigError(f"{name}: {text!r} is not a number") from None
            if not 0.01 <= rate <= 10_000:
                raise ConfigError(f"{name}: {text} is outside 0.01..10000")
            return {"start_rate_prior_per_s": rate}
        case "SECCOMP_PROFILE":
            return {"seccomp_profile": Path(text)}
        case "SANDBOXES_CPU_SHARES":
            shares = read.integer(name, text, 0, 262_144)
            if shares == 1:
                raise ConfigError(f"{name}: 1 is not a cgroup weight (0 to leave the host's, or 2..262144)")
            return {"sandboxes_cpu_shares": shares}
        case "CONSUMER_GROUP":
            return {"consumer_group": read.non_empty(name, text)}
        case "STOP_POOLS_ON_EXIT" | "REGISTER_CONSUL":
            return {key.lower(): read.boolean(name, text)}
        case "LOG_LEVEL":
            return {"log_level": read.log_level(name, text)}
    return {}


def _load(env: Mapping[str, str], registry: runtime_registry.Registry | None) -> AgentConfig:
    ignored = {PREFIX + k for k in READ_BY_SCRIPTS}
    read.reject_unknown({k: v for k, v in env.items() if k not in ignored}, PREFIX, (PREFIX + k for k in SETTINGS))
    registry = registry or runtime_registry.load()
    given = {k[len(PREFIX):]: v for k, v in env.items()
             if k.startswith(PREFIX) and k not in ignored and k[len(PREFIX):] not in SHARED}
    for key in SHARED:
        value = settings.read(env, Setting("THROWBOX_" + key, "", "", aliases=(PREFIX + key,)))
        if value is not None:
            given[key] = value
    values: dict = {}
    for key, text in given.items():
        values |= _parse(key, env_name(key), text.strip(), registry)
    values.setdefault("name", default_agent_name())
    if "pool_sizes" in values:       # sizes given: fixed pools unless a burst is asked for too
        values.setdefault("pool_burst", 0)
    values.setdefault("pool_sizes", {r.key: r.warm for r in registry.runtimes})
    profile = values.get("seccomp_profile", DEFAULT_SECCOMP)
    if not profile.is_absolute():
        raise ConfigError(f"{PREFIX}SECCOMP_PROFILE: {str(profile)!r} must be an absolute path")
    if not profile.is_file():
        raise ConfigError(f"{PREFIX}SECCOMP_PROFILE: {profile} does not exist (sandboxes never run without it)")
    burst = values.get("pool_burst", AgentConfig.pool_burst)
    # An on-demand pool (floor 0) still runs one run at a time.
    values.setdefault("max_in_flight", sum(max(1, n) for n in values["pool_sizes"].values()) + burst)
    return AgentConfig(**values)
