"""The local control plane behaves like a cluster: the namespace controller empties and removes namespaces, the
scheduler binds pods by node selector and free GPUs, and the quota controller counts requested GPUs."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.harness.nodes import (create_node, delete_namespace, ensure_namespace, wait_bound,
                                 wait_unschedulable)
from tests.harness.waiting import wait_gone

pytestmark = pytest.mark.integration

GROUP, VERSION = "gpufabric.io", "v1alpha1"
POOL = "gpufabric.test/sched-pool"
PRODUCT = "NVIDIA-SCHED-TEST"  # a family no other test counts


def gpu_pod(name: str, gpus: int, node_selector: dict, labels: dict | None = None) -> dict:
    resources = {"requests": {"nvidia.com/gpu": str(gpus)}, "limits": {"nvidia.com/gpu": str(gpus)}}
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"nodeSelector": node_selector, "automountServiceAccountToken": False,  # no token to wait for
                     "containers": [{"name": "main", "image": "busybox", "resources": resources}]}}


@pytest.fixture
def namespace(core_v1, request):
    """A fresh namespace for one test, deleted afterwards with its pods."""
    name = request.node.name.replace("_", "-")[:50].strip("-")
    ensure_namespace(core_v1, name)
    yield name
    delete_namespace(core_v1, name)


@pytest.fixture
def gpu_nodes(core_v1):
    """Two 4-GPU nodes in pool `train` and one 8-GPU node in pool `other`, removed afterwards."""
    nodes = {"sched-a": ("train", 4), "sched-b": ("train", 4), "sched-other": ("other", 8)}
    for name, (pool, gpus) in nodes.items():
        create_node(core_v1, name, gpu_product=PRODUCT, gpus=gpus, labels={POOL: pool})
    yield nodes
    for name in nodes:
        core_v1.delete_node(name)


def test_created_nodes_lose_the_not_ready_taint_and_stay_ready(core_v1):
    create_node(core_v1, "fresh-node", gpu_product=PRODUCT, gpus=2)
    deadline = time.monotonic() + 30
    try:
        while core_v1.read_node("fresh-node").spec.taints:  # node.kubernetes.io/not-ready:NoSchedule at creation
            assert time.monotonic() < deadline, f"taints still {core_v1.read_node('fresh-node').spec.taints}"
            time.sleep(0.1)
        node = core_v1.read_node("fresh-node")
        assert [(c.type, c.status) for c in node.status.conditions] == [("Ready", "True")]
    finally:
        core_v1.delete_node("fresh-node")


def test_namespace_with_objects_is_deleted_and_gone(core_v1, custom_objects):
    name = "doomed"
    ensure_namespace(core_v1, name)
    core_v1.create_namespaced_config_map(name, {"metadata": {"name": "settings"}, "data": {"zone": "a"}})
    core_v1.create_namespaced_secret(name, {"metadata": {"name": "credentials"}, "stringData": {"k": "v"}})
    custom_objects.create_namespaced_custom_object(GROUP, VERSION, name, "computepools", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ComputePool", "metadata": {"name": "doomed-pool"},
        "spec": {"clusterVariant": {"shared": {}}, "controlPlane": {"nodeCount": 1}}})

    core_v1.delete_namespace(name)

    wait_gone(f"namespace {name}", lambda: core_v1.read_namespace(name), 30)
    assert core_v1.list_namespaced_config_map(name).items == []
    assert custom_objects.list_namespaced_custom_object(GROUP, VERSION, name, "computepools")["items"] == []


def test_namespace_with_bound_pods_is_gone_after_the_harness_deletes_it(core_v1, api_client_for, gpu_nodes):
    name = "doomed-pods"
    ensure_namespace(core_v1, name)
    client.AppsV1Api(api_client_for()).create_namespaced_deployment(name, deployment("busy", 2, 1))
    wait_bound(core_v1, name, "app=busy", 2)

    delete_namespace(core_v1, name)  # raises TimeoutError if the namespace stays

    with pytest.raises(ApiException) as error:
        core_v1.read_namespace(name)
    assert error.value.status == 404
    assert core_v1.list_namespaced_pod(name).items == []


def deployment(name: str, replicas: int, gpus: int) -> dict:
    template = gpu_pod(name, gpus, {POOL: "train"}, labels={"app": name})
    del template["metadata"]["name"]
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template}}


def test_scheduler_binds_gpu_pods_to_selected_nodes_by_free_gpus(core_v1, api_client_for, gpu_nodes, namespace):
    client.AppsV1Api(api_client_for()).create_namespaced_deployment(namespace, deployment("trainer", 3, 2))

    pods = wait_bound(core_v1, namespace, "app=trainer", 3)

    assert {pod.spec.node_name for pod in pods} <= {"sched-a", "sched-b"}
    # three 2-GPU pods on two 4-GPU nodes: one node full, the other with 2 GPUs free
    assert sorted(Counter(pod.spec.node_name for pod in pods).values()) == [1, 2]


def test_pod_asking_more_gpus_than_are_free_stays_unschedulable(core_v1, api_client_for, gpu_nodes, namespace):
    client.AppsV1Api(api_client_for()).create_namespaced_deployment(namespace, deployment("trainer", 3, 2))
    pods = wait_bound(core_v1, namespace, "app=trainer", 3)
    half_full = [node for node, count in Counter(pod.spec.node_name for pod in pods).items() if count == 1]

    core_v1.create_namespaced_pod(namespace, gpu_pod("three", 3, {POOL: "train"}))
    core_v1.create_namespaced_pod(namespace, gpu_pod("two", 2, {POOL: "train"}, labels={"app": "two"}))

    assert "Insufficient nvidia.com/gpu" in wait_unschedulable(core_v1, namespace, "three")
    assert [pod.spec.node_name for pod in wait_bound(core_v1, namespace, "app=two", 1)] == half_full


def test_resource_quota_counts_requested_gpus(core_v1, namespace):
    core_v1.create_namespaced_resource_quota(namespace, {
        "metadata": {"name": "gpus"}, "spec": {"hard": {"requests.nvidia.com/gpu": "8"}}})
    quota_used(core_v1, namespace, "gpus", "0")  # counted from the start: pods are admitted against it
    nowhere = {POOL: "no-such-pool"}  # pending pods count as much as bound ones

    core_v1.create_namespaced_pod(namespace, gpu_pod("two", 2, nowhere))
    core_v1.create_namespaced_pod(namespace, gpu_pod("three", 3, nowhere))

    used = quota_used(core_v1, namespace, "gpus", "5")
    assert used == {"requests.nvidia.com/gpu": "5"}
    with pytest.raises(ApiException) as error:
        core_v1.create_namespaced_pod(namespace, gpu_pod("four", 4, nowhere))
    assert error.value.status == 403
    assert "exceeded quota" in error.value.body and "requests.nvidia.com/gpu" in error.value.body


def quota_used(core_v1, namespace: str, name: str, gpus: str, timeout: float = 30) -> dict:
    """status.used once the quota controller has counted `gpus` requested GPUs."""
    deadline = time.monotonic() + timeout
    while True:
        used = core_v1.read_namespaced_resource_quota(name, namespace).status.used or {}
        if used.get("requests.nvidia.com/gpu") == gpus:
            return used
        if time.monotonic() > deadline:
            raise AssertionError(f"quota {namespace}/{name} used {used} after {timeout:.0f} s, expected {gpus} GPUs")
        time.sleep(0.1)
