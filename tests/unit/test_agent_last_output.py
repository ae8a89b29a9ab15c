"""A run's last output and its Finished go to Kafka in one produce request, after every earlier
chunk of the run: the real KafkaPublisher and RunLifecycle over a fake aiokafka producer."""

import asyncio
import json

from aiokafka.errors import KafkaTimeoutError
from test_agent_run_lifecycle import FakeAttachment, launcher_out, lifecycle

from throwbox_agent import frames
from throwbox_agent.kafka_publisher import KafkaPublisher
from throwbox_common import topics
from throwbox_common.messages import Finished, Output, Started, run_event_decoder

EXIT_0 = json.dumps({"exit_code": 0, "signal": None}).encode()


class FakeProducer:
    """What matters here of aiokafka's producer (linger 0, acks=all, idempotent): send() appends
    to the partition's open batch without waiting; a sender task takes the open batch as a
    produce request as soon as it runs and no request is in flight (one per broker); a request
    is acknowledged a round trip later, and what was sent meanwhile goes in the next one."""

    def __init__(self, rtt_s: float = 0.01):
        self.rtt_s = rtt_s
        self.requests: list[list] = []      # the records each produce request carried, in order
        self.keys: set[bytes] = set()
        self.fail_sends: type | None = None     # records of this type cannot be enqueued
        self.hold_sends = asyncio.Event()       # cleared: send() waits (the open batch is full)
        self.hold_sends.set()
        self._open: list[tuple[bytes, asyncio.Future]] | None = None
        self._data = asyncio.Event()
        self._sender = asyncio.create_task(self._send_requests())

    async def send(self, topic, value, key):
        assert topic == topics.EVENTS
        if self.fail_sends is not None and isinstance(run_event_decoder.decode(value), self.fail_sends):
            raise KafkaTimeoutError()
        await self.hold_sends.wait()
        self.keys.add(key)
        if self._open is None:
            self._open = []
            self._data.set()            # aiokafka wakes its sender when a batch is created
        fut = asyncio.get_running_loop().create_future()
        self._open.append((value, fut))
        return fut

    async def _send_requests(self):
        while True:
            await self._data.wait()
            self._data.clear()
            batch, self._open = self._open, None
            self.requests.append([run_event_decoder.decode(v) for v, _ in batch])
            await asyncio.sleep(self.rtt_s)
            for _, fut in batch:
                fut.set_result(None)

    def close(self):
        self._sender.cancel()

    def kinds(self) -> list[list[str]]:
        return [[type(e).__name__ if not isinstance(e, Output) else e.data for e in req] for req in self.requests]


def in_one_read(*frame_list) -> tuple[int, bytes]:
    """Several launcher frames that Docker delivers in one read."""
    return (frames.DOCKER_STDOUT, b"".join(frames.encode(t, p) for t, p in frame_list))


class PacedAttachment(FakeAttachment):
    """Chunks as (seconds after the previous one, chunk)."""

    def __init__(self, paced):
        super().__init__([chunk for _, chunk in paced])
        self.delays_s = [d for d, _ in paced]

    async def read(self):
        if self.delays_s:
            await asyncio.sleep(self.delays_s.pop(0))
        return await super().read()


async def publisher_over(producer) -> KafkaPublisher:
    async def make():
        return producer
    pub = KafkaPublisher(make)
    await pub.start()
    return pub


async def run_through(producer: FakeProducer, chunks):
    lc, _, _, _, _ = lifecycle(chunks if isinstance(chunks, FakeAttachment) else FakeAttachment(chunks))
    lc.deps.publisher = await publisher_over(producer)
    try:
        result = await asyncio.wait_for(lc.execute(), 5)
    finally:
        producer.close()
    return result


def flat(producer: FakeProducer) -> list:
    return [e for req in producer.requests for e in req]


