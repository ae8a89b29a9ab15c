"""Typed reading of THROWBOX_* environment settings, shared by the components' config loaders.

Every function takes the variable's full name and its text and returns the typed value, or raises
SettingError with a message that names the variable and what is wrong, so a bad setting stops
a component at start-up with a clear error. Each loader turns SettingError into its own
ConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_HTTP_ADDR = re.compile(r"^https?://[^/\s]+$")


class SettingError(ValueError):
    """A setting is unknown or has an invalid value (the message names the variable)."""


def reject_unknown(env: Mapping[str, str], prefix: str, known: Iterable[str]) -> None:
    """A variable that starts with `prefix` but is not `known` is a typo: never silently ignored."""
    known = list(known)
    unknown = sorted(k for k in env if k.startswith(prefix) and k not in known)
    if unknown:
        raise SettingError(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(known)}")


def integer(name: str, text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingError(f"{name}: {text!r} is not an integer") from None
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise SettingError(f"{name}: {value} is outside {minimum}..{maximum}")
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}: must be at most {maximum}, got {value}")
    return value


def boolean(name: str, text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise SettingError(f"{name}: {text!r} is not true/false")


def http_address(name: str, text: str) -> str:
    """http(s)://host[:port], without a trailing slash."""
    addr = text.strip().rstrip("/")
    if not _HTTP_ADDR.match(addr):
        raise SettingError(f"{name}: {text!r} is not http(s)://host:port")
    return addr


def http_addresses(name: str, text: str) -> str:
    """A comma-separated list of http(s)://host[:port] (e.g. every server of a cluster)."""
    parts = [http_address(name, part) for part in text.split(",") if part.strip()]
    if not parts:
        raise SettingError(f"{name}: {text!r} is not http(s)://host:port[,http(s)://host:port]")
    return ",".join(parts)


def log_level(name: str, text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise SettingError(f"{name}: {text!r} is not {'/'.join(LOG_LEVELS)}")
    return level


def non_empty(name: str, text: str) -> str:
    value = text.strip()
    if not value:
        raise SettingError(f"{name}: must not be empty")
    return value


def token_file(name: str, text: str) -> str:
    """Path of a file holding an ACL token (its first line; the token never goes through the
    environment, so env dumps and logs do not carry it). Empty: no token. The file must exist,
    be readable and not empty: a component without its token would only meet 403s later."""
    path = text.strip()
    if path:
        read_token(name, path)
    return path


def read_token(name: str, path: str) -> str:
    """The token in `path` (SettingError naming the variable when it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except OSError as e:
        raise SettingError(f"{name}: cannot read the token file {path}: {e.strerror}") from None
    if not token:
        raise SettingError(f"{name}: the token file {path} is empty")
    return token
