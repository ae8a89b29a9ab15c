"""Settings as declarations: each THROWBOX_* variable is declared once, next to the code that
reads it, with its default, unit and meaning; docs/settings.md is generated from the
declarations (scripts/settings_doc.py; a unit test fails when the page is stale).

Dependencies have one name across components (THROWBOX_KAFKA_BOOTSTRAP, THROWBOX_CONSUL_ADDR,
THROWBOX_NOMAD_ADDR, THROWBOX_API_URL). A name that was renamed is still read for one release,
with a warning: `aliases` lists the old names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger("throwbox.settings")


@dataclass(frozen=True)
class Setting:
    env: str                          # the variable's name
    default: str                      # as documented ("" = none)
    description: str
    unit: str = ""                    # "ms", "bytes", "MiB", "s", "per s", "%" ...
    aliases: tuple[str, ...] = ()     # old names, still read (with a warning) for one release


def read(env: Mapping[str, str], setting: Setting) -> str | None:
    """The variable's value, from its name or an old one (warned about); None when unset."""
    if setting.env in env:
        return env[setting.env]
    for old in setting.aliases:
        if old in env:
            log.warning("%s is deprecated: set %s instead (the old name goes in the next release)",
                        old, setting.env)
            return env[old]
    return None


def with_aliases(env: Mapping[str, str], settings: Iterable[Setting]) -> dict[str, str]:
    """`env` with every old name that is set copied to its new name (when that is not set)."""
    out = dict(env)
    for s in settings:
        value = read(env, s)
        if value is not None:
            out[s.env] = value
    return out


def markdown_table(settings: Iterable[Setting]) -> list[str]:
    rows = ["| variable | default | unit | meaning |", "|---|---|---|---|"]
    for s in sorted(settings, key=lambda s: s.env):
        old = f" (was {', '.join(f'`{a}`' for a in s.aliases)}, still read with a warning)" if s.aliases else ""
        default = f"`{s.default}`" if s.default else "—"
        rows.append(f"| `{s.env}` | {default} | {s.unit} | {_cell(s.description)}{old} |")
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
