"""The planner without a server: a whole fabric spec planned, applied to an in-memory cluster and planned again;
validation of the whole spec before anything is written; the order of the writes; check-mode prediction; prune;
pool membership moves and their guards; the allocation ledger; pod templates that would run uncounted GPUs."""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml
from core_helpers import node
from fake_cluster import NotFound, cluster, fake_apply

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
    Context, parse_fabric, plan_fabric, single_entry_spec)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import ClusterState

FILES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "playbooks", "files")
P = "runwhere.ai"
A100, L40S = "NVIDIA-A100", "NVIDIA-L40S"
NOW, LATER = "2024-01-15T10:30:00Z", "2024-01-16T08:00:00Z"
EDGE = {"palette.ai.rg/site": "edge"}


# -- the clusters and specs ------------------------------------------------------------------------------------

def demo_nodes():
    """The cluster `make demo` builds: seed 002's pool nodes and seed 000's edge hosts."""
    pool_nodes = [("gpu-node-1", "NVIDIA-A100-SXM4-80GB", 8), ("gpu-node-2", "NVIDIA-A100-SXM4-80GB", 8),
                  ("gpu-node-3", "NVIDIA-A10", 4), ("gpu-node-4", "NVIDIA-A10", 4),
                  ("gpu-node-5", "NVIDIA-GeForce-RTX-4090", 4), ("cpu-node-1", None, 0), ("cpu-node-2", None, 0)]
    edge_hosts = [("host-uid-1", None, 0, "16", "64Gi"), ("host-uid-2", None, 0, "16", "64Gi"),
                  ("host-uid-3", A100, 4, "32", "128Gi"), ("host-uid-4", A100, 4, "32", "128Gi")]
    nodes = [node(name, "64" if gpus else "16", "512Gi" if gpus else "64Gi", gpus, product)
             for name, product, gpus in pool_nodes]
    nodes += [node(name, cpu, memory, gpus, product, 40960 if gpus else None, labels=EDGE)
              for name, product, gpus, cpu, memory in edge_hosts]
    return nodes


def demo_document():
    """playbooks/files/demo-fabric.yml with each pool's `src` read into `definition`, as the fabric module does."""
    with open(os.path.join(FILES, "demo-fabric.yml")) as handle:
        document = yaml.safe_load(handle)
    for entry in document["pools"]:
        with open(os.path.join(FILES, entry.pop("src"))) as handle:
            entry["definition"] = yaml.safe_load(handle)
    return document


def small_nodes():
    return [node("gpu-a1", "32", "128Gi", 8, A100), node("gpu-a2", "32", "128Gi", 8, A100),
            node("gpu-l1", "32", "128Gi", 4, L40S, labels={"zone": "b"}), node("cpu-1"), node("cpu-2"),
            node("edge-cp", labels=EDGE), node("edge-w1", "32", "128Gi", 4, A100, labels=EDGE),
            node("edge-w2", "32", "128Gi", 4, A100, labels=EDGE)]


def tenancy(**extra):
    """A tenant and two projects, plus `extra` sections."""
    document = {"tenants": [{"name": "research", "gpu_quota": {A100: 24, L40S: 4}}],
                "projects": [{"name": "vision", "tenant": "research", "gpu_quota": {A100: 16},
                              "members": [{"user": "alice", "role": "admin"}, {"group": "ml", "role": "viewer"}]},
                             {"name": "nlp", "tenant": "research", "gpu_quota": {A100: 8, L40S: 4},
                              "pool_access": [{"pool": "serving", "groups": ["nlp-team"]}]}]}
    document.update(extra)
    return document


def app(name, namespace, gpus, **target):
    return dict({"name": name, "namespace": namespace, "image": "example/%s:1" % name, "resources": {"gpu": gpus}},
                **target)


