"""App deployments in the core: arguments, OSMO variables and rules, family choice, placement, the workload,
allocation records read back from workloads, and the pool statuses they sum into."""

from __future__ import annotations

import json

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import (
    ALLOCATION, app_from_workload, apps_in, apps_on, choose_family, compute_pool_app_status, labelled_capacity,
    labelled_pool_app_status, node_selector, parse_app, place, placement_report, pod_template, render_workload,
    validation_messages)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import AppAllocation
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError

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
    assert "replicas must be an integer >= 1, got 0" in errors
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
    apps = [AppAllocation("llm", "vision", "AMD64", "NVIDIA-A100", 4)]
    status = labelled_pool_app_status("train", nodes, pods, apps)
    assert (status["gpuUsed"], status["gpuFree"], status["gpuAllocated"]) == (6, 10, 4)
    assert status["aiWorkloadRefs"] == [{"name": "llm", "namespace": "vision"}]
    assert "aiWorkloadRefs" not in labelled_pool_app_status("train", nodes, pods, [])


def test_pod_template_merge_order_and_the_pool_selector_wins():
    spec = parse_app(dict(BASE, pod_templates=[
        {"metadata": {"labels": {"tier": "a"}}, "spec": {"nodeSelector": {"disk": "ssd"}}},
        {"metadata": {"labels": {"tier": "b"}},
         "spec": {"nodeSelector": {"disk": "nvme", "runwhere.ai/compute-pool": "other"},
                  "containers": [{"name": "{{USER_CONTAINER_NAME}}", "workingDir": "/w"}]}}]))
    selector = node_selector(spec, "NVIDIA-A100", "runwhere.ai")
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
    assert [a.namespace for a in apps_on([job, other], "compute_pool", "cp")] == ["nlp", "vision"]
    assert [a.namespace for a in apps_on([job, other], "compute_pool", "cp", "vision")] == ["vision"]
    assert [a.name for a in apps_in([job, other, {"metadata": {"name": "plain"}}], "vision")] == ["llm"]


def test_compute_pool_status_keeps_its_own_fields():
    status = {"status": "Running", "gpuTotal": 16, "hardwareCapacity": CAPACITY, "allocatedMachinePools": [{"name": "x"}]}
    apps = [AppAllocation("a", "vision", "AMD64", "NVIDIA-A100", 4),
            AppAllocation("b", "nlp", "AMD64", "NVIDIA-A100", 2)]
    after = compute_pool_app_status(status, apps)
    assert after["hardwareAllocation"] == [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 6}]}]
    assert after["aiWorkloadRefs"] == [{"name": "b", "namespace": "nlp"}, {"name": "a", "namespace": "vision"}]
    assert after["gpuAllocated"] == 6
    assert all(after[key] == status[key] for key in status) and "hardwareAllocation" not in status


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
