"""Projects and tenants: namespace, GPU quota, roles and bindings, all marked as managed by gpufabric."""

from __future__ import annotations

import json

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import (
    parse_project, parse_tenant, render_project, render_tenant)

ARGS = {"name": "vision", "tenant": "research", "gpu_quota": {"NVIDIA A100": 8, "NVIDIA-H100": 2},
        "members": [{"user": "alice", "role": "admin"}, {"group": "ml-team", "role": "editor"},
                    {"user": "bob", "role": "viewer"}],
        "pool_access": [{"pool": "training-pool", "users": ["carol"], "groups": ["ml-team"]}]}


def by_kind_name(objects):
    return dict(((o["kind"], o["metadata"]["name"]), o) for o in objects)


def test_project_objects():
    objects = render_project(parse_project(ARGS), "runwhere.ai")
    assert all(o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gpufabric" for o in objects)
    got = by_kind_name(objects)
    ns = got[("Namespace", "vision")]
    assert ns["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "gpufabric", "runwhere.ai/project": "vision",
                                        "runwhere.ai/tenant": "research"}
    quota = got[("ResourceQuota", "gpu-quota")]
    assert quota["spec"] == {"hard": {"requests.nvidia.com/gpu": "10"}}
    assert quota["metadata"]["annotations"] == {"runwhere.ai/gpu-quota": '{"NVIDIA-A100":8,"NVIDIA-H100":2}'}
    assert json.loads(quota["metadata"]["annotations"]["runwhere.ai/gpu-quota"]) == {"NVIDIA-A100": 8,
                                                                                     "NVIDIA-H100": 2}
    assert got[("RoleBinding", "gpufabric-admin")]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]
    assert got[("RoleBinding", "gpufabric-editor")]["subjects"][0]["kind"] == "Group"
    access = got[("RoleBinding", "pool-access-training-pool")]
    assert [s["name"] for s in access["subjects"]] == ["ml-team", "carol"]
    assert got[("Role", "pool-access-training-pool")]["rules"][0]["resourceNames"] == ["training-pool"]


def verbs(role, resource):
    return set(v for rule in role["rules"] if resource in rule["resources"] for v in rule["verbs"])


def test_role_permissions_grow_from_viewer_to_admin():
    got = by_kind_name(render_project(parse_project(ARGS), "runwhere.ai"))
    viewer, editor, admin = (got[("Role", "gpufabric-%s" % r)] for r in ("viewer", "editor", "admin"))
    assert verbs(viewer, "pods") == {"get", "list", "watch"}
    assert verbs(editor, "jobs") == {"get", "list", "watch", "create", "update", "patch", "delete"}
    assert verbs(editor, "computepools") == {"get", "list", "watch"}
    assert verbs(admin, "computepools") == {"get", "list", "watch", "update", "patch", "delete"}


def test_rendering_is_deterministic_whatever_the_member_order():
    shuffled = dict(ARGS, members=list(reversed(ARGS["members"])))
    first = json.dumps(render_project(parse_project(ARGS), "runwhere.ai"))
    assert first == json.dumps(render_project(parse_project(shuffled), "runwhere.ai"))


def test_project_errors_are_collected():
    with pytest.raises(FabricError) as caught:
        parse_project({"name": "Vision", "tenant": "research", "gpu_quota": {"A100": -1},
                       "members": [{"user": "a", "group": "b", "role": "admin"}, {"user": "c", "role": "owner"}]})
    assert len(caught.value.errors) == 4
    assert "member c: role 'owner' is not one of admin, editor, viewer" in caught.value.errors


def test_tenant_object():
    name, quota = parse_tenant({"name": "research", "gpu_quota": {"nvidia a100": 16}})
    assert render_tenant(name, quota) == {
        "apiVersion": "gpufabric.io/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "research", "labels": {"app.kubernetes.io/managed-by": "gpufabric"}},
        "spec": {"gpuQuota": [{"family": "NVIDIA-A100", "gpuCount": 16}]}}


def test_project_without_tenant_and_namespace_annotations():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import (
        pool_access_pools, read_quota_annotation)

    objects = by_kind_name(render_project(parse_project(dict(ARGS, tenant=None)), "runwhere.ai"))
    ns = objects[("Namespace", "vision")]
    assert "runwhere.ai/tenant" not in ns["metadata"]["labels"]
    assert read_quota_annotation(ns, "runwhere.ai") == {"NVIDIA-A100": 8, "NVIDIA-H100": 2}
    assert pool_access_pools(ns, "runwhere.ai") == ("training-pool",)
    no_members = by_kind_name(render_project(parse_project(dict(ARGS, members=[])), "runwhere.ai"))
    assert "subjects" not in no_members[("RoleBinding", "gpufabric-viewer")]


def test_roles_grant_only_pairs_of_their_own_group():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import role_rules

    for role in ("viewer", "editor", "admin"):
        for rule in role_rules(role):
            assert len(rule["apiGroups"]) == 1
    pairs = set((rule["apiGroups"][0], resource) for rule in role_rules("admin") for resource in rule["resources"])
    assert pairs == {("", "pods"), ("", "pods/log"), ("", "services"), ("apps", "deployments"), ("batch", "jobs"),
                     ("gpufabric.io", "computepools")}


def test_tenant_status_sums_projects_per_family():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import render_tenant_status

    projects = {"b": {"NVIDIA-A100": 6}, "a": {"NVIDIA-A100": 8, "NVIDIA-H100": 1}}
    status = render_tenant_status({"NVIDIA-A100": 16}, projects)
    assert status == {"gpuQuotaTotal": 16, "gpuAssignedTotal": 15, "projectCount": 2,
                      "assigned": [{"family": "NVIDIA-A100", "gpuCount": 14}, {"family": "NVIDIA-H100", "gpuCount": 1}],
                      "projects": [{"name": "a", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 8},
                                                         {"family": "NVIDIA-H100", "gpuCount": 1}]},
                                   {"name": "b", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 6}]}]}
