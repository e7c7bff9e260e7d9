"""The platform's placements proven by the real scheduler and quota admission (the harness runs the controller
manager and kube-scheduler): an app's pods are bound to nodes of the pool the platform chose, the GPUs the
platform records equal what the bound pods request as apps are added, scaled and removed, a project's
ResourceQuota refuses a pod exactly where the platform's own quota check refuses an app, and a removed project's
namespace really goes, so the project can be declared again."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.harness.ansible import run_module
from tests.harness.nodes import create_node, force_delete_pods, wait_bound
from tests.harness.waiting import wait_gone

pytestmark = pytest.mark.integration

PREFIX = "runwhere.ai"
A100 = "NVIDIA-A100"
APP_LABEL = "gpufabric.io/app"


@pytest.fixture
def stem(request):
    return request.node.name.replace("_", "-")[5:30].strip("-")


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def bound_requests(core, namespace, app):
    """GPUs requested by the app's live (not terminating) pods, and the nodes they are bound to."""
    pods = [pod for pod in core.list_namespaced_pod(namespace, label_selector=f"{APP_LABEL}={app}").items
            if not pod.metadata.deletion_timestamp]
    gpus = sum(int((c.resources.requests or {}).get("nvidia.com/gpu", 0)) for pod in pods
               for c in pod.spec.containers)
    return gpus, sorted(pod.spec.node_name for pod in pods)


def settle(core, namespace, app, replicas):
    """Wait until exactly `replicas` live (not terminating) pods of the app are bound."""
    deadline = time.monotonic() + 30
    while True:
        pods = [pod for pod in core.list_namespaced_pod(namespace, label_selector=f"{APP_LABEL}={app}").items
                if not pod.metadata.deletion_timestamp and pod.spec.node_name]
        if len(pods) == replicas:
            return pods
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pods)} of {replicas} pods of {namespace}/{app} bound")
        time.sleep(0.2)


def test_pods_land_on_the_pool_the_platform_chose_and_recorded_gpus_follow_them(kubeconfig, core_v1,
                                                                                custom_objects, stem):
    members = [f"{stem}-in-{i}" for i in (1, 2)]
    for name in members:
        create_node(core_v1, name, gpu_product=A100, gpus=8)
    create_node(core_v1, f"{stem}-out", gpu_product=A100, gpus=8)  # same GPUs, not in the pool
    ok(run_module("pool_label", {"name": stem, "nodes": {n: {"gpu_type": "A100"} for n in members}}, kubeconfig))
    ok(run_module("project", {"name": stem, "gpu_quota": {A100: 16}}, kubeconfig))

    def app(replicas, **extra):
        return ok(run_module("app_deployment", dict({"name": "serve", "namespace": stem, "pool": stem,
                                                     "image": "busybox", "replicas": replicas,
                                                     "resources": {"gpu": 4}}, **extra), kubeconfig))

    def recorded():
        return custom_objects.get_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", stem)["status"]

    for replicas in (2, 3, 4):  # added, then scaled up twice
        app(replicas)
        pods = settle(core_v1, stem, "serve", replicas)
        assert {pod.spec.node_name for pod in pods} <= set(members), [pod.spec.node_name for pod in pods]
        gpus, unused = bound_requests(core_v1, stem, "serve")
        assert recorded()["gpuAllocated"] == gpus == 4 * replicas

    app(1)  # scaled down: the ReplicaSet controller deletes pods, which then wait for a kubelet that never comes
    force_delete_pods(core_v1, stem, f"{APP_LABEL}=serve")
    pods = settle(core_v1, stem, "serve", 1)
    assert recorded()["gpuAllocated"] == bound_requests(core_v1, stem, "serve")[0] == 4

    ok(run_module("app_deployment", {"name": "serve", "namespace": stem, "state": "absent"}, kubeconfig))
    assert recorded()["gpuAllocated"] == 0
    # The garbage collector removes the ReplicaSet after the Deployment; until then it may make a pod again.
    deadline = time.monotonic() + 60
    while bound_requests(core_v1, stem, "serve") != (0, []) and time.monotonic() < deadline:
        force_delete_pods(core_v1, stem, f"{APP_LABEL}=serve")
        time.sleep(0.5)
    assert bound_requests(core_v1, stem, "serve") == (0, [])


