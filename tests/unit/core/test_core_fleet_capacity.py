"""A quota is checked against the GPUs of the hub and of every spoke gpufabric registered (as its ManagedCluster
reported them), not the hub's own Nodes alone."""

from __future__ import annotations

from fake_cluster import cluster

from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import Context, parse_fabric, plan_fabric
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import spoke_gpus

PREFIX = "runwhere.ai"


def managed_cluster(name, by_family, managed=True):
    labels = {"app.kubernetes.io/managed-by": "gpufabric"} if managed else {}
    return {"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
            "metadata": {"name": name, "labels": labels,
                         "annotations": {PREFIX + "/gpus-by-family": by_family}}}


def test_spoke_gpus_reads_what_registration_recorded():
    assert spoke_gpus(managed_cluster("s1", "NVIDIA-A100=16,NVIDIA-H100=8"), PREFIX) == {"NVIDIA-A100": 16,
                                                                                         "NVIDIA-H100": 8}
    assert spoke_gpus(managed_cluster("s2", ""), PREFIX) == {}
    assert spoke_gpus({"metadata": {"name": "plain"}}, PREFIX) == {}


def warnings_for(quota, clusters, spokes=()):
    spec = parse_fabric({"tenants": [{"name": "research", "gpu_quota": quota}],
                         "spokes": [{"name": name} for name in spokes]})
    return plan_fabric(spec, cluster(ManagedCluster=clusters), Context(now="2026-01-01T00:00:00Z")).warnings


def test_a_quota_the_spokes_can_hold_raises_no_warning():
    assert warnings_for({"NVIDIA-H100": 16}, [managed_cluster("s1", "NVIDIA-H100=8"),
                                              managed_cluster("s2", "NVIDIA-H100=8")]) == ()


def test_a_quota_beyond_hub_and_spokes_is_flagged_with_both_counted():
    assert warnings_for({"NVIDIA-H100": 20}, [managed_cluster("s1", "NVIDIA-H100=8"),
                                              managed_cluster("s2", "NVIDIA-H100=8")]) == (
        "tenant research quota 20 x NVIDIA-H100 exceeds the 16 NVIDIA-H100 GPUs in the hub and its 2 registered "
        "spoke(s): over by 4",)


def test_clusters_gpufabric_did_not_register_are_not_counted():
    assert warnings_for({"NVIDIA-H100": 8}, [managed_cluster("other", "NVIDIA-H100=8", managed=False)]) == (
        "tenant research quota 8 x NVIDIA-H100 exceeds the 0 NVIDIA-H100 GPUs in the cluster: over by 8",)


def test_spokes_the_spec_declares_but_that_are_not_registered_yet_are_named_as_not_counted():
    # the hub's part of a fleet runs before its spokes register: the warning says why their GPUs are missing
    assert warnings_for({"NVIDIA-H100": 20}, [managed_cluster("s1", "NVIDIA-H100=8")], spokes=("s1", "s2", "s3")) == (
        "tenant research quota 20 x NVIDIA-H100 exceeds the 8 NVIDIA-H100 GPUs in the hub and its 1 registered "
        "spoke(s) (spoke(s) s2, s3 of the spec are not registered yet, so their GPUs are not counted): over by 12",)
    assert warnings_for({"NVIDIA-H100": 16}, [managed_cluster("s1", "NVIDIA-H100=8"),
                                              managed_cluster("s2", "NVIDIA-H100=8")], spokes=("s1", "s2")) == ()


def test_removing_an_app_reads_the_spoke_its_compute_pool_records_it_on():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import spokes_needed

    pool = {"apiVersion": "gpufabric.io/v1alpha1", "kind": "ComputePool",
            "metadata": {"name": "train", "namespace": "vision"}, "spec": {"spoke": "spoke-1"},
            "status": {"aiWorkloadRefs": [{"name": "llm", "namespace": "vision", "gpuCount": 4}]}}
    spec = parse_fabric({"apps": [{"name": "llm", "namespace": "vision", "state": "absent"}]})
    assert spokes_needed(spec, cluster(ComputePool=[pool])) == ["spoke-1"]
    other = parse_fabric({"apps": [{"name": "other", "namespace": "vision", "state": "absent"}]})
    assert spokes_needed(other, cluster(ComputePool=[pool])) == []
