"""The Pulumi program declares exactly what the Ansible modules apply for the same fabric spec, each object under
the right component, nodes patched only under the label prefix, and a bad spec rejected with the core's message
before anything is declared."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml

from fabric_mocks import REPO, run

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import (
    parse_pool, parse_pool_document, render_pool)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import dns_label_errors
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import (
    parse_project, parse_tenant, render_project, render_tenant)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.render import render_compute_pool
from ansible_collections.gpufabric.platform.plugins.module_utils.core.spec import parse_compute_pool
from gpufabric_pulumi.config import StackConfig
from gpufabric_pulumi.program import declare_fabric, declare_stack
from gpufabric_pulumi.spec import load_fabric

DEMO = REPO / "playbooks" / "files" / "demo-fabric.yml"
PREFIX = "runwhere.ai"
STACK = "urn:pulumi:test::gpufabric::pulumi:pulumi:Stack::gpufabric-test"


def module_objects(path):
    """What the Ansible modules apply for the spec, straight from the core (written here, not taken from the
    program): render_tenant, render_project, render_pool (status is the module's business), render_compute_pool."""
    document = yaml.safe_load(Path(path).read_text())
    prefix = document.get("label_prefix", PREFIX)
    objects = [render_tenant(*parse_tenant(entry)) for entry in document.get("tenants", [])]
    for entry in document.get("projects", []):
        objects += render_project(parse_project(entry), prefix)
    for entry in document.get("pools", []):
        if "src" in entry:
            spec = parse_pool_document(yaml.safe_load((Path(path).parent / entry["src"]).read_text()))
        else:
            spec = parse_pool(entry["name"], entry.get("description", ""), entry["nodes"])
        row = {"state": "active", "gpuTotal": 0, "gpuUsed": 0, "gpuFree": 0, "nodeCount": 0}
        objects.append(render_pool(spec, row, prefix))
    objects += [render_compute_pool(parse_compute_pool(entry)) for entry in document.get("compute_pools", [])]
    return [dict((key, value) for key, value in obj.items() if key != "status") for obj in objects]


def identity(obj):
    return obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


def objects_of(run_):
    """The declared Kubernetes objects, NodePatches aside, keyed (kind, namespace, name)."""
    return dict((identity(d.inputs), d) for d in run_.kubernetes() if d.typ != "kubernetes:core/v1:NodePatch")


@pytest.fixture(scope="module")
def demo():
    return run(lambda: declare_fabric(load_fabric(DEMO)))


@pytest.fixture(scope="module")
def expected():
    return dict((identity(obj), obj) for obj in module_objects(DEMO))


def test_declares_exactly_the_objects_the_modules_apply(demo, expected):
    declared = objects_of(demo)
    assert sorted(declared, key=str) == sorted(expected, key=str)
    assert len(declared) == 1 + 2 * 8 + 4 + 1  # tenant, 2 projects x (ns, quota, 3 roles, 3 bindings), pools, cp


def test_inputs_equal_the_rendered_objects(demo, expected):
    declared = objects_of(demo)
    for key, obj in expected.items():
        assert declared[key].inputs == obj, key


def test_named_fields_match_the_core(demo, expected):
    declared = objects_of(demo)

    def both(key, *path):
        got, want = declared[key].inputs, expected[key]
        for step in path:
            got, want = got[step], want[step]
        return got, want

    labels, want = both(("Namespace", None, "vision"), "metadata", "labels")
    assert labels == want == {"app.kubernetes.io/managed-by": "gpufabric", "runwhere.ai/project": "vision",
                              "runwhere.ai/tenant": "research"}
    hard, want = both(("ResourceQuota", "nlp", "gpu-quota"), "spec", "hard")
    assert hard == want == {"requests.nvidia.com/gpu": "16"}
    rules, want = both(("Role", "vision", "gpufabric-admin"), "rules")
    assert rules == want and rules[-1]["verbs"] == ["delete", "patch", "update"]
    subjects, want = both(("RoleBinding", "vision", "gpufabric-editor"), "subjects")
    assert subjects == want == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ml-team"}]
    role_ref, want = both(("RoleBinding", "vision", "gpufabric-editor"), "roleRef")
    assert role_ref == want and role_ref["name"] == "gpufabric-editor"
    pool, want = both(("Pool", None, "training-pool"), "spec")
    assert pool == want and pool["nodeSelector"] == {"runwhere.ai/pool": "training-pool"}
    compute, want = both(("ComputePool", "vision", "vision-cluster"), "spec")
    assert compute == want
    assert compute["nodePoolRequirements"]["workerPools"][0]["gpu"] == {"family": "NVIDIA-A100", "gpuCount": 8}
    tenant, want = both(("Tenant", None, "research"), "spec")
    assert tenant == want


def test_no_status_is_declared(demo):
    """Pool, Tenant and ComputePool status belong to the modules (status subresource)."""
    assert all("status" not in d.inputs for d in demo.kubernetes())


def test_every_object_carries_the_managed_by_label(demo):
    for d in demo.kubernetes():
        if d.typ != "kubernetes:core/v1:NodePatch":
            assert d.inputs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gpufabric", d.name


def component_urn(typ, name):
    return "%s$%s::%s" % (STACK.rsplit("::", 1)[0], typ, name)


def owner(d):
    """The component an object belongs to, from the object itself."""
    kind, meta = d.inputs["kind"], d.inputs["metadata"]
    if kind == "Tenant":
        return "gpufabric:platform:Tenant", meta["name"]
    if kind == "Pool":
        return "gpufabric:platform:LabelledPool", meta["name"]
    if kind == "Node":
        return "gpufabric:platform:LabelledPool", meta["labels"]["runwhere.ai/pool"]
    if kind == "ComputePool":
        return "gpufabric:platform:ComputePool", "%s/%s" % (meta["namespace"], meta["name"])
    return "gpufabric:platform:Project", meta.get("namespace") or meta["name"]


def test_every_child_has_its_component_as_parent(demo):
    for d in demo.kubernetes():
        typ, name = owner(d)
        assert d.parent == component_urn(typ, name), (d.typ, d.name)
        parent = demo.by_urn(d.parent)
        assert parent is not None and parent.custom is False and parent.typ == typ


def test_components_are_registered_under_the_stack(demo):
    components = [d for d in demo.declared if not d.custom]
    assert sorted((d.typ, d.name) for d in components) == [
        ("gpufabric:platform:ComputePool", "vision/vision-cluster"),
        ("gpufabric:platform:LabelledPool", "compute-pool"), ("gpufabric:platform:LabelledPool", "dev-pool"),
        ("gpufabric:platform:LabelledPool", "inference-pool"), ("gpufabric:platform:LabelledPool", "training-pool"),
        ("gpufabric:platform:Project", "nlp"), ("gpufabric:platform:Project", "vision"),
        ("gpufabric:platform:Tenant", "research")]
    assert all(d.parent == STACK for d in components)


def test_node_patches_write_only_pool_keys_under_the_prefix(demo):
    patches = dict((d.inputs["metadata"]["name"], d.inputs) for d in demo.of_type("kubernetes:core/v1:NodePatch"))
    assert sorted(patches) == ["cpu-node-1", "cpu-node-2", "gpu-node-1", "gpu-node-2", "gpu-node-3", "gpu-node-4",
                               "gpu-node-5"]
    for node, inputs in patches.items():
        assert set(inputs) == {"apiVersion", "kind", "metadata"}
        assert set(inputs["metadata"]) == {"name", "labels"}, node
        assert set(inputs["metadata"]["labels"]) <= {"runwhere.ai/pool", "runwhere.ai/gpu-type"}, node
    assert patches["gpu-node-3"]["metadata"]["labels"] == {"runwhere.ai/pool": "inference-pool",
                                                           "runwhere.ai/gpu-type": "A10-24G"}
    # an empty gpu-type in the pool document: the patch sets the pool key only
    assert patches["cpu-node-1"]["metadata"]["labels"] == {"runwhere.ai/pool": "compute-pool"}


def write_spec(tmp_path, **lists):
    path = tmp_path / "fabric.yml"
    path.write_text(yaml.safe_dump(dict({"label_prefix": PREFIX}, **lists)))
    return path


def test_stack_config_label_prefix_moves_every_key(tmp_path):
    spec = write_spec(tmp_path, projects=[{"name": "p", "gpu_quota": {"NVIDIA-A100": 1}}],
                      pools=[{"name": "a", "nodes": {"n1": {"gpu_type": "A100"}}}])
    result = run(lambda: declare_fabric(load_fabric(spec, "example.com")))
    patch = result.of_type("kubernetes:core/v1:NodePatch")[0].inputs
    assert patch["metadata"]["labels"] == {"example.com/pool": "a", "example.com/gpu-type": "A100"}
    namespace = result.of_type("kubernetes:core/v1:Namespace")[0].inputs
    assert namespace["metadata"]["labels"]["example.com/project"] == "p"


def rejected(tmp_path, **lists):
    """The FabricError a bad spec raises, and what was declared before it (must be nothing)."""
    spec = write_spec(tmp_path, **lists)
    with pytest.raises(FabricError) as error:
        run(lambda: declare_fabric(load_fabric(spec)))
    return str(error.value)


def test_compute_pool_with_two_control_plane_nodes_is_rejected(tmp_path):
    message = rejected(tmp_path, compute_pools=[{"name": "c", "namespace": "p", "control_plane": {"node_count": 2}}])
    assert "control plane node_count 2 is not 1, 3 or 5 (an odd count keeps etcd quorum)" in message


def test_pool_name_of_64_characters_is_rejected_with_the_core_message(tmp_path):
    name = "p" * 64
    message = rejected(tmp_path, pools=[{"name": name, "nodes": {"n1": {"gpu_type": "A100"}}}])
    assert dns_label_errors(name, "pool name")[0] in message


def test_all_errors_of_all_entries_are_reported_together(tmp_path):
    message = rejected(tmp_path, tenants=[{"name": "Bad_Name"}],
                       compute_pools=[{"name": "c", "namespace": "p", "control_plane": {"node_count": 2}}])
    assert dns_label_errors("Bad_Name", "tenant name")[0] in message
    assert "control plane node_count 2" in message


def test_tenant_quota_must_hold_its_projects(tmp_path):
    message = rejected(tmp_path, tenants=[{"name": "t", "gpu_quota": {"NVIDIA-A100": 4}}],
                       projects=[{"name": "a", "tenant": "t", "gpu_quota": {"NVIDIA-A100": 3}},
                                 {"name": "b", "tenant": "t", "gpu_quota": {"NVIDIA-A100": 2}}])
    assert "tenant t: projects request 5 x NVIDIA-A100 (a 3, b 2) but the tenant quota is 4: over by 1" in message


def test_a_node_in_two_pools_is_rejected(tmp_path):
    message = rejected(tmp_path, pools=[{"name": "a", "nodes": {"n1": None}}, {"name": "b", "nodes": {"n1": None}}])
    assert "node n1 is in pools a, b" in message


def test_a_rejected_spec_declares_nothing(tmp_path):
    spec = write_spec(tmp_path, tenants=[{"name": "ok"}], pools=[{"name": "x" * 64, "nodes": {}}])
    declared = []

    def program():
        try:
            declare_fabric(load_fabric(spec))
        except FabricError:
            declared.append("rejected")

    result = run(program)
    assert declared == ["rejected"] and result.declared == []


def test_absent_entries_are_not_declared(tmp_path):
    spec = write_spec(tmp_path, tenants=[{"name": "kept"}, {"name": "gone", "state": "absent"}])
    result = run(lambda: declare_fabric(load_fabric(spec)))
    assert [d.inputs["metadata"]["name"] for d in result.of_type("kubernetes:gpufabric.io/v1alpha1:Tenant")] == [
        "kept"]


def test_project_outputs_resolve_to_the_namespace():
    """Component outputs, awaited the Pulumi way: Output.all(...).apply inside a pulumi.runtime.test."""
    seen = []

    def program():
        components = declare_fabric(load_fabric(DEMO))
        return pulumi.Output.all(components.projects["vision"].namespace,
                                 components.projects["nlp"].namespace).apply(seen.extend)

    run(program)
    assert seen == ["vision", "nlp"]


def test_stack_config_drives_the_stack(tmp_path):
    """Typed config: relative spec paths from the project directory, and an explicit provider for a context."""
    spec = write_spec(tmp_path, tenants=[{"name": "t"}])
    config = {"gpufabric:spec": str(spec), "gpufabric:labelPrefix": "example.com", "gpufabric:context": "edge"}
    result = run(lambda: (StackConfig.load(), declare_stack(StackConfig.load()))[0], config)
    assert result.result == StackConfig(spec=spec, label_prefix="example.com", context="edge")
    provider = result.of_type("pulumi:providers:kubernetes")
    assert [d.inputs["context"] for d in provider] == ["edge"]
    tenant = result.of_type("kubernetes:gpufabric.io/v1alpha1:Tenant")[0]
    assert tenant.provider.startswith(provider[0].urn + "::")


def test_default_config_reads_the_demo_spec_beside_the_program():
    result = run(StackConfig.load)
    assert result.result == StackConfig(spec=REPO / "pulumi" / "../playbooks/files/demo-fabric.yml")
    assert result.result.spec.resolve() == DEMO


def test_pool_documents_inline_or_beside_the_spec(tmp_path):
    """`src` is read relative to the spec file (the tests run elsewhere); `definition` is a gpuctl document given
    inline. Both become the Pool spec the core renders from the document."""
    document = {"kind": "pool", "version": "v0.1", "pool": {"name": "a", "description": "A"},
                "nodes": {"n1": {"gpu-type": "A100"}}}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.yaml").write_text(yaml.safe_dump(document))
    inline = dict(document, pool={"name": "b", "description": "B"}, nodes={"n2": {"gpu-type": "L40S"}})
    spec = write_spec(tmp_path, pools=[{"src": "docs/a.yaml"}, {"definition": inline}])
    pools = dict((d.inputs["metadata"]["name"], d.inputs["spec"])
                 for d in run(lambda: declare_fabric(load_fabric(spec))).of_type(
                     "kubernetes:gpufabric.io/v1alpha1:Pool"))
    assert pools == {"a": {"description": "A", "nodeSelector": {"runwhere.ai/pool": "a"},
                           "nodes": [{"name": "n1", "gpuType": "A100"}]},
                     "b": {"description": "B", "nodeSelector": {"runwhere.ai/pool": "b"},
                           "nodes": [{"name": "n2", "gpuType": "L40S"}]}}


def test_node_selector_needs_the_module(tmp_path):
    message = rejected(tmp_path, pools=[{"name": "a", "node_selector": "nvidia.com/gpu.product=NVIDIA-L40S"}])
    assert "pool a: node_selector is resolved against live Nodes by the pool_label module" in message
