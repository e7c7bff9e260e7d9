"""Labelled pools (gpuctl): label changes under the prefix only, declarative membership, conflicts, table."""

from __future__ import annotations

import pytest
from core_helpers import node
from fake_cluster import cluster, fake_apply

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
    Context, plan_fabric, single_entry_spec)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import (
    PoolSpec, apply_label_changes, parse_pool, parse_pool_document, pool_members, pool_table, render_pool)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import recorded
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import diff_of

P = "runwhere.ai"


def nodes():
    return [node("gpu-node-1", gpus=8, product="NVIDIA-A100"), node("gpu-node-2", gpus=8, product="NVIDIA-A100"),
            node("gpu-node-3", gpus=4, product="NVIDIA-A10", labels={P + "/pool": "inference-pool"}),
            node("gpu-node-4", gpus=4, product="NVIDIA-A10", labels={P + "/pool": "training-pool",
                                                                     P + "/gpu-type": "A100-100G"}),
            node("cpu-node-1")]


TRAINING = {"name": "training-pool", "description": "Large model training",
            "nodes": {"gpu-node-1": {"gpu_type": "A100-100G"}, "gpu-node-2": {"gpu_type": "A100-100G"}}}


def training():
    return parse_pool("training-pool", "Large model training",
                      {"gpu-node-1": {"gpu_type": "A100-100G"}, "gpu-node-2": {"gpu_type": "A100-100G"}})


def label_plan(args, state=None, prefix=P):
    """The plan of one pool_label run on the cluster of `nodes()` (or `state`)."""
    return plan_fabric(single_entry_spec("pool_label", args, prefix), state or cluster(nodes()), Context(now="t"))


def label_changes(args, state=None, prefix=P):
    """{node: label patch} a pool_label run writes."""
    return dict((w.name, w.body) for w in label_plan(args, state, prefix).writes if w.action == "labels")


def test_changes_add_listed_nodes_and_drop_unlisted_members_only_under_the_prefix():
    changes = label_changes(TRAINING)
    assert changes == {
        "gpu-node-1": {P + "/gpu-type": "A100-100G", P + "/pool": "training-pool"},
        "gpu-node-2": {P + "/gpu-type": "A100-100G", P + "/pool": "training-pool"},
        "gpu-node-4": {P + "/gpu-type": None, P + "/pool": None}}
    assert all(key.startswith(P + "/") for patch in changes.values() for key in patch)


def test_rerun_after_applying_changes_is_empty():
    after = fake_apply(cluster(nodes()), label_plan(TRAINING).writes)
    assert label_plan(TRAINING, after).writes == ()
    assert pool_members(after.items("Node"), "training-pool", P) == ["gpu-node-1", "gpu-node-2"]


def test_node_in_another_pool_is_a_conflict_unless_overwrite():
    args = {"name": "training-pool", "nodes": {"gpu-node-3": {"gpu_type": "A10-24G"}, "gpu-node-9": {}}}
    with pytest.raises(FabricError) as caught:
        label_plan(args)
    assert caught.value.errors == [
        "node gpu-node-3 is in pool inference-pool; set overwrite to move it to training-pool",
        "node gpu-node-9 does not exist"]
    moved = label_changes({"name": "training-pool", "nodes": {"gpu-node-3": {"gpu_type": "A10-24G"}},
                           "overwrite": True})
    assert moved["gpu-node-3"] == {P + "/gpu-type": "A10-24G", P + "/pool": "training-pool"}


def test_empty_gpu_type_means_no_gpu_type_label_and_missing_leaves_it():
    base = cluster([node("n", labels={P + "/pool": "compute-pool", P + "/gpu-type": "old"})])
    assert label_changes({"name": "compute-pool", "nodes": {"n": {"gpu_type": ""}}}, base) == {
        "n": {P + "/gpu-type": None}}
    assert label_changes({"name": "compute-pool", "nodes": {"n": None}}, base) == {}


