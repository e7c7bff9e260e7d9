"""Autoscaling from Prometheus in the core: the range query a compute pool needs, its answer as samples, and the
decision planned from them (the runner does the I/O in between)."""

from __future__ import annotations

import pytest
from core_helpers import node
from fake_cluster import cluster, fake_apply

from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import decide, parse_scaling_policy
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
    Context, parse_fabric, plan_fabric, secret_values)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.metrics import (
    metrics_queries, samples_from_series, utilization_query)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import validate_options

NOW = "2024-01-15T10:30:00Z"
T = 1705314600  # NOW in epoch seconds
EDGE = {"palette.ai.rg/site": "edge"}
SOURCE = {"url": "https://prometheus.example:9090", "token": "s3cret"}


def nodes():
    return [node("cp", labels=EDGE)] + [node("g%d" % i, "32", "128Gi", 4, "NVIDIA-A100-SXM4-40GB", labels=EDGE)
                                        for i in range(4)]


def policy(metric="gpu"):
    return {"apiVersion": "gpufabric.io/v1alpha1", "kind": "ScalingPolicy",
            "metadata": {"name": "burst", "namespace": "vision"},
            "spec": {"metric": metric, "scaleUp": {"threshold": 80, "durationSeconds": 300},
                     "scaleDown": {"threshold": 20, "durationSeconds": 600}, "minNodes": 1, "maxNodes": 4,
                     "cooldownSeconds": 900}}


def document(autoscale=None):
    entry = {"name": "cp", "namespace": "vision", "mode": "shared", "scaling_policy": {"name": "burst"},
             "control_plane": {"node_count": 1, "resource_groups": {"site": "edge"}},
             "worker_resource_groups": {"site": "edge"},
             "worker_pools": [{"name": "w", "gpu": {"family": "NVIDIA-A100", "count": 8}, "min_worker_nodes": 2}]}
    if autoscale is not None:
        entry["autoscale"] = autoscale
    return {"projects": [{"name": "vision", "gpu_quota": {"NVIDIA-A100": 16}}], "compute_pools": [entry]}


def plan(doc, state, **context):
    return plan_fabric(parse_fabric(doc), state, Context(**dict({"now": NOW}, **context)))


def running(metric="gpu"):
    """The compute pool as a first run without autoscale leaves it: workers g0 and g1."""
    state = cluster(nodes(), ScalingPolicy=[policy(metric)])
    return fake_apply(state, plan(document(), state).writes)


def test_the_query_averages_gpu_utilization_over_the_worker_pools_hosts_for_the_longer_window():
    queries = metrics_queries(parse_fabric(document({"prometheus": SOURCE})), running(), NOW)
    assert len(queries) == 1
    query = queries[0]
    assert query.key == ("vision", "cp") and query.hosts == ("g0", "g1")
    assert query.query == 'avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"g0|g1"})'
    assert (query.start, query.end, query.step) == (T - 600, T, 30)
    assert query.where == ("Prometheus at https://prometheus.example:9090, query "
                           'avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"g0|g1"}) over 600 s to %d (step 30 s)' % T)
    assert "s3cret" not in query.where
    later = document({"prometheus": dict(SOURCE, step=60), "now": "2024-01-15T11:00:00Z"})
    later = metrics_queries(parse_fabric(later), running(), NOW)[0]
    assert (later.end, later.step) == (T + 1800, 60)


def test_host_names_are_matched_literally():
    assert utilization_query(["gpu.node-1", "a+b"]) == r'avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"a\\+b|gpu\\.node-1"})'


def test_no_query_without_hosts_yet_and_the_pool_is_planned_at_its_declared_size():
    empty = cluster(nodes(), ScalingPolicy=[policy()])
    doc = document({"prometheus": SOURCE})
    assert metrics_queries(parse_fabric(doc), empty, NOW) == []
    result = plan(doc, empty)
    assert result.report("compute_pools[0] (vision/cp)").get("autoscaling") is None
    workers = [p for p in result.writes if p.key == "ComputePool/vision/cp/status"][0].body["status"]
    assert len(workers["allocatedMachinePools"][1]["hosts"]) == 2


