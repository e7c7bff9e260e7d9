"""App deployments in the core: arguments, OSMO variables and rules, family choice, placement, the workload,
allocation records read back from workloads, and the pool statuses they sum into."""

from __future__ import annotations

import json

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import (
    ALLOCATION, app_from_workload, choose_family, labelled_capacity, node_selector, parse_app, place,
    placement_report, pod_template, render_workload, validation_messages)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import AppAllocation
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import Context, parse_fabric, plan_fabric
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import COMPUTE_POOL, Ledger
from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import state_from_lists

CAPACITY = [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 16}]}]
BASE = {"name": "llm", "namespace": "vision", "compute_pool": "cp", "image": "vllm", "replicas": 2,
        "resources": {"gpu": 4}}


def node(name, pool, gpu_type, family="NVIDIA-A100", gpus=8):
    return {"metadata": {"name": name, "labels": {"runwhere.ai/pool": pool, "runwhere.ai/gpu-type": gpu_type,
                                                  "nvidia.com/gpu.product": family, "kubernetes.io/arch": "amd64"}},
            "status": {"capacity": {"nvidia.com/gpu": str(gpus)}}}


def pod(name, node_name, gpus, app=None):
    labels = {"gpufabric.io/app": app} if app else {}
    return {"metadata": {"name": name, "labels": labels}, "status": {"phase": "Running"},
            "spec": {"nodeName": node_name, "containers": [{"resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}


def test_parse_app_collects_every_error():
    with pytest.raises(FabricError) as caught:
        parse_app({"name": "Bad_Name", "namespace": "vision", "pool": "a", "compute_pool": "b", "kind": "Pod",
                   "replicas": 0, "resources": {"gpu": -1}, "pod_templates": ["x"]})
    errors = caught.value.errors
    assert "give exactly one of pool (a labelled pool) or compute_pool, got pool and compute_pool" in errors
    assert "kind 'Pod' is not one of Deployment, Job" in errors
    assert "replicas must be an integer from 1 to 1000000, got 0" in errors
    assert "image is required with state=present" in errors
    assert any(e.startswith("resources.gpu (USER_GPU)") for e in errors)
    assert any(e.startswith("pod_templates[0] must be a mapping") for e in errors)
    assert len(errors) == 7


def test_user_resources_override_default_variables_and_rules_see_them():
    rule = {"operator": "LE", "left_operand": "{{USER_MEMORY}}", "right_operand": "64Gi",
            "assert_message": "Memory {{USER_MEMORY}} exceeds 64Gi"}
    spec = parse_app(dict(BASE, default_variables={"USER_MEMORY": "1Gi", "USER_CPU": 2},
                          resources={"gpu": 1, "memory": "65Gi"}, resource_validations=[rule]))
    variables = dict(spec.variables)
    assert variables["USER_MEMORY"] == "65Gi" and variables["USER_CPU"] == 2 and variables["USER_GPU"] == 1
    assert validation_messages(spec) == ["Memory 65Gi exceeds 64Gi"]
    assert validation_messages(parse_app(dict(BASE, resource_validations=[rule], resources={"memory": "64Gi"}))) == []


def test_gpu_count_comes_from_default_variables_when_not_given():
    spec = parse_app(dict(BASE, resources=None, default_variables={"USER_GPU": 2}))
    assert (spec.gpu, spec.gpu_total) == (2, 4)


def test_family_choice():
    spec = parse_app(BASE)
    two = CAPACITY + [{"architecture": "ARM64", "gpu": [{"family": "NVIDIA-GH200", "gpuCount": 4}]}]
    assert choose_family(spec, CAPACITY) == ("NVIDIA-A100", [])
    assert choose_family(spec, two)[1] == [
        "compute pool cp has GPUs of 2 families (NVIDIA-A100, NVIDIA-GH200); set platform to one of them"]
    assert choose_family(parse_app(dict(BASE, platform="nvidia gh200")), two) == ("NVIDIA-GH200", [])
    assert choose_family(parse_app(dict(BASE, platform="NVIDIA-H100")), two)[1] == [
        "compute pool cp has no NVIDIA-H100 GPUs (families: NVIDIA-A100, NVIDIA-GH200)"]
    labelled = parse_app(dict(BASE, compute_pool=None, pool="train"))
    assert "set platform to one of its GPU types: a100, gh200" in choose_family(labelled, two, ["a100", "gh200"])[1][0]


def test_place_counts_others_once_and_reports_quota_and_shortfall():
    spec = parse_app(BASE)  # 2 x 4 = 8 GPUs
    others = [AppAllocation("other", "vision", "AMD64", "NVIDIA-A100", 6),
              AppAllocation("llm", "vision", "AMD64", "NVIDIA-A100", 8)]  # its own old record: ignored
    selector = node_selector(spec, "NVIDIA-A100", "runwhere.ai")
    fits = place(spec, "NVIDIA-A100", CAPACITY, [], "shared", others, {"NVIDIA-A100": 14}, others, selector)
    assert fits.errors == () and (fits.gpu.free, fits.gpu.free_after) == (10, 2)
    assert (fits.quota.free, fits.quota.free_after) == (8, 0)  # exactly at quota passes
    assert [(a.name, a.count) for a in fits.apps_after] == [("llm", 8), ("other", 6)]
    report = placement_report(spec, fits)
    assert report["target"] == {"kind": "ComputePool", "name": "cp"} and "computePool" not in report

    over = place(spec, "NVIDIA-A100", CAPACITY, [], "shared", others, {"NVIDIA-A100": 13}, others, selector)
    assert over.errors == ("needs 8 x NVIDIA-A100, 7 left of project vision's quota (13 quota, 6 used): short by 1",)
    foreign = [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 3}]}]
    short = place(spec, "NVIDIA-A100", CAPACITY, foreign, "shared", others, {"NVIDIA-A100": 99}, others, selector)
    assert short.errors == ("needs 8 x NVIDIA-A100, 7 free on compute pool cp (16 total, 9 allocated): short by 1",)
    dedicated = place(spec, "NVIDIA-A100", CAPACITY, [], "dedicated", others, {"NVIDIA-A100": 99}, others, selector)
    assert "compute pool cp is dedicated and already hosts vision/other" in dedicated.errors[0]


def test_labelled_capacity_counts_foreign_pods_not_app_pods():
    nodes = [node("n1", "train", "a100"), node("n2", "train", "a100")]
    pods = [pod("x", "n1", 2), pod("app-0", "n2", 4, app="llm"), pod("elsewhere", "n9", 8)]
    capacity, foreign = labelled_capacity(nodes, pods)
    assert capacity == [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 16}]}]
    assert foreign == [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 2}]}]


