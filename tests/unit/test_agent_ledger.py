"""Run bookkeeping: which runs have a result, who started what, and Kafka commit points."""

from aiokafka.structs import TopicPartition

from throwbox_agent.ledger import LRU, Ledger
from throwbox_common.messages import Finished, Output, RunResult, Started, encoder

TP = TopicPartition("throwbox.runs", 0)


def test_a_finished_record_marks_the_run_as_having_a_result():
    ledger = Ledger()
    ledger.observe(encoder.encode(Started(run_id="r1", agent="a", sandbox="s1", at_ms=5)))
    assert ledger.started_by("r1").sandbox == "s1" and not ledger.is_finished("r1")
    result = RunResult(id="r1", language="python", version="3", status="completed", created_at="x")
    ledger.observe(encoder.encode(Finished(run_id="r1", result=result)))
    assert ledger.is_finished("r1") and ledger.started_by("r1") is None


def test_output_records_and_garbage_are_ignored():
    ledger = Ledger()
    ledger.observe(encoder.encode(Output(run_id="r", stream="stdout", stage="run", data="x")))
    ledger.observe(b"not json")
    assert not ledger.is_finished("r") and ledger.started_by("r") is None


def test_the_lru_forgets_the_oldest_first():
    lru = LRU(2)
    for k in "abc":
        lru.put(k)
    assert "a" not in lru and "b" in lru and "c" in lru


