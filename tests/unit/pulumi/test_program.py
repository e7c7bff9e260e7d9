"""The Pulumi program under Pulumi's own mocks, reading a cluster given as plain objects: what it registers, under
which component, waiting for what, protected why, named how, with which outputs, and how a bad spec is refused
before anything is registered. The objects themselves are proven against real API servers by
tests/integration/test_pulumi_equivalence.py."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import yaml

from fabric_mocks import REPO, FakeCluster, is_secret, run

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from gpufabric_pulumi.config import Connection, StackConfig
from gpufabric_pulumi.live import Clusters
from gpufabric_pulumi.program import build, declare, export
from tests.harness.demo import EDGE_HOSTS, NODES, PODS
from tests.harness.nodes import node_body, node_status

DEMO = REPO / "playbooks" / "files" / "demo-fabric.yml"
PREFIX = "runwhere.ai"
STACK = "urn:pulumi:test::gpufabric::pulumi:pulumi:Stack::gpufabric-test"
NS_TYPE, TENANT_TYPE = "kubernetes:core/v1:Namespace", "kubernetes:gpufabric.io/v1alpha1:Tenant"
PATCH_TYPE = "kubernetes:core/v1:NodePatch"


def demo_node(name, product, gpus, cpu=None, memory=None, labels=None):
    body = node_body(name, product, gpus, cpu or (64 if gpus else 16), memory or ("512Gi" if gpus else "64Gi"),
                     labels=labels, gpu_memory_mib=40960 if labels and gpus else None)
    body.update(node_status(cpu or (64 if gpus else 16), memory or ("512Gi" if gpus else "64Gi"), gpus))
    return body


def demo_nodes(labels=None):
    """The demo's Nodes as the API lists them; labels: {node: extra labels} (what an earlier run wrote)."""
    labels = labels or {}
    nodes = [demo_node(name, product, gpus, labels=labels.get(name)) for name, product, gpus in NODES]
    nodes += [demo_node(name, product, gpus, cpu, memory, dict({"palette.ai.rg/site": "edge"}, **labels.get(name, {})))
              for name, product, gpus, cpu, memory in EDGE_HOSTS]
    return nodes


def demo_pods():
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
             "spec": {"nodeName": node, "nodeSelector": {PREFIX + "/pool": pool},
                      "containers": [{"name": "main", "resources": {"requests": {"nvidia.com/gpu": str(gpus)}}}]},
             "status": {"phase": "Pending"}} for namespace, name, node, gpus, pool in PODS]


def program(spec=DEMO, objects=None, **config):
    cluster = FakeCluster(objects if objects is not None else {"Node": demo_nodes()})
    stack = StackConfig(spec=Path(spec), **config)
    return lambda: declare(build(stack, Clusters(cluster)))


@pytest.fixture(scope="module")
def demo():
    return run(program(objects={"Node": demo_nodes(), "Pod": demo_pods()}))


