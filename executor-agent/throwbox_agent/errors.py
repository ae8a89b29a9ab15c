"""One root exception for the agent, one branch per subsystem (callers catch the branch they handle)."""


class AgentError(Exception):
    """Root of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """A THROWBOX_AGENT_* setting is unknown or has a bad value."""


class NomadError(AgentError):
    """The Nomad HTTP API refused or failed a call."""


class DockerError(AgentError):
    """The Docker Engine API refused or failed a call."""


class ContainerGone(DockerError):
    """The container does not exist (any more)."""


class ContainerNotRunning(DockerError):
    pass


class FrameError(AgentError):
    """The launcher sent bytes that are not a valid frame."""


class CgroupError(AgentError):
    """A per-run limit could not be written (the run must fail closed) or usage could not be read."""


class TaskDirError(AgentError):
    """Nomad's task dirs of a sandbox could not be made read-only (the run must fail closed)."""


class SandboxUnavailable(AgentError):
    """No sandbox could be acquired before the deadline."""


class PublishError(AgentError):
    """Kafka did not acknowledge a record. `retriable`: the broker is away or busy, so the same
    record may go through later; otherwise sending it again cannot help (too large, producer closed)."""

    def __init__(self, message: str, retriable: bool):
        super().__init__(message)
        self.retriable = retriable
