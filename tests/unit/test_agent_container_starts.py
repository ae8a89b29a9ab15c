"""Docker start events -> which sandbox containers have started."""

from throwbox_agent.container_starts import ContainerStarts, started_alloc

JOB = "throwbox-sandbox-a-python"
SANDBOX_JOB = f"{JOB}/dispatch-1795785497-0c5b4070"


def start_event(alloc: str, job: str = SANDBOX_JOB, action: str = "start") -> dict:
    return {"Type": "container", "Action": action, "id": "c1",
            "Actor": {"ID": "c1", "Attributes": {"com.hashicorp.nomad.alloc_id": alloc,
                                                 "com.hashicorp.nomad.job_name": job}}}


def test_only_starts_of_sandboxes_dispatched_from_our_pool_jobs_count():
    assert started_alloc(start_event("a"), {JOB}) == "a"
    assert started_alloc(start_event("a", job="other"), {JOB}) is None
    assert started_alloc(start_event("a", job=JOB), {JOB}) is None
    assert started_alloc(start_event("a", job=f"{JOB}-3/dispatch-1-0c5b4070"), {JOB}) is None
    assert started_alloc(start_event("a", action="die"), {JOB}) is None
    assert started_alloc({"Type": "container", "Action": "start"}, {JOB}) is None


def test_nothing_is_known_until_the_stream_is_connected():
    starts = ContainerStarts(docker=None, job_ids=[JOB])
    starts.note(start_event("a"))
    assert starts.started("a") is None
    starts._opened()
    assert starts.started("a") is True and starts.started("b") is False


def test_each_start_of_ours_is_passed_on_once_the_stream_is_connected():
    seen: list[str] = []
    starts = ContainerStarts(docker=None, job_ids=[JOB], on_start=seen.append)
    starts.note(start_event("a"))                    # replayed before the stream said it is open
    starts._opened()
    starts.note(start_event("b"))
    starts.note(start_event("c", job="other"))
    assert seen == ["b"]