def test_absent_removes_the_pool_labels_from_every_member():
    assert label_changes({"name": "training-pool", "state": "absent"}) == {
        "gpu-node-4": {P + "/gpu-type": None, P + "/pool": None}}
    assert label_changes({"name": "inference-pool", "state": "absent"}) == {
        "gpu-node-3": {P + "/pool": None}}


def test_custom_prefix_must_be_a_dns_subdomain():
    with pytest.raises(FabricError, match="label prefix 'Bad_Prefix' is not a DNS-1123 subdomain"):
        label_changes(TRAINING, prefix="Bad_Prefix")
    assert set(label_changes(TRAINING, prefix="acme.io")["gpu-node-1"]) == {"acme.io/pool", "acme.io/gpu-type"}


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
    assert caught.value.errors == ["pool document: kind is 'job'; expected 'pool'",
                                   "pool document: version is 'v2'; expected 'v0.1'"]


def test_gpuctl_document_refuses_unknown_keys_and_a_pool_that_is_no_mapping():
    doc = {"kind": "pool", "version": "v0.1", "pool": "training-pool", "node": {"node-1": {}}}
    with pytest.raises(FabricError) as caught:
        parse_pool_document(doc, "pools/training.yaml")
    assert caught.value.errors == [
        "pools/training.yaml: unknown key node (known: kind, version, pool, nodes)",
        "pools/training.yaml: pool must be a mapping {name, description}, got 'training-pool'"]


def test_a_misspelt_key_in_a_node_entry_is_refused():
    with pytest.raises(FabricError) as caught:
        parse_pool("training-pool", nodes={"node-1": {"gpu_typ": "A100-100G"}})
    assert caught.value.errors == ["pool training-pool node node-1: unknown key gpu_typ (the only key is gpu_type)"]


def test_pool_table_counts_running_and_pending_gpus_and_lists_default_last():
    after = apply_label_changes(nodes(), label_changes(TRAINING))
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
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import AppAllocation, pool_row
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_status

    nodes = [{"metadata": {"name": "n1"}, "status": {"capacity": {"nvidia.com/gpu": "8"}}}]
    pods = [{"metadata": {"name": p, "labels": labels}, "status": {"phase": "Running"},
             "spec": {"nodeName": "n1", "containers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}
            for p, labels in (("foreign", {}), ("app-0", {"gpufabric.io/app": "llm"}))]
    assert pool_row("p", nodes, pods)["gpuUsed"] == 2
    row = pool_row("p", nodes, pods, allocated=3)
    assert (row["gpuUsed"], row["gpuFree"]) == (5, 3)
    status = pool_status(row, recorded([AppAllocation("llm", "v", "AMD64", "NVIDIA-A100", 3)]))
    assert status["gpuUsed"] == 5 and status["gpuAllocated"] == 3
    assert status["aiWorkloadRefs"] == [{"name": "llm", "namespace": "v", "family": "NVIDIA-A100", "gpuCount": 3,
                                         "architecture": "AMD64"}]
    empty = pool_status(pool_row("p", nodes, pods), recorded([]))
    assert (empty["gpuAllocated"], empty["hardwareAllocation"], empty["aiWorkloadRefs"]) == (0, [], [])


def test_label_diff_shows_only_prefix_keys_of_changed_nodes():
    state = cluster([{"kind": "Node", "metadata": {"name": "a", "labels": {"runwhere.ai/pool": "x", "zone": "1"}}},
                     {"kind": "Node", "metadata": {"name": "b", "labels": {"runwhere.ai/pool": "y"}}}])
    plan = label_plan({"name": "z", "nodes": {"a": {"gpu_type": "A100"}}, "overwrite": True}, state)
    diffs = dict((w.name, diff_of(w, "runwhere.ai")) for w in plan.writes if w.action == "labels")
    assert diffs == {"a": ({"labels": {"runwhere.ai/pool": "x"}},
                           {"labels": {"runwhere.ai/pool": "z", "runwhere.ai/gpu-type": "A100"}})}