def manifest_names():
    """{kind: names} of the documents the collection ships in manifests/crds and manifests/rbac."""
    names = {}
    for path in sorted((REPO / "manifests").glob("*/*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                names.setdefault(document["kind"], []).append(document["metadata"]["name"])
    return dict((kind, sorted(found)) for kind, found in names.items())


def objects_of(run_, typ):
    return dict((d.obj["metadata"].get("namespace", "") + "/" + d.obj["metadata"]["name"], d)
                for d in run_.of_type(typ))


# -- what is declared -------------------------------------------------------------------------------------------------

def test_every_object_the_plan_declares_is_registered_once_without_status(demo):
    kinds = {}
    for d in demo.kubernetes():
        kinds.setdefault(d.obj["kind"], []).append(d.name)
        assert "status" not in d.obj, d.name
    assert sorted(kinds["Tenant"]) == ["research"]
    assert sorted(kinds["Namespace"]) == ["nlp", "vision"]
    assert sorted(kinds["Pool"]) == ["compute-pool", "dev-pool", "inference-pool", "training-pool"]
    assert kinds["ComputePool"] == ["vision/vision-cluster"]
    assert sorted(kinds["Deployment"]) == ["nlp/chat", "vision/llm-serve"]
    shipped = manifest_names()
    assert sorted(kinds["CustomResourceDefinition"]) == shipped["CustomResourceDefinition"]
    assert "pools.gpufabric.io" in shipped["CustomResourceDefinition"]
    assert sorted(kinds["ClusterRole"]) == shipped["ClusterRole"]
    assert sorted(kinds["ClusterRoleBinding"]) == shipped["ClusterRoleBinding"]
    assert "gpufabric-operator" in shipped["ClusterRoleBinding"]
    assert len(kinds["Role"]) == len(kinds["RoleBinding"]) == 6


def test_compute_pool_hosts_are_allocated_by_the_core_and_labelled(demo):
    """The compute pool's hosts: seed 000's control plane host and both A100 hosts, as node labels."""
    patches = dict((d.name, d.obj["metadata"]["labels"]) for d in demo.of_type(PATCH_TYPE))
    hosts = dict((name, labels) for name, labels in patches.items() if PREFIX + "/compute-pool" in labels)
    workers = {PREFIX + "/compute-pool": "vision-cluster", PREFIX + "/machine-pool": "worker-pool-nvidia-amd64-0"}
    assert hosts == {
        "host-uid-1": {PREFIX + "/compute-pool": "vision-cluster", PREFIX + "/machine-pool": "control-plane-pool"},
        "host-uid-3": workers, "host-uid-4": workers}


def test_node_patches_are_named_by_node_and_write_only_keys_under_the_prefix(demo):
    patches = demo.of_type(PATCH_TYPE)
    assert sorted(d.name for d in patches) == ["cpu-node-1", "cpu-node-2", "gpu-node-1", "gpu-node-2", "gpu-node-3",
                                               "gpu-node-4", "gpu-node-5", "host-uid-1", "host-uid-3", "host-uid-4"]
    for d in patches:
        assert d.name == d.obj["metadata"]["name"]
        assert set(d.obj["metadata"]) == {"name", "labels"}
        assert all(key.startswith(PREFIX + "/") for key in d.obj["metadata"]["labels"]), d.name
    assert demo.one(PATCH_TYPE, "gpu-node-3").obj["metadata"]["labels"] == {
        PREFIX + "/pool": "inference-pool", PREFIX + "/gpu-type": "A10-24G"}


def test_a_node_moving_between_pools_keeps_its_patch_resource(tmp_path):
    """gpu-node-4 moves from inference-pool to dev-pool: the same NodePatch (same URN, same field manager in the
    provider's state) is updated, instead of one patch deleted while another is created."""
    before = run(program(objects={"Node": demo_nodes()}))
    spec = copy_demo(tmp_path)
    edit_pool(spec.parent / "pools" / "inference-pool.yaml", lambda nodes: nodes.pop("gpu-node-4"))
    edit_pool(spec.parent / "pools" / "dev-pool.yaml",
              lambda nodes: nodes.update({"gpu-node-4": {"gpu-type": "A10-24G"}}))
    after = run(program(spec, objects={"Node": demo_nodes({"gpu-node-4": {PREFIX + "/pool": "inference-pool"}})}))
    old, new = before.one(PATCH_TYPE, "gpu-node-4"), after.one(PATCH_TYPE, "gpu-node-4")
    assert old.urn == new.urn
    assert old.obj["metadata"]["labels"][PREFIX + "/pool"] == "inference-pool"
    assert new.obj["metadata"]["labels"][PREFIX + "/pool"] == "dev-pool"
    assert sorted(d.urn for d in before.of_type(PATCH_TYPE)) == sorted(d.urn for d in after.of_type(PATCH_TYPE))


def test_workloads_are_not_awaited_as_the_module_does_not_wait(demo):
    for d in demo.of_type("kubernetes:apps/v1:Deployment"):
        assert d.obj["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


# -- dependencies -----------------------------------------------------------------------------------------------------

def test_namespaced_objects_wait_for_their_namespace(demo):
    namespaces = dict((d.obj["metadata"]["name"], d) for d in demo.of_type(NS_TYPE))
    namespaced = [d for d in demo.kubernetes() if d.obj["metadata"].get("namespace") in namespaces]
    assert len(namespaced) == 2 * 7 + 1 + 2  # quota, 3 roles, 3 bindings per project; the compute pool; apps
    for d in namespaced:
        assert demo.depends_on(d, namespaces[d.obj["metadata"]["namespace"]]), d.name


def test_projects_wait_for_their_tenant(demo):
    tenant = demo.one(TENANT_TYPE, "research")
    for name in ("vision", "nlp"):
        assert demo.depends_on(demo.one(NS_TYPE, name), tenant), name


def test_compute_pool_waits_for_every_object_of_its_project(demo):
    pool = demo.one("gpufabric.io/v1alpha1:ComputePool", "vision/vision-cluster")
    project = [d for d in demo.kubernetes() if d.parent.endswith("gpufabric:platform:Project::vision")]
    assert len(project) == 8
    for d in project:
        assert demo.depends_on(pool, d), d.name


def test_custom_resources_wait_for_their_crd(demo):
    crds = dict(((d.obj["spec"]["group"], d.obj["spec"]["names"]["kind"]), d)
                for d in demo.of_type("CustomResourceDefinition"))
    custom = [d for d in demo.kubernetes() if d.obj["apiVersion"].startswith("gpufabric.io/")]
    assert sorted(d.obj["kind"] for d in custom) == ["ComputePool", "Pool", "Pool", "Pool", "Pool", "Tenant"]
    for d in custom:
        assert demo.depends_on(d, crds[("gpufabric.io", d.obj["kind"])]), d.name


def test_bindings_wait_for_the_roles_they_bind(demo):
    roles = objects_of(demo, "rbac.authorization.k8s.io/v1:Role")
    for d in demo.of_type("rbac.authorization.k8s.io/v1:RoleBinding"):
        assert demo.depends_on(d, roles[d.obj["metadata"]["namespace"] + "/" + d.obj["roleRef"]["name"]]), d.name
    binding = demo.one("ClusterRoleBinding", "gpufabric-operator")
    assert demo.depends_on(binding, demo.one("rbac.authorization.k8s.io/v1:ClusterRole", "gpufabric-operator"))


def test_apps_wait_for_their_pool_and_the_labels_of_its_nodes(demo):
    chat = demo.one("kubernetes:apps/v1:Deployment", "nlp/chat")
    assert demo.depends_on(chat, demo.one("gpufabric.io/v1alpha1:Pool", "inference-pool"))
    for node in ("gpu-node-3", "gpu-node-4"):
        assert demo.depends_on(chat, demo.one(PATCH_TYPE, node)), node
    assert not demo.depends_on(chat, demo.one(PATCH_TYPE, "gpu-node-1"))
    serve = demo.one("kubernetes:apps/v1:Deployment", "vision/llm-serve")
    assert demo.depends_on(serve, demo.one("gpufabric.io/v1alpha1:ComputePool", "vision/vision-cluster"))
    for node in ("host-uid-1", "host-uid-3", "host-uid-4"):
        assert demo.depends_on(serve, demo.one(PATCH_TYPE, node)), node


# -- components -------------------------------------------------------------------------------------------------------

def component_urn(typ, name):
    return "%s$gpufabric:platform:%s::%s" % (STACK.rsplit("::", 1)[0], typ, name)


def test_every_object_is_a_child_of_its_component(demo):
    owner = {"Tenant": "Tenant", "Pool": "LabelledPool", "ComputePool": "ComputePool", "Deployment": "App",
             "CustomResourceDefinition": "Hub", "ClusterRole": "Hub", "ClusterRoleBinding": "Hub", "Node": "Hub"}
    for d in demo.kubernetes():
        kind, metadata = d.obj["kind"], d.obj["metadata"]
        typ = owner.get(kind, "Project")
        name = {"Hub": "hub", "Project": metadata.get("namespace") or metadata["name"]}.get(
            typ, "%s/%s" % (metadata["namespace"], metadata["name"]) if metadata.get("namespace") else metadata["name"])
        assert d.parent == component_urn(typ, name), (d.typ, d.name)
        assert d.provider == "hub"
    components = sorted((d.typ.split(":")[-1], d.name) for d in demo.declared if not d.custom)
    assert components == [("App", "nlp/chat"), ("App", "vision/llm-serve"), ("ComputePool", "vision/vision-cluster"),
                          ("Hub", "hub"), ("LabelledPool", "compute-pool"), ("LabelledPool", "dev-pool"),
                          ("LabelledPool", "inference-pool"), ("LabelledPool", "training-pool"),
                          ("Project", "nlp"), ("Project", "vision"), ("Tenant", "research")]


# -- deletion guards --------------------------------------------------------------------------------------------------

def test_a_project_namespace_holding_apps_is_protected(demo):
    assert demo.one(NS_TYPE, "vision").protect and demo.one(NS_TYPE, "nlp").protect
    assert not any(d.protect for d in demo.of_type("Role"))


def test_a_pool_whose_nodes_run_its_workloads_is_protected(demo):
    """The demo's running pods (tests/harness/demo.py PODS): each pool they select and each node they run on."""
    assert PODS
    expected = sorted(set([pool for unused, unused, node, unused, pool in PODS]
                          + [node for unused, unused, node, unused, pool in PODS]))
    protected = sorted(d.name for d in demo.kubernetes() if d.protect and d.obj["kind"] in ("Pool", "Node"))
    assert protected == expected
    assert not demo.one(PATCH_TYPE, "gpu-node-4").protect and not demo.one("v1alpha1:Pool", "compute-pool").protect


def test_nothing_is_protected_where_nothing_runs(tmp_path):
    spec = write_spec(tmp_path, pools=[{"name": "a", "nodes": {"gpu-node-1": {"gpu_type": "A100"}}}],
                      projects=[{"name": "p", "gpu_quota": {"NVIDIA-A100": 1}}])
    result = run(program(spec, objects={"Node": demo_nodes(), "Pod": demo_pods()}))
    assert [d.name for d in result.kubernetes() if d.protect] == []


def managed_namespace(name, quota='{"NVIDIA-A100":8}'):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": name, "labels": {"app.kubernetes.io/managed-by": "gpufabric", PREFIX + "/project": name},
        "annotations": {PREFIX + "/gpu-quota": quota}}}


def test_removing_a_project_whose_apps_stay_is_refused_as_state_absent_refuses(tmp_path):
    """vision left the spec but its app did not: Pulumi would delete the namespace and the app in it, so the core
    refuses (leaving the spec is planned as state: absent without force) and nothing is registered."""
    spec = copy_demo(tmp_path)
    document = yaml.safe_load(spec.read_text())
    document["projects"] = [p for p in document["projects"] if p["name"] != "vision"]
    document["compute_pools"] = []
    document["apps"] = [dict(app, pool="training-pool") if app["name"] == "llm-serve" else app
                        for app in document["apps"]]
    for app in document["apps"]:
        app.pop("compute_pool", None)
    spec.write_text(yaml.safe_dump(document))
    objects = {"Node": demo_nodes(), "Namespace": [managed_namespace("vision")]}
    with pytest.raises(FabricError) as error:
        run(program(spec, objects=objects))
    assert "project vision still has 1 app deployment(s): Deployment/llm-serve; remove them first" in str(error.value)


def test_a_node_leaving_a_pool_its_workloads_select_is_refused(tmp_path):
    spec = copy_demo(tmp_path)
    edit_pool(spec.parent / "pools" / "training-pool.yaml", lambda nodes: nodes.pop("gpu-node-1"))
    live = {"gpu-node-1": {PREFIX + "/pool": "training-pool"}, "gpu-node-2": {PREFIX + "/pool": "training-pool"}}
    with pytest.raises(FabricError) as error:
        run(program(spec, objects={"Node": demo_nodes(live), "Pod": demo_pods()}))
    assert "pool training-pool: node(s) gpu-node-1 would leave the pool while 1 workload(s) that select it run " \
           "there: research/train-0 on gpu-node-1" in str(error.value)


# -- outputs ----------------------------------------------------------------------------------------------------------

def test_stack_outputs_say_what_was_declared():
    result = run(lambda: export(build(StackConfig(spec=DEMO), Clusters(FakeCluster({"Node": demo_nodes()})))))
    outputs = result.outputs
    assert outputs["labelPrefix"] == PREFIX
    assert outputs["nodePools"]["gpu-node-3"] == {"pool": "inference-pool", "gpu-type": "A10-24G"}
    assert outputs["nodePools"]["cpu-node-1"] == {"pool": "compute-pool"}
    assert outputs["nodePools"]["host-uid-3"] == {"compute-pool": "vision-cluster",
                                                  "machine-pool": "worker-pool-nvidia-amd64-0"}
    assert "host-uid-2" not in outputs["nodePools"]
    assert outputs["projectQuotas"] == {"vision": {"NVIDIA-A100": 16}, "nlp": {"NVIDIA-A100": 8, "NVIDIA-A10": 8}}
    assert outputs["tenantQuotas"] == {"research": {"NVIDIA-A100": 24, "NVIDIA-A10": 8}}
    assert outputs["spokes"] == {}
    assert outputs["protected"] == {"Namespace nlp": "namespace nlp holds app(s) Deployment/chat",
                                    "Namespace vision": "namespace vision holds app(s) Deployment/llm-serve"}


def test_spoke_outputs_list_each_spokes_pools_and_apps(tmp_path):
    spec = write_spec(tmp_path, projects=[{"name": "p", "gpu_quota": {"NVIDIA-A100": 4}}],
                      pools=[{"name": "edge-pool", "spoke": "edge-a", "nodes": {"e1": {"gpu_type": "A100"}}}],
                      apps=[{"name": "infer", "namespace": "p", "pool": "edge-pool", "spoke": "edge-a",
                             "image": "example/infer:1", "resources": {"gpu": 1}}])
    hub, edge = FakeCluster({"Node": []}), FakeCluster({"Node": [demo_node("e1", "NVIDIA-A100", 4)]})
    config = StackConfig(spec=spec, spokes={"edge-a": Connection(context="edge-a")})
    result = run(lambda: export(build(config, Clusters(hub, {"edge-a": edge}))))
    assert result.outputs["spokes"] == {"edge-a": {"apps": ["p/infer"], "computePools": [], "pools": ["edge-pool"]}}
    assert result.outputs["nodePools"] == {"edge-a:e1": {"pool": "edge-pool", "gpu-type": "A100"}}
    infer = result.one("kubernetes:apps/v1:Deployment", "edge-a:p/infer")
    assert infer.provider == "edge-a" and infer.parent == component_urn("App", "p/infer")
    mirrored = result.one(NS_TYPE, "edge-a:p")
    assert mirrored.parent == component_urn("Spoke", "edge-a") and result.depends_on(infer, mirrored)
    assert result.depends_on(infer, result.one("gpufabric.io/v1alpha1:Pool", "edge-a:edge-pool"))


# -- the spec is the core's to validate ------------------------------------------------------------------------------

def write_spec(tmp_path, **lists):
    path = tmp_path / "fabric.yml"
    path.write_text(yaml.safe_dump(dict({"label_prefix": PREFIX}, **lists)))
    return path


def copy_demo(tmp_path):
    shutil.copytree(DEMO.parent, tmp_path / "files")
    return tmp_path / "files" / DEMO.name


def edit_pool(path, change):
    document = yaml.safe_load(path.read_text())
    change(document["nodes"])
    path.write_text(yaml.safe_dump(document))


def rejected(tmp_path, **lists):
    """The message a bad spec is refused with; the run registers nothing (checked by the caller)."""
    spec = write_spec(tmp_path, **lists)
    registered = []

    def stack():
        try:
            declare(build(StackConfig(spec=spec), Clusters(FakeCluster({"Node": demo_nodes()}))))
        except FabricError as error:
            registered.append(str(error))

    result = run(stack)
    assert result.declared == [] and len(registered) == 1
    return registered[0]


def test_a_project_declared_twice_is_refused(tmp_path):
    message = rejected(tmp_path, projects=[{"name": "p"}, {"name": "p", "gpu_quota": {"NVIDIA-A100": 1}}])
    assert "project p is declared 2 times (projects[0] (p), projects[1] (p))" in message


def test_a_project_naming_a_tenant_nobody_declares_is_refused(tmp_path):
    message = rejected(tmp_path, projects=[{"name": "p", "tenant": "ghost"}])
    assert "projects[0] (p): tenant ghost does not exist" in message


def test_every_error_of_every_entry_is_reported_together(tmp_path):
    message = rejected(tmp_path, tenants=[{"name": "Bad_Name"}], tenats=[],
                       compute_pools=[{"name": "c", "namespace": "p", "control_plane": {"node_count": 2}}])
    assert "unknown top-level key tenats (did you mean tenants?)" in message
    assert "tenant name" in message and "Bad_Name" in message
    assert "compute_pools[0] (p/c).control_plane.node_count is 2" in message


def test_tenant_quota_must_hold_its_projects(tmp_path):
    message = rejected(tmp_path, tenants=[{"name": "t", "gpu_quota": {"NVIDIA-A100": 4}}],
                       projects=[{"name": "a", "tenant": "t", "gpu_quota": {"NVIDIA-A100": 3}},
                                 {"name": "b", "tenant": "t", "gpu_quota": {"NVIDIA-A100": 2}}])
    assert "tenant t: projects request 5 x NVIDIA-A100 (a 3, b 2) but the tenant quota is 4: over by 1" in message


def test_pools_chosen_by_selector_are_resolved_against_the_live_nodes(tmp_path):
    spec = write_spec(tmp_path, pools=[{"name": "a10", "node_selector": "nvidia.com/gpu.product=NVIDIA-A10"}])
    result = run(program(spec))
    assert sorted(d.name for d in result.of_type(PATCH_TYPE)) == ["gpu-node-3", "gpu-node-4"]


def test_a_label_prefix_from_the_stack_config_moves_every_key(tmp_path):
    spec = write_spec(tmp_path, projects=[{"name": "p", "gpu_quota": {"NVIDIA-A100": 1}}],
                      pools=[{"name": "a", "nodes": {"gpu-node-1": {"gpu_type": "A100"}}}])
    result = run(program(spec, label_prefix="example.com"))
    assert result.one(PATCH_TYPE, "gpu-node-1").obj["metadata"]["labels"] == {"example.com/pool": "a",
                                                                              "example.com/gpu-type": "A100"}
    assert result.one(NS_TYPE, "p").obj["metadata"]["labels"]["example.com/project"] == "p"


# -- stack configuration ----------------------------------------------------------------------------------------------

class RecordingConfig:
    """pulumi.Config as the program reads it, recording every key asked for."""

    def __init__(self, values):
        self.values, self.asked = values, []

    def get(self, key):
        self.asked.append(key)
        return self.values.get(key)


def pulumi_yaml():
    return yaml.safe_load((REPO / "pulumi" / "Pulumi.yaml").read_text())


def test_every_key_the_program_reads_is_declared_in_pulumi_yaml_with_its_type():
    config = RecordingConfig({})
    StackConfig.load(config)
    declared = pulumi_yaml()["config"]
    assert sorted(config.asked) == sorted(declared)
    assert all(declared[key].get("type") == "string" for key in declared)
    assert declared["kubeconfig"]["secret"] is True and declared["spokeConnections"]["secret"] is True


def test_the_sample_stack_sets_only_declared_keys_and_no_secret_in_clear():
    sample = yaml.safe_load((REPO / "pulumi" / "Pulumi.dev.yaml").read_text())["config"]
    declared = pulumi_yaml()["config"]
    assert (REPO / "pulumi" / sample["gpufabric:spec"]).exists()
    for key, value in sample.items():
        project, unused, name = key.partition(":")
        assert project == pulumi_yaml()["name"] and name in declared, key
        if declared[name].get("secret"):
            assert isinstance(value, dict) and set(value) == {"secure"}, key


def test_config_is_read_into_connections_and_relative_specs_resolve_beside_the_program():
    config = StackConfig.load(RecordingConfig({
        "kubeconfig": "~/clusters/hub.yaml", "context": "hub-admin", "labelPrefix": "example.com",
        "spokeConnections": "edge-a: {context: edge-a-admin}\nedge-b: {kubeconfig: /etc/edge-b.yaml}\n"}))
    assert config.spec == REPO / "pulumi" / "../playbooks/files/demo-fabric.yml"
    assert config.label_prefix == "example.com"
    assert config.hub == Connection("~/clusters/hub.yaml", "hub-admin")
    assert config.spokes == {"edge-a": Connection("~/clusters/hub.yaml", "edge-a-admin"),
                             "edge-b": Connection("/etc/edge-b.yaml", None)}


def test_bad_spoke_connections_are_named_without_their_values():
    with pytest.raises(FabricError) as error:
        StackConfig.load(RecordingConfig({"spokeConnections": "edge-a: {token: s3cr3t}\nedge-b: 7\n"}))
    assert "spokeConnections.edge-a: unknown key(s) token" in str(error.value)
    assert "spokeConnections.edge-b must be a mapping" in str(error.value)
    assert "s3cr3t" not in str(error.value)


def test_one_provider_per_cluster_with_the_kubeconfig_kept_secret(tmp_path):
    spec = write_spec(tmp_path, pools=[{"name": "edge-pool", "spoke": "edge-a", "nodes": {"e1": None}}])
    config = StackConfig(spec=spec, hub=Connection("apiVersion: v1\nkind: Config\n", "hub-admin"),
                         spokes={"edge-a": Connection("/etc/edge.yaml", "edge-a")})
    hub, edge = FakeCluster({"Node": []}), FakeCluster({"Node": [demo_node("e1", "NVIDIA-A100", 4)]})
    result = run(lambda: declare(build(config, Clusters(hub, {"edge-a": edge}))))
    providers = dict((d.name, d) for d in result.of_type("pulumi:providers:kubernetes"))
    assert sorted(providers) == ["edge-a", "hub"]
    assert is_secret(providers["hub"].inputs["kubeconfig"]) and is_secret(providers["edge-a"].inputs["kubeconfig"])
    assert providers["hub"].obj["kubeconfig"] == "apiVersion: v1\nkind: Config\n"
    assert providers["edge-a"].obj == {"kubeconfig": "/etc/edge.yaml", "context": "edge-a",
                                       "enableServerSideApply": "true"}
    patch = result.one(PATCH_TYPE, "edge-a:e1")
    assert patch.provider == "edge-a" and patch.parent == component_urn("Spoke", "edge-a")


# -- hub and spokes ---------------------------------------------------------------------------------------------------

HUB_SERVES = {"cluster.open-cluster-management.io/v1": ["ManagedCluster"],
              "cluster.open-cluster-management.io/v1beta2": ["ManagedClusterSet"],
              "work.open-cluster-management.io/v1": ["ManifestWork"]}
SPOKE_SERVES = {"operator.open-cluster-management.io/v1": ["Klusterlet"]}


def kube_system(uid):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "uid": uid}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Two spokes in the default cluster set, a compute pool on spoke-1's nodes and an app on it."""
    spec = write_spec(tmp_path_factory.mktemp("fleet"),
                      spokes=[{"name": "spoke-1"}, {"name": "spoke-2"}],
                      projects=[{"name": "vision", "gpu_quota": {"NVIDIA-A100": 16}}],
                      compute_pools=[{"name": "train", "namespace": "vision", "spoke": "spoke-1",
                                      "mode": "shared", "control_plane": {"node_count": 1},
                                      "worker_pools": [{"name": "w", "gpu": {"family": "NVIDIA-A100", "count": 8},
                                                        "min_worker_nodes": 1}]}],
                      apps=[{"name": "finetune", "namespace": "vision", "compute_pool": "train",
                             "image": "example/train:1", "resources": {"gpu": 8}}])
    hub = FakeCluster({"Node": [], "Namespace": [kube_system("hub-uid")]}, served=HUB_SERVES)
    spokes = dict((name, FakeCluster({"Namespace": [kube_system(name + "-uid")], "Node": [
        demo_node(name + "-cpu", None, 0), demo_node(name + "-gpu", "NVIDIA-A100-SXM4-80GB", 8)]},
        host="https://%s.example:6443" % name, served=SPOKE_SERVES)) for name in ("spoke-1", "spoke-2"))
    config = StackConfig(spec=spec, spokes=dict((name, Connection(context=name)) for name in spokes))
    return run(lambda: export(build(config, Clusters(hub, spokes))))


