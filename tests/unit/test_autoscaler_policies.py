"""The OpenStack worker group's scaling policy (rendered by terraform/modules/cluster-openstack)
scales on the same checks as the local cluster's (ops/autoscaler): same sources, queries,
windows, strategies and thresholds; only the targets' values, the cooldown and the target block
differ by design."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "ops/autoscaler/policies/throwbox-workers.hcl.in"
OPENSTACK = REPO / "terraform/modules/cluster-openstack/templates/autoscaler-policy.hcl.tftpl"

# The lines that define a check, whitespace-normalized.
CHECK_LINE = re.compile(r'^\s*(check "[^"]+"|source\s*=.*|query\s*=.*|query_window\s*=.*|strategy "[^"]+"|threshold\s*=.*?)\s*\{?\s*$', re.M)


def check_lines(path: Path) -> list[str]:
    return [" ".join(m.group(1).split()) for m in CHECK_LINE.finditer(path.read_text())]


def test_both_policies_have_the_queue_and_cpu_checks_alike():
    local = check_lines(LOCAL)
    assert local == check_lines(OPENSTACK)
    assert 'check "queue_depth"' in local and 'check "cpu_allocated"' in local
    assert 'query = "max(throwbox_runs_queued)"' in local


def test_the_openstack_policy_targets_the_worker_class_through_the_plugins_openstack_target():
    text = OPENSTACK.read_text()
    assert 'target "openstack-workers"' in text
    assert 'node_class             = "${node_class}"' in text
    agent = (OPENSTACK.parent / "autoscaler-agent.hcl.tftpl").read_text()
    assert 'target "openstack-workers"' in agent and 'driver = "throwbox-nodes"' in agent
