"""The runtime registry, read from runtimes/runtimes.toml (data, validated at start-up)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Container
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path

from . import image_tags
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
    # Not hashed (a msgspec Struct is not hashable); still compared: a Runtime is a dict key.
    default_limits: Limits | None = field(default=None, hash=False)
    warm: int = 1      # idle sandboxes per agent; 0: one is created when a run of it arrives
    entrypoint: str = ""  # default entry file name; load() sets "main.<extension>" if not given
    sources: tuple[str, ...] = ()   # globs over the request's file names that make `{sources}`
    # (file name, command): when the request has that file, compile with that command instead
    # (Go: a go.mod makes the files a module).
    compile_if_file: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # runtimes/images/<image_dir>/ builds `image` ("" when that directory does not exist), from
    # inputs whose digest is `image_inputs` (throwbox_common.image_tags; the tag carries it).
    image_dir: str = ""
    image_inputs: str = ""

    @property
    def compiled(self) -> bool:
        return bool(self.compile)

    @property
    def key(self) -> str:
        return f"{self.language}-{self.version}"

    def compile_command(self, entrypoint: str, names: list[str] | tuple[str, ...] = ()) -> list[str] | None:
        """The compile command for a request of the files `names` (the entry file alone when
        none are given), placeholders filled in; None for interpreted runtimes."""
        if not self.compile:
            return None
        names = tuple(names) or (entrypoint,)
        template = next((cmd for name, cmd in self.compile_if_file if name in names), self.compile)
        return expand_command(template, entrypoint, (), source_files(self.sources, names, entrypoint))

    def run_command(self, entrypoint: str, args: list[str] | tuple[str, ...] = (),
                    names: list[str] | tuple[str, ...] = ()) -> list[str]:
        names = tuple(names) or (entrypoint,)
        return expand_command(self.run, entrypoint, args, source_files(self.sources, names, entrypoint))


# Whole-element placeholders expand to several arguments (or none); the others are replaced
# inside an argument.
LIST_PLACEHOLDERS = ("{args}", "{sources}")
TEXT_PLACEHOLDERS = ("{entrypoint}", "{main_class}")
PLACEHOLDERS = TEXT_PLACEHOLDERS + LIST_PLACEHOLDERS


def main_class(entrypoint: str) -> str:
    """The class an entry file names by Java's convention: path without extension, dotted
    (`Main.java` -> `Main`, `app/Main.java` -> `app.Main`)."""
    stem = entrypoint.rsplit(".", 1)[0] if "." in entrypoint.rsplit("/", 1)[-1] else entrypoint
    return stem.replace("/", ".")


def glob_matches(pattern: str, name: str) -> bool:
    """`*`, `?` and `[...]` match within one path segment; a `**` segment matches any number of
    directories (none included): `*.go` only top-level files, `**/*.c` every `.c` file."""
    def match(pat: list[str], parts: list[str]) -> bool:
        if not pat:
            return not parts
        if pat[0] == "**":
            return any(match(pat[1:], parts[i:]) for i in range(len(parts) + 1))
        return bool(parts) and fnmatchcase(parts[0], pat[0]) and match(pat[1:], parts[1:])
    return match(pattern.split("/"), name.split("/"))


def source_files(patterns: tuple[str, ...], names: tuple[str, ...], entrypoint: str) -> list[str]:
    """The request's files that make `{sources}`: the entry file first (a lone entry file is
    always built, and compilers such as `cobc -x` take the first file as the main program), then
    the others matching a glob, in request order."""
    others = [n for n in names if n != entrypoint and any(glob_matches(p, n) for p in patterns)]
    return [as_path(n) for n in (entrypoint, *others)]


def as_path(name: str) -> str:
    """A file name as an argument that no program reads as an option (`-x.c` -> `./-x.c`)."""
    return f"./{name}" if name.startswith("-") else name


def expand_command(template: tuple[str, ...], entrypoint: str, args: list[str] | tuple[str, ...],
                   sources: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`{args}` and `{sources}` (whole elements) become the args and the source files;
    `{entrypoint}` and `{main_class}` are replaced anywhere."""
    out: list[str] = []
    for part in template:
        if part == "{args}":
            out.extend(args)
        elif part == "{sources}":
            out.extend(sources)
        elif part == "{entrypoint}":
            out.append(as_path(entrypoint))
        else:
            out.append(part.replace("{entrypoint}", entrypoint).replace("{main_class}", main_class(entrypoint)))
    return out


