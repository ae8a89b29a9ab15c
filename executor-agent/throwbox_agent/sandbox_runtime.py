"""The sandbox runtime as dockerd has it registered: which gVisor, with which platform.

The agent does not trust its setting alone: at start-up it reads the runtime's registration
from dockerd (GET /info, `Runtimes`) and refuses to start without it, since every sandbox it
would create would fail. The gVisor version (`<path> --version`; the agent runs on dockerd's
host) and platform (`--platform=` among the registered flags, else the binary's default) are
advertised in its Consul registration, and from there in the control plane's /readyz.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from .docker_api import DockerClient, DockerError
from .errors import ConfigError

# runsc-go: a current gVisor built by scripts/ensure-runsc-go.sh (the default); runsc: Debian's.
GVISOR_RUNTIMES = ("runsc-go", "runsc")
OCI_RUNTIMES = (*GVISOR_RUNTIMES, "runc")
_VERSION = re.compile(r"runsc version (\S+)")
_DEFAULT_PLATFORM = re.compile(r'-platform string\n.*\(default "(\w+)"\)')


@dataclass(frozen=True)
class SandboxRuntime:
    name: str          # as registered with dockerd and named in the sandbox jobs
    path: str
    args: tuple[str, ...]
    version: str       # gVisor's ("" for runc, "unknown" when the binary does not say)
    platform: str      # gVisor's platform ("" for runc)

    @property
    def gvisor(self) -> bool:
        return self.name in GVISOR_RUNTIMES

    def describe(self) -> str:
        if not self.gvisor:
            return f"{self.name} (no gVisor)"
        return f"{self.name}: gVisor {self.version}, platform {self.platform}"

    def meta(self) -> dict[str, str]:
        """Consul service meta of the agent (read by the control plane)."""
        return {"sandbox_runtime": self.name, "gvisor_version": self.version, "gvisor_platform": self.platform}


def parse(name: str, registration: dict, version_text: str, flags_text: str = "") -> SandboxRuntime:
    """Pure: the runtime from its dockerd registration and its binary's `--version` (and, when
    the registration names no platform, `flags`) output."""
    path = str(registration.get("path") or "")
    args = tuple(registration.get("runtimeArgs") or ())
    if name not in GVISOR_RUNTIMES:
        return SandboxRuntime(name, path, args, "", "")
    m = _VERSION.search(version_text)
    platform = next((a.split("=", 1)[1] for a in args if a.startswith("--platform=")), "")
    if not platform:
        d = _DEFAULT_PLATFORM.search(flags_text)
        platform = d.group(1) if d else "default"
    return SandboxRuntime(name, path, args, m.group(1) if m else "unknown", platform)


async def _output(*argv: str) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except (OSError, TimeoutError):
        return ""
    return out.decode(errors="replace")


async def resolve(docker: DockerClient, name: str) -> SandboxRuntime:
    """The registration of `name` in the local dockerd; ConfigError (the agent stops) without it."""
    try:
        info = await docker.info()
    except DockerError as e:
        raise ConfigError(f"cannot read dockerd's runtimes (GET /info): {e}") from None
    registered = info.get("Runtimes") or {}
    if name not in registered:
        hint = ("scripts/start-docker.sh registers it (THROWBOX_SANDBOX_RUNTIME=runsc-go, the default)"
                if name == "runsc-go" else "add it to /etc/docker/daemon.json and reload dockerd (SIGHUP)")
        raise ConfigError(f"sandbox runtime {name!r} is not registered with dockerd (it has: "
                          f"{', '.join(sorted(registered)) or 'none'}); {hint}, or choose another with "
                          "THROWBOX_AGENT_OCI_RUNTIME or the node meta throwbox.sandbox_runtime")
    registration = registered[name]
    if name not in GVISOR_RUNTIMES:
        return parse(name, registration, "")
    path = str(registration.get("path") or name)
    version_text = await _output(path, "--version")
    has_platform = any(a.startswith("--platform=") for a in registration.get("runtimeArgs") or ())
    return parse(name, registration, version_text, "" if has_platform else await _output(path, "flags"))