def pool_spec(*apps):
    return {"projects": [{"name": "vision", "gpu_quota": {"NVIDIA-A100": 16}}],
            "pools": [{"name": "train", "nodes": {"n1": {"gpu_type": "a100"}, "n2": {"gpu_type": "a100"}}}],
            "apps": list(apps)}


def pool_status_written(document, lists):
    plan = plan_fabric(parse_fabric(document), state_from_lists(lists), Context(now="t"))
    return next(w.body["status"] for w in plan.writes if w.key == "Pool/train/status")


def test_pool_status_counts_foreign_pods_and_the_apps_by_their_record_not_their_pods():
    nodes = [dict(node("n1", "train", "a100"), kind="Node"), dict(node("n2", "train", "a100"), kind="Node")]
    pods = [pod("x", "n1", 2), pod("app-0", "n2", 4, app="llm"), pod("elsewhere", "n9", 8)]
    llm = {"name": "llm", "namespace": "vision", "pool": "train", "image": "vllm", "resources": {"gpu": 4}}
    status = pool_status_written(pool_spec(llm), {"Node": nodes, "Pod": pods})
    assert (status["gpuUsed"], status["gpuFree"], status["gpuAllocated"]) == (6, 10, 4)
    assert status["aiWorkloadRefs"] == [{"name": "llm", "namespace": "vision", "family": "NVIDIA-A100",
                                         "gpuCount": 4, "architecture": "AMD64"}]
    empty = pool_status_written(pool_spec(), {"Node": nodes, "Pod": pods})
    assert (empty["gpuUsed"], empty["gpuAllocated"], empty["aiWorkloadRefs"]) == (2, 0, [])


def test_pod_template_merge_order_and_the_pool_selector_wins():
    spec = parse_app(dict(BASE, pod_templates=[
        {"metadata": {"labels": {"tier": "a"}}, "spec": {"nodeSelector": {"disk": "ssd"}}},
        {"metadata": {"labels": {"tier": "b"}},
         "spec": {"nodeSelector": {"disk": "nvme", "runwhere.ai/compute-pool": "other"},
                  "containers": [{"name": "{{USER_CONTAINER_NAME}}", "workingDir": "/w"}]}}]))
    selector = node_selector(spec, "NVIDIA-A100", "runwhere.ai", ("NVIDIA-A100",))
    template = pod_template(spec, selector)
    assert template["metadata"]["labels"]["tier"] == "b" and template["metadata"]["labels"]["gpufabric.io/app"] == "llm"
    assert template["spec"]["nodeSelector"] == {"disk": "nvme", "runwhere.ai/compute-pool": "cp",
                                                "nvidia.com/gpu.product": "NVIDIA-A100"}
    container = template["spec"]["containers"][0]
    assert container["workingDir"] == "/w" and container["resources"]["limits"] == {"nvidia.com/gpu": "4"}