SPECS = {
    "labelled pools and apps": tenancy(
        pools=[{"name": "training", "description": "big jobs",
                "nodes": {"gpu-a1": {"gpu_type": "a100"}, "gpu-a2": {"gpu_type": "a100"}}},
               {"name": "serving", "node_selector": "zone=b"},
               {"name": "cpu", "nodes": {"cpu-1": {}, "cpu-2": {"gpu_type": ""}}}],
        apps=[app("train", "vision", 4, pool="training", replicas=2, kind="Job"),
              app("embed", "vision", 2, pool="training", platform="a100"),
              app("chat", "nlp", 4, pool="serving"),
              app("web", "vision", 0, pool="cpu", resources={"cpu": "500m", "memory": "1024Mi"})]),
    "a shared compute pool": tenancy(
        compute_pools=[{"name": "edge", "namespace": "vision", "mode": "shared",
                        "control_plane": {"node_count": 1, "resource_groups": {"site": "edge"}},
                        "worker_resource_groups": {"site": "edge"},
                        "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 8},
                                          "min_worker_nodes": 2}]}],
        apps=[app("serve", "vision", 2, compute_pool="edge", replicas=2),
              app("batch", "vision", 4, compute_pool="edge", kind="Job")]),
    "another label prefix": dict(tenancy(
        pools=[{"name": "training", "nodes": {"gpu-a1": {"gpu_type": "a100"}}}],
        apps=[app("train", "vision", 8, pool="training")]), label_prefix="acme.io"),
}


def plan(document, state, **context):
    return plan_fabric(parse_fabric(document), state, Context(**dict({"now": NOW}, **context)))


def converge(document, state, **context):
    """(the cluster once the plan's writes are applied, the plan)."""
    result = plan(document, state, **context)
    return fake_apply(state, result.writes), result


def errors_of(document, state=None, **context):
    with pytest.raises(FabricError) as caught:
        if state is None:
            parse_fabric(document)
        else:
            plan(document, state, **context)
    return caught.value.errors


def keys(writes):
    return [(w.action, w.key) for w in writes]


def index(writes, action, key):
    found = [i for i, w in enumerate(writes) if (w.action, w.key) == (action, key)]
    assert len(found) == 1, "%s %s is written %d times" % (action, key, len(found))
    return found[0]


def labels(state, name):
    return dict((k, v) for k, v in state.get("Node", name)["metadata"]["labels"].items() if k.startswith(P + "/"))


# -- convergence -----------------------------------------------------------------------------------------------

def test_the_demo_spec_converges_in_one_run_and_then_plans_nothing():
    state, first = converge(demo_document(), cluster(demo_nodes()))
    assert first.changed and not first.waiting
    assert plan(demo_document(), state, now=LATER).writes == ()
    assert labels(state, "gpu-node-3") == {P + "/pool": "inference-pool", P + "/gpu-type": "A10-24G"}
    assert labels(state, "cpu-node-2") == {P + "/pool": "compute-pool"}
    assert sorted(n for n in ("host-uid-1", "host-uid-2", "host-uid-3", "host-uid-4")
                  if labels(state, n).get(P + "/compute-pool") == "vision-cluster") == [
        "host-uid-1", "host-uid-3", "host-uid-4"]
    inference = state.get("Pool", "inference-pool")["status"]
    assert (inference["gpuTotal"], inference["gpuUsed"], inference["gpuAllocated"]) == (8, 4, 4)
    assert [(r["namespace"], r["name"], r["gpuCount"]) for r in inference["aiWorkloadRefs"]] == [("nlp", "chat", 4)]
    compute = state.get("ComputePool", "vision-cluster", "vision")["status"]
    assert (compute["status"], compute["gpuTotal"], compute["gpuAllocated"]) == ("Running", 8, 4)
    assert [r["name"] for r in compute["aiWorkloadRefs"]] == ["llm-serve"]
    tenant = state.get("Tenant", "research")["status"]
    assert tenant["projectCount"] == 2 and tenant["gpuAssignedTotal"] == 32


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_hand_written_spec_converges_in_one_run_and_then_plans_nothing(name):
    state, first = converge(SPECS[name], cluster(small_nodes()))
    assert first.changed
    again = plan(SPECS[name], state, now=LATER)
    assert again.writes == (), keys(again.writes)


