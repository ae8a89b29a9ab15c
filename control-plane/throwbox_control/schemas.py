"""Client-input types owned by the control plane (functions, invocations, WebSocket messages).

Like messages.RunRequest they reject unknown fields.
"""

from __future__ import annotations

from typing import Any

import msgspec

from throwbox_common.messages import Compare, FileSpec, LimitsRequest, RunTestSpec, Struct

FUNCTION_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class FunctionSpec(Struct):
    language: str
    files: list[FileSpec]
    version: str | None = None
    entrypoint: str | None = None
    env: dict[str, str] = {}
    limits: LimitsRequest | None = None
    description: str | None = None


class InvokeRequest(Struct):
    input: Any = msgspec.UNSET
    stdin: str | None = None
    args: list[str] = []
    # Test cases instead of input/stdin/args, as in a run request.
    tests: list[RunTestSpec] | None = None
    compare: Compare | None = None
    stop_on_first_failure: bool | None = None


class StoredFunction(msgspec.Struct):
    """What Consul holds per function (throwbox/functions/<tenant>/<name>)."""

    name: str
    revision: int
    language: str
    version: str | None
    files: list[FileSpec]
    entrypoint: str | None
    env: dict[str, str]
    limits: LimitsRequest | None
    description: str | None
    created_at: str
    updated_at: str


# ---- WebSocket client messages


class ClientMessage(Struct, tag_field="type"):
    pass


class WsStdin(ClientMessage, tag="stdin"):
    data: str


class WsStdinEof(ClientMessage, tag="stdin_eof"):
    pass


class WsCancel(ClientMessage, tag="cancel"):
    pass


ws_message_decoder = msgspec.json.Decoder(WsStdin | WsStdinEof | WsCancel)
function_spec_decoder = msgspec.json.Decoder(FunctionSpec)
invoke_decoder = msgspec.json.Decoder(InvokeRequest)
stored_function_decoder = msgspec.json.Decoder(StoredFunction)
