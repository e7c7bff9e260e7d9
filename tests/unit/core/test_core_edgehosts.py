"""Edge hosts: the EdgeHost a host registers with and the identity that may update only it, a name held by one
machine, reports and their heartbeat, compute pools allocating EdgeHosts with the same rules as Nodes (and writing
no Node labels), the Ansible groups compute pools make, and the Nodes their hosts become."""

from __future__ import annotations

from fractions import Fraction

import pytest
from core_helpers import node
from fake_cluster import cluster, fake_apply

from ansible_collections.gpufabric.platform.plugins.module_utils.core.edgehosts import (
    allocations_of, compute_pool_inventory, edgehost_facts, identity_objects, node_status, node_status_write,
    plan_deregistration, plan_node, plan_registration, plan_report, registration_keys, render_edgehost, render_node,
    report_status)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
    Context, parse_fabric, plan_fabric, spokes_needed)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import GpuGroup, host_from_edgehost

NOW, SOON, LATER = "2026-01-15T10:30:00Z", "2026-01-15T10:31:00Z", "2026-01-15T11:30:00Z"
A100 = [{"family": "NVIDIA-A100", "model": "NVIDIA-A100-SXM4-80GB", "count": 8, "memory_mib": 81920}]


def facts(address="10.0.0.11", machine="m-11", cpus=64, memory_mb=515000, gpus=None):
    return {"address": address, "machine_id": machine, "architecture": "x86_64", "cpus": cpus,
            "memory_mb": memory_mb, "gpus": A100 if gpus is None else gpus}


def registered(name, edge_facts=None, health="Healthy", labels=None):
    """An EdgeHost as the hub stores it once the host registered and reported."""
    obj = render_edgehost(name, edge_facts or facts())
    obj["metadata"].update(uid="uid-" + name, resourceVersion="7")
    obj["metadata"]["labels"].update(labels or {})
    obj["status"] = report_status(obj["spec"], edge_facts or facts(), None, NOW)
    obj["status"]["health"] = health
    return obj


def found(*objects):
    """The registration reads: every key asked for, None where nothing is stored."""
    keys = registration_keys("gpu-1") + [("Namespace", "", "gpufabric-edge")]
    result = dict((key, None) for key in keys)
    for obj in objects:
        result[(obj["kind"], obj["metadata"].get("namespace") or "", obj["metadata"]["name"])] = obj
    return result


# -- registration -----------------------------------------------------------------------------------------------

def test_registration_writes_the_edgehost_and_an_identity_that_may_update_only_its_own_status():
    errors, writes = plan_registration("gpu-1", facts(), found())
    assert errors == []
    assert [w.key for w in writes] == [
        "EdgeHost/gpu-1", "Namespace/gpufabric-edge", "ServiceAccount/gpufabric-edge/edge-gpu-1",
        "Secret/gpufabric-edge/edge-gpu-1-token", "ClusterRole/gpufabric-edge-gpu-1",
        "ClusterRoleBinding/gpufabric-edge-gpu-1"]
    spec = writes[0].body["spec"]
    assert spec == {"address": "10.0.0.11", "machineID": "m-11", "architecture": "AMD64", "cpus": 64,
                    "memory": "515000Mi", "gpuCount": 8,
                    "gpus": [{"family": "NVIDIA-A100", "model": "NVIDIA-A100-SXM4-80GB", "count": 8,
                              "memoryMiB": 81920}]}
    role = writes[4].body
    assert role["rules"] == [
        {"apiGroups": ["gpufabric.io"], "resources": ["edgehosts"], "resourceNames": ["gpu-1"], "verbs": ["get"]},
        {"apiGroups": ["gpufabric.io"], "resources": ["edgehosts/status"], "resourceNames": ["gpu-1"],
         "verbs": ["get", "update", "patch"]}]
    assert writes[5].body["subjects"] == [{"kind": "ServiceAccount", "name": "edge-gpu-1",
                                           "namespace": "gpufabric-edge"}]


def test_a_registered_host_registering_again_writes_nothing():
    unused, writes = plan_registration("gpu-1", facts(), found())
    stored = [dict(w.body, metadata=dict(w.body["metadata"], uid="u")) for w in writes]
    assert plan_registration("gpu-1", facts(), found(*stored)) == ([], [])