def test_labelled_pools_spec_lands_where_it_says():
    state, unused = converge(SPECS["labelled pools and apps"], cluster(small_nodes()))
    assert labels(state, "gpu-l1") == {P + "/pool": "serving"}
    training = state.get("Pool", "training")["status"]
    assert (training["gpuTotal"], training["gpuAllocated"], training["gpuFree"]) == (16, 10, 6)
    job = state.get("Job", "train", "vision")
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {P + "/pool": "training",
                                                               "nvidia.com/gpu.product": A100}
    web = state.get("Deployment", "web", "vision")["spec"]["template"]["spec"]
    assert web["containers"][0]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}


def test_a_spec_with_another_label_prefix_writes_only_that_prefix_on_nodes():
    state, first = converge(SPECS["another label prefix"], cluster(small_nodes()))
    patches = [w.body for w in first.writes if w.action == "labels"]
    assert patches == [{"acme.io/gpu-type": "a100", "acme.io/pool": "training"}]
    assert state.get("Deployment", "train", "vision")["spec"]["template"]["spec"]["nodeSelector"][
        "acme.io/pool"] == "training"


# -- validation of the whole spec ---------------------------------------------------------------------------------

def test_every_problem_of_every_entry_is_reported_together():
    errors = errors_of({
        "tenant": [{"name": "research"}],
        "computepools": [],
        "tenants": [{"name": "research", "gpu_quota": ["NVIDIA-A100"]}],
        "projects": [{"name": "vision", "tenant": "research", "members": "alice"}],
        "pools": {"name": "training", "nodes": {"gpu-a1": {}}},
    })
    assert errors == [
        "unknown top-level key computepools (did you mean compute_pools?)",
        "unknown top-level key tenant (did you mean tenants?)",
        "tenants[0] (research).gpu_quota must be a mapping, got ['NVIDIA-A100']",
        "projects[0] (vision).members must be a list, got 'alice'",
        "pools must be a list of pool_label entries (module arguments), got dict",
    ]


def test_a_node_listed_by_two_pools_is_reported_with_the_other_entries_errors():
    errors = errors_of({
        "tenants": [{"name": "research", "gpu_quota": {"NVIDIA-A100": "lots"}}],
        "pools": [{"name": "training", "nodes": {"gpu-a1": {"gpu_typ": "a100"}}},
                  {"name": "serving", "nodes": {"gpu-a2": {}, "gpu-l1": {}}},
                  {"name": "batch", "nodes": {"gpu-a2": {"gpu_type": "a100"}}}],
    })
    assert "pools[0] (training): pool training node gpu-a1: unknown key gpu_typ (the only key is gpu_type)" in errors
    assert "node gpu-a2 is listed by pools serving, batch; a node belongs to one pool" in errors
    assert any(e.startswith("tenants[0] (research): ") and "'lots'" in e for e in errors), errors
    assert len(errors) == 3


def test_what_only_the_cluster_can_tell_is_reported_together_and_nothing_is_planned():
    document = tenancy(
        projects=[{"name": "vision", "tenant": "research", "gpu_quota": {A100: 16}},
                  {"name": "nlp", "tenant": "research", "gpu_quota": {A100: 12}},
                  {"name": "speech", "tenant": "acme", "gpu_quota": {A100: 1}}],
        pools=[{"name": "training", "nodes": {"gpu-a1": {}}}],
        compute_pools=[{"name": "edge", "namespace": "default", "worker_pools": []}],
        apps=[app("chat", "vision", 1, pool="inference"), app("fine", "vision", 1, pool="training")])
    errors = errors_of(document, cluster(small_nodes()))
    assert errors == [
        "projects[2] (speech): tenant acme does not exist; declare it first (gpufabric.platform.tenant, or the "
        "spec's tenants)",
        "tenant research: projects request 28 x NVIDIA-A100 (nlp 12, vision 16) but the tenant quota is 24: over by 4",
        "compute_pools[0] (default/edge): compute pool default/edge: namespace default is not a gpufabric project; "
        "declare it first (gpufabric.platform.project, or the spec's projects)",
        "apps[0] (vision/chat): pool inference does not exist",
    ]


