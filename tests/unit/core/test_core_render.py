"""Rendering: the seed's ComputePool status shape, spec camelCase, node labels under the prefix only."""

from __future__ import annotations

import json

import pytest
from core_helpers import cpu_host, gpu_host, seed_hosts, spec

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import (
    HostEntry, MachinePool, allocation_from_status)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import AppAllocation
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import cloud_config_uuid
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import (
    Operation, Plan, Step, apply_plan, plan_compute_pool)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_render import (
    compute_pool_label_changes, compute_pool_state, render_compute_pool, render_compute_pool_status)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import compute_pool_from_resource


def seed_allocation():
    hosts = seed_hosts()
    return hosts, apply_plan((), plan_compute_pool(hosts, spec()), hosts, "2024-01-15T10:30:00Z")


def test_rendered_status_has_the_seed_shape():
    hosts, allocation = seed_allocation()
    apps = [AppAllocation("training-job-1", "project-a", "AMD64", "NVIDIA-A100", 4)]
    status = render_compute_pool_status(spec(), allocation, hosts, apps, compute_pool_state(allocation, hosts))
    assert status == {
        "status": "Running",
        "mode": "dedicated",
        "gpuTotal": 8,
        "gpuAllocated": 4,
        "gpuFree": 4,
        "hardwareCapacity": [{"architecture": "AMD64", "totalCPU": 80, "totalMemory": "320Gi",
                              "gpu": [{"family": "NVIDIA-A100", "memoryGB": 40, "gpuCount": 8}]}],
        "hardwareAllocation": [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 4}]}],
        "cloudConfigUUID": cloud_config_uuid("vision", "vision-cluster"),
        "allocatedMachinePools": [
            {"name": "control-plane-pool", "nodeType": "ControlPlaneAndWorker",
             "hosts": {"host-uid-1": {"architecture": "AMD64", "cpuCount": 16, "memoryGB": 64, "status": "Healthy",
                                      "statusUpdatedAt": "2024-01-15T10:30:00Z"}},
             "labels": ["control-plane"]},
            {"name": "worker-pool-nvidia-amd64-0", "nodeType": "WorkerOnly",
             "workerPoolRequirementsName": "gpu-workers",
             "hosts": {"host-uid-3": {"architecture": "AMD64", "cpuCount": 32, "memoryGB": 128,
                                      "gpuCountByFamily": {"NVIDIA-A100": 4},
                                      "gpuMemoryGBByFamily": {"NVIDIA-A100": 160},
                                      "status": "Healthy", "statusUpdatedAt": "2024-01-15T10:30:00Z"},
                       "host-uid-4": {"architecture": "AMD64", "cpuCount": 32, "memoryGB": 128,
                                      "gpuCountByFamily": {"NVIDIA-A100": 4},
                                      "gpuMemoryGBByFamily": {"NVIDIA-A100": 160},
                                      "status": "Healthy", "statusUpdatedAt": "2024-01-15T10:30:00Z"}},
             "labels": ["worker", "gpu-family-nvidia"]}],
        "aiWorkloadRefs": [{"name": "training-job-1", "namespace": "project-a", "family": "NVIDIA-A100",
                            "gpuCount": 4, "architecture": "AMD64"}],
    }


def test_status_round_trips_through_allocation_from_status():
    hosts, allocation = seed_allocation()
    status = render_compute_pool_status(spec(), allocation, hosts)
    assert allocation_from_status(json.loads(json.dumps(status))) == allocation


def test_cloud_config_uuid_is_stable_per_compute_pool():
    assert cloud_config_uuid("vision", "a") == cloud_config_uuid("vision", "a") != cloud_config_uuid("other", "a")


def test_spec_is_camel_case_with_mode_under_cluster_variant_and_round_trips():
    desired = spec(mode="shared", control_plane_resource_groups={"network-pool": "1"},
                   worker_resource_groups={"storage-tier": "high-performance"},
                   scaling_policy_ref={"name": "my-scaling-policy", "namespace": "default"})
    obj = render_compute_pool(desired)
    assert obj["apiVersion"] == "gpufabric.io/v1alpha1" and obj["kind"] == "ComputePool"
    assert obj["metadata"] == {"name": "vision-cluster", "namespace": "vision",
                               "labels": {"app.kubernetes.io/managed-by": "gpufabric"}}
    assert obj["spec"] == {
        "clusterVariant": {"shared": {"scalingPolicyRef": {"name": "my-scaling-policy", "namespace": "default"}},
                           "controlPlaneResourceGroups": {"network-pool": "1"},
                           "workerResourceGroups": {"storage-tier": "high-performance"}},
        "controlPlane": {"nodeCount": 1, "singleNodeCluster": False, "architecture": "AMD64",
                         "scheduleWorkloads": True},
        "nodePoolRequirements": {"workerPools": [{"name": "gpu-workers", "architecture": "AMD64",
                                                  "gpu": {"family": "NVIDIA-A100", "gpuCount": 8},
                                                  "minWorkerNodes": 2}]}}
    assert compute_pool_from_resource(obj) == desired


