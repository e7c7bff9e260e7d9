"""What `kubectl get pools` and `kubectl get computepools` print, and when it was measured, against pool_info's
live figures: GPU used as of the last run that changed the status, observedAt with an Observed column, gpuFree
and a GPU Free column for compute pools, zeros printed as 0, and nothing written by a run that measures the same.
The GPUs count by family: the nodes are A100-SXM4-80GB, the quotas say NVIDIA-A100."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from tests.harness.ansible import run_module
from tests.harness.nodes import create_node, create_pod

pytestmark = pytest.mark.integration

PREFIX = "runwhere.ai"
SXM80 = "NVIDIA-A100-SXM4-80GB"


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def table(kubeconfig, resource, name, namespace=None):
    """{column: cell} of one object's row as kubectl prints it (the CRD's printer columns)."""
    argv = [shutil.which("kubectl"), "--kubeconfig", kubeconfig, "get", resource, name]
    if namespace:
        argv += ["-n", namespace]
    header, row = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()
    columns, cells = re.split(r"\s{2,}", header.strip()), re.split(r"\s{2,}", row.strip())
    assert len(columns) == len(cells), (header, row)
    return dict(zip(columns, cells))


@pytest.fixture
def stem(request):
    return request.node.name.replace("_", "-")[5:30].strip("-")


def test_pool_columns_say_what_they_counted_and_when(kubeconfig, core_v1, custom_objects, stem, writes):
    nodes = [f"{stem}-1", f"{stem}-2"]
    for node in nodes:
        create_node(core_v1, node, gpu_product=SXM80, gpus=8)
    ok(run_module("project", {"name": stem, "gpu_quota": {"NVIDIA-A100": 16}}, kubeconfig))
    ok(run_module("pool_label", {"name": stem, "nodes": {n: {"gpu_type": "A100-80G"} for n in nodes}}, kubeconfig))
    before = utc_now()
    app = {"name": "serve", "namespace": stem, "pool": stem, "image": "vllm", "resources": {"gpu": 4}}
    placed = ok(run_module("app_deployment", app, kubeconfig))
    after = utc_now()
    assert placed["placement"]["family"] == "NVIDIA-A100-80GB" and placed["placement"]["quotaLeftAfter"] == 12

    status = custom_objects.get_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", stem)["status"]
    assert (status["gpuTotal"], status["gpuUsed"], status["gpuFree"], status["gpuAllocated"]) == (16, 4, 12, 4)
    assert before <= status["observedAt"] <= after  # the run that placed the app measured it
    row = table(kubeconfig, "pools", stem)
    assert (row["GPU TOTAL"], row["GPU USED"], row["GPU FREE"], row["NODE COUNT"]) == ("16", "4", "12", "2")
    assert row["OBSERVED"] not in ("", "<none>")

    # a pod bound since: pool_info counts it now; the Pool object (and so kubectl) keeps the last run's figure
    create_pod(core_v1, stem, "someone-else", nodes[0], gpus=2)
    info = ok(run_module("pool_info", {"name": stem}, kubeconfig))["pools"][0]
    assert (info["gpu_used"], info["gpu_free"]) == (6, 10)
    assert info["recorded"]["gpu_used"] == 4 and info["recorded"]["observed_at"] == status["observedAt"]
    assert info["recorded"]["age_seconds"] >= 0 and info["measured_at"] >= status["observedAt"]
    assert table(kubeconfig, "pools", stem)["GPU USED"] == "4"

    # a rerun of the app measures nothing new for its own records: nothing written, observedAt as it was
    writes.start()
    assert ok(run_module("app_deployment", app, kubeconfig))["changed"] is False
    assert writes.count() == 0, writes.describe()
    again = custom_objects.get_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", stem)["status"]
    assert again == status

    # the pool's own run measures the pods again: the other pod's 2 GPUs, with a new observedAt
    ok(run_module("pool_label", {"name": stem, "nodes": {n: {"gpu_type": "A100-80G"} for n in nodes}}, kubeconfig))
    assert table(kubeconfig, "pools", stem)["GPU USED"] == "6"

    # the last app leaves: its GPUs are free again, only the other pod's are counted
    ok(run_module("app_deployment", {"name": "serve", "namespace": stem, "state": "absent"}, kubeconfig))
    status = custom_objects.get_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", stem)["status"]
    assert (status["gpuUsed"], status["gpuAllocated"], status["aiWorkloadRefs"]) == (2, 0, [])


def test_a_pool_whose_last_app_left_prints_zero(kubeconfig, core_v1, custom_objects, stem):
    nodes = [f"{stem}-1"]
    create_node(core_v1, nodes[0], gpu_product=SXM80, gpus=8)
    ok(run_module("project", {"name": stem, "gpu_quota": {"NVIDIA-A100": 8}}, kubeconfig))
    ok(run_module("pool_label", {"name": stem, "nodes": {nodes[0]: {}}}, kubeconfig))
    ok(run_module("app_deployment", {"name": "only", "namespace": stem, "pool": stem, "image": "x",
                                     "resources": {"gpu": 8}}, kubeconfig))
    assert table(kubeconfig, "pools", stem)["GPU FREE"] == "0"  # zero free is printed as 0
    ok(run_module("app_deployment", {"name": "only", "namespace": stem, "state": "absent"}, kubeconfig))
    row = table(kubeconfig, "pools", stem)
    assert (row["GPU USED"], row["GPU FREE"]) == ("0", "8")
    status = custom_objects.get_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", stem)["status"]
    assert (status["gpuUsed"], status["gpuAllocated"], status["hardwareAllocation"]) == (0, 0, [])


def test_compute_pool_columns_show_free_gpus_and_when_they_were_measured(kubeconfig, core_v1, custom_objects,
                                                                         stem, writes):
    rg = {"palette.ai.rg/suite": stem}
    create_node(core_v1, f"{stem}-cp", gpu_product=None, gpus=0, cpu=16, memory="64Gi", labels=rg)
    for i in (1, 2):
        create_node(core_v1, f"{stem}-g{i}", gpu_product=SXM80, gpus=4, labels=rg)
    ok(run_module("project", {"name": stem, "gpu_quota": {"NVIDIA-A100": 8}}, kubeconfig))
    args = {"name": stem, "namespace": stem, "mode": "shared",
            "control_plane": {"node_count": 1, "resource_groups": {"suite": stem}},
            "worker_resource_groups": {"suite": stem},
            "worker_pools": [{"name": "w", "gpu": {"family": "NVIDIA-A100", "count": 8}, "min_worker_nodes": 2}]}
    created = ok(run_module("compute_pool", args, kubeconfig))["compute_pool"]["status"]
    assert created["hardwareCapacity"][0]["gpu"] == [{"family": "NVIDIA-A100", "memoryGB": 80, "gpuCount": 8}]
    row = table(kubeconfig, "computepools", stem, stem)
    assert (row["GPU TOTAL"], row["GPU ALLOCATED"], row["GPU FREE"]) == ("8", "0", "8")  # zero printed as 0
    assert row["OBSERVED"] not in ("", "<none>")

    ok(run_module("app_deployment", {"name": "llm", "namespace": stem, "compute_pool": stem, "image": "x",
                                     "resources": {"gpu": 4}}, kubeconfig))
    row = table(kubeconfig, "computepools", stem, stem)
    assert (row["GPU ALLOCATED"], row["GPU FREE"]) == ("4", "4")
    status = custom_objects.get_namespaced_custom_object("gpufabric.io", "v1alpha1", stem, "computepools",
                                                         stem)["status"]
    writes.start()
    assert ok(run_module("compute_pool", args, kubeconfig))["changed"] is False
    assert writes.count() == 0, writes.describe()
    assert custom_objects.get_namespaced_custom_object("gpufabric.io", "v1alpha1", stem, "computepools",
                                                       stem)["status"]["observedAt"] == status["observedAt"]

    ok(run_module("app_deployment", {"name": "llm", "namespace": stem, "state": "absent"}, kubeconfig))
    row = table(kubeconfig, "computepools", stem, stem)
    assert (row["GPU ALLOCATED"], row["GPU FREE"]) == ("0", "8")