def test_workload_records_its_allocation_and_is_read_back():
    spec = parse_app(dict(BASE, kind="Job"))
    placement = place(spec, "NVIDIA-A100", CAPACITY, [], "shared", [], {"NVIDIA-A100": 8}, [],
                      node_selector(spec, "NVIDIA-A100", "runwhere.ai"))
    job = render_workload(spec, placement)
    assert job["kind"] == "Job" and job["spec"]["parallelism"] == job["spec"]["completions"] == 2
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert json.loads(job["metadata"]["annotations"][ALLOCATION]) == {
        "architecture": "AMD64", "count": 8, "family": "NVIDIA-A100", "name": "cp", "target": "compute_pool"}
    assert app_from_workload(job) == ("compute_pool", "cp", AppAllocation("llm", "vision", "AMD64", "NVIDIA-A100", 8))
    other = dict(job, metadata=dict(job["metadata"], namespace="nlp"))
    plain = {"kind": "Job", "metadata": {"name": "plain", "namespace": "vision"}}
    ledger = Ledger({"": state_from_lists({"Job": [job, other, plain]})})
    assert [a.namespace for a in ledger.apps_on(COMPUTE_POOL, "cp", "vision")] == ["vision"]
    assert [a.namespace for a in ledger.apps_on(COMPUTE_POOL, "cp", "nlp")] == ["nlp"]
    assert [a.name for a in ledger.apps_in("vision")] == ["llm"]


def test_compute_pool_status_keeps_its_own_fields_when_its_apps_change():
    status = {"status": "Running", "mode": "shared", "gpuTotal": 16, "hardwareCapacity": CAPACITY,
              "allocatedMachinePools": [{"name": "x"}], "hardwareAllocation": [], "aiWorkloadRefs": [],
              "gpuAllocated": 0}
    compute_pool = {"apiVersion": "gpufabric.io/v1alpha1", "kind": "ComputePool",
                    "metadata": {"name": "cp", "namespace": "vision", "labels": {"app.kubernetes.io/managed-by":
                                                                                 "gpufabric"}},
                    "spec": {"clusterVariant": {"shared": {}}}, "status": status}
    project = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "vision", "annotations": {"runwhere.ai/gpu-quota": '{"NVIDIA-A100":16}'}}}
    placed = parse_app(dict(BASE, name="a", replicas=1))
    running = render_workload(placed, place(placed, "NVIDIA-A100", CAPACITY, [], "shared", [], {"NVIDIA-A100": 16},
                                            [], node_selector(placed, "NVIDIA-A100", "runwhere.ai")))
    state = state_from_lists({"Namespace": [project], "ComputePool": [compute_pool], "Deployment": [running],
                              "Node": [], "Pod": [], "Pool": [], "Job": []})
    document = {"apps": [dict(BASE, name="b", replicas=1, resources={"gpu": 2})]}
    plan = plan_fabric(parse_fabric(document), state, Context(now="t"))
    after = next(w.body["status"] for w in plan.writes if w.key == "ComputePool/vision/cp/status")
    assert after["hardwareAllocation"] == [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 6}]}]
    assert [(r["name"], r["gpuCount"]) for r in after["aiWorkloadRefs"]] == [("a", 4), ("b", 2)]
    assert after["gpuAllocated"] == 6
    assert all(after[key] == status[key] for key in status if key not in (
        "hardwareAllocation", "aiWorkloadRefs", "gpuAllocated"))


@pytest.mark.parametrize("given, stored", [("1024Mi", "1Gi"), ("0.5", "500m"), ("4096", "4096"), ("2000m", "2"),
                                           (8, "8"), ("1536Mi", "1536Mi"), ("0.5Gi", "512Mi"), ("1000M", "1G")])
def test_requests_are_written_as_the_server_stores_them(given, stored):
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import canonical_quantity

    assert canonical_quantity(given) == stored


def test_gpus_by_family_sums_the_nodes_gpus_per_normalised_family():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import gpus_by_family

    def node(name, product, gpus):
        labels = {"nvidia.com/gpu.product": product} if product else {}
        return {"metadata": {"name": name, "labels": labels}, "status": {"capacity": {"nvidia.com/gpu": str(gpus)}}}

    nodes = [node("a", "NVIDIA A100", 8), node("b", "nvidia-a100", 4), node("c", "NVIDIA-L40S", 2), node("d", None, 0)]
    assert gpus_by_family(nodes) == {"NVIDIA-A100": 12, "NVIDIA-L40S": 2}
