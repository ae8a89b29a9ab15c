from throwbox_agent.liveness import agent_alive, node_draining


def entry(agent, service_status, node_status="passing", draining=False):
    meta = {"agent": agent, **({"draining": "true"} if draining else {})}
    return {"Service": {"Meta": meta},
            "Checks": [{"CheckID": "serfHealth", "Status": node_status},
                       {"CheckID": f"service:throwbox-agent-{agent}", "Status": service_status}]}


def test_an_agent_whose_check_passes_is_alive_and_others_are_not_it():
    entries = [entry("w1", "passing"), entry("w2", "critical")]
    assert agent_alive(entries, "w1")
    assert not agent_alive(entries, "w2")
    assert not agent_alive(entries, "w3")


def test_a_draining_agent_is_alive_while_its_node_is():
    assert agent_alive([entry("w1", "critical", draining=True)], "w1")
    assert not agent_alive([entry("w1", "critical", node_status="critical", draining=True)], "w1")


def test_a_dead_node_takes_its_agent_with_it_whatever_its_last_service_check_said():
    assert not agent_alive([entry("w1", "passing", node_status="critical")], "w1")


def test_a_node_is_draining_only_with_a_drain_strategy():
    assert node_draining({"DrainStrategy": {"Deadline": 300_000_000_000}})
    assert not node_draining({"DrainStrategy": None})
    assert not node_draining({})