@dataclass
class Registry:
    runtimes: list[Runtime]
    server_max: Limits
    default_limits: Limits
    by_key: dict[str, Runtime] = field(init=False)
    # The runtime keys offered now (the control plane: those the live agents have the image
    # of); None: every runtime. `resolve` and `offered_runtimes` look only at these.
    offered: Container[str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.by_key = {r.key: r for r in self.runtimes}

    def offered_runtimes(self) -> list[Runtime]:
        """The runtimes offered now, sorted by language and version (the catalogue routes)."""
        return sorted((r for r in self.runtimes if self.offered is None or r.key in self.offered),
                      key=lambda r: (r.language, _version_tuple(r.version)))

    def resolve(self, language: str, version: str | None = None) -> Runtime | None:
        """Name or alias, optional version prefix; newest version first; among the offered
        runtimes only (a runtime whose image the workers do not have yet is not installed)."""
        wanted = language.lower()
        offered = self.offered
        matches = [
            r for r in self.runtimes
            if (r.language == wanted or wanted in r.aliases)
            and (version is None or r.version == version or r.version.startswith(version.rstrip(".") + "."))
            and (offered is None or r.key in offered)
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


def _limits(table: dict, where: str, defaults: Limits | None = None) -> Limits:
    """A complete limits table; with `defaults`, any subset of the fields (the rest from them)."""
    if not isinstance(table, dict):
        raise RuntimeConfigError(f"{where} must be a table")
    if defaults is not None:
        table = {**{name: getattr(defaults, name) for name in LIMIT_FIELDS}, **table}
    unknown = set(table) - set(LIMIT_FIELDS)
    missing = set(LIMIT_FIELDS) - set(table)
    if unknown or missing:
        raise RuntimeConfigError(f"{where}: unknown {sorted(unknown)} missing {sorted(missing)}")
    for name, value in table.items():
        if not isinstance(value, int) or value < 1:
            raise RuntimeConfigError(f"{where}.{name} must be a positive integer")
    return Limits(**table)


RUNTIME_KEYS = {"language", "version", "image", "extension", "run", "compile", "aliases", "limits", "warm",
                "entrypoint", "sources", "compile_if_file"}


def _command(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p for p in value):
        raise RuntimeConfigError(f"{where} must be a non-empty list of non-empty strings")
    if value[0] in PLACEHOLDERS:
        raise RuntimeConfigError(f"{where} must start with a program, not a placeholder")
    for part in value:
        text = part
        for placeholder in TEXT_PLACEHOLDERS:
            text = text.replace(placeholder, "")
        if "{" in text and part not in LIST_PLACEHOLDERS:
            raise RuntimeConfigError(f"{where}: unknown placeholder in {part!r} (known: {', '.join(PLACEHOLDERS)}; "
                                     f"{', '.join(LIST_PLACEHOLDERS)} only as a whole argument)")
    return tuple(value)


def _globs(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise RuntimeConfigError(f"{where} must be a non-empty list of globs")
    for pattern in value:
        if (not pattern or pattern.startswith("/") or "\\" in pattern
                or any(seg in ("", ".", "..") for seg in pattern.split("/"))):
            raise RuntimeConfigError(f"{where}: {pattern!r} must be a relative glob")
    return tuple(value)


def _compile_if_file(value: object, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict) or not value:
        raise RuntimeConfigError(f"{where} must be a table of file name = command")
    return tuple((_entry_name(name, where), _command(cmd, f"{where}.{name}")) for name, cmd in value.items())


def _entry_name(value: object, where: str) -> str:
    """The same rules as the launcher's file names: relative, no '.'/'..'/empty segment."""
    if (not isinstance(value, str) or not value or value.startswith("/") or "\\" in value or "\0" in value
            or any(seg in ("", ".", "..") for seg in value.split("/"))):
        raise RuntimeConfigError(f"{where}: entrypoint must be a relative file name, got {value!r}")
    return value


def _with_image_tag(runtime: Runtime, runtimes_dir: Path, where: str,
                    served: list[tuple[str, str]]) -> Runtime:
    """`image` names a repository (`throwbox/python`): its tag is computed from the inputs in
    runtimes/images/<name>/ (image_tags); `served` (language, version) of every runtime naming
    the same image (a shared image has one tag for them all). A tagged `image` is taken as it
    is (the inputs digest is still computed when the directory exists: build-images.sh labels
    the image with it)."""
    try:
        ref = image_tags.reference(runtime.image, runtime.language, runtime.version, runtimes_dir, served)
    except ValueError as e:
        raise RuntimeConfigError(f"{where}: {e}") from e
    except OSError as e:
        raise RuntimeConfigError(f"{where}: the inputs of image {runtime.image} cannot be read: {e}") from e
    return replace(runtime, image=ref.image, image_dir=ref.directory, image_inputs=ref.digest)


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
    served: dict[object, list[tuple[str, str]]] = {}   # image -> (language, version) naming it
    for entry in data.get("runtime", []):
        if isinstance(entry, dict) and isinstance(entry.get("image"), str):
            served.setdefault(entry["image"], []).append((str(entry.get("language")), str(entry.get("version"))))
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
                default_limits=(_limits(entry["limits"], f"{where}.limits", default_limits)
                                if "limits" in entry else None),
                warm=int(entry.get("warm", 1)),
                entrypoint=_entry_name(entry.get("entrypoint", f"main.{entry['extension']}"), where),
                sources=_globs(entry["sources"], f"{where}.sources") if "sources" in entry else (),
                compile_if_file=(_compile_if_file(entry["compile_if_file"], f"{where}.compile_if_file")
                                 if "compile_if_file" in entry else ()),
            )
        except KeyError as e:
            raise RuntimeConfigError(f"{where}: missing {e}") from e
        runtime = _with_image_tag(runtime, path.parent, where, served[entry["image"]])
        if runtime.image.endswith(":latest") or ":" not in runtime.image.rsplit("/", 1)[-1]:
            raise RuntimeConfigError(f"{where}: image needs a version tag, never latest")
        if runtime.default_limits is not None:
            over = [name for name in LIMIT_FIELDS
                    if getattr(runtime.default_limits, name) > getattr(server_max, name)]
            if over:
                raise RuntimeConfigError(f"{where}.limits: {', '.join(over)} above server_max")
        if not isinstance(entry.get("warm", 0), int) or runtime.warm < 0:
            raise RuntimeConfigError(f"{where}: warm must be a whole number, 0 or more")
        commands = [runtime.run, runtime.compile, *(cmd for _, cmd in runtime.compile_if_file)]
        if any("{sources}" in cmd for cmd in commands) and not runtime.sources:
            raise RuntimeConfigError(f"{where}: {{sources}} is used but `sources` (globs) is not given")
        if runtime.compile_if_file and not runtime.compile:
            raise RuntimeConfigError(f"{where}: compile_if_file needs a compile command")
        runtimes.append(runtime)
    if not runtimes:
        raise RuntimeConfigError(f"{path}: no runtime defined")
    return Registry(runtimes, server_max, default_limits)