def test_a_live_tenant_counts_as_existing_for_a_project():
    state, unused = converge({"tenants": [{"name": "acme", "gpu_quota": {A100: 4}}]}, cluster(small_nodes()))
    result = plan({"projects": [{"name": "speech", "tenant": "acme", "gpu_quota": {A100: 2}}]}, state)
    assert ("apply", "Namespace/speech") in keys(result.writes)
    assert result.writes[-1].key == "Tenant/acme/status"
    assert result.writes[-1].body["status"]["gpuAssignedTotal"] == 2


# -- the order of the writes ------------------------------------------------------------------------------------

def test_writes_come_in_dependency_order():
    writes = plan(demo_document(), cluster(demo_nodes())).writes
    tenant = index(writes, "apply", "Tenant/research")
    for project in ("vision", "nlp"):
        namespace = index(writes, "apply", "Namespace/%s" % project)
        assert tenant < namespace
        assert all(namespace < i for i, w in enumerate(writes) if w.namespace == project)
    for pool, members in (("training-pool", ("gpu-node-1", "gpu-node-2")), ("compute-pool", ("cpu-node-1",))):
        spec, status = index(writes, "apply", "Pool/%s" % pool), index(writes, "status", "Pool/%s/status" % pool)
        assert all(spec < index(writes, "labels", "Node/%s" % n) < status for n in members)
    compute = index(writes, "apply", "ComputePool/vision/vision-cluster")
    compute_status = index(writes, "status", "ComputePool/vision/vision-cluster/status")
    assert compute < index(writes, "labels", "Node/host-uid-3") < compute_status
    chat, serve = index(writes, "apply", "Deployment/nlp/chat"), index(writes, "apply", "Deployment/vision/llm-serve")
    assert index(writes, "status", "Pool/inference-pool/status") < chat
    assert compute_status < serve
    fake_apply(cluster(demo_nodes()), writes)  # the server takes them in this order


def test_removals_come_last_apps_before_their_pools_tenant_after_its_projects():
    state, unused = converge(demo_document(), cluster(demo_nodes()))
    absent = {"state": "absent"}
    teardown = {"tenants": [dict(absent, name="research")],
                "projects": [dict(absent, name="vision"), dict(absent, name="nlp")],
                "pools": [dict(absent, name="inference-pool")],
                "compute_pools": [dict(absent, name="vision-cluster", namespace="vision")],
                "apps": [dict(absent, name="llm-serve", namespace="vision"),
                         dict(absent, name="chat", namespace="nlp")]}
    writes = plan(teardown, state).writes
    serve = index(writes, "delete", "Deployment/vision/llm-serve")
    chat = index(writes, "delete", "Deployment/nlp/chat")
    deleting = index(writes, "status", "ComputePool/vision/vision-cluster/status")
    compute = index(writes, "delete", "ComputePool/vision/vision-cluster")
    pool = index(writes, "delete", "Pool/inference-pool")
    assert serve < deleting < index(writes, "labels", "Node/host-uid-3") < compute
    assert writes[deleting].body["status"]["status"] == "Deleting"
    assert writes[deleting].body["status"]["aiWorkloadRefs"] == []
    assert chat < pool
    namespaces = [index(writes, "delete", "Namespace/%s" % p) for p in ("vision", "nlp")]
    assert max(serve, chat, compute, pool) < min(namespaces)
    assert max(namespaces) < index(writes, "delete", "Tenant/research") == len(writes) - 1
    after = fake_apply(state, writes)
    assert after.items("Tenant") == () and after.items("ComputePool") == () and after.items("Deployment") == ()
    assert labels(after, "gpu-node-3") == {} and labels(after, "host-uid-3") == {}
    assert len(after.items("Node")) == len(demo_nodes())