def test_compute_pool_apps_are_bound_to_its_hosts(kubeconfig, core_v1, stem):
    group = {"palette.ai.rg/suite": stem}
    create_node(core_v1, f"{stem}-cp", gpu_product=None, gpus=0, labels=group)
    hosts = [f"{stem}-g{i}" for i in (1, 2)]
    for name in hosts:
        create_node(core_v1, name, gpu_product=A100, gpus=4, labels=group)
    create_node(core_v1, f"{stem}-elsewhere", gpu_product=A100, gpus=8)
    ok(run_module("project", {"name": stem, "gpu_quota": {A100: 8}}, kubeconfig))
    ok(run_module("compute_pool", {"name": stem, "namespace": stem, "mode": "shared",
                                   "control_plane": {"resource_groups": {"suite": stem}},
                                   "worker_resource_groups": {"suite": stem},
                                   "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 8},
                                                     "min_worker_nodes": 2}]}, kubeconfig))
    ok(run_module("app_deployment", {"name": "llm", "namespace": stem, "compute_pool": stem, "image": "busybox",
                                     "replicas": 2, "resources": {"gpu": 4}}, kubeconfig))
    pods = wait_bound(core_v1, stem, f"{APP_LABEL}=llm", 2)
    assert sorted(pod.spec.node_name for pod in pods) == sorted(hosts)


def test_the_resource_quota_refuses_where_the_platform_refuses(kubeconfig, core_v1, stem):
    create_node(core_v1, f"{stem}-1", gpu_product=A100, gpus=8)
    ok(run_module("pool_label", {"name": stem, "nodes": {f"{stem}-1": {"gpu_type": "A100"}}}, kubeconfig))
    ok(run_module("project", {"name": stem, "gpu_quota": {A100: 6}}, kubeconfig))
    ok(run_module("app_deployment", {"name": "fits", "namespace": stem, "pool": stem, "image": "busybox",
                                     "replicas": 3, "resources": {"gpu": 2}}, kubeconfig))
    wait_bound(core_v1, stem, f"{APP_LABEL}=fits", 3)  # 6 of 6 admitted by the quota and bound
    quota = core_v1.read_namespaced_resource_quota("gpu-quota", stem)
    deadline = time.monotonic() + 30
    while (quota.status.used or {}).get("requests.nvidia.com/gpu") != "6" and time.monotonic() < deadline:
        time.sleep(0.2)
        quota = core_v1.read_namespaced_resource_quota("gpu-quota", stem)
    assert quota.status.used["requests.nvidia.com/gpu"] == "6"

    refused = run_module("app_deployment", {"name": "more", "namespace": stem, "pool": stem, "image": "busybox",
                                            "resources": {"gpu": 1}}, kubeconfig)
    assert refused.get("failed") and f"needs 1 x {A100}, 0 left of project {stem}'s quota" in refused["msg"]
    pod = {"metadata": {"name": "direct"},
           "spec": {"containers": [{"name": "main", "image": "busybox",
                                    "resources": {"requests": {"nvidia.com/gpu": "1"},
                                                  "limits": {"nvidia.com/gpu": "1"}}}]}}
    with pytest.raises(ApiException) as error:
        core_v1.create_namespaced_pod(stem, pod)
    assert error.value.status == 403 and "exceeded quota" in error.value.body


def test_a_removed_project_is_gone_and_can_be_declared_again(kubeconfig, core_v1, stem):
    ok(run_module("project", {"name": stem, "gpu_quota": {A100: 2}}, kubeconfig))
    ok(run_module("project", {"name": stem, "state": "absent"}, kubeconfig))
    wait_gone(f"namespace {stem}", lambda: core_v1.read_namespace(stem))
    again = ok(run_module("project", {"name": stem, "gpu_quota": {A100: 4}}, kubeconfig))
    assert again["changed"] and core_v1.read_namespace(stem).status.phase == "Active"
    assert client.CoreV1Api(core_v1.api_client).read_namespaced_resource_quota("gpu-quota", stem).spec.hard[
        "requests.nvidia.com/gpu"] == "4"