def test_a_name_another_machine_holds_is_refused_and_nothing_is_written():
    live = registered("gpu-1", facts(address="10.0.0.11", machine="m-11"))
    errors, writes = plan_registration("gpu-1", facts(address="10.0.0.12", machine="m-12"), found(live))
    assert errors == [
        "edge host gpu-1 is already registered by another host: address 10.0.0.11, machine id m-11; this host is "
        "10.0.0.12, machine id m-12. Give this host another inventory name, or deregister gpu-1 first "
        "(appliance_state: absent on the host that holds it)"]
    same_machine_other_address = plan_registration("gpu-1", facts(address="10.0.0.12", machine="m-11"), found(live))
    assert len(same_machine_other_address[0]) == 1


def test_an_identity_object_of_that_name_made_for_something_else_is_refused():
    stranger = {"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "edge-gpu-1", "namespace": "gpufabric-edge", "labels": {"team": "x"}}}
    errors, unused = plan_registration("gpu-1", facts(), found(stranger))
    assert errors == ["edge host gpu-1: ServiceAccount gpufabric-edge/edge-gpu-1 exists and was not made for this "
                      "host; remove it or give the host another name"]


def test_deregistration_removes_only_what_was_made_for_the_host_and_waits_for_its_compute_pools():
    unused, writes = plan_registration("gpu-1", facts(), found())
    stored = found(*[dict(w.body) for w in writes])
    errors, deletes, warnings = plan_deregistration("gpu-1", stored, ["vision/edge (control-plane-pool)"])
    assert errors == ["edge host gpu-1 is held by compute pool(s) vision/edge (control-plane-pool); remove it from "
                      "them first (change or delete the compute pool), or set force to deregister it anyway (the "
                      "compute pools keep naming it, and its host becomes unhealthy there)"]
    errors, deletes, warnings = plan_deregistration("gpu-1", stored, [], force=False)
    assert errors == [] and warnings == []
    assert [w.key for w in deletes] == [
        "ClusterRoleBinding/gpufabric-edge-gpu-1", "ClusterRole/gpufabric-edge-gpu-1",
        "Secret/gpufabric-edge/edge-gpu-1-token", "ServiceAccount/gpufabric-edge/edge-gpu-1", "EdgeHost/gpu-1"]


# -- reports ----------------------------------------------------------------------------------------------------

def test_a_report_writes_the_facts_health_and_last_seen_then_nothing_until_the_heartbeat():
    live = registered("gpu-1")
    live["status"] = None
    errors, write = plan_report("gpu-1", facts(), live, NOW)
    assert errors == [] and write.key == "EdgeHost/gpu-1/status"
    assert write.body["status"]["health"] == "Healthy" and write.body["status"]["lastSeen"] == NOW
    live["status"] = write.body["status"]
    assert plan_report("gpu-1", facts(), live, SOON, heartbeat=300) == ([], None)
    assert plan_report("gpu-1", facts(), live, LATER, heartbeat=300)[1].body["status"]["lastSeen"] == LATER


def test_a_host_reporting_fewer_gpus_than_it_registered_with_is_unhealthy():
    live = registered("gpu-1")
    unused, write = plan_report("gpu-1", facts(gpus=[dict(A100[0], count=6)]), live, SOON)
    assert (write.body["status"]["health"], write.body["status"]["message"]) == (
        "Unhealthy", "reports 6 of the 8 GPUs it registered with")


def test_an_unregistered_host_cannot_report():
    assert plan_report("gpu-9", facts(), None, NOW) == (
        ["edge host gpu-9 is not registered on the hub (no EdgeHost gpu-9); register it first"], None)


# -- the allocation core ------------------------------------------------------------------------------------------

def test_an_edgehost_is_a_host_with_the_facts_it_reported_and_health_from_its_status():
    host = host_from_edgehost(registered("gpu-1", labels={"palette.ai.rg/site": "edge"}))
    assert (host.name, host.architecture, host.cpu, host.memory) == ("gpu-1", "AMD64", 64,
                                                                     Fraction(515000 * 1024 * 1024))
    assert host.gpus == (GpuGroup("NVIDIA-A100", 8, 81920),)
    assert (host.status, host.status_updated_at, host.resource_groups) == ("Healthy", NOW, (("site", "edge"),))
    assert host.compute_pool is None
    assert host_from_edgehost(registered("gpu-2", health="Unhealthy")).eligible is False
    unreported = registered("gpu-3")
    del unreported["status"]
    assert host_from_edgehost(unreported).status == "Provisioning"


def spec_with_edge_pool(name="edge", spoke="edge", workers=None, **extra):
    pool = dict({"name": name, "namespace": "vision", "host_source": "edgehosts", "spoke": spoke,
                 "control_plane": {"node_count": 1},
                 "worker_pools": workers if workers is not None else [
                     {"name": "gpu", "gpu": {"family": "NVIDIA-A100", "count": 16}, "min_worker_nodes": 2}]},
                **extra)
    return {"projects": [{"name": "vision", "gpu_quota": {"NVIDIA-A100": 32}}], "compute_pools": [pool]}


def edge_cluster():
    cpu = facts(address="10.0.0.10", machine="m-10", cpus=16, memory_mb=65536, gpus=[])
    return cluster([node("hub-node-1")], EdgeHost=[
        registered("cp-1", cpu), registered("gpu-1"), registered("gpu-2", facts(address="10.0.0.12")),
        registered("gpu-3", facts(address="10.0.0.13"), health="Unhealthy")])


def plan(document, state, now=NOW):
    return plan_fabric(parse_fabric(document), state, Context(now=now))


def test_a_compute_pool_allocates_edgehosts_records_them_in_its_status_and_writes_no_node_label():
    state = edge_cluster()
    result = plan(spec_with_edge_pool(), state)
    assert not [w for w in result.writes if w.kind == "Node"]
    after = fake_apply(state, result.writes)
    status = after.get("ComputePool", "edge", "vision")["status"]
    held = dict((pool["name"], sorted(pool["hosts"])) for pool in status["allocatedMachinePools"])
    assert held == {"control-plane-pool": ["cp-1"], "worker-pool-nvidia-amd64-0": ["gpu-1", "gpu-2"]}
    assert status["gpuTotal"] == 16
    assert plan(spec_with_edge_pool(), after, now=LATER).writes == ()


def test_edgehosts_fall_short_with_the_same_words_as_nodes():
    with pytest.raises(FabricError) as caught:
        plan(spec_with_edge_pool(workers=[{"name": "gpu", "gpu": {"family": "NVIDIA-A100", "count": 24},
                                           "min_worker_nodes": 3}]), edge_cluster())
    assert any("worker pool gpu needs 24 x NVIDIA-A100 on >= 3 hosts" in error and "1 unhealthy" in error
               for error in caught.value.errors), caught.value.errors


def test_a_second_compute_pool_over_edgehosts_does_not_take_hosts_the_first_holds():
    state = fake_apply(edge_cluster(), plan(spec_with_edge_pool(), edge_cluster()).writes)
    second = spec_with_edge_pool("other", spoke="other", workers=[
        {"name": "gpu", "gpu": {"family": "NVIDIA-A100", "count": 8}, "min_worker_nodes": 1}])
    with pytest.raises(FabricError) as caught:
        plan(second, state)
    assert any("in compute pool edge" in error for error in caught.value.errors), caught.value.errors


def test_an_edgehost_compute_pool_names_its_spoke_and_that_spoke_is_read_only_for_its_apps():
    with pytest.raises(FabricError) as caught:
        plan(spec_with_edge_pool(spoke=None), edge_cluster())
    assert any("host_source edgehosts allocates the hub's EdgeHosts" in error for error in caught.value.errors)
    assert spokes_needed(parse_fabric(spec_with_edge_pool()), edge_cluster()) == []


def test_removing_an_edgehost_compute_pool_writes_no_node_label():
    state = fake_apply(edge_cluster(), plan(spec_with_edge_pool(), edge_cluster()).writes)
    removal = {"projects": [{"name": "vision", "gpu_quota": {"NVIDIA-A100": 32}}],
               "compute_pools": [{"name": "edge", "namespace": "vision", "state": "absent"}]}
    writes = plan(removal, state).writes
    assert [w.kind for w in writes if w.kind != "Namespace"] == ["ComputePool", "ComputePool"]
    assert [w.action for w in writes if w.kind == "ComputePool"] == ["status", "delete"]
    held = allocations_of("gpu-1", state.items("ComputePool"))
    assert held and held[0].startswith("vision/edge (")


# -- clusters of compute pools ------------------------------------------------------------------------------------

def test_compute_pools_over_edgehosts_become_groups_with_each_hosts_address_and_facts():
    state = fake_apply(edge_cluster(), plan(spec_with_edge_pool(), edge_cluster()).writes)
    found_groups = compute_pool_inventory(state.items("ComputePool"), state.items("EdgeHost"))
    groups = found_groups["groups"]
    assert groups["cp_edge"] == ["cp-1", "gpu-1", "gpu-2"]
    assert groups["cp_edge_control_plane"] == ["cp-1"] == groups["gpufabric_control_planes"]
    assert groups["cp_edge_worker_pool_nvidia_amd64_0"] == ["gpu-1", "gpu-2"]
    assert groups["gpufabric_compute_pools"] == ["cp-1", "gpu-1", "gpu-2"]
    gpu_1 = found_groups["hosts"]["gpu-1"]
    assert gpu_1["ansible_host"] == "10.0.0.11"
    assert gpu_1["gpufabric_edgehost"]["gpus"][0]["model"] == "NVIDIA-A100-SXM4-80GB"
    assert (gpu_1["gpufabric_compute_pool"]["spoke"], gpu_1["gpufabric_compute_pool"]["control_plane"]) == (
        "edge", False)
    assert compute_pool_inventory(state.items("ComputePool"), state.items("EdgeHost"), ["other"])["groups"] == {}


def test_a_compute_pool_over_nodes_makes_no_group():
    pool = {"metadata": {"name": "nodes-pool", "namespace": "vision"}, "spec": {},
            "status": {"allocatedMachinePools": [{"name": "control-plane-pool", "nodeType": "ControlPlaneAndWorker",
                                                  "hosts": {"hub-node-1": {"status": "Healthy"}}}]}}
    result = compute_pool_inventory([pool], [registered("gpu-1")])
    assert result["groups"] == {} and "hub-node-1 are not EdgeHosts" in result["skipped"][0]


def test_a_host_becomes_the_node_a_kubelet_would_register_and_registering_again_writes_nothing():
    edge = edgehost_facts(registered("gpu-1"))
    labels = {"runwhere.ai/compute-pool": "edge", "runwhere.ai/machine-pool": "nvidia-a100-workers"}
    writes = plan_node("gpu-1", edge, labels, False, True, None, NOW)
    assert [w.key for w in writes] == ["Node/gpu-1", "Node/gpu-1/status"]
    node_labels = writes[0].body["metadata"]["labels"]
    assert node_labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB" and node_labels[
        "nvidia.com/gpu.count"] == "8"
    assert node_labels["runwhere.ai/compute-pool"] == "edge" and node_labels["kubernetes.io/arch"] == "amd64"
    status = writes[1].body["status"]
    assert status["capacity"] == {"cpu": "64", "memory": "515000Mi", "pods": "110", "nvidia.com/gpu": "8"}
    assert writes[1].body["metadata"]["labels"] == node_labels  # the status write keeps the labels applied
    live = dict(writes[0].body, status=dict(status, nodeInfo={"architecture": ""}, daemonEndpoints={}))
    assert plan_node("gpu-1", edge, labels, False, True, live, LATER) == []


