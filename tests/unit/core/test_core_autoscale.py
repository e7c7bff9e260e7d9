"""Autoscaling: strict thresholds over full windows, bounds, cooldown, abort of a stuck scale-up."""

from __future__ import annotations

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import (
    decide, epoch_seconds, parse_scaling_policy)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError

POLICY = parse_scaling_policy({"scale_up_threshold": 80, "scale_up_duration": 300, "scale_down_threshold": 20,
                               "scale_down_duration": 600, "min_nodes": 1, "max_nodes": 4, "cooldown": 900,
                               "abort_duration": 1200, "step": 1})


def samples(cpu, gpu, start=0, end=600, every=60):
    return [(t, cpu, gpu) for t in range(start, end + 1, every)]


def test_scale_up_when_the_minimum_over_the_window_is_strictly_above():
    decision = decide(POLICY, samples(10, 81), now=600, nodes=2)
    assert (decision.action, decision.target_nodes) == ("scale-up", 3)
    assert decision.reason == "minimum gpu utilization over 300 s is 81%, above 80%"


def test_equal_to_the_threshold_never_triggers():
    assert decide(POLICY, samples(80, 80), now=600, nodes=2).action == "none"
    assert decide(POLICY, samples(20, 20), now=600, nodes=2).action == "none"


def test_one_dip_in_the_window_prevents_scale_up():
    data = samples(10, 90)
    data[-2] = (data[-2][0], 10, 79)
    assert decide(POLICY, data, now=600, nodes=2).action == "none"


def test_scale_down_needs_every_metric_strictly_below_over_the_window():
    assert decide(POLICY, samples(19, 5), now=600, nodes=3).target_nodes == 2
    assert decide(POLICY, samples(19, 21), now=600, nodes=3).action == "none"


def test_window_must_be_covered_by_samples():
    assert decide(POLICY, samples(5, 5, start=300), now=600, nodes=3).action == "none"


def test_bounds_are_respected():
    up = decide(POLICY, samples(90, 90), now=600, nodes=4)
    assert up.action == "none" and "maximum of 4" in up.reason
    down = decide(POLICY, samples(1, 1), now=600, nodes=1)
    assert down.action == "none" and "minimum of 1" in down.reason
    assert decide(POLICY, [], now=0, nodes=0).target_nodes == 1


def test_cooldown_after_an_action():
    cooling = decide(POLICY, samples(90, 90), now=600, nodes=2, last_action_at=0)
    assert cooling.action == "none" and cooling.reason == "cooling down until 900"
    assert decide(POLICY, samples(90, 90, end=900), now=900, nodes=2, last_action_at=0).action == "scale-up"


def test_stuck_scale_up_is_aborted_removing_only_hosts_not_healthy():
    pending = [("h1", "Healthy"), ("h2", "Provisioning"), ("h3", "Failed")]
    waiting = decide(POLICY, samples(90, 90), now=1000, nodes=5, scaling_up_since=0, pending=pending)
    assert waiting.action == "none" and "waiting for h2, h3" in waiting.reason
    aborted = decide(POLICY, samples(90, 90), now=1201, nodes=5, scaling_up_since=0, pending=pending)
    assert (aborted.action, aborted.remove, aborted.target_nodes) == ("abort", ("h2", "h3"), 3)


def test_policy_validation():
    with pytest.raises(FabricError) as caught:
        parse_scaling_policy({"scale_up_threshold": 20, "scale_up_duration": 60, "scale_down_threshold": 30,
                              "scale_down_duration": 60, "min_nodes": 3, "max_nodes": 2, "step": 0})
    assert len(caught.value.errors) == 3


def test_kubernetes_timestamps_become_epoch_seconds():
    assert epoch_seconds("2024-01-15T10:30:00Z") == 1705314600
    assert epoch_seconds("2024-01-15T10:30:00.123456Z") == 1705314600
    assert epoch_seconds("2024-01-15T12:30:00+02:00") == 1705314600


def test_policy_from_the_resource_and_samples_from_timestamps():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import (
        parse_samples, scaling_policy_from_resource)

    policy = scaling_policy_from_resource({"spec": {
        "scaleUp": {"threshold": 80, "durationSeconds": 300, "step": 1},
        "scaleDown": {"threshold": 20, "durationSeconds": 600},
        "minNodes": 1, "maxNodes": 4, "cooldownSeconds": 900, "abortSeconds": 1200}})
    assert policy == POLICY
    assert parse_samples([{"time": "2024-01-15T10:31:00Z", "cpu": 5, "gpu": "85"},
                          {"time": 1705314600, "cpu": 1, "gpu": 2}]) == [(1705314600, 1, 2), (1705314660, 5, 85)]
    with pytest.raises(FabricError, match="autoscale sample 0"):
        parse_samples([{"cpu": 1}])


def test_autoscaled_spec_keeps_gpus_per_node_and_other_pools():
    from core_helpers import spec

    from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import autoscaled_spec

    declared = spec(workers=[("w", "NVIDIA-A100", 8, 2), ("x", "NVIDIA-H100", 4, 1)])
    scaled = autoscaled_spec(declared, "w", 3)
    assert [(p.name, p.gpu_count, p.min_worker_nodes) for p in scaled.worker_pools] == [("w", 12, 3), ("x", 4, 1)]


def test_autoscaling_record_changes_only_when_the_autoscaler_acts():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import (
        Decision, autoscaling_record)

    first = autoscaling_record("w", Decision("none", 2, "within thresholds"), "t0")
    assert first == {"workerPool": "w", "targetNodes": 2}
    up = autoscaling_record("w", Decision("scale-up", 3, "hot"), "t1", first)
    assert up == {"workerPool": "w", "targetNodes": 3, "lastAction": "scale-up", "lastActionAt": "t1",
                  "reason": "hot", "scalingUpSince": "t1"}
    assert autoscaling_record("w", Decision("none", 3, "cooling down"), "t2", up) == up
    down = autoscaling_record("w", Decision("scale-down", 2, "cold"), "t3", up)
    assert "scalingUpSince" not in down and down["lastActionAt"] == "t3"
