"""The Kafka callers' wire format, commit points and tenant quotas (pure parts, no Kafka)."""

from __future__ import annotations

import json

import msgspec

from throwbox_common import topics
from throwbox_control.admission import Quota
from throwbox_control.auth import KeyRecord
from throwbox_control.invocations import wire
from throwbox_control.invocations.consumer import invocation_run_id
from throwbox_control.invocations.tenants import quotas_of
from throwbox_control.services import RUN_ID_RE

ACME_REPLIES = topics.RESULTS_PREFIX + "acme"
RUN = {"language": "python", "files": [{"name": "main.py", "content": "print(1)"}]}


def enc(obj) -> bytes:
    return json.dumps(obj).encode()


def test_a_function_request_parses_with_the_default_reply_topic():
    p = wire.parse(b"r1", enc({"request_id": "r1", "tenant": "acme", "function": "add", "input": {"a": 1}}), "acme")
    assert isinstance(p, wire.Request)
    assert (p.request_id, p.tenant, p.function, p.input, p.reply_to) == ("r1", "acme", "add", {"a": 1}, ACME_REPLIES)


def test_a_request_without_a_tenant_is_the_topics_tenants_and_may_name_its_reply_topic():
    p = wire.parse(b"r2", enc({"request_id": "r2", "run": RUN, "reply_to": ACME_REPLIES}), "acme")
    assert isinstance(p, wire.Request) and p.run is not None and p.run.language == "python"
    assert p.tenant == "acme" and p.reply_to == ACME_REPLIES and p.input is msgspec.UNSET


def test_a_record_naming_another_tenant_is_unauthorized_and_answered_on_the_topics_tenants_replies():
    p = wire.parse(b"r", enc({"request_id": "r", "tenant": "other", "run": RUN}), "acme")
    assert isinstance(p, wire.Invalid) and p.code == "unauthorized" and p.reply_to == ACME_REPLIES
    assert "'other'" in p.message and "throwbox.invocations.acme" in p.message
    p = wire.parse(b"r", enc({"request_id": "r", "tenant": "", "run": RUN}), "acme")
    assert isinstance(p, wire.Invalid) and p.code == "unauthorized"


def test_only_tenants_request_topics_have_a_tenant():
    assert wire.tenant_of("throwbox.invocations.acme") == "acme"
    assert wire.tenant_of("throwbox.invocations.a.b-c_d") == "a.b-c_d"
    for other in ("throwbox.invocations", "throwbox.invocations.", "throwbox.invocations..x", "throwbox.runs",
                  "throwbox.results.acme", "xthrowbox.invocations.acme", "throwbox.invocations." + "a" * 65):
        assert wire.tenant_of(other) is None, other


def test_bad_json_with_a_key_is_answered_under_the_key():
    p = wire.parse(b"r3", b"{not json", "acme")
    assert p == wire.Invalid("r3", ACME_REPLIES, "invalid_request", "the value is not valid JSON")


def test_bad_json_without_a_key_is_dead_lettered():
    assert isinstance(wire.parse(None, b"\xff\xfe", "a"), wire.Dead)
    assert isinstance(wire.parse(b"", b"[1, 2]", "a"), wire.Dead)
    assert isinstance(wire.parse(None, enc({"request_id": 5, "tenant": "a"}), "a"), wire.Dead)


def test_unknown_fields_and_wrong_types_are_invalid_requests_naming_the_field():
    p = wire.parse(b"k", enc({"request_id": "r4", "tenant": "acme", "run": RUN, "colour": "red"}), "acme")
    assert isinstance(p, wire.Invalid) and p.code == "invalid_request" and "colour" in p.message
    p = wire.parse(b"k", enc({"request_id": "r5", "tenant": "acme", "run": {**RUN, "files": "x"}}), "acme")
    assert isinstance(p, wire.Invalid) and "run.files" in p.message


def test_exactly_one_of_function_and_run():
    both = wire.parse(b"k", enc({"request_id": "r", "tenant": "a", "function": "f", "run": RUN}), "a")
    neither = wire.parse(b"k", enc({"request_id": "r", "tenant": "a"}), "a")
    assert isinstance(both, wire.Invalid) and isinstance(neither, wire.Invalid)


def test_a_reply_topic_other_than_the_tenants_own_is_refused_and_the_error_goes_to_its_own():
    for bad in (topics.EVENTS, topics.RUNS, "__consumer_offsets", "a b", "", "throwbox.results.b",
                "throwbox.results.a.b", 5):
        p = wire.parse(b"k", enc({"request_id": "r", "tenant": "a", "run": RUN, "reply_to": bad}), "a")
        assert isinstance(p, wire.Invalid) and p.code == "invalid_request", bad
        assert p.reply_to == "throwbox.results.a", bad


def test_a_reply_carries_the_result_unchanged():
    result = wire.failed_result("not_found", "function not found")
    reply = json.loads(wire.encode_reply("r9", result))
    assert reply["request_id"] == "r9"
    assert reply["result"]["status"] == "failed"
    assert reply["result"]["error"] == {"code": "not_found", "message": "function not found"}


def test_the_run_id_of_a_request_is_stable_per_tenant_and_has_the_run_id_shape():
    a = invocation_run_id("acme", "r1")
    assert a == invocation_run_id("acme", "r1")
    assert a != invocation_run_id("other", "r1") and a != invocation_run_id("acme", "r2")
    assert RUN_ID_RE.match(a)


def test_a_tenant_with_several_keys_gets_the_strictest_quota():
    default = Quota(20, 1200)
    recs = [KeyRecord("a", "t", max_concurrent=5), KeyRecord("a", "t", runs_per_minute=60), KeyRecord("b", "t")]
    q = quotas_of(recs, default)
    assert q == {"a": Quota(5, 60), "b": default}


def test_a_run_request_or_a_function_request_may_carry_tests():
    p = wire.parse(b"r9", enc({"request_id": "r9", "tenant": "acme", "run": {
        **RUN, "tests": [{"stdin": "1", "expected_stdout": "1"}], "compare": "exact"}}), "acme")
    assert isinstance(p, wire.Request) and p.run.tests[0].expected_stdout == "1" and p.run.compare == "exact"
    p = wire.parse(b"r10", enc({"request_id": "r10", "tenant": "acme", "function": "add",
                                "tests": [{"stdin": "2"}], "stop_on_first_failure": True}), "acme")
    assert isinstance(p, wire.Request) and p.tests[0].stdin == "2" and p.stop_on_first_failure is True


def test_tests_beside_a_run_request_are_refused():
    p = wire.parse(b"r11", enc({"request_id": "r11", "tenant": "acme", "run": RUN, "tests": [{}]}), "acme")
    assert isinstance(p, wire.Invalid) and p.code == "invalid_request" and p.message.startswith("tests")
