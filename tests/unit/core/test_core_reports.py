"""The rows the info modules return for queries: project_info's projects (quota, used and free per family, apps,
members, pool access) from a planned and applied spec, and compute_pool_info's hosts from ComputePool statuses."""

from __future__ import annotations

import copy

from fake_cluster import cluster
from test_core_fabric import SPECS, converge, plan, small_nodes, tenancy

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import allocated_hosts
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import project_rows, quota_rows

P = "runwhere.ai"
A100, L40S = "NVIDIA-A100", "NVIDIA-L40S"


def applied(name):
    state, unused = converge(SPECS[name], cluster(small_nodes()))
    return state


def by_name(rows):
    return dict((row["name"], row) for row in rows)


# -- quota rows ----------------------------------------------------------------------------------------------------

def test_quota_rows_give_free_and_the_share_in_use_rounded_down():
    assert quota_rows({A100: 16, L40S: 3}, {A100: 4, L40S: 2}) == [
        {"family": A100, "quota": 16, "used": 4, "free": 12, "used_percent": 25},
        {"family": L40S, "quota": 3, "used": 2, "free": 1, "used_percent": 66}]


def test_quota_rows_list_a_family_used_without_quota_as_over_it():
    rows = quota_rows({A100: 8}, {L40S: 2})
    assert rows == [{"family": A100, "quota": 8, "used": 0, "free": 8, "used_percent": 0},
                    {"family": L40S, "quota": 0, "used": 2, "free": -2, "used_percent": 100}]


def test_quota_rows_of_a_zero_quota_unused_are_zero_percent():
    assert quota_rows({A100: 0}, {}) == [{"family": A100, "quota": 0, "used": 0, "free": 0, "used_percent": 0}]


# -- project rows --------------------------------------------------------------------------------------------------

def test_project_rows_count_the_apps_on_labelled_pools_per_family():
    rows = project_rows(applied("labelled pools and apps"), P)
    assert [row["name"] for row in rows] == ["nlp", "vision"]
    vision, nlp = by_name(rows)["vision"], by_name(rows)["nlp"]
    # train: a Job of 2 x 4 GPUs, embed 2 GPUs, web none
    assert vision["gpu_quota"] == {A100: 16} and vision["gpu_used"] == {A100: 10}
    assert vision["gpus"] == [{"family": A100, "quota": 16, "used": 10, "free": 6, "used_percent": 62}]
    assert (vision["gpu_quota_total"], vision["gpu_used_total"]) == (16, 10)
    assert nlp["gpus"] == [{"family": A100, "quota": 8, "used": 0, "free": 8, "used_percent": 0},
                           {"family": L40S, "quota": 4, "used": 4, "free": 0, "used_percent": 100}]
    assert [(a["name"], a["family"], a["gpu_count"], a["pool"], a["compute_pool"]) for a in vision["apps"]] == [
        ("embed", A100, 2, "training", None), ("train", A100, 8, "training", None), ("web", None, 0, "cpu", None)]
    assert nlp["apps"] == [{"name": "chat", "namespace": "nlp", "family": L40S, "gpu_count": 4,
                            "architecture": "AMD64", "pool": "serving", "compute_pool": None, "spoke": None}]


def test_project_rows_agree_with_what_the_project_module_reports():
    document = SPECS["labelled pools and apps"]
    state = applied("labelled pools and apps")
    again = plan(document, state)
    rows = by_name(project_rows(state, P))
    reports = dict((body["name"], body) for unused, kind, body in again.reports if kind == "project")
    assert sorted(reports) == ["nlp", "vision"]
    for name, report in reports.items():
        # the project module also lists the CPU-only app's "family" with 0 GPUs; no family is held by it
        assert rows[name]["gpu_used"] == dict((family, n) for family, n in report["gpu_used"].items() if n)
        assert rows[name]["gpu_quota"] == report["gpu_quota"]
        assert rows[name]["members"] == report["members"]
        assert rows[name]["tenant"] == report["tenant"]


def test_project_rows_name_members_and_pool_access_from_the_bindings():
    rows = by_name(project_rows(applied("labelled pools and apps"), P))
    assert rows["vision"]["members"] == [{"kind": "User", "name": "alice", "role": "admin"},
                                         {"kind": "Group", "name": "ml", "role": "viewer"}]
    assert rows["vision"]["pool_access"] == []
    assert rows["nlp"]["members"] == []
    assert rows["nlp"]["pool_access"] == [{"pool": "serving", "users": [], "groups": ["nlp-team"]}]
    assert rows["vision"]["tenant"] == "research" and rows["vision"]["description"] == ""


def test_project_rows_place_apps_on_compute_pools():
    rows = by_name(project_rows(applied("a shared compute pool"), P))
    assert [(a["name"], a["gpu_count"], a["pool"], a["compute_pool"], a["spoke"]) for a in rows["vision"]["apps"]] \
        == [("batch", 4, None, "edge", None), ("serve", 4, None, "edge", None)]
    assert rows["vision"]["gpu_used"] == {A100: 8}


def test_project_rows_read_the_quota_under_the_label_prefix_given():
    state, unused = converge(SPECS["another label prefix"], cluster(small_nodes()))
    assert [row["name"] for row in project_rows(state, "acme.io")] == ["nlp", "vision"]
    assert project_rows(state, P) == []
    assert by_name(project_rows(state, "acme.io"))["vision"]["gpu_used"] == {A100: 8}


