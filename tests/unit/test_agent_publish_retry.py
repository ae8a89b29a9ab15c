"""Started/Finished while Kafka is away: sent again until acknowledged, the sandbox never held meanwhile."""

import asyncio
import json
import time

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
)
from test_agent_run_lifecycle import FakeAttachment, launcher_out, lifecycle

from throwbox_agent import output, publish, run
from throwbox_agent.errors import PublishError
from throwbox_agent.kafka_publisher import KafkaPublisher
from throwbox_agent.ledger import Ledger
from throwbox_agent.run import RunState, publish_until_acked
from throwbox_common.messages import Finished, Output, RunResult, Started, encoder, now_ms

EXIT_0 = json.dumps({"exit_code": 0, "signal": None}).encode()
AWAY = PublishError("KafkaConnectionError: broker down", retriable=True)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(publish, "PUBLISH_BACKOFF_FIRST_S", 0.01)
    monkeypatch.setattr(publish, "PUBLISH_BACKOFF_MAX_S", 0.02)


class FlakyPublisher:
    """Acknowledges nothing of the types in `away` until `back` is set (each attempt fails as a
    broker that is down does: nothing of it reaches the log, nor the chunks it carried);
    everything else goes through."""

    def __init__(self, away=(Started, Finished)):
        self.away = away
        self.back = asyncio.Event()
        self.events = []
        self.attempts = {Started: 0, Finished: 0}
        self.carried = {Started: [], Finished: []}      # the chunks each attempt carried
        self._attempted = asyncio.Event()

    async def attempted(self, kind, n: int) -> None:
        """Return once `kind` has been tried n times."""
        while self.attempts[kind] < n:
            self._attempted.clear()
            await self._attempted.wait()

    async def publish(self, event):
        self.events.append(event)

    async def publish_acked(self, event, preceded_by=()):
        if type(event) in self.attempts:
            self.attempts[type(event)] += 1
            self.carried[type(event)].append(list(preceded_by))
            self._attempted.set()
        if isinstance(event, self.away) and not self.back.is_set():
            await asyncio.sleep(0)
            raise AWAY
        self.events += [*preceded_by, event]


async def test_a_record_is_sent_again_until_kafka_acknowledges_it():
    pub = FlakyPublisher()
    event = Started(run_id="r1", agent="a", sandbox="s", at_ms=1)
    task = asyncio.create_task(publish_until_acked(pub, event, time.monotonic() + 30))
    await asyncio.wait_for(pub.attempted(Started, 3), 5)
    assert not task.done() and pub.events == []
    pub.back.set()
    attempts = await asyncio.wait_for(task, 5)
    assert attempts >= 3 and pub.events == [event]


async def test_the_chunks_sent_with_a_record_go_with_its_first_attempt_only():
    pub = FlakyPublisher()
    chunk = Output(run_id="r1", stream="stdout", stage="run", data="last\n")
    finished = Finished(run_id="r1", result=RunResult(id="r1", language="python", version="3",
                                                      status="completed", created_at="x"))
    task = asyncio.create_task(publish_until_acked(pub, finished, time.monotonic() + 30, preceded_by=[chunk]))
    await asyncio.wait_for(pub.attempted(Finished, 3), 5)
    pub.back.set()
    await asyncio.wait_for(task, 5)
    assert pub.carried[Finished][0] == [chunk] and all(c == [] for c in pub.carried[Finished][1:])
    assert [type(e) for e in pub.events] == [Finished]     # lost with the failed attempt, as best-effort chunks are


async def test_an_error_that_another_attempt_cannot_cure_is_raised_at_once():
    class TooLarge(FlakyPublisher):
        async def publish_acked(self, event, preceded_by=()):
            self.attempts[type(event)] += 1
            raise PublishError("MessageSizeTooLargeError", retriable=False)
    pub = TooLarge()
    with pytest.raises(PublishError) as e:
        await publish_until_acked(pub, Started(run_id="r1"), time.monotonic() + 30)
    assert not e.value.retriable and pub.attempts[Started] == 1