def test_the_fake_server_refuses_writes_out_of_order():
    writes = list(plan(demo_document(), cluster(demo_nodes())).writes)
    namespace = index(writes, "apply", "Namespace/vision")
    with pytest.raises(NotFound, match="namespace vision not found"):
        fake_apply(cluster(demo_nodes()), writes[namespace + 1:])


# -- check mode: what the spec declares counts as existing ------------------------------------------------------

def test_objects_declared_earlier_in_the_spec_count_as_existing_on_an_empty_cluster():
    empty = cluster(small_nodes())
    assert errors_of({"projects": [{"name": "vision", "tenant": "research"}]}, empty) == [
        "projects[0] (vision): tenant research does not exist; declare it first (gpufabric.platform.tenant, or the "
        "spec's tenants)"]
    result = plan(SPECS["a shared compute pool"], empty)
    namespace = next(w for w in result.writes if w.key == "Namespace/vision")
    assert namespace.creates and namespace.body["metadata"]["labels"][P + "/tenant"] == "research"
    serve = result.report("apps[0] (vision/serve)")
    assert serve["placement"]["gpuFree"] == 8 and serve["placement"]["gpuFreeAfter"] == 4
    assert result.report("apps[1] (vision/batch)")["placement"]["gpuFreeAfter"] == 0


# -- prune ------------------------------------------------------------------------------------------------------

def pruned_demo():
    """The demo spec without the chat app, the inference pool and the compute pool with its app."""
    document = demo_document()
    document["apps"] = []
    document["pools"] = [e for e in document["pools"] if e["definition"]["pool"]["name"] != "inference-pool"]
    document["compute_pools"] = []
    return document


def handmade(state):
    """Objects gpufabric did not create: an unlabelled Pool and Namespace beside the managed ones."""
    objects = dict((kind, list(state.items(kind))) for kind in state.objects)
    objects["Pool"].append({"apiVersion": "gpufabric.io/v1alpha1", "kind": "Pool", "metadata": {"name": "by-hand"},
                            "spec": {"nodeSelector": {P + "/pool": "by-hand"}}})
    objects["Namespace"].append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}})
    return cluster(objects.pop("Node"), **objects)


def test_prune_removes_managed_objects_the_spec_no_longer_names_and_never_a_node():
    state = handmade(converge(demo_document(), cluster(demo_nodes()))[0])
    result = plan(pruned_demo(), state, prune=True)
    deleted = sorted(w.key for w in result.writes if w.action == "delete")
    assert deleted == ["ComputePool/vision/vision-cluster", "Deployment/nlp/chat", "Deployment/vision/llm-serve",
                       "Pool/inference-pool"]
    assert sorted(w.name for w in result.writes if w.action == "labels") == [
        "gpu-node-3", "gpu-node-4", "host-uid-1", "host-uid-3", "host-uid-4"]
    assert all(value is None for w in result.writes if w.action == "labels" for value in w.body.values())
    assert all(key.startswith(P + "/") for w in result.writes if w.action == "labels" for key in w.body)
    assert result.report("prune app_deployment nlp/chat")["workload"]["state"] == "absent"
    after = fake_apply(state, result.writes)
    assert after.get("Pool", "by-hand") is not None and after.get("Namespace", "scratch") is not None
    assert len(after.items("Node")) == len(demo_nodes())
    assert plan(pruned_demo(), after, prune=True).writes == ()


def test_without_prune_nothing_outside_the_spec_is_touched():
    state = handmade(converge(demo_document(), cluster(demo_nodes()))[0])
    assert plan(pruned_demo(), state).writes == ()
    assert plan({"projects": [demo_document()["projects"][0]]}, state).writes == ()


