"""Every family comparison goes through one rule (core.families): quotas, tenant sums, capacity warnings, worker
pool allocation, placement and the status rows, on nodes labelled as GPU feature discovery labels them."""

from __future__ import annotations

import pytest
from core_helpers import node
from fake_cluster import cluster, fake_apply
from test_core_fabric import EDGE, demo_document, demo_nodes

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    check_quota, parse_gpu_quota, quota_capacity_warnings, quota_errors, usage_by_quota)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
    Context, parse_fabric, plan_fabric)

NOW = "2024-01-15T10:30:00Z"
SXM80, PCIE40 = "NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-PCIE-40GB"


def plan(document, state):
    return plan_fabric(parse_fabric(document), state, Context(now=NOW))


def errors_of(document, state):
    with pytest.raises(FabricError) as caught:
        plan(document, state)
    return caught.value.errors


def status_of(writes, key):
    return next(w.body["status"] for w in writes if w.key == key)


# -- the demo and the README's own examples ---------------------------------------------------------------------

def test_the_demo_counts_its_a100_sxm4_nodes_as_a100s_for_the_tenant_and_the_projects():
    result = plan(demo_document(), cluster(demo_nodes()))
    # 16 A100-SXM4-80GB on the pool nodes and 8 A100 (40 GB) on the edge hosts: the tenant's 24 fit
    assert not [w for w in result.warnings if "exceeds" in w], result.warnings
    assert quota_capacity_warnings("tenant research", {"NVIDIA-A100": 25}, {
        "NVIDIA-A100-80GB": 16, "NVIDIA-A100-40GB": 8, "NVIDIA-A10": 8}) == [
        "tenant research quota 25 x NVIDIA-A100 exceeds the 24 NVIDIA-A100 GPUs in the cluster: over by 1"]


def test_the_readme_app_on_the_training_pool_counts_against_the_projects_a100_quota():
    document = {"projects": [{"name": "vision", "gpu_quota": {"NVIDIA-A100": 8}}],
                "pools": [{"name": "training-pool", "nodes": {"gpu-node-1": {"gpu_type": "A100-100G"},
                                                              "gpu-node-2": {"gpu_type": "A100-100G"}}}],
                "apps": [{"name": "llm-serve", "namespace": "vision", "pool": "training-pool", "image": "vllm",
                          "replicas": 2, "resources": {"gpu": 4}}]}
    result = plan(document, cluster(demo_nodes()))
    report = result.report("apps[0] (vision/llm-serve)")
    assert report["placement"]["family"] == "NVIDIA-A100-80GB"
    assert (report["placement"]["quotaLeft"], report["placement"]["quotaLeftAfter"]) == (8, 0)
    assert report["placement"]["nodeSelector"]["nvidia.com/gpu.product"] == SXM80
    status = status_of(result.writes, "Pool/training-pool/status")
    assert status["aiWorkloadRefs"] == [{"name": "llm-serve", "namespace": "vision", "family": "NVIDIA-A100",
                                         "memoryGB": 80, "gpuCount": 8, "architecture": "AMD64"}]


# -- quotas -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("quota,family,fits,message", [
    ({"NVIDIA-A100": 8}, "NVIDIA-A100-80GB", True,
     "4 x NVIDIA-A100-80GB (quota NVIDIA-A100) within project vision's quota: 6 left of 8, 2 left after"),
    ({"NVIDIA-A100-80GB": 8}, "NVIDIA-A100-80GB", True,
     "4 x NVIDIA-A100-80GB within project vision's quota: 6 left of 8, 2 left after"),
    ({"NVIDIA-A100-80GB": 8}, "NVIDIA-A100-40GB", False,
     "needs 4 x NVIDIA-A100-40GB, 0 left of project vision's quota (0 quota, 0 used): short by 4"),
    ({"NVIDIA-A100-80GB": 8}, "NVIDIA-A100", False,  # an app that may land on any A100 is no 80 GB app
     "needs 4 x NVIDIA-A100, 0 left of project vision's quota (0 quota, 0 used): short by 4"),
    ({"NVIDIA-A10": 8}, "NVIDIA-A100-80GB", False,  # the other app already holds GPUs no quota family covers
     "needs 4 x NVIDIA-A100-80GB, -2 left of project vision's quota (0 quota, 2 used): short by 6"),
])
def test_a_quota_family_counts_the_apps_it_covers(quota, family, fits, message):
    used = {"NVIDIA-A100-80GB": 2}  # another app of the project
    fit = check_quota("vision", quota, used, family, 4)
    assert (fit.fits, fit.message) == (fits, message)