async def test_retries_give_up_at_the_deadline_even_when_an_attempt_hangs():
    pub = FlakyPublisher()
    with pytest.raises(PublishError):
        await asyncio.wait_for(publish_until_acked(pub, Started(run_id="r1"), time.monotonic() + 0.2), 5)

    class Hanging(FlakyPublisher):
        async def publish_acked(self, event, preceded_by=()):
            await asyncio.Event().wait()          # an ack that never comes
    with pytest.raises(PublishError) as e:
        await asyncio.wait_for(publish_until_acked(Hanging(), Started(run_id="r1"), time.monotonic() + 0.2), 5)
    assert e.value.retriable


async def test_a_run_finished_while_kafka_is_away_keeps_its_result_and_frees_its_sandbox_first(monkeypatch):
    monkeypatch.setattr(output, "COALESCE_S", 3600.0)     # "after" is held: it is the run's last chunk
    att = FakeAttachment(launcher_out((b"o", b"before\n"), (b"o", b"after\n"), (b"X", EXIT_0)))
    lc, pool, _, _, _ = lifecycle(att)
    pub = lc.deps.publisher = FlakyPublisher(away=(Finished,))
    task = asyncio.create_task(lc.execute())
    await asyncio.wait_for(pub.attempted(Finished, 3), 5)
    # Kafka is away: the result waits, the sandbox does not.
    assert pool.released == ["alloc-1"] and att.closed
    assert lc.state is RunState.FINISHING and not lc.done.is_set() and not task.done()
    pub.back.set()
    result = await asyncio.wait_for(task, 5)
    assert (result.status, result.outcome, result.stdout) == ("completed", "ok", "before\nafter\n")
    # The first chunk went out while the run ran; the last one rode with Finished's first attempt
    # and was lost with it (best-effort). The result has all of it.
    assert [type(e) for e in pub.events] == [Started, Output, Finished]
    assert pub.events[1].data == "before\n"
    assert [c.data for c in pub.carried[Finished][0]] == ["after\n"]
    assert pub.events[-1].result.stdout == "before\nafter\n"
    assert lc.result_published and lc.done.is_set() and lc.state is RunState.DONE
    assert pool.released == ["alloc-1"]


async def test_a_cancel_while_the_result_is_being_sent_changes_nothing():
    att = FakeAttachment(launcher_out((b"o", b"hi\n"), (b"X", EXIT_0)))
    lc, pool, _, _, _ = lifecycle(att)
    pub = lc.deps.publisher = FlakyPublisher(away=(Finished,))
    task = asyncio.create_task(lc.execute())
    await asyncio.wait_for(pub.attempted(Finished, 2), 5)
    lc.kill(run.KillReason.CANCEL)          # e.g. the drain timeout passed
    pub.back.set()
    result = await asyncio.wait_for(task, 5)
    assert result.outcome == "ok" and pool.reasons == ["run over"]


async def test_output_chunks_that_cannot_be_handed_to_kafka_are_dropped_but_the_result_has_them():
    att = FakeAttachment(launcher_out((b"o", b"a\n"), (b"o", b"b\n"), (b"X", EXIT_0)))
    lc, _, pub, _, _ = lifecycle(att)
    tried = []

    async def publish(event):
        tried.append(event)
        raise KafkaTimeoutError()       # the producer's buffer stayed full
    pub.publish = publish
    result = await asyncio.wait_for(lc.execute(), 5)
    assert result.stdout == "a\nb\n" and len(tried) == 1      # one attempt, then dropped
    assert [type(e) for e in pub.events] == [Started, Finished]


async def test_a_start_kafka_does_not_acknowledge_by_the_start_deadline_fails_the_run_unstarted(monkeypatch):
    monkeypatch.setattr(publish, "START_GRACE_S", 0.0)
    monkeypatch.setattr(publish, "START_RETRY_MIN_S", 0.2)
    att = FakeAttachment(launcher_out((b"X", EXIT_0)))
    lc, pool, _, _, _ = lifecycle(att)
    lc.job.start_deadline_ms = now_ms() + 100
    pub = lc.deps.publisher = FlakyPublisher(away=(Started,))
    result = await asyncio.wait_for(lc.execute(), 5)
    assert (result.status, result.error.code) == ("failed", "queue_timeout")
    assert "did not acknowledge" in result.error.message
    assert att.written == b""                   # the program never ran
    assert pool.released == ["alloc-1"]
    assert [type(e) for e in pub.events] == [Finished] and pub.attempts[Started] >= 2