def test_each_spoke_is_registered_from_both_ends(fleet):
    for name in ("spoke-1", "spoke-2"):
        spoke = component_urn("Spoke", name)
        managed = fleet.one("ManagedCluster", name)
        assert managed.parent == spoke and managed.provider == "hub"
        assert managed.obj["spec"]["hubAcceptsClient"] is True
        assert managed.obj["spec"]["managedClusterClientConfigs"] == [{"url": "https://%s.example:6443" % name}]
        assert managed.obj["metadata"]["annotations"]["gpufabric.io/cluster-uid"] == name + "-uid"
        klusterlet = fleet.one("Klusterlet", "%s:klusterlet" % name)
        assert klusterlet.parent == spoke and klusterlet.provider == name
        bootstrap = fleet.one("core/v1:Secret", "%s:open-cluster-management-agent/bootstrap-hub-kubeconfig" % name)
        assert fleet.depends_on(klusterlet, bootstrap)
        assert "pools.gpufabric.io" in [d.obj["metadata"]["name"] for d in fleet.of_type("CustomResourceDefinition")
                                        if d.provider == name]
    sets = fleet.of_type("ManagedClusterSet")
    assert [(d.name, d.parent) for d in sets] == [("default", component_urn("Hub", "hub"))]
    assert all(fleet.depends_on(fleet.one("ManagedCluster", name), sets[0]) for name in ("spoke-1", "spoke-2"))


