"""How every Kafka client of the project connects: the one place that turns the settings into
aiokafka's keyword arguments (AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient).

The brokers require SASL/SCRAM-SHA-512 (scripts/kafka/broker.sh). A component learns who it is
from a credentials file (THROWBOX_KAFKA_CREDENTIALS_FILE: `username=` and `password=` lines,
written with mode 0600 by the stack scripts, or handed to a tenant by `throwbox keys create`),
so the password is neither in the process environment nor in a log line. An empty setting means
an unauthenticated PLAINTEXT connection (a broker without security: development only).

    AIOKafkaProducer(**kafka_client.options(bootstrap), acks="all", ...)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .env import SettingError
from .settings import Setting

CREDENTIALS_FILE = Setting(
    "THROWBOX_KAFKA_CREDENTIALS_FILE", "",
    "file with this component's Kafka SASL/SCRAM-SHA-512 credentials (`username=` and `password=` lines, "
    "mode 0600; the stack writes <kafka dir>/credentials/<component>.properties); empty: connect "
    "unauthenticated (PLAINTEXT), which the project's brokers refuse")
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)      # never in a log line or a repr


def parse_credentials(text: str, origin: str = "credentials") -> Credentials:
    """Pure: `username=` and `password=` lines (blank lines and # comments allowed)."""
    values: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in ("username", "password"):
            raise SettingError(f"{origin}: line {n} is not username=... or password=...")
        values[key.strip()] = value.strip()
    missing = [k for k in ("username", "password") if not values.get(k)]
    if missing:
        raise SettingError(f"{origin}: no {' and no '.join(missing)}")
    return Credentials(values["username"], values["password"])


def format_credentials(c: Credentials) -> str:
    return f"username={c.username}\npassword={c.password}\n"


def read_credentials(path: str | Path) -> Credentials:
    """The file's credentials; refuses a file others may read (its secret would not be one)."""
    name = f"{CREDENTIALS_FILE.env}={path}"
    try:
        st = os.stat(path)
        text = Path(path).read_text()
    except OSError as e:
        raise SettingError(f"{name}: cannot read it ({e.strerror})") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingError(f"{name}: group or others may access it (mode {stat.S_IMODE(st.st_mode):o}); "
                           "chmod 600 it")
    return parse_credentials(text, name)


def from_env(env: Mapping[str, str]) -> Credentials | None:
    """The configured credentials (validated), None when the setting is empty."""
    path = env.get(CREDENTIALS_FILE.env, "")
    return read_credentials(path) if path else None


_configured: list[Credentials | None] = []
_per_bootstrap: dict[str, Credentials] = {}


def configure(env: Mapping[str, str] | None = None) -> Credentials | None:
    """Read and check the credentials once at start-up; every later `options()` uses them."""
    creds = from_env(os.environ if env is None else env)
    _configured[:] = [creds]
    return creds


def use_for(bootstrap: str, credentials: Credentials) -> None:
    """From now on this process connects to `bootstrap` as `credentials` (a test's private broker
    has its own admin)."""
    _per_bootstrap[bootstrap] = credentials


def options(bootstrap: str, credentials: Credentials | None | bool = True) -> dict:
    """aiokafka keyword arguments: bootstrap servers and, with credentials, SASL/SCRAM.

    credentials=True: this process's (use_for(), else configure(), else read from the
    environment now); None or False: unauthenticated; a Credentials: those (tests, a caller)."""
    if credentials is True and bootstrap in _per_bootstrap:
        credentials = _per_bootstrap[bootstrap]
    if credentials is True:
        if not _configured:
            configure()
        credentials = _configured[0]
    out: dict = {"bootstrap_servers": bootstrap}
    if credentials:
        out.update(security_protocol="SASL_PLAINTEXT", sasl_mechanism=MECHANISM,
                   sasl_plain_username=credentials.username, sasl_plain_password=credentials.password)
    return out
