"""The public Kafka wire format of event-driven callers (docs/kafka-callers.md, api-v1.md).

`parse` turns one record of a tenant's request topic (throwbox.invocations.<tenant>) into
exactly one of:
- `Request`: a well-formed request of the topic's tenant (function or run still to be checked);
- `Invalid`: the request_id could be read, the rest is wrong → a failed result to the tenant's
  reply topic (a record naming another tenant is `unauthorized`);
- `Dead`: not even a request_id → the record goes to throwbox.dlq with the reason.
It never raises on bad input: a consumer must not die on what a caller wrote.

The tenant is the topic's, never the record's: only the tenant's Kafka principal may write its
topic (the brokers' ACLs), while anyone who can write a record can write any name in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from throwbox_common import results, topics
from throwbox_common.messages import (
    Compare,
    RunRequest,
    RunTestSpec,
    Struct,
)

from ..validation import field_of

MAX_REQUEST_ID_CHARS = 256
TENANT_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"     # as config.TENANT_NAME
# Every tenant's request topic, and only those (the control plane subscribes by this pattern).
REQUEST_TOPICS = re.compile("^" + re.escape(topics.INVOCATIONS_PREFIX) + TENANT_NAME + "$")

# Kafka headers on a dead-lettered record (key and value are the original bytes).
H_REASON = "throwbox-dlq-reason"
H_SOURCE = "throwbox-dlq-source"   # "topic/partition/offset" of the original record


class Invocation(Struct):
    """The value of a request record; unknown fields are an error (as over HTTP). `tenant` is
    optional: when given it must be the topic's."""

    request_id: str
    tenant: str | None = None
    function: str | None = None
    input: Any = msgspec.UNSET
    run: RunRequest | None = None
    reply_to: str | None = None
    # With function: test cases instead of input, as in a run request.
    tests: list[RunTestSpec] | None = None
    compare: Compare | None = None
    stop_on_first_failure: bool | None = None


# A valid request: the Invocation with its tenant (the topic's), request_id (from the value, else
# the record key) and reply topic (the tenant's) settled.
Request = Invocation


@dataclass(frozen=True)
class Invalid:
    request_id: str
    reply_to: str
    code: str
    message: str


@dataclass(frozen=True)
class Dead:
    reason: str


Parsed = Request | Invalid | Dead


def tenant_of(topic: str) -> str | None:
    """The tenant whose request topic this is, None for any other topic."""
    return topic[len(topics.INVOCATIONS_PREFIX):] if REQUEST_TOPICS.match(topic) else None


def reply_topic_problem(name: object, tenant: str) -> str | None:
    """A tenant's replies go to its own reply topic only: only it can read that one."""
    own = topics.RESULTS_PREFIX + tenant
    if name != own:
        return f"reply_to: must be {own} (your reply topic) or left out"
    return None


def _request_id_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "request_id: must be a non-empty string"
    if len(value) > MAX_REQUEST_ID_CHARS:
        return f"request_id: must be at most {MAX_REQUEST_ID_CHARS} characters"
    return None


def _key_text(key: bytes | None) -> str | None:
    if not key:
        return None
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _request_id_problem(text) is None else None


def parse(key: bytes | None, value: bytes | None, tenant: str) -> Parsed:
    """A record of `tenant`'s request topic. The request_id comes from the value, else from the
    record key (the contract keys by it)."""
    own_replies = topics.RESULTS_PREFIX + tenant
    key_id = _key_text(key)
    try:
        obj = msgspec.json.decode(value or b"")
    except msgspec.DecodeError:
        if key_id is None:
            return Dead("value is not JSON and the record key is not a usable request_id")
        return Invalid(key_id, own_replies, "invalid_request", "the value is not valid JSON")
    if not isinstance(obj, dict):
        if key_id is None:
            return Dead("value is not a JSON object and the record key is not a usable request_id")
        return Invalid(key_id, own_replies, "invalid_request", "the value must be a JSON object")
    raw_id = obj.get("request_id")
    id_problem = _request_id_problem(raw_id)
    if id_problem is not None:
        if key_id is None:
            return Dead(f"{id_problem}, and the record key is not a usable request_id either")
        request_id = key_id
    else:
        request_id = raw_id
    raw_reply = obj.get("reply_to")
    reply_problem = None if raw_reply is None else reply_topic_problem(raw_reply, tenant)
    reply_to = own_replies
    if id_problem is not None:
        return Invalid(request_id, reply_to, "invalid_request", id_problem)
    named = obj.get("tenant")
    if named is not None and named != tenant:
        return Invalid(request_id, reply_to, "unauthorized",
                       f"tenant {named!r} is not this topic's: a record on {topics.INVOCATIONS_PREFIX}{tenant} "
                       f"acts as {tenant!r} only")
    if reply_problem is not None:
        return Invalid(request_id, reply_to, "invalid_request", reply_problem)
    try:
        inv = msgspec.convert(obj, Invocation)
    except msgspec.ValidationError as e:
        field, problem = field_of(e)
        return Invalid(request_id, reply_to, "invalid_request", f"{field}: {problem}")
    if (inv.function is None) == (inv.run is None):
        return Invalid(request_id, reply_to, "invalid_request", "give exactly one of function and run")
    if inv.run is not None and inv.input is not msgspec.UNSET:
        return Invalid(request_id, reply_to, "invalid_request", "input: only with function (a run has stdin)")
    if inv.run is not None and (inv.tests, inv.compare, inv.stop_on_first_failure) != (None, None, None):
        return Invalid(request_id, reply_to, "invalid_request", "tests: inside run, or with function")
    return msgspec.structs.replace(inv, tenant=tenant, request_id=request_id, reply_to=reply_to)


# ---------------------------------------------------------------- replies

_enc = msgspec.json.Encoder()


class Reply(msgspec.Struct):
    request_id: str
    result: msgspec.Raw


def encode_reply(request_id: str, result_json: bytes) -> bytes:
    return _enc.encode(Reply(request_id, msgspec.Raw(result_json)))


def failed_result(code: str, message: str, language: str = "") -> bytes:
    """The run result of a request that never became a run (no id: there is nothing to look up)."""
    return _enc.encode(results.failed("", language, "", code, message))