def test_a_policy_on_cpu_cannot_be_measured_by_the_gpu_source():
    with pytest.raises(FabricError) as caught:
        metrics_queries(parse_fabric(document({"prometheus": SOURCE})), running("cpu"), NOW)
    assert caught.value.errors == [
        "compute_pools[0] (vision/cp): ScalingPolicy burst scales on cpu utilization, but autoscale.prometheus "
        "measures GPU utilization (DCGM_FI_DEV_GPU_UTIL); set the policy's metric to gpu, or give autoscale.samples"]


def series(*values, start=T - 600, step=30):
    return [{"metric": {}, "values": [[start + i * step, str(v)] for i, v in enumerate(values)]}]


def test_an_answer_becomes_gpu_samples_and_no_answer_is_an_error_naming_the_query():
    query = metrics_queries(parse_fabric(document({"prometheus": SOURCE})), running(), NOW)[0]
    assert samples_from_series(query, series(90, "NaN", 91.256)) == [
        (T - 600, None, "90.00"), (T - 540, None, "91.26")]
    for empty in ([], [{"metric": {}, "values": []}], series("NaN")):
        with pytest.raises(FabricError) as caught:
            samples_from_series(query, empty)
        assert caught.value.errors[0].startswith(query.where + " returned no series: no DCGM_FI_DEV_GPU_UTIL "
                                                 "samples for host(s) g0, g1 in that window")


def test_the_plan_decides_from_the_samples_the_run_read():
    state = running()
    doc = document({"prometheus": SOURCE})
    query = metrics_queries(parse_fabric(doc), state, NOW)[0]
    hot = tuple(samples_from_series(query, series(*([95] * 21))))
    result = plan(doc, state, metrics=((("vision", "cp"), hot),))
    assert result.report("compute_pools[0] (vision/cp)")["autoscaling"] == {
        "decision": "scale-up", "targetNodes": 3, "reason": "minimum gpu utilization over 300 s is 95%, above 80%"}
    after = fake_apply(state, result.writes)
    assert plan(doc, after, metrics=((("vision", "cp"), hot),)).writes == ()  # cooling down: nothing to write
    with pytest.raises(FabricError, match="no utilization was read for its hosts before planning"):
        plan(doc, state)


def test_gpu_only_samples_decide_on_gpu_alone():
    rules = parse_scaling_policy({"scale_up_threshold": 80, "scale_up_duration": 300, "scale_down_threshold": 20,
                                  "scale_down_duration": 600, "min_nodes": 1, "max_nodes": 4})
    cold = [(T - 600 + i * 30, None, "4.50") for i in range(21)]
    assert decide(rules, cold, T, 2).reason == "maximum utilization over 600 s is gpu 4.5%, below 20%"
    warm = [(T - 600 + i * 30, None, "50") for i in range(21)]
    assert decide(rules, warm, T, 2).action == "none"


def test_exactly_one_source_and_the_token_is_a_secret():
    both = dict(document()["compute_pools"][0], autoscale={"samples": [{"time": T, "gpu": 1}], "prometheus": SOURCE})
    both = validate_options("compute_pool", both)[1]
    assert both == ["autoscale: samples and prometheus are mutually exclusive; give one"]
    neither = validate_options("compute_pool", dict(document()["compute_pools"][0], autoscale={"now": NOW}))[1]
    assert neither == ["autoscale: one of samples, prometheus is required"]
    missing_url = validate_options("compute_pool", dict(document()["compute_pools"][0],
                                                        autoscale={"prometheus": {"token": "x"}}))[1]
    assert missing_url == ["autoscale.prometheus.url is required"]
    assert secret_values(document({"prometheus": SOURCE})) == {"s3cret"}
    assert secret_values(document({"prometheus": {"url": "http://p", "api_key": "alias-token"}})) == {"alias-token"}
