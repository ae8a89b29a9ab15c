"""Docker start events -> which sandbox containers have started."""

from throwbox_agent.container_starts import ContainerStarts, started_alloc

JOB = "throwbox-sandbox-a-python"


def start_event(alloc: str, job: str = JOB, action: str = "start") -> dict:
    return {"Type": "container", "Action": action, "id": "c1",
            "Actor": {"ID": "c1", "Attributes": {"com.hashicorp.nomad.alloc_id": alloc,
                                                 "com.hashicorp.nomad.job_name": job}}}


def test_only_starts_of_our_pool_jobs_count():
    assert started_alloc(start_event("a"), {JOB}) == "a"
    assert started_alloc(start_event("a", job="other"), {JOB}) is None
    assert started_alloc(start_event("a", action="die"), {JOB}) is None
    assert started_alloc({"Type": "container", "Action": "start"}, {JOB}) is None


def test_nothing_is_known_until_the_stream_is_connected():
    starts = ContainerStarts(docker=None, job_ids=[JOB])
    starts.note(start_event("a"))
    assert starts.started("a") is None
    starts._opened()
    assert starts.started("a") is True and starts.started("b") is False