def test_prune_keeps_the_state_absent_guards():
    state = converge(demo_document(), cluster(demo_nodes()))[0]
    document = demo_document()
    document["projects"] = [p for p in document["projects"] if p["name"] != "nlp"]
    errors = errors_of(document, state, prune=True)
    assert ("prune project nlp: project nlp still has 1 app deployment(s): Deployment/chat; remove them first "
            "(app_deployment state=absent, which frees their GPUs on the pools) or set force") in errors
    document = demo_document()
    document["compute_pools"] = []
    errors = errors_of(document, state, prune=True)
    assert any(e.startswith("prune compute_pool vision/vision-cluster: compute pool vision/vision-cluster still "
                            "runs 1 workload(s) (vision/llm-serve)") for e in errors), errors


# -- pool membership ------------------------------------------------------------------------------------------------

def two_pools(a_nodes, b_nodes, **a_extra):
    return {"pools": [dict({"name": "pool-a", "nodes": dict((n, {}) for n in a_nodes)}, **a_extra),
                      {"name": "pool-b", "nodes": dict((n, {}) for n in b_nodes)}]}


def running_pod(name, node_name, pool, gpus=2):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "research"},
            "spec": {"nodeName": node_name, "nodeSelector": {P + "/pool": pool},
                     "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]},
            "status": {"phase": "Running"}}


def test_a_node_moves_between_two_declared_pools_without_overwrite():
    state = converge(two_pools(["gpu-a1", "gpu-a2"], ["gpu-l1"]), cluster(small_nodes()))[0]
    result = plan(two_pools(["gpu-a2"], ["gpu-l1", "gpu-a1"]), state)
    assert [(w.key, w.body) for w in result.writes if w.action == "labels"] == [
        ("Node/gpu-a1", {P + "/pool": "pool-b"})]
    after = fake_apply(state, result.writes)
    assert after.get("Pool", "pool-a")["status"]["nodeCount"] == 1
    assert after.get("Pool", "pool-b")["status"]["nodeCount"] == 2
    assert plan(two_pools(["gpu-a2"], ["gpu-l1", "gpu-a1"]), after).writes == ()


def test_taking_a_node_from_a_pool_the_spec_does_not_declare_needs_overwrite():
    state = converge(two_pools(["gpu-a1", "gpu-a2"], ["gpu-l1"]), cluster(small_nodes()))[0]
    taker = {"pools": [{"name": "pool-b", "nodes": {"gpu-l1": {}, "gpu-a1": {}}}]}
    assert errors_of(taker, state) == [
        "pools[0] (pool-b): node gpu-a1 is in pool pool-a; set overwrite to move it to pool-b"]
    taker["pools"][0]["overwrite"] = True
    after = fake_apply(state, plan(taker, state).writes)
    assert labels(after, "gpu-a1") == {P + "/pool": "pool-b"}
    assert after.get("Pool", "pool-a")["status"]["nodeCount"] == 1
    assert after.get("Pool", "pool-b")["status"]["nodeCount"] == 2


@pytest.mark.parametrize("leave", [
    pytest.param({"nodes": {}}, id="emptied"),
    pytest.param({"state": "absent"}, id="absent"),
])
def test_a_node_under_a_pod_that_selects_its_pool_leaves_only_with_force(leave):
    converged = converge(two_pools(["gpu-a1", "gpu-a2"], []), cluster(small_nodes()))[0]
    state = cluster(converged.items("Node"), Pool=converged.items("Pool"),
                    Pod=[running_pod("train-0", "gpu-a1", "pool-a")])
    document = {"pools": [dict({"name": "pool-a"}, **leave)]}
    errors = errors_of(document, state)
    assert len(errors) == 1 and errors[0].startswith(
        "pools[0] (pool-a): pool pool-a: node(s) gpu-a1 would leave the pool while 1 workload(s) that select it run "
        "there: research/train-0 on gpu-a1; stop them first, or set force")
    document["pools"][0]["force"] = True
    result = plan(document, state)
    assert sorted(w.name for w in result.writes if w.action == "labels") == ["gpu-a1", "gpu-a2"]
    assert any("pool pool-a loses node(s) gpu-a1, gpu-a2 with 1 workload(s) still running" in w
               for w in result.warnings)