def test_usage_is_folded_under_the_quota_family_that_covers_it():
    assert usage_by_quota({"NVIDIA-A100": 8, "NVIDIA-A10": 4},
                          {"NVIDIA-A100-80GB": 2, "NVIDIA-A100-40GB": 1, "NVIDIA-A10-24GB": 4, "NVIDIA-L40S": 1}) == {
        "NVIDIA-A100": 3, "NVIDIA-A10": 4, "NVIDIA-L40S": 1}


def test_a_quota_of_overlapping_families_is_refused_and_product_spellings_are_one_family():
    with pytest.raises(FabricError) as caught:
        parse_gpu_quota({"NVIDIA-A100": 8, "NVIDIA-A100-80GB": 4})
    assert caught.value.errors == ["gpu_quota lists NVIDIA-A100 and NVIDIA-A100-80GB, which overlap (every "
                                   "NVIDIA-A100-80GB is an NVIDIA-A100); keep one"]
    with pytest.raises(FabricError, match="family NVIDIA-A100-80GB is listed twice"):
        parse_gpu_quota({SXM80: 8, "NVIDIA-A100-80GB-PCIe": 4})
    assert parse_gpu_quota({SXM80: 8, "nvidia a100 40gb": 2}) == (("NVIDIA-A100-40GB", 2), ("NVIDIA-A100-80GB", 8))


def test_a_tenant_family_holds_the_project_families_it_covers():
    tenant = {"NVIDIA-A100": 10}
    assert quota_errors("research", tenant, {"vision": {"NVIDIA-A100-80GB": 6}, "nlp": {"NVIDIA-A100": 4}}) == []
    assert quota_errors("research", tenant, {"vision": {"NVIDIA-A100-80GB": 7}, "nlp": {"NVIDIA-A100": 4}}) == [
        "tenant research: projects request 11 x NVIDIA-A100 (nlp 4, vision 7 x NVIDIA-A100-80GB) but the tenant "
        "quota is 10: over by 1"]
    assert quota_errors("research", {"NVIDIA-A100-80GB": 8}, {"vision": {"NVIDIA-A100": 2}}) == [
        "tenant research: projects request 2 x NVIDIA-A100 (vision 2) but the tenant quota is 0: over by 2"]


# -- compute pools: the allocation takes what the worker pool's family covers -------------------------------------

def hosts():
    return [node("cp-1", labels=EDGE), node("sxm-1", "64", "512Gi", 8, SXM80, labels=EDGE),
            node("sxm-2", "64", "512Gi", 8, SXM80, labels=EDGE),
            node("pcie-1", "64", "512Gi", 4, PCIE40, labels=EDGE)]


def compute_pool(family, count, nodes=1):
    return {"projects": [{"name": "vision", "gpu_quota": {"NVIDIA-A100": 32}}],
            "compute_pools": [{"name": "cp", "namespace": "vision", "mode": "shared",
                               "control_plane": {"node_count": 1, "resource_groups": {"site": "edge"}},
                               "worker_resource_groups": {"site": "edge"},
                               "worker_pools": [{"name": "w", "gpu": {"family": family, "count": count},
                                                 "min_worker_nodes": nodes}]}]}


def test_a_worker_pool_of_a_family_takes_hosts_of_every_product_of_it():
    result = plan(compute_pool("NVIDIA A100", 20, 3), cluster(hosts()))
    status = status_of(result.writes, "ComputePool/vision/cp/status")
    workers = next(p for p in status["allocatedMachinePools"] if p["name"] != "control-plane-pool")
    assert sorted(workers["hosts"]) == ["pcie-1", "sxm-1", "sxm-2"]
    assert workers["hosts"]["sxm-1"]["gpuCountByFamily"] == {"NVIDIA-A100": 8}
    assert workers["hosts"]["sxm-1"]["gpuMemoryGBByFamily"] == {"NVIDIA-A100": 640}
    assert status["hardwareCapacity"][0]["gpu"] == [{"family": "NVIDIA-A100", "memoryGB": 40, "gpuCount": 4},
                                                    {"family": "NVIDIA-A100", "memoryGB": 80, "gpuCount": 16}]
    assert (status["gpuTotal"], status["gpuAllocated"], status["gpuFree"]) == (20, 0, 20)


