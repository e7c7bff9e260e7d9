"""Check mode tells the truth, for every writing module and the fabric module, against the real control plane.

For each module: on an empty cluster, then from a converged object, one change per option. Each time, check mode
with diff stores nothing (the audit log shows no write request that is not a dry run) and reports the `changed`
and the diff that the real run then reports (whole diffs; only the times a run records differ, by when the run
happened: a host's `statusUpdatedAt`, a status's `observedAt`); then the object is converged: a rerun reports no
change and sends no write. Check mode on a converged object reports no change, an empty diff, and sends not even a
dry run.

Objects are named after their test. Each module's tests share its tenants, projects and pools (module-scoped
fixtures); nodes are made per test where a test moves them.
"""

from __future__ import annotations


import pytest

from tests.harness.ansible import run_module
from tests.harness.audit import is_dry_run
from tests.harness.nodes import create_node
from tests.harness.waiting import wait_gone

pytestmark = pytest.mark.integration

A100 = "NVIDIA-A100"
H100 = "NVIDIA-H100"
ACCESS_REVIEWS = "selfsubjectaccessreviews"


TIMES = ("statusUpdatedAt", "observedAt")  # when a run saw a host's status, when it measured a status's figures


def untimed(value):
    """The value without the times a run records: check mode and the real run differ only in when they ran."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def reported(result):
    """What a module returned, as check mode must predict it (Ansible's own bookkeeping aside)."""
    return untimed({k: v for k, v in result.items() if k not in ("invocation", "warnings", "deprecations")})


def requests(writes):
    """Write-verb requests since the mark, whatever their answer, once the audit log has caught up."""
    writes.events()
    return writes.audit.requests_since(writes.mark)


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


class Runs(object):
    """Runs modules against the control plane of the test run and checks what the audit log saw."""

    def __init__(self, kubeconfig, writes):
        self.kubeconfig, self.writes = kubeconfig, writes

    def run(self, module, args, check=False, diff=False):
        return run_module(module, args, self.kubeconfig, check=check, diff=diff)

    def converge(self, module, args):
        """A real run that must succeed: the starting point of a change."""
        return ok(self.run(module, args))

    def predicts(self, module, args, changes=True, settle=None):
        """Check mode with diff, then the real run with diff: the same `changed`, diff and report; check mode
        stores nothing. Then the object is converged: a rerun changes and sends nothing.
        settle: called between the real run and the rerun (e.g. to let a namespace finish deleting)."""
        self.writes.start()
        predicted = ok(self.run(module, args, check=True, diff=True))
        sent = requests(self.writes)
        assert [e for e in sent if not is_dry_run(e)] == [], self.writes.audit.describe(sent)
        applied = ok(self.run(module, args, diff=True))
        assert predicted["changed"] is applied["changed"] is changes, (predicted["changed"], applied["changed"])
        assert untimed(predicted["diff"]) == untimed(applied["diff"])
        assert reported(predicted) == reported(applied)
        if settle is not None:
            settle()
        self.writes.start()
        assert ok(self.run(module, args))["changed"] is False
        self.nothing_sent()
        return predicted, applied

    def converged_check(self, module, args):
        """Check mode on a converged object: no change, an empty diff, not even a dry run."""
        self.writes.start()
        preview = ok(self.run(module, args, check=True, diff=True))
        assert preview["changed"] is False
        assert preview["diff"] == {"before": {}, "after": {}}
        self.nothing_sent()

    def nothing_sent(self):
        """No write request since the mark, dry runs included (access reviews, which store nothing, aside)."""
        sent = [e for e in requests(self.writes) if e.get("objectRef", {}).get("resource") != ACCESS_REVIEWS]
        assert sent == [], self.writes.audit.describe(sent)


@pytest.fixture
def runs(kubeconfig, writes):
    return Runs(kubeconfig, writes)


def changed(base, **changes):
    args = dict(base)
    args.update(changes)
    return args


# -- tenant --------------------------------------------------------------------------------------------------------

def tenant_base(name):
    return {"name": name, "gpu_quota": {A100: 8}}


TENANT_CHANGES = {
    "gpu-quota": lambda base: changed(base, gpu_quota={A100: 12}),
    "gpu-quota-family-added": lambda base: changed(base, gpu_quota={A100: 8, H100: 2}),
    "gpu-quota-family-removed": lambda base: changed(base, gpu_quota={}),
    "state-absent": lambda base: {"name": base["name"], "state": "absent"},
}


def test_tenant_on_an_empty_cluster_then_converged(runs):
    runs.predicts("tenant", tenant_base("cm-tenant-new"))
    runs.converged_check("tenant", tenant_base("cm-tenant-new"))


@pytest.mark.parametrize("option", sorted(TENANT_CHANGES))
def test_tenant_one_change(runs, option):
    base = tenant_base("cm-tenant-" + option)
    runs.converge("tenant", base)
    runs.predicts("tenant", TENANT_CHANGES[option](base))


def test_tenant_removed_with_force_while_a_project_names_it(runs):
    runs.converge("tenant", tenant_base("cm-tenant-forced"))
    runs.converge("project", {"name": "cm-tenant-forced-p", "tenant": "cm-tenant-forced", "gpu_quota": {A100: 2}})
    runs.predicts("tenant", {"name": "cm-tenant-forced", "state": "absent", "force": True})


# -- project -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tenants(kubeconfig):
    for name in ("cm-research", "cm-science"):
        ok(run_module("tenant", {"name": name, "gpu_quota": {A100: 1000, H100: 1000}}, kubeconfig))
    return "cm-research", "cm-science"


def project_base(name):
    return {"name": name, "tenant": "cm-research", "gpu_quota": {A100: 4},
            "members": [{"user": "alice", "role": "admin"}, {"group": "ml-team", "role": "editor"}],
            "pool_access": [{"pool": "cm-training", "groups": ["ml-team"]}]}


PROJECT_CHANGES = {
    "description": lambda base: changed(base, description="Vision research"),
    "tenant": lambda base: changed(base, tenant="cm-science"),
    "tenant-dropped": lambda base: dict((k, v) for k, v in base.items() if k != "tenant"),
    "gpu-quota": lambda base: changed(base, gpu_quota={A100: 6}),
    "gpu-quota-family-added": lambda base: changed(base, gpu_quota={A100: 4, H100: 1}),
    "member-added": lambda base: changed(base, members=base["members"] + [{"user": "bob", "role": "viewer"}]),
    "member-removed": lambda base: changed(base, members=base["members"][:1]),
    "member-role": lambda base: changed(base, members=[{"user": "alice", "role": "viewer"}] + base["members"][1:]),
    "members-emptied": lambda base: changed(base, members=[]),
    "pool-access-added": lambda base: changed(base, pool_access=base["pool_access"] + [
        {"pool": "cm-serving", "users": ["carol"]}]),
    "pool-access-users": lambda base: changed(base, pool_access=[
        {"pool": "cm-training", "groups": ["ml-team"], "users": ["dave"]}]),
    "pool-access-removed": lambda base: changed(base, pool_access=[]),
}


def test_project_on_an_empty_cluster_then_converged(runs, tenants):
    runs.predicts("project", project_base("cm-project-new"))
    runs.converged_check("project", project_base("cm-project-new"))


@pytest.mark.parametrize("option", sorted(PROJECT_CHANGES))
def test_project_one_change(runs, tenants, option):
    base = project_base("cm-project-" + option)
    runs.converge("project", base)
    runs.predicts("project", PROJECT_CHANGES[option](base))


def test_project_pool_access_on_a_converged_project_without_any(runs, tenants):
    """A project converged without pool access gains its first: a Role and a RoleBinding to it, in one run."""
    base = dict(project_base("cm-project-first-access"), pool_access=[])
    runs.converge("project", base)
    runs.predicts("project", changed(base, pool_access=[{"pool": "cm-training", "users": ["alice"]}]))


def test_project_removed(runs, tenants, core_v1):
    base = project_base("cm-project-removed")
    runs.converge("project", base)
    runs.predicts("project", {"name": base["name"], "state": "absent"},
                  settle=lambda: wait_gone("namespace " + base["name"], lambda: core_v1.read_namespace(base["name"])))


# -- pool_label ----------------------------------------------------------------------------------------------------

def stem_of(request, what, limit=40):
    """A name for this test's objects: what it tests and, for a parametrized test, the option it changes."""
    option = request.node.callspec.id if hasattr(request.node, "callspec") else request.node.name.split("_", 2)[-1]
    return ("cm-%s-%s" % (what, option)).replace("_", "-")[:limit].rstrip("-")


@pytest.fixture
def pool_nodes(core_v1, request):
    """Three 8 x A100 nodes of this test, labelled with its name so a selector can find them."""
    stem = stem_of(request, "pool")
    names = [f"{stem}-{i}" for i in (1, 2, 3)]
    for name in names:
        create_node(core_v1, name, gpu_product=A100, gpus=8, labels={"cm-test": stem})
    return stem, names


def pool_base(stem, nodes):
    return {"name": stem, "description": "Training", "nodes": {nodes[0]: {"gpu_type": "A100-80G"},
                                                               nodes[1]: {"gpu_type": "A100-80G"}}}


POOL_CHANGES = {
    "description": lambda base, nodes: changed(base, description="Large model training"),
    "node-added": lambda base, nodes: changed(base, nodes=dict(base["nodes"], **{nodes[2]: {"gpu_type": "A100-40G"}})),
    "node-removed": lambda base, nodes: changed(base, nodes={nodes[0]: {"gpu_type": "A100-80G"}}),
    "gpu-type": lambda base, nodes: changed(base, nodes=dict(base["nodes"], **{nodes[1]: {"gpu_type": "A100-40G"}})),
    "gpu-type-removed": lambda base, nodes: changed(base, nodes=dict(base["nodes"], **{nodes[1]: {"gpu_type": ""}})),
    "node-selector": lambda base, nodes: {"name": base["name"], "description": base["description"],
                                          "node_selector": "cm-test=%s" % base["name"]},
    "definition": lambda base, nodes: {"definition": {
        "kind": "pool", "version": "v0.1", "pool": {"name": base["name"], "description": "From a document"},
        "nodes": {nodes[0]: {"gpu-type": "A100-80G"}, nodes[2]: {"gpu-type": "A100-80G"}}}},
    "state-absent": lambda base, nodes: {"name": base["name"], "state": "absent"},
}


def test_pool_on_an_empty_cluster_then_converged(runs, pool_nodes):
    stem, nodes = pool_nodes
    runs.predicts("pool_label", pool_base(stem, nodes))
    runs.converged_check("pool_label", pool_base(stem, nodes))


@pytest.mark.parametrize("option", sorted(POOL_CHANGES))
def test_pool_one_change(runs, pool_nodes, option):
    stem, nodes = pool_nodes
    base = pool_base(stem, nodes)
    runs.converge("pool_label", base)
    runs.predicts("pool_label", POOL_CHANGES[option](base, nodes))


def test_pool_src_document(runs, pool_nodes, tmp_path):
    stem, nodes = pool_nodes
    runs.converge("pool_label", pool_base(stem, nodes))
    path = tmp_path / "pool.yaml"
    path.write_text("kind: pool\nversion: v0.1\npool:\n  name: %s\n  description: Inference\nnodes:\n"
                    "  %s:\n    gpu-type: A10-24G\n" % (stem, nodes[2]))
    runs.predicts("pool_label", {"src": str(path)})


def test_pool_overwrite_moves_a_node_from_another_pool(runs, pool_nodes):
    stem, nodes = pool_nodes
    runs.converge("pool_label", pool_base(stem, nodes))
    runs.converge("pool_label", {"name": stem + "-other", "nodes": {nodes[2]: {}}})
    runs.predicts("pool_label", {"name": stem, "overwrite": True,
                                 "nodes": {nodes[0]: {"gpu_type": "A100-80G"}, nodes[2]: {"gpu_type": "A10-24G"}}})


# -- compute_pool --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compute_project(kubeconfig):
    ok(run_module("project", {"name": "cm-compute", "gpu_quota": {A100: 1000}}, kubeconfig))
    return "cm-compute"


@pytest.fixture
def hosts(core_v1, request, compute_project):
    """This test's hosts, in its own resource group: three without GPUs (cp-1..3) and four with 4 x A100 (g-1..4);
    g-3 and g-4 also in tier=fast."""
    stem = stem_of(request, "cp", 36)
    for index in (1, 2, 3):
        create_node(core_v1, f"{stem}-cp-{index}", gpu_product=None, gpus=0, cpu=16, memory="64Gi",
                    labels={"palette.ai.rg/suite": stem, "lab.example/suite": stem})
    for index in (1, 2, 3, 4):
        groups = {"palette.ai.rg/suite": stem, "lab.example/suite": stem}
        if index > 2:
            groups["palette.ai.rg/tier"] = "fast"
        create_node(core_v1, f"{stem}-g-{index}", gpu_product=A100, gpus=4, labels=groups)
    return stem


def compute_base(stem, namespace):
    return {"name": stem, "namespace": namespace,
            "control_plane": {"node_count": 1, "resource_groups": {"suite": stem}},
            "worker_resource_groups": {"suite": stem},
            "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 4}, "min_worker_nodes": 1}]}


def workers(base, **changes):
    pool = dict(base["worker_pools"][0])
    if "count" in changes:
        pool["gpu"] = {"family": A100, "count": changes.pop("count")}
    pool.update(changes)
    return [pool]


COMPUTE_CHANGES = {
    "worker-count": lambda base: changed(base, worker_pools=workers(base, count=8)),
    "min-worker-nodes": lambda base: changed(base, worker_pools=workers(base, min_worker_nodes=2)),
    "worker-pool-added": lambda base: changed(base, worker_pools=base["worker_pools"] + [
        {"name": "more", "gpu": {"family": A100, "count": 4}}]),
    "worker-pool-renamed": lambda base: changed(base, worker_pools=workers(base, name="gpus")),
    "worker-pools-removed": lambda base: changed(base, worker_pools=[]),
    "description": lambda base: changed(base, description="Vision training"),
    "worker-resource-groups": lambda base: changed(base, worker_resource_groups={"suite": base["name"],
                                                                                 "tier": "fast"}),
    "control-plane-resource-groups": lambda base: changed(base, control_plane={"node_count": 1, "resource_groups": {}}),
    "control-plane-node-count": lambda base: changed(base, control_plane=dict(base["control_plane"], node_count=3)),
    "schedule-workloads": lambda base: changed(base, control_plane=dict(base["control_plane"],
                                                                        schedule_workloads=False)),
    "single-node-cluster": lambda base: changed(base, control_plane=dict(base["control_plane"],
                                                                         single_node_cluster=True)),
    "scaling-policy": lambda base: changed(base, scaling_policy={"name": "cm-policy"}),
    "state-absent": lambda base: {"name": base["name"], "namespace": base["namespace"], "state": "absent"},
}


def test_compute_pool_on_an_empty_cluster_then_converged(runs, hosts, compute_project):
    runs.predicts("compute_pool", compute_base(hosts, compute_project))
    runs.converged_check("compute_pool", compute_base(hosts, compute_project))


@pytest.mark.parametrize("option", sorted(COMPUTE_CHANGES))
def test_compute_pool_one_change(runs, hosts, compute_project, option):
    base = compute_base(hosts, compute_project)
    runs.converge("compute_pool", base)
    runs.predicts("compute_pool", COMPUTE_CHANGES[option](base))


def test_compute_pool_resource_group_prefix_that_names_the_same_groups(runs, hosts, compute_project):
    """Another prefix under which the same hosts carry the same groups: nothing to change, and check mode says so."""
    base = compute_base(hosts, compute_project)
    runs.converge("compute_pool", base)
    runs.predicts("compute_pool", changed(base, resource_group_prefix="lab.example/"), changes=False)


def test_compute_pool_from_a_host_list(runs, compute_project):
    """Bare-metal hosts given as a list: no Node is read or labelled."""
    inventory = [{"name": "cm-bm-cp", "cpu": 16, "memory": "64Gi"},
                 {"name": "cm-bm-gpu", "cpu": 32, "memory": "128Gi",
                  "gpus": [{"family": A100, "count": 8, "memory_mib": 40960}]}]
    base = {"name": "cm-bare-metal", "namespace": compute_project, "hosts": inventory,
            "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 8}}]}
    runs.predicts("compute_pool", base)
    runs.predicts("compute_pool", changed(base, description="Bare metal"))


# -- app_deployment ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def placements(kubeconfig, core_v1):
    """Project cm-apps (quota 10000 x A100); labelled pools cm-apps-a (two nodes, GPU types A100-80G and A100-40G)
    and cm-apps-b; a shared compute pool cm-apps-cp. Every node has 64 GPUs, so the apps of every test fit."""
    for name, labels in (("cm-apps-1", {}), ("cm-apps-2", {}), ("cm-apps-3", {}),
                         ("cm-apps-cp", {"palette.ai.rg/suite": "cm-apps"}),
                         ("cm-apps-w", {"palette.ai.rg/suite": "cm-apps"})):
        gpus = 0 if name == "cm-apps-cp" else 64
        create_node(core_v1, name, gpu_product=A100 if gpus else None, gpus=gpus, labels=labels)
    for module, args in (
            ("project", {"name": "cm-apps", "gpu_quota": {A100: 10000}}),
            ("pool_label", {"name": "cm-apps-a", "nodes": {"cm-apps-1": {"gpu_type": "A100-80G"},
                                                           "cm-apps-2": {"gpu_type": "A100-40G"}}}),
            ("pool_label", {"name": "cm-apps-b", "nodes": {"cm-apps-3": {"gpu_type": "A100-80G"}}}),
            ("compute_pool", {"name": "cm-apps-cp", "namespace": "cm-apps", "mode": "shared",
                              "control_plane": {"resource_groups": {"suite": "cm-apps"}},
                              "worker_resource_groups": {"suite": "cm-apps"},
                              "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 64}}]})):
        ok(run_module(module, args, kubeconfig))
    return "cm-apps"


def app_base(name):
    return {"name": name, "namespace": "cm-apps", "pool": "cm-apps-a", "image": "busybox:1.36", "replicas": 1,
            "resources": {"gpu": 1}, "env": {"MODE": "serve"}}


APP_CHANGES = {
    "replicas": lambda base: changed(base, replicas=3),
    "image": lambda base: changed(base, image="busybox:1.37"),
    "resources-gpu": lambda base: changed(base, resources={"gpu": 2}),
    "resources-cpu-memory": lambda base: changed(base, resources={"gpu": 1, "cpu": "500m", "memory": "1024Mi"}),
    "resources-storage": lambda base: changed(base, resources={"gpu": 1, "storage": "10Gi"}),
    "env-added": lambda base: changed(base, env={"MODE": "serve", "LOG": "debug"}),
    "env-changed": lambda base: changed(base, env={"MODE": "train"}),
    "env-removed": lambda base: changed(base, env={}),
    "command": lambda base: changed(base, command=["sleep", "3600"]),
    "args": lambda base: changed(base, args=["--port", "8000"]),
    "pod-templates": lambda base: changed(base, pod_templates=[
        {"metadata": {"labels": {"team": "vision"}}},
        {"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
                  "containers": [{"name": base["name"], "env": [{"name": "GPUS", "value": "{{USER_GPU}}"}]}]}}]),
    "default-variables": lambda base: changed(base, default_variables={"USER_CPU": "2", "USER_MEMORY": "4Gi"}),
    "platform": lambda base: changed(base, platform="A100-40G"),
    "pool-moved": lambda base: changed(base, pool="cm-apps-b"),
    "to-compute-pool": lambda base: dict(changed(base, compute_pool="cm-apps-cp"), pool=None),
    "cpu-only": lambda base: changed(base, resources={"gpu": 0, "cpu": "1"}),
    "state-absent": lambda base: {"name": base["name"], "namespace": base["namespace"], "state": "absent"},
}


def test_app_on_an_empty_cluster_then_converged(runs, placements):
    runs.predicts("app_deployment", app_base("cm-app-new"))
    runs.converged_check("app_deployment", app_base("cm-app-new"))


def test_job_on_an_empty_cluster(runs, placements):
    runs.predicts("app_deployment", changed(app_base("cm-job-new"), kind="Job", replicas=2))


def test_app_on_a_compute_pool_on_an_empty_cluster(runs, placements):
    args = changed(app_base("cm-app-cp-new"), compute_pool="cm-apps-cp")
    args.pop("pool")
    runs.predicts("app_deployment", args)


@pytest.mark.parametrize("option", sorted(APP_CHANGES))
def test_app_one_change(runs, placements, option):
    base = app_base("cm-app-" + option)
    runs.converge("app_deployment", base)
    args = dict((k, v) for k, v in APP_CHANGES[option](base).items() if v is not None)
    runs.predicts("app_deployment", args)


def test_app_resource_validations_that_pass_change_nothing(runs, placements):
    base = app_base("cm-app-validated")
    runs.converge("app_deployment", base)
    rule = {"operator": "LE", "left_operand": "{{USER_GPU}}", "right_operand": 4,
            "assert_message": "at most 4 GPUs per pod"}
    runs.predicts("app_deployment", changed(base, resource_validations=[rule]), changes=False)


# -- fabric --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fabric_nodes(core_v1):
    """Nodes of the fabric tests: two for labelled pools, a control-plane host and two 8-GPU workers in
    resource group suite=cm-fabric."""
    for name in ("cm-fab-1", "cm-fab-2"):
        create_node(core_v1, name, gpu_product=A100, gpus=8)
    create_node(core_v1, "cm-fab-cp", gpu_product=None, gpus=0, labels={"palette.ai.rg/suite": "cm-fabric"})
    for name in ("cm-fab-w1", "cm-fab-w2"):
        create_node(core_v1, name, gpu_product=A100, gpus=8, labels={"palette.ai.rg/suite": "cm-fabric"})


def fabric_spec():
    return {
        "tenants": [{"name": "cm-fab-tenant", "gpu_quota": {A100: 24}}],
        "projects": [{"name": "cm-fab-vision", "tenant": "cm-fab-tenant", "gpu_quota": {A100: 16},
                      "members": [{"user": "alice", "role": "admin"}, {"group": "ml-team", "role": "editor"}],
                      "pool_access": [{"pool": "cm-fab-train", "users": ["operator"]},
                                      {"pool": "cm-fab-edge", "users": ["operator"]}]}],
        "pools": [{"name": "cm-fab-train", "description": "Training",
                   "nodes": {"cm-fab-1": {"gpu_type": "A100-80G"}}},
                  {"name": "cm-fab-serve", "nodes": {"cm-fab-2": {"gpu_type": "A100-80G"}}}],
        "compute_pools": [{"name": "cm-fab-edge", "namespace": "cm-fab-vision", "mode": "shared",
                           "control_plane": {"resource_groups": {"suite": "cm-fabric"}},
                           "worker_resource_groups": {"suite": "cm-fabric"},
                           "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 8}}]}],
        "apps": [{"name": "cm-fab-llm", "namespace": "cm-fab-vision", "compute_pool": "cm-fab-edge",
                  "image": "busybox:1.36", "resources": {"gpu": 4}},
                 {"name": "cm-fab-train-job", "namespace": "cm-fab-vision", "pool": "cm-fab-train", "kind": "Job",
                  "image": "busybox:1.36", "resources": {"gpu": 2}}],
    }


def test_fabric_on_an_empty_cluster_then_one_change_per_kind(runs, fabric_nodes):
    """The whole platform from nothing: --check predicts exactly the real run (changed, the per-kind summary, the
    entries' reports, the diff); then one change in every kind, predicted the same way."""
    spec = fabric_spec()
    predicted, unused = runs.predicts("fabric", {"spec": spec})
    runs.converged_check("fabric", {"spec": spec})
    created = dict((kind, row["created"]) for kind, row in predicted["summary"].items())
    kinds = ("Tenant", "Namespace", "Pool", "ComputePool", "Deployment", "Job")
    assert {kind: created.get(kind) for kind in kinds} == {
        "Tenant": ["cm-fab-tenant"], "Namespace": ["cm-fab-vision"], "Pool": ["cm-fab-serve", "cm-fab-train"],
        "ComputePool": ["cm-fab-vision/cm-fab-edge"], "Deployment": ["cm-fab-vision/cm-fab-llm"],
        "Job": ["cm-fab-vision/cm-fab-train-job"]}, predicted["summary"]

    spec["tenants"][0]["gpu_quota"] = {A100: 32}
    spec["projects"][0]["description"] = "Vision"
    spec["projects"][0]["members"] = spec["projects"][0]["members"][:1]
    spec["pools"][1]["description"] = "Serving"
    spec["compute_pools"][0]["worker_pools"][0]["gpu"]["count"] = 16
    spec["apps"][0]["replicas"] = 2
    runs.predicts("fabric", {"spec": spec})
