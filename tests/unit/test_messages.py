import msgspec
import pytest

from throwbox_common import messages as m


def test_client_input_rejects_unknown_fields():
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"language":"python","files":[],"colour":1}', type=m.RunRequest)


def test_records_from_a_newer_writer_are_still_readable():
    raw = b'{"type":"status","run_id":"r1","status":"running","agent":"a","brand_new":true}'
    event = m.run_event_decoder.decode(raw)
    assert isinstance(event, m.Started) and event.run_id == "r1" and event.agent == "a"


def test_every_run_event_round_trips_through_its_tag():
    result = m.RunResult(id="r1", language="python", version="3.11.2", status="completed",
                         created_at=m.rfc3339(0), outcome="ok", exit_code=0)
    events = [
        m.Submitted(run_id="r1", tenant="t", language="python", version="3.11.2", created_at_ms=1),
        m.Started(run_id="r1", agent="a", sandbox="s"),
        m.Output(run_id="r1", stream="stderr", stage="compile", data="x"),
        m.Finished(run_id="r1", result=result),
    ]
    for event in events:
        assert m.run_event_decoder.decode(m.encoder.encode(event)) == event


def test_control_messages_carry_their_type():
    assert msgspec.json.decode(m.encoder.encode(m.StdinEof(run_id="r")))["type"] == "stdin_eof"
    assert isinstance(m.control_decoder.decode(b'{"type":"cancel","run_id":"r"}'), m.Cancel)


def test_job_files_travel_as_base64_bytes():
    job = m.RunJob(run_id="r", tenant="t", language="python", version="3.11.2",
                   files=[m.JobFile(name="a.bin", content=b"\x00\xff")], entrypoint="a.bin",
                   limits=m.Limits(wall_time_ms=1, cpu_time_ms=1, memory_mb=1, pids=1, output_bytes=1),
                   created_at_ms=0)
    wire = m.encoder.encode(job)
    assert b'"AP8="' in wire
    assert m.run_job_decoder.decode(wire).files[0].content == b"\x00\xff"


def test_times_are_rfc3339_utc_with_milliseconds():
    assert m.rfc3339(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def test_every_outcome_of_the_contract_travels_in_a_finished_record():
    for outcome in ("ok", "nonzero_exit", "signaled", "timeout", "memory_limit", "pids_limit",
                    "output_limit", "compile_error"):
        result = m.RunResult(id="r1", language="c", version="12.2.0", status="completed",
                             created_at=m.rfc3339(0), outcome=outcome, signal="SIGKILL")
        decoded = m.run_event_decoder.decode(m.encoder.encode(m.Finished(run_id="r1", result=result)))
        assert decoded.result.outcome == outcome