def test_node_label_changes_only_touch_prefix_keys_and_this_compute_pool():
    member = {"runwhere.ai/compute-pool": "vision-cluster", "runwhere.ai/machine-pool": "control-plane-pool"}
    hosts = [cpu_host("a"), cpu_host("b", labels=member),
             cpu_host("c", labels={"runwhere.ai/compute-pool": "other", "runwhere.ai/machine-pool": "x"})]
    allocation = (MachinePool("control-plane-pool", "ControlPlaneAndWorker", ("control-plane",), None,
                              (HostEntry("a", "Healthy"),)),)
    changes = compute_pool_label_changes(hosts, "vision-cluster", allocation, "runwhere.ai")
    assert changes == {"a": {"runwhere.ai/compute-pool": "vision-cluster",
                             "runwhere.ai/machine-pool": "control-plane-pool"},
                       "b": {"runwhere.ai/compute-pool": None, "runwhere.ai/machine-pool": None}}
    assert all(key.startswith("runwhere.ai/") for patch in changes.values() for key in patch)
    assert all("app.kubernetes.io/managed-by" not in patch for patch in changes.values())


def test_node_label_changes_are_empty_when_labels_match():
    hosts = [cpu_host("a", labels={"runwhere.ai/compute-pool": "p", "runwhere.ai/machine-pool": "control-plane-pool"})]
    allocation = (MachinePool("control-plane-pool", "ControlPlaneAndWorker", (), None, (HostEntry("a"),)),)
    assert compute_pool_label_changes(hosts, "p", allocation, "runwhere.ai") == {}


def test_pool_status_values():
    hosts, allocation = seed_allocation()
    assert compute_pool_state(allocation, hosts) == "Running"
    assert compute_pool_state(allocation, hosts, deleting=True) == "Deleting"
    pending = (allocation[0].with_hosts([HostEntry("host-uid-1", "Provisioning")]),) + allocation[1:]
    assert compute_pool_state(pending, hosts) == "Provisioning"
    sick = (allocation[0].with_hosts([HostEntry("host-uid-1", "Unhealthy")]),) + allocation[1:]
    assert compute_pool_state(sick, hosts) == "Unhealthy"
    done = plan_compute_pool(hosts, spec(workers=[]), allocation)
    assert done.operations and compute_pool_state(allocation, hosts, done) == "Running"
    waiting = Plan("vision-cluster", (Operation("replace", "w", "w", (Step("wait", "w", "h", message="m"),)),))
    assert compute_pool_state(allocation, hosts, waiting) == "Updating"
    failed = plan_compute_pool(hosts, spec(workers=[], node_count=5))
    assert compute_pool_state((), hosts, failed) == "Failed"


def test_hardware_capacity_is_per_architecture_with_exact_memory():
    hosts = [cpu_host("a"), cpu_host("b", arch="ARM64", memory="1536Mi"),
             gpu_host("c", 2, family="NVIDIA-H100", arch="ARM64")]
    allocation = (MachinePool("control-plane-pool", "ControlPlaneOnly", (), None,
                              tuple(HostEntry(h.name) for h in hosts)),)
    assert render_compute_pool_status(spec(), allocation, hosts)["hardwareCapacity"] == [
        {"architecture": "AMD64", "totalCPU": 32, "totalMemory": "128Gi", "gpu": []},
        {"architecture": "ARM64", "totalCPU": 64, "totalMemory": "132608Mi",
         "gpu": [{"family": "NVIDIA-H100", "memoryGB": 40, "gpuCount": 2}]}]


def test_label_changes_reject_a_bad_prefix():
    with pytest.raises(FabricError, match="label prefix 'Not A Prefix'"):
        compute_pool_label_changes([cpu_host("a")], "p", (), "Not A Prefix")


def test_compute_pool_rerender_keeps_what_app_deployment_recorded():
    from core_helpers import node
    from fake_cluster import cluster, fake_apply

    from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
        Context, parse_fabric, plan_fabric)

    project = {"name": "vision", "gpu_quota": {"NVIDIA-A100": 8}}
    compute_pool = {"name": "vision-cluster", "namespace": "vision",
                    "worker_pools": [{"name": "gpu-workers", "gpu": {"family": "NVIDIA-A100", "count": 8},
                                      "min_worker_nodes": 2}]}
    app = {"name": "training-job-1", "namespace": "vision", "compute_pool": "vision-cluster", "image": "t",
           "resources": {"gpu": 4}}
    state = cluster([node("host-uid-1"), node("host-uid-3", "32", "128Gi", 4, "NVIDIA-A100", 40960),
                     node("host-uid-4", "32", "128Gi", 4, "NVIDIA-A100", 40960)])
    for document in ({"projects": [project], "compute_pools": [compute_pool]}, {"apps": [app]}):
        state = fake_apply(state, plan_fabric(parse_fabric(document), state, Context(now="t1")).writes)
    recorded = state.get("ComputePool", "vision-cluster", "vision")["status"]
    assert recorded["gpuAllocated"] == 4 and [r["name"] for r in recorded["aiWorkloadRefs"]] == ["training-job-1"]
    rerun = plan_fabric(parse_fabric({"compute_pools": [compute_pool]}), state, Context(now="t2"))
    assert rerun.writes == ()
    grown = dict(compute_pool, control_plane={"node_count": 1, "schedule_workloads": False})
    status = next(w.body["status"] for w in plan_fabric(parse_fabric({"compute_pools": [grown]}), state,
                                                        Context(now="t2")).writes if w.action == "status")
    assert all(status[key] == recorded[key] for key in ("hardwareAllocation", "aiWorkloadRefs", "gpuAllocated"))


def test_module_option_names_are_read_for_resource_groups_and_scaling_policy():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import parse_compute_pool

    parsed = parse_compute_pool({"name": "p", "namespace": "n", "control_plane": {"resource_groups": {"zone": "a"}},
                                 "scaling_policy": {"name": "sp", "namespace": "n"}})
    assert parsed.control_plane_resource_groups == (("zone", "a"),)
    assert dict(parsed.scaling_policy_ref) == {"name": "sp", "namespace": "n"}