class FakeProducer:
    """send() raises `error` if given; else the record is acknowledged, or the ack fails with
    `ack_error`."""

    def __init__(self, error=None, ack_error=None):
        self.error = error
        self.ack_error = ack_error
        self.sent: list[bytes] = []
        self.stopped = False

    async def send(self, topic, value, key):
        if self.error is not None:
            raise self.error
        self.sent.append(value)
        fut = asyncio.get_running_loop().create_future()
        if self.ack_error is not None:
            fut.set_exception(self.ack_error)
        else:
            fut.set_result(None)
        return fut

    async def stop(self):
        self.stopped = True


def publisher_of(*producers) -> tuple[KafkaPublisher, list]:
    """A publisher whose producers are `producers`, in order; the list holds those it made."""
    made: list = []

    async def make():
        made.append(producers[len(made)])
        if isinstance(made[-1], Exception):       # the broker is still away
            raise made[-1]
        return made[-1]
    return KafkaPublisher(make), made


@pytest.mark.parametrize("error, retriable", [(KafkaTimeoutError(), True), (KafkaConnectionError(), True),
                                               (MessageSizeTooLargeError(), False)])
async def test_the_kafka_publisher_says_which_errors_are_worth_another_attempt(error, retriable):
    pub, _ = publisher_of(FakeProducer(error))
    await pub.start()
    with pytest.raises(PublishError) as e:
        await pub.publish_acked(Started(run_id="r1"))
    assert e.value.retriable is retriable


@pytest.mark.parametrize("where", ["send", "ack"])
async def test_a_producer_that_hit_a_fatal_error_is_replaced_and_the_event_is_published_on_the_next_try(where):
    # After a broker restart that lost its last batches, the idempotent producer's sequence numbers
    # are refused for good (OutOfOrderSequenceNumber): its sender is dead, only a new producer helps.
    fatal = OutOfOrderSequenceNumber()
    broken = FakeProducer(error=fatal) if where == "send" else FakeProducer(ack_error=fatal)
    fresh = FakeProducer()
    pub, made = publisher_of(broken, fresh)
    await pub.start()
    await publish_until_acked(pub, Started(run_id="r1"), time.monotonic() + 5)
    assert made == [broken, fresh] and broken.stopped
    assert len(fresh.sent) == 1
    await pub.publish(Started(run_id="r2"))
    assert len(fresh.sent) == 2 and len(made) == 2


def test_a_duplicate_result_or_a_late_started_copy_changes_nothing_in_the_ledger():
    # A Finished sent again after a lost ack may reach the log twice (so may a Started).
    ledger = Ledger()
    result = RunResult(id="r1", language="python", version="3", status="completed", created_at="x")
    for rec in (Started(run_id="r1", agent="a", sandbox="s1", at_ms=5), Finished(run_id="r1", result=result),
                Started(run_id="r1", agent="a", sandbox="s1", at_ms=5), Finished(run_id="r1", result=result)):
        ledger.observe(encoder.encode(rec))
    assert ledger.is_finished("r1") and ledger.started_by("r1") is None


async def test_a_replacement_producer_that_cannot_start_yet_is_tried_again_on_the_next_attempt():
    broken, fresh = FakeProducer(ack_error=OutOfOrderSequenceNumber()), FakeProducer()
    broken.error = None
    pub, made = publisher_of(broken, KafkaConnectionError(), fresh)
    await pub.start()
    await publish_until_acked(pub, Started(run_id="r1"), time.monotonic() + 10)
    # 1st attempt: the ack fails fatally, the new producer cannot start (broker away);
    # 2nd: the broken producer is still in place, fails again, and this time it is replaced.
    assert made[0] is broken and isinstance(made[1], KafkaConnectionError) and made[2] is fresh
    assert len(fresh.sent) == 1