def test_kubeconfigs_holding_issued_tokens_are_rendered_by_the_core_and_kept_secret(fleet):
    """The bootstrap kubeconfig on a spoke carries the hub's bootstrap token, the connection on the hub the hub
    identity's token on the spoke: both Secrets wait for the token Secret and hold their data as a secret."""
    token = fleet.one("core/v1:Secret", "open-cluster-management/gpufabric-bootstrap-token")
    bootstrap = fleet.one("core/v1:Secret", "spoke-1:open-cluster-management-agent/bootstrap-hub-kubeconfig")
    assert fleet.depends_on(bootstrap, token) and is_secret(bootstrap.inputs["data"])
    kubeconfig = json.loads(base64.b64decode(bootstrap.obj["data"]["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://hub.example:6443"
    assert kubeconfig["users"][0]["name"] == "gpufabric-bootstrap"
    spoke_token = fleet.one("core/v1:Secret", "spoke-1:gpufabric-system/gpufabric-hub-token")
    connection = fleet.one("core/v1:Secret", "spoke-1/gpufabric-spoke-connection")
    assert fleet.depends_on(connection, spoke_token) and is_secret(connection.inputs["data"])
    assert connection.provider == "hub" and spoke_token.provider == "spoke-1"


def test_a_spokes_compute_pool_hosts_and_apps_are_on_the_spoke(fleet):
    pool = fleet.one("v1alpha1:ComputePool", "vision/train")
    assert pool.provider == "hub" and pool.obj["spec"]["spoke"] == "spoke-1"
    patches = dict((d.name, d) for d in fleet.of_type(PATCH_TYPE))
    assert sorted(patches) == ["spoke-1:spoke-1-cpu", "spoke-1:spoke-1-gpu"]
    assert all(d.provider == "spoke-1" and d.parent == component_urn("Spoke", "spoke-1") for d in patches.values())
    app = fleet.one("kubernetes:apps/v1:Deployment", "spoke-1:vision/finetune")
    assert app.provider == "spoke-1" and fleet.depends_on(app, pool)
    assert fleet.depends_on(app, fleet.one(NS_TYPE, "spoke-1:vision"))
    assert fleet.outputs["spokes"] == {"spoke-1": {"apps": ["vision/finetune"], "computePools": ["vision/train"],
                                                   "pools": []},
                                       "spoke-2": {"apps": [], "computePools": [], "pools": []}}


def test_a_spoke_named_like_the_hub_is_refused(tmp_path):
    spec = write_spec(tmp_path, spokes=[{"name": "hub"}])
    config = StackConfig(spec=spec, spokes={"hub": Connection(context="hub")})
    with pytest.raises(FabricError) as error:
        build(config, Clusters(FakeCluster({"Node": []}, served=HUB_SERVES), {}))
    assert "a spoke may not be named hub" in str(error.value)
