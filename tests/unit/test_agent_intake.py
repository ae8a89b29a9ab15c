"""The agent's parts around its runs, with fakes at their seams: the node-drain hand-over and a
revocation (run_intake.py), the runs in flight (in_flight.py), the control records
(control_follower.py), unreadable run records (settling.py) and what Consul is told
(consul_service.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

from aiokafka.structs import TopicPartition

from throwbox_agent import config, consul_service
from throwbox_agent.commits import OffsetCommits
from throwbox_agent.control_follower import ControlFollower
from throwbox_agent.in_flight import InFlight
from throwbox_agent.ledger import Ledger
from throwbox_agent.metrics import AgentMetrics
from throwbox_agent.run import RunState
from throwbox_agent.run_intake import RunIntake
from throwbox_agent.settling import Settler
from throwbox_agent.start_rate import StartRateMeter
from throwbox_common import runtimes
from throwbox_common.messages import Cancel, Finished, RunJob, StdinData

REGISTRY = runtimes.load()
PYTHON = REGISTRY.resolve("python")
CONFIG = config.load({}, registry=REGISTRY)
TP0, TP1 = TopicPartition("throwbox.runs", 0), TopicPartition("throwbox.runs", 1)


@dataclass
class FakeRun:
    """What InFlight and the intake read of a RunLifecycle."""
    run_id: str
    state: RunState = RunState.QUEUED
    abandoned: bool = False
    controls: list = field(default_factory=list)

    @property
    def job(self):
        return SimpleNamespace(run_id=self.run_id)

    @property
    def runtime(self):
        return PYTHON

    @property
    def wants_sandbox(self) -> bool:
        return self.state not in (RunState.FINISHING, RunState.DONE)

    def abandon(self) -> bool:
        if self.state not in (RunState.QUEUED, RunState.ACQUIRING):
            return False
        self.abandoned = True
        return True

    def control(self, msg) -> None:
        self.controls.append(msg)


class FakeConsumer:
    def __init__(self):
        self.commits: list[dict] = []
        self.stopped = False

    def assignment(self):
        return {TP0, TP1}

    async def commit(self, offsets):
        self.commits.append({tp: om.offset for tp, om in offsets.items()})

    async def stop(self):
        self.stopped = True


class FakePublisher:
    def __init__(self):
        self.acked = []

    async def publish(self, event):
        pass

    async def publish_acked(self, event, preceded_by=()):
        self.acked.append(event)


def job(run_id: str, tenant: str = "t") -> RunJob:
    return RunJob(run_id=run_id, tenant=tenant, language=PYTHON.language, version=PYTHON.version, files=[],
                  entrypoint="main.py", limits=None, created_at_ms=1)  # type: ignore[arg-type]


def intake_over(consumer: FakeConsumer) -> tuple[RunIntake, InFlight, OffsetCommits]:
    ledger, flight, commits = Ledger(), InFlight(AgentMetrics()), OffsetCommits()
    commits.consumer = consumer
    controls = ControlFollower(CONFIG, flight.active, ledger)
    intake = RunIntake(CONFIG, REGISTRY, ledger=ledger, flight=flight, commits=commits, settler=None,  # type: ignore[arg-type]
                       controls=controls, run_deps=None, spawn=None, stop=asyncio.Event())  # type: ignore[arg-type]
    return intake, flight, commits


async def test_a_node_drain_leaves_held_back_and_unstarted_runs_to_the_others_and_keeps_the_running_one():
    consumer = FakeConsumer()
    intake, flight, commits = intake_over(consumer)
    for offset in range(4):
        commits.begin(TP0, offset)
    unstarted, running = FakeRun("r-queued"), FakeRun("r-running", RunState.RUNNING)
    flight.add(TP0, unstarted)
    flight.add(TP0, running)
    await commits.done(TP0, 0)                     # offset 0 needed no run: committed on the way out
    intake.held_back.push(PYTHON.key, "t", (TP0, 2, job("r-held")))
    intake.held_back.push(PYTHON.key, "u", (TP0, 3, job("r-held-2")))

    await intake.hand_over_partitions()

    assert len(intake.held_back) == 0
    assert unstarted.abandoned and not running.abandoned
    assert consumer.commits == [{TP0: 1}] and consumer.stopped
    assert commits.consumer is None                # left the group: nothing more is committed
    assert set(flight.active) == {"r-queued", "r-running"}   # each leaves when its lifecycle ends
    await intake.close()                           # the shutdown's own commit has no group any more
    assert consumer.commits == [{TP0: 1}]


async def test_a_revoked_partitions_unstarted_and_held_back_runs_go_and_the_others_stay():
    consumer = FakeConsumer()
    intake, flight, commits = intake_over(consumer)
    gone, kept = FakeRun("r-gone"), FakeRun("r-kept")
    flight.add(TP0, gone)
    flight.add(TP1, kept)
    intake.held_back.push(PYTHON.key, "t", (TP0, 5, job("held-0")))
    intake.held_back.push(PYTHON.key, "t", (TP1, 6, job("held-1")))

    await intake.partitions_revoked([TP0])

    assert gone.abandoned and not kept.abandoned
    assert [held[2].run_id for held in intake.held_back] == ["held-1"]
    assert not consumer.stopped


async def test_a_run_in_flight_frees_its_slot_once_and_a_drain_ends_the_rest_as_cancelled():
    flight = InFlight(AgentMetrics())
    run = FakeRun("r1", RunState.ACQUIRING)
    flight.add(TP0, run)
    assert flight.wanting_sandbox() == {PYTHON.key: 1} and flight.waiting_to_start(PYTHON.key)
    assert flight.remove("r1") and flight.slot_freed.is_set()
    assert not flight.remove("r1")
    assert len(flight) == 0
    await asyncio.wait_for(flight.drain(drain_timeout_s=5), 1)   # nothing in flight: returns at once


def test_controls_reach_a_run_here_wait_for_a_run_taken_later_and_a_finished_runs_are_dropped():
    ledger, active = Ledger(), {}
    controls = ControlFollower(CONFIG, active, ledger)
    here = FakeRun("here")
    active["here"] = here
    controls.dispatch(StdinData(run_id="here", data="x"))
    assert [type(m) for m in here.controls] == [StdinData]

    controls.dispatch(StdinData(run_id="later", data="a"))
    controls.dispatch(Cancel(run_id="later"))
    later = FakeRun("later")
    controls.take_pending(later)
    assert [type(m) for m in later.controls] == [StdinData, Cancel]

    ledger.finished.put("done")
    controls.dispatch(Cancel(run_id="done"))
    assert controls.pending.get("done") is None


async def test_an_unreadable_run_record_that_names_its_run_ends_it_as_invalid_job_and_one_that_does_not_is_only_done():
    ledger, commits, publisher = Ledger(), OffsetCommits(), FakePublisher()
    settler = Settler("a", ledger, commits, publisher, AgentMetrics(), nomad=None,   # type: ignore[arg-type]
                      agent_alive=None)  # type: ignore[arg-type]
    commits.begin(TP0, 0)
    commits.begin(TP0, 1)
    await settler.reject(TP0, SimpleNamespace(offset=0, value=b'{"run_id": "r-bad", "language": 3}'), "bad")
    await settler.reject(TP0, SimpleNamespace(offset=1, value=b"not json"), "bad")

    [finished] = publisher.acked
    assert isinstance(finished, Finished) and finished.run_id == "r-bad"
    assert (finished.result.status, finished.result.error.code) == ("failed", "invalid_job")
    assert ledger.is_finished("r-bad")
    assert commits.offsets.to_commit({TP0}) == {TP0: 2}


def test_consul_is_told_a_start_rate_never_below_its_floor_and_that_the_agent_drains():
    meter = StartRateMeter(0.0)
    caps = consul_service.capacity({PYTHON.key: {"idle": 1, "size": 2}}, {PYTHON.key: meter}, 1.0)
    assert caps[PYTHON.key].start_rate_per_s == consul_service.MIN_ADVERTISED_RATE_PER_S
    meta = consul_service.service_meta(CONFIG, "runsc", {}, caps, draining=True)
    assert (meta["agent"], meta["oci_runtime"], meta["draining"]) == (CONFIG.name, "runsc", "true")
    assert "draining" not in consul_service.service_meta(CONFIG, "runsc", {}, caps, draining=False)