def test_project_rows_filter_by_name_and_tenant():
    document = copy.deepcopy(tenancy())
    document["tenants"].append({"name": "ops", "gpu_quota": {A100: 2}})
    document["projects"].append({"name": "infra", "tenant": "ops", "gpu_quota": {A100: 2},
                                 "description": "Cluster services"})
    state, unused = converge(document, cluster(small_nodes()))
    assert [row["name"] for row in project_rows(state, P)] == ["infra", "nlp", "vision"]
    assert [row["name"] for row in project_rows(state, P, name="nlp")] == ["nlp"]
    assert [row["name"] for row in project_rows(state, P, tenant="research")] == ["nlp", "vision"]
    assert [row["name"] for row in project_rows(state, P, tenant="ops")] == ["infra"]
    assert project_rows(state, P, name="nlp", tenant="ops") == []
    assert project_rows(state, P, name="infra")[0]["description"] == "Cluster services"


def test_project_rows_leave_out_plain_and_terminating_namespaces():
    state = applied("labelled pools and apps")
    vision = copy.deepcopy(state.get("Namespace", "vision"))
    vision["metadata"]["deletionTimestamp"] = "2024-01-16T08:00:00Z"
    plain = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    others = [ns for ns in state.items("Namespace") if ns["metadata"]["name"] != "vision"]
    changed = cluster(small_nodes(), Namespace=others + [vision, plain],
                      **dict((kind, list(state.items(kind))) for kind in ("RoleBinding", "Pool", "Deployment", "Job")))
    assert [row["name"] for row in project_rows(changed, P)] == ["nlp"]


def test_project_rows_count_an_app_recorded_on_a_pool_before_its_workload_exists():
    """The ledger holds GPUs recorded in a pool's status even while the workload is not written yet; the numbers
    are the ones a new app is checked against."""
    state = applied("labelled pools and apps")
    pools = copy.deepcopy(list(state.items("Pool")))
    serving = next(p for p in pools if p["metadata"]["name"] == "serving")
    serving["status"]["aiWorkloadRefs"].append({"name": "rerank", "namespace": "nlp", "family": L40S,
                                                "gpuCount": 0, "architecture": "AMD64"})
    training = next(p for p in pools if p["metadata"]["name"] == "training")
    training["status"]["aiWorkloadRefs"].append({"name": "pending", "namespace": "nlp", "family": A100,
                                                 "gpuCount": 2, "architecture": "AMD64"})
    changed = cluster(small_nodes(), Pool=pools,
                      **dict((kind, list(state.items(kind))) for kind in ("Namespace", "RoleBinding", "Deployment",
                                                                          "Job")))
    nlp = by_name(project_rows(changed, P))["nlp"]
    assert nlp["gpu_used"] == {A100: 2, L40S: 4}
    assert [(a["name"], a["pool"]) for a in nlp["apps"]] == [("chat", "serving"), ("pending", "training"),
                                                             ("rerank", "serving")]


# -- compute pool hosts --------------------------------------------------------------------------------------------

def test_allocated_hosts_list_every_host_with_its_machine_pool_and_status():
    state = applied("a shared compute pool")
    rows = allocated_hosts(list(state.items("ComputePool")))
    assert [(r["name"], r["machine_pool"], r["node_type"], r["worker_pool"], r["status"]) for r in rows] == [
        ("edge-cp", "control-plane-pool", "ControlPlaneAndWorker", None, "Healthy"),
        ("edge-w1", "worker-pool-nvidia-amd64-0", "WorkerOnly", "gpu", "Healthy"),
        ("edge-w2", "worker-pool-nvidia-amd64-0", "WorkerOnly", "gpu", "Healthy")]
    assert all((r["compute_pool"], r["namespace"], r["spoke"]) == ("edge", "vision", None) for r in rows)
    assert (rows[0]["gpu_count"], rows[0]["gpus"], rows[0]["cpu_count"]) == (0, [], 16)
    assert rows[1]["gpu_count"] == 4
    assert rows[1]["gpus"] == [{"family": A100, "count": 4, "memory_gb": None}]
    assert (rows[1]["architecture"], rows[1]["cpu_count"], rows[1]["memory_gb"]) == ("AMD64", 32, 128)
    assert rows[1]["status_updated_at"] == "2024-01-15T10:30:00Z"


def test_allocated_hosts_follow_the_status_mapping_as_stored():
    pool = {"metadata": {"name": "cp", "namespace": "team"}, "spec": {"spoke": "edge-a"},
            "status": {"allocatedMachinePools": [
                {"name": "control-plane-pool", "nodeType": "ControlPlaneAndWorker",
                 "hosts": {"h2": {"status": "Unhealthy"}, "h1": {"status": "Healthy"}}},
                {"name": "worker-pool-nvidia-amd64-0", "nodeType": "WorkerOnly", "workerPoolRequirementsName": "w",
                 "hosts": {"h3": {"status": "Provisioning", "gpuCountByFamily": {L40S: 2, A100: 4},
                                  "gpuMemoryGBByFamily": {A100: 160}}}}]}}
    unallocated = {"metadata": {"name": "new", "namespace": "team"}, "spec": {}}
    rows = allocated_hosts([pool, unallocated])
    assert [(r["name"], r["status"], r["spoke"]) for r in rows] == [
        ("h1", "Healthy", "edge-a"), ("h2", "Unhealthy", "edge-a"), ("h3", "Provisioning", "edge-a")]
    assert rows[2]["gpu_count"] == 6
    assert rows[2]["gpus"] == [{"family": A100, "count": 4, "memory_gb": 160},
                               {"family": L40S, "count": 2, "memory_gb": None}]
    assert [r["name"] for r in rows if r["status"] != "Healthy"] == ["h2", "h3"]