def test_a_worker_pool_of_a_memory_variant_takes_only_those_hosts():
    result = plan(compute_pool("NVIDIA-A100-80GB", 16, 2), cluster(hosts()))
    status = status_of(result.writes, "ComputePool/vision/cp/status")
    workers = next(p for p in status["allocatedMachinePools"] if p["name"] != "control-plane-pool")
    assert sorted(workers["hosts"]) == ["sxm-1", "sxm-2"]
    assert errors_of(compute_pool("NVIDIA-A100-40GB", 8, 1), cluster(hosts())) == [
        "compute_pools[0] (vision/cp): worker pool w needs 8 x NVIDIA-A100-40GB on >= 1 host in site=edge; 4 "
        "eligible on 1 host (1 host in machine pool control-plane-pool, 2 wrong family)"]


def test_an_app_on_a_compute_pool_of_two_products_lands_on_either_by_node_affinity():
    document = compute_pool("NVIDIA-A100", 20, 3)
    document["apps"] = [{"name": "llm", "namespace": "vision", "compute_pool": "cp", "image": "vllm",
                         "resources": {"gpu": 4}}]
    result = plan(document, cluster(hosts()))
    pod = next(w.body for w in result.writes if w.key == "Deployment/vision/llm")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu.product" not in pod["nodeSelector"]
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                                     "values": [PCIE40, SXM80]}]}]}
    report = result.report("apps[0] (vision/llm)")["placement"]
    assert (report["family"], report["gpuProducts"]) == ("NVIDIA-A100", [PCIE40, SXM80])
    # asking for the 80 GB ones narrows the placement to their product
    document["apps"][0]["platform"] = "NVIDIA-A100-80GB"
    pod = next(w.body for w in plan(document, cluster(hosts())).writes
               if w.key == "Deployment/vision/llm")["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["nvidia.com/gpu.product"] == SXM80 and "affinity" not in pod


def test_a_template_with_node_affinity_of_its_own_keeps_it_and_gets_the_products_in_every_term():
    document = compute_pool("NVIDIA-A100", 20, 3)
    zones = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}
    document["apps"] = [{"name": "llm", "namespace": "vision", "compute_pool": "cp", "image": "vllm",
                         "resources": {"gpu": 4}, "pod_templates": [{"spec": {"affinity": zones}}]}]
    pod = next(w.body for w in plan(document, cluster(hosts())).writes
               if w.key == "Deployment/vision/llm")["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    products = {"key": "nvidia.com/gpu.product", "operator": "In", "values": [PCIE40, SXM80]}
    assert [term["matchExpressions"] for term in terms] == [
        [{"key": "zone", "operator": "In", "values": ["a"]}, products],
        [{"key": "zone", "operator": "In", "values": ["b"]}, products]]


def test_the_plan_converges_with_families_recorded_as_family_and_memory():
    document = compute_pool("NVIDIA-A100", 20, 3)
    document["apps"] = [{"name": "llm", "namespace": "vision", "compute_pool": "cp", "image": "vllm",
                         "platform": "NVIDIA-A100-80GB", "resources": {"gpu": 4}}]
    state = fake_apply(cluster(hosts()), plan(document, cluster(hosts())).writes)
    assert plan(document, state).writes == ()
    status = state.get("ComputePool", "cp", "vision")["status"]
    assert status["hardwareAllocation"] == [{"architecture": "AMD64", "gpu": [
        {"family": "NVIDIA-A100", "memoryGB": 80, "gpuCount": 4}]}]
    assert (status["gpuAllocated"], status["gpuFree"]) == (4, 16)


# -- products the table does not know ---------------------------------------------------------------------------

def test_an_unknown_product_is_counted_as_its_own_family_and_named_in_a_warning():
    nodes = [node("q-1", "32", "128Gi", 4, "Quadro-RTX-8000"), node("a-1", "32", "128Gi", 8, SXM80)]
    document = {"projects": [{"name": "viz", "gpu_quota": {"Quadro-RTX-8000": 4, "NVIDIA-A100": 8}}]}
    result = plan(document, cluster(nodes))
    assert result.warnings == (
        "GPU product Quadro-RTX-8000 (node q-1) is not in the family table; its GPUs count as a family of their "
        "own, QUADRO-RTX-8000: quotas, worker pools and apps must name it so",)
