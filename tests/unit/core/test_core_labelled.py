"""Labelled pools (gpuctl): label changes under the prefix only, declarative membership, conflicts, table."""

from __future__ import annotations

import pytest
from core_helpers import node

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import (
    PoolSpec, apply_label_changes, parse_pool, parse_pool_document, pool_label_changes, pool_members, pool_table,
    render_pool)

P = "runwhere.ai"


def nodes():
    return [node("gpu-node-1", gpus=8, product="NVIDIA-A100"), node("gpu-node-2", gpus=8, product="NVIDIA-A100"),
            node("gpu-node-3", gpus=4, product="NVIDIA-A10", labels={P + "/pool": "inference-pool"}),
            node("gpu-node-4", gpus=4, product="NVIDIA-A10", labels={P + "/pool": "training-pool",
                                                                     P + "/gpu-type": "A100-100G"}),
            node("cpu-node-1")]


def training():
    return parse_pool("training-pool", "Large model training",
                      {"gpu-node-1": {"gpu_type": "A100-100G"}, "gpu-node-2": {"gpu_type": "A100-100G"}})


def test_changes_add_listed_nodes_and_drop_unlisted_members_only_under_the_prefix():
    changes = pool_label_changes(nodes(), training(), P)
    assert changes == {
        "gpu-node-1": {P + "/gpu-type": "A100-100G", P + "/pool": "training-pool"},
        "gpu-node-2": {P + "/gpu-type": "A100-100G", P + "/pool": "training-pool"},
        "gpu-node-4": {P + "/gpu-type": None, P + "/pool": None}}
    assert all(key.startswith(P + "/") for patch in changes.values() for key in patch)


def test_rerun_after_applying_changes_is_empty():
    after = apply_label_changes(nodes(), pool_label_changes(nodes(), training(), P))
    assert pool_label_changes(after, training(), P) == {}
    assert pool_members(after, "training-pool", P) == ["gpu-node-1", "gpu-node-2"]


def test_node_in_another_pool_is_a_conflict_unless_overwrite():
    spec = parse_pool("training-pool", nodes={"gpu-node-3": {"gpu_type": "A10-24G"}, "gpu-node-9": {}})
    with pytest.raises(FabricError) as caught:
        pool_label_changes(nodes(), spec, P)
    assert caught.value.errors == [
        "node gpu-node-3 is in pool inference-pool; set overwrite to move it to training-pool",
        "node gpu-node-9 does not exist"]
    spec = parse_pool("training-pool", nodes={"gpu-node-3": {"gpu_type": "A10-24G"}})
    moved = pool_label_changes(nodes(), spec, P, overwrite=True)
    assert moved["gpu-node-3"] == {P + "/gpu-type": "A10-24G", P + "/pool": "training-pool"}


def test_empty_gpu_type_means_no_gpu_type_label_and_missing_leaves_it():
    base = [node("n", labels={P + "/pool": "compute-pool", P + "/gpu-type": "old"})]
    assert pool_label_changes(base, parse_pool("compute-pool", nodes={"n": {"gpu_type": ""}}), P) == {
        "n": {P + "/gpu-type": None}}
    assert pool_label_changes(base, parse_pool("compute-pool", nodes=["n"]), P) == {}


def test_absent_removes_the_pool_labels_from_every_member():
    assert pool_label_changes(nodes(), PoolSpec("training-pool"), P, state="absent") == {
        "gpu-node-4": {P + "/gpu-type": None, P + "/pool": None}}
    assert pool_label_changes(nodes(), PoolSpec("inference-pool"), P, state="absent") == {
        "gpu-node-3": {P + "/pool": None}}


def test_custom_prefix_must_be_a_dns_subdomain():
    with pytest.raises(FabricError, match="label prefix 'Bad_Prefix' is not a DNS-1123 subdomain"):
        pool_label_changes(nodes(), training(), "Bad_Prefix")
    assert set(pool_label_changes(nodes(), training(), "acme.io")["gpu-node-1"]) == {"acme.io/pool",
                                                                                     "acme.io/gpu-type"}


def test_pool_names_and_gpu_types_are_validated():
    with pytest.raises(FabricError) as caught:
        parse_pool("default", nodes={"n": {"gpu_type": "x" * 64}})
    assert caught.value.errors == [
        "pool name 'default' is reserved for nodes without a pool label",
        "pool default node n gpu_type '%s' is 64 characters; the limit is 63" % ("x" * 64)]