async def test_output_read_together_with_the_exit_goes_in_the_same_produce_request_as_finished():
    producer = FakeProducer()
    result = await run_through(producer, [in_one_read((b"o", b"hello, world\n"), (b"X", EXIT_0))])
    assert result.stdout == "hello, world\n"
    assert producer.kinds() == [["Started"], ["hello, world\n", "Finished"]]
    assert producer.keys == {b"r1"}       # one key: one partition, one order for every reader


async def test_the_run_s_last_chunk_rides_with_finished_while_earlier_output_streamed_at_once(monkeypatch):
    # `python3 -u` writes "hello, world" and "\n" apart: the first goes out at once (leading
    # edge), the newline is held for the coalescing window, and the exit comes within it, after
    # the first chunk's request was acknowledged (sent on its own, the newline would be in flight
    # when Finished is enqueued, and Finished would wait a round trip behind it).
    monkeypatch.setattr("throwbox_agent.output.COALESCE_S", 3600.0)
    producer = FakeProducer(rtt_s=0.005)
    out = launcher_out((b"o", b"hello, world"), (b"o", b"\n"), (b"X", EXIT_0))
    await run_through(producer, PacedAttachment([(0, out[0]), (0, out[1]), (0.05, out[2])]))
    assert producer.kinds() == [["Started"], ["hello, world"], ["\n", "Finished"]]


async def test_every_chunk_is_before_finished_and_in_order_over_many_requests(monkeypatch):
    monkeypatch.setattr("throwbox_agent.output.COALESCE_S", 0.0)       # every chunk its own record
    lines = [f"line {i}\n".encode() for i in range(40)]
    producer = FakeProducer(rtt_s=0.002)
    # Paced a round trip and more apart: read at once, the 40 chunks could all be enqueued
    # before the sender first runs (seen on a fast machine), leaving nothing to order.
    out = launcher_out(*[(b"o", x) for x in lines], (b"X", EXIT_0))
    result = await run_through(producer, PacedAttachment([(0.003, chunk) for chunk in out]))
    events = flat(producer)
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    assert [type(e) for e in events[1:-1]] == [Output] * len(events[1:-1])
    assert "".join(e.data for e in events[1:-1]) == result.stdout == b"".join(lines).decode()
    assert len(producer.requests) > 3


async def test_a_chunk_the_sender_is_still_handing_over_goes_before_the_last_chunks_and_finished(monkeypatch):
    monkeypatch.setattr("throwbox_agent.output.COALESCE_S", 3600.0)
    producer = FakeProducer()
    lc, _, _, _, _ = lifecycle(FakeAttachment(launcher_out((b"o", b"a\n"), (b"o", b"b\n"), (b"X", EXIT_0))))
    lc.deps.publisher = await publisher_over(producer)
    started = asyncio.Event()
    send = producer.send

    async def send_and_note(topic, value, key):
        fut = await send(topic, value, key)
        if isinstance(run_event_decoder.decode(value), Started):
            producer.hold_sends.clear()         # the open batch is full: the next send waits
            started.set()
        return fut
    producer.send = send_and_note
    task = asyncio.create_task(lc.execute())
    await asyncio.wait_for(started.wait(), 5)
    for _ in range(20):                      # "a" is stuck in send(); "b" and the exit arrive
        await asyncio.sleep(0.01)
    assert not task.done() and producer.kinds() == [["Started"]]
    producer.hold_sends.set()
    await asyncio.wait_for(task, 5)
    producer.close()
    assert [e.data if isinstance(e, Output) else type(e).__name__ for e in flat(producer)] == \
        ["Started", "a\n", "b\n", "Finished"]
    assert producer.kinds()[-1][-2:] == ["b\n", "Finished"]


async def test_a_last_chunk_that_cannot_be_enqueued_is_dropped_and_finished_still_goes_out():
    producer = FakeProducer()
    producer.fail_sends = Output
    result = await run_through(producer, [in_one_read((b"o", b"hi\n"), (b"X", EXIT_0))])
    assert result.stdout == "hi\n"
    assert producer.kinds() == [["Started"], ["Finished"]]