# -- the ledger -------------------------------------------------------------------------------------------------

def one_pool(*apps):
    return {"projects": [{"name": "vision", "gpu_quota": {A100: 16}}],
            "pools": [{"name": "training", "nodes": {"gpu-a1": {"gpu_type": "a100"}}}], "apps": list(apps)}


def test_two_apps_declared_on_one_pool_are_checked_against_each_other():
    apps = (app("first", "vision", 6, pool="training"), app("second", "vision", 4, pool="training"))
    errors = errors_of(one_pool(*apps), cluster(small_nodes()))
    assert errors == ["apps[1] (vision/second): needs 4 x NVIDIA-A100, 2 free on pool training (8 total, 6 "
                      "allocated): short by 2"]
    state, unused = converge(one_pool(app("first", "vision", 6, pool="training"),
                                      app("second", "vision", 2, pool="training")), cluster(small_nodes()))
    status = state.get("Pool", "training")["status"]
    assert (status["gpuAllocated"], status["gpuUsed"], status["gpuFree"]) == (8, 8, 0)
    assert status["aiWorkloadRefs"] == [
        {"name": "first", "namespace": "vision", "family": A100, "gpuCount": 6, "architecture": "AMD64"},
        {"name": "second", "namespace": "vision", "family": A100, "gpuCount": 2, "architecture": "AMD64"}]


def test_an_app_recorded_only_in_a_pool_status_still_holds_its_gpus():
    state = converge(one_pool(), cluster(small_nodes()))[0]
    pool = copy.deepcopy(state.get("Pool", "training"))
    pool["status"]["aiWorkloadRefs"] = [{"name": "racing", "namespace": "vision", "family": A100, "gpuCount": 6,
                                         "architecture": "AMD64"}]
    pool["status"]["gpuAllocated"] = 6
    objects = dict((kind, list(state.items(kind))) for kind in state.objects)
    objects["Pool"] = [pool]
    racing = cluster(objects.pop("Node"), **objects)
    assert errors_of(one_pool(app("mine", "vision", 4, pool="training")), racing) == [
        "apps[0] (vision/mine): needs 4 x NVIDIA-A100, 2 free on pool training (8 total, 6 allocated): short by 2"]
    result = plan(one_pool(app("mine", "vision", 2, pool="training")), racing)
    status = next(w for w in result.writes if w.key == "Pool/training/status").body["status"]
    assert [(r["name"], r["gpuCount"]) for r in status["aiWorkloadRefs"]] == [("mine", 2), ("racing", 6)]
    assert result.report("apps[0] (vision/mine)")["placement"]["quotaLeftAfter"] == 8


def test_a_removed_app_frees_its_gpus_for_an_app_declared_after_it():
    state = converge(one_pool(app("first", "vision", 6, pool="training")), cluster(small_nodes()))[0]
    swap = one_pool(dict(name="first", namespace="vision", state="absent"), app("second", "vision", 8, pool="training"))
    result = plan(swap, state)
    assert keys(result.writes) == [("status", "Pool/training/status"), ("apply", "Deployment/vision/second"),
                                   ("delete", "Deployment/vision/first")]
    assert [r["name"] for r in result.writes[0].body["status"]["aiWorkloadRefs"]] == ["second"]


# -- pod templates --------------------------------------------------------------------------------------------------

def gpu_resources(gpus):
    return {"limits": {"nvidia.com/gpu": str(gpus)}, "requests": {"nvidia.com/gpu": str(gpus)}}


