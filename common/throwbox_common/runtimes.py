"""The runtime registry, read from runtimes/runtimes.toml (data, validated at start-up)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .messages import Limits, LimitsRequest

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "runtimes" / "runtimes.toml"
LIMIT_FIELDS = ("wall_time_ms", "cpu_time_ms", "memory_mb", "pids", "output_bytes")


class RuntimeConfigError(ValueError):
    """runtimes.toml is not valid."""


class LimitError(ValueError):
    """A request asked for more than it may; `field` names the limit."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class Runtime:
    language: str
    version: str
    image: str
    extension: str
    run: tuple[str, ...]
    compile: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    default_limits: Limits | None = None
    warm: int = 1
    entrypoint: str = ""  # default entry file name; load() sets "main.<extension>" if not given

    @property
    def compiled(self) -> bool:
        return bool(self.compile)

    @property
    def key(self) -> str:
        return f"{self.language}-{self.version}"

    def compile_command(self, entrypoint: str) -> list[str] | None:
        """The compile command with placeholders filled in; None for interpreted runtimes."""
        return expand_command(self.compile, entrypoint, []) if self.compile else None

    def run_command(self, entrypoint: str, args: list[str] | tuple[str, ...] = ()) -> list[str]:
        return expand_command(self.run, entrypoint, args)


PLACEHOLDERS = ("{entrypoint}", "{args}")


def expand_command(template: tuple[str, ...], entrypoint: str, args: list[str] | tuple[str, ...]) -> list[str]:
    """`{args}` (a whole element) becomes the args, `{entrypoint}` anywhere the entry file."""
    out: list[str] = []
    for part in template:
        if part == "{args}":
            out.extend(args)
        else:
            out.append(part.replace("{entrypoint}", entrypoint))
    return out


@dataclass
class Registry:
    runtimes: list[Runtime]
    server_max: Limits
    default_limits: Limits
    by_key: dict[str, Runtime] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {r.key: r for r in self.runtimes}

    def resolve(self, language: str, version: str | None = None) -> Runtime | None:
        """Name or alias, optional version prefix; newest version first."""
        wanted = language.lower()
        matches = [
            r for r in self.runtimes
            if (r.language == wanted or wanted in r.aliases)
            and (version is None or r.version == version or r.version.startswith(version.rstrip(".") + "."))
        ]
        if not matches:
            return None
        return max(matches, key=lambda r: _version_tuple(r.version))

    def effective_limits(self, runtime: Runtime, request: LimitsRequest | None) -> Limits:
        """Request lowers the runtime default; asking above it (or below 1) is an error."""
        base = runtime.default_limits or self.default_limits
        values = {}
        for name in LIMIT_FIELDS:
            default = min(getattr(base, name), getattr(self.server_max, name))
            asked = getattr(request, name) if request is not None else None
            if asked is None:
                values[name] = default
            elif asked < 1:
                raise LimitError(name, f"limits.{name} must be at least 1")
            elif asked > default:
                raise LimitError(name, f"limits.{name} may be at most {default} for {runtime.key}")
            else:
                values[name] = asked
        return Limits(**values)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.replace("-", ".").split("."))


def _limits(table: dict, where: str) -> Limits:
    unknown = set(table) - set(LIMIT_FIELDS)
    missing = set(LIMIT_FIELDS) - set(table)
    if unknown or missing:
        raise RuntimeConfigError(f"{where}: unknown {sorted(unknown)} missing {sorted(missing)}")
    for name, value in table.items():
        if not isinstance(value, int) or value < 1:
            raise RuntimeConfigError(f"{where}.{name} must be a positive integer")
    return Limits(**table)


RUNTIME_KEYS = {"language", "version", "image", "extension", "run", "compile", "aliases", "limits", "warm",
                "entrypoint"}


def _command(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p for p in value):
        raise RuntimeConfigError(f"{where} must be a non-empty list of non-empty strings")
    if value[0] in PLACEHOLDERS:
        raise RuntimeConfigError(f"{where} must start with a program, not a placeholder")
    for part in value:
        if "{" in part.replace("{entrypoint}", "") and part != "{args}":
            raise RuntimeConfigError(f"{where}: unknown placeholder in {part!r} (known: {', '.join(PLACEHOLDERS)})")
    return tuple(value)


def _entry_name(value: object, where: str) -> str:
    """The same rules as the launcher's file names: relative, no '.'/'..'/empty segment."""
    if (not isinstance(value, str) or not value or value.startswith("/") or "\\" in value or "\0" in value
            or any(seg in ("", ".", "..") for seg in value.split("/"))):
        raise RuntimeConfigError(f"{where}: entrypoint must be a relative file name, got {value!r}")
    return value


def load(path: str | os.PathLike | None = None) -> Registry:
    path = Path(path or os.environ.get("THROWBOX_RUNTIMES_FILE") or DEFAULT_PATH)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RuntimeConfigError(f"{path}: {e}") from e
    unknown = set(data) - {"server_max", "default_limits", "runtime"}
    if unknown:
        raise RuntimeConfigError(f"{path}: unknown keys {sorted(unknown)}")
    server_max = _limits(data.get("server_max", {}), "server_max")
    default_limits = _limits(data.get("default_limits", {}), "default_limits")
    runtimes = []
    for i, entry in enumerate(data.get("runtime", [])):
        where = f"runtime[{i}]"
        bad = set(entry) - RUNTIME_KEYS
        if bad:
            raise RuntimeConfigError(f"{where}: unknown keys {sorted(bad)}")
        try:
            runtime = Runtime(
                language=entry["language"], version=entry["version"], image=entry["image"],
                extension=entry["extension"], run=_command(entry["run"], f"{where}.run"),
                compile=_command(entry["compile"], f"{where}.compile") if "compile" in entry else (),
                aliases=tuple(entry.get("aliases", ())),
                default_limits=_limits(entry["limits"], f"{where}.limits") if "limits" in entry else None,
                warm=int(entry.get("warm", 1)),
                entrypoint=_entry_name(entry.get("entrypoint", f"main.{entry['extension']}"), where),
            )
        except KeyError as e:
            raise RuntimeConfigError(f"{where}: missing {e}") from e
        if runtime.image.endswith(":latest") or ":" not in runtime.image:
            raise RuntimeConfigError(f"{where}: image needs a version tag, never latest")
        if runtime.warm < 1:
            raise RuntimeConfigError(f"{where}: warm must be at least 1")
        runtimes.append(runtime)
    if not runtimes:
        raise RuntimeConfigError(f"{path}: no runtime defined")
    return Registry(runtimes, server_max, default_limits)