def test_the_node_carries_the_product_as_gpu_feature_discovery_writes_it_from_nvidia_smis_model_name():
    smi = [{"model": "NVIDIA A100-SXM4-80GB", "count": 4, "memory_mib": 81920}]  # nvidia-smi's spelling
    edge = edgehost_facts(registered("gpu-2", facts(gpus=smi)))
    labels = plan_node("gpu-2", edge, {}, False, True, None, NOW)[0].body["metadata"]["labels"]
    assert (labels["nvidia.com/gpu.product"], labels["nvidia.com/gpu.count"], labels["nvidia.com/gpu.memory"]) == (
        "NVIDIA-A100-SXM4-80GB", "4", "81920")
    assert registered("gpu-2", facts(gpus=smi))["status"]["gpus"][0]["family"] == "NVIDIA-A100"


def test_a_control_plane_node_is_tainted_unless_workloads_may_run_there():
    edge = edgehost_facts(registered("cp-1"))
    assert render_node("cp-1", edge, control_plane=True, schedule_workloads=False)["spec"] == {
        "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}
    assert "spec" not in render_node("cp-1", edge, control_plane=True, schedule_workloads=True)
    assert node_status_write(render_node("cp-1", edge), node_status("cp-1", edge, None, NOW), None) is not None


def test_the_identity_objects_are_labelled_as_the_hosts_own():
    for obj in identity_objects("gpu-1")[1:]:
        assert obj["metadata"]["labels"]["gpufabric.io/edge-host"] == "gpu-1"