def test_gpuctl_document_parses_and_wrong_kind_or_version_is_an_error():
    doc = {"kind": "pool", "version": "v0.1", "pool": {"name": "training-pool", "description": "Dedicated"},
           "nodes": {"node-1": {"gpu-type": "A100-100G"}, "node-2": {"gpu-type": "A100-100G"}}}
    expected = PoolSpec("training-pool", "Dedicated", (("node-1", "A100-100G"), ("node-2", "A100-100G")))
    assert parse_pool_document(doc) == expected
    with pytest.raises(FabricError) as caught:
        parse_pool_document(dict(doc, kind="job", version="v2"))
    assert caught.value.errors == ["pool document kind is 'job'; expected 'pool'",
                                   "pool document version is 'v2'; expected 'v0.1'"]


def test_pool_table_counts_running_and_pending_gpus_and_lists_default_last():
    after = apply_label_changes(nodes(), pool_label_changes(nodes(), training(), P))
    pods = [{"spec": {"nodeName": "gpu-node-1", "containers": [{"resources": {"limits": {"nvidia.com/gpu": 8}}}]},
             "status": {"phase": "Running"}},
            {"spec": {"nodeName": "gpu-node-2", "containers": [{"resources": {"requests": {"nvidia.com/gpu": "4"}}}]},
             "status": {"phase": "Pending"}},
            {"spec": {"nodeName": "gpu-node-2", "containers": [{"resources": {"requests": {"nvidia.com/gpu": "4"}}}]},
             "status": {"phase": "Succeeded"}}]
    table = pool_table(after, pods, P)
    assert table == [
        {"name": "inference-pool", "state": "active", "gpuTotal": 4, "gpuUsed": 0, "gpuFree": 4, "nodeCount": 1},
        {"name": "training-pool", "state": "active", "gpuTotal": 16, "gpuUsed": 12, "gpuFree": 4, "nodeCount": 2},
        {"name": "default", "state": "active", "gpuTotal": 4, "gpuUsed": 0, "gpuFree": 4, "nodeCount": 2}]


def test_pool_object_is_cluster_scoped_with_status_and_managed_label():
    row = {"name": "training-pool", "state": "active", "gpuTotal": 16, "gpuUsed": 12, "gpuFree": 4, "nodeCount": 2}
    obj = render_pool(training(), row, P)
    assert obj == {
        "apiVersion": "gpufabric.io/v1alpha1", "kind": "Pool",
        "metadata": {"name": "training-pool", "labels": {"app.kubernetes.io/managed-by": "gpufabric"}},
        "spec": {"description": "Large model training", "nodeSelector": {P + "/pool": "training-pool"},
                 "nodes": [{"name": "gpu-node-1", "gpuType": "A100-100G"},
                           {"name": "gpu-node-2", "gpuType": "A100-100G"}]},
        "status": {"state": "active", "gpuTotal": 16, "gpuUsed": 12, "gpuFree": 4, "nodeCount": 2}}


def test_pool_row_counts_apps_by_their_record_not_their_pods():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import pool_row
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_status

    nodes = [{"metadata": {"name": "n1"}, "status": {"capacity": {"nvidia.com/gpu": "8"}}}]
    pods = [{"metadata": {"name": p, "labels": labels}, "status": {"phase": "Running"},
             "spec": {"nodeName": "n1", "containers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}
            for p, labels in (("foreign", {}), ("app-0", {"gpufabric.io/app": "llm"}))]
    assert pool_row("p", nodes, pods)["gpuUsed"] == 4
    row = pool_row("p", nodes, pods, allocated=3)
    assert (row["gpuUsed"], row["gpuFree"]) == (5, 3)
    recorded = {"gpuAllocated": 3, "aiWorkloadRefs": [{"name": "llm", "namespace": "v"}], "gpuUsed": 99}
    status = pool_status(row, recorded)
    assert status["gpuUsed"] == 5 and status["gpuAllocated"] == 3 and status["aiWorkloadRefs"]
    assert "gpuAllocated" not in pool_status(row, {"gpuAllocated": 3, "aiWorkloadRefs": []})


def test_label_diff_shows_only_prefix_keys_of_changed_nodes():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import label_diff

    nodes = [{"metadata": {"name": "a", "labels": {"runwhere.ai/pool": "x", "zone": "1"}}},
             {"metadata": {"name": "b", "labels": {"runwhere.ai/pool": "y"}}}]
    before, after = label_diff(nodes, {"a": {"runwhere.ai/pool": None, "runwhere.ai/gpu-type": "A100"}}, "runwhere.ai")
    assert before == {"a": {"runwhere.ai/pool": "x"}}
    assert after == {"a": {"runwhere.ai/gpu-type": "A100"}}