@pytest.mark.parametrize("template, asked", [
    pytest.param({"spec": {"containers": [{"name": "{{USER_CONTAINER_NAME}}", "resources": gpu_resources(2)}]}}, 2,
                 id="sets-nvidia-gpu"),
    pytest.param({"spec": {"containers": [{"name": "sidecar", "image": "s", "resources": gpu_resources(1)}]}}, 2,
                 id="adds-a-gpu-container"),
])
def test_a_pod_template_that_asks_gpus_nobody_counted_is_refused(template, asked):
    document = one_pool(app("llm", "vision", 1, pool="training", pod_templates=[template]))
    assert errors_of(document, cluster(small_nodes())) == [
        "apps[0] (vision/llm): pod_templates make each pod of vision/llm request %d GPU(s), but resources.gpu is 1: "
        "the capacity and quota checks count resources.gpu, so set it to %d or take nvidia.com/gpu out of the "
        "templates" % (asked, asked)]


def test_a_pod_template_whose_gpu_limit_differs_from_the_request_is_refused():
    template = {"spec": {"containers": [{"name": "{{USER_CONTAINER_NAME}}",
                                         "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}
    errors = errors_of(one_pool(app("llm", "vision", 1, pool="training", pod_templates=[template])),
                       cluster(small_nodes()))
    assert errors == ["apps[0] (vision/llm): pod template spec.containers[0].resources: nvidia.com/gpu request 1 and "
                      "limit 2 differ; the API server requires a GPU request to equal its limit"]


def test_a_cpu_only_app_carries_nothing_gpu_specific_whatever_the_templates_add():
    template = {"spec": {"runtimeClassName": "nvidia",
                         "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                         {"key": "dedicated", "operator": "Exists"}],
                         "containers": [{"name": "{{USER_CONTAINER_NAME}}", "resources": gpu_resources(1)},
                                        {"name": "sidecar", "image": "s",
                                         "resources": {"limits": {"nvidia.com/gpu": "1", "cpu": "1"}}}]}}
    result = plan(one_pool(app("web", "vision", 0, pool="training", pod_templates=[template])), cluster(small_nodes()))
    pod = next(w for w in result.writes if w.kind == "Deployment").body["spec"]["template"]["spec"]
    assert "runtimeClassName" not in pod
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert [c.get("resources") or {} for c in pod["containers"]] == [{}, {"limits": {"cpu": "1"}}]
    assert "nvidia.com/gpu.product" not in pod["nodeSelector"]


# -- determinism ----------------------------------------------------------------------------------------------------

def dump(result):
    return json.dumps([[w.action, w.kind, w.name, w.namespace, w.body, w.entry] for w in result.writes],
                      sort_keys=False)


@pytest.mark.parametrize("name", sorted(SPECS) + ["demo"])
def test_the_same_input_plans_the_same_writes_byte_for_byte(name):
    document, nodes = (demo_document(), demo_nodes()) if name == "demo" else (SPECS[name], small_nodes())
    first, second = plan(document, cluster(nodes)), plan(copy.deepcopy(document), cluster(copy.deepcopy(nodes)))
    assert dump(first) == dump(second)
    listed_backwards = ClusterState(dict((kind, dict(reversed(list(items.items()))))
                                         for kind, items in cluster(nodes).objects.items()), cluster(nodes).read)
    assert dump(plan(document, listed_backwards)) == dump(first)


def test_a_single_module_run_plans_like_the_same_entry_in_a_spec():
    args = {"name": "training", "nodes": {"gpu-a1": {"gpu_type": "a100"}}}
    alone = plan_fabric(single_entry_spec("pool_label", args, P), cluster(small_nodes()), Context(now=NOW))
    in_spec = plan({"pools": [args]}, cluster(small_nodes()))
    assert keys(alone.writes) == keys(in_spec.writes)
    assert [w.body for w in alone.writes] == [w.body for w in in_spec.writes]
