"""tenant, project and app_deployment against the real control plane: quotas at the boundary, exact bindings,
RBAC proven with real user tokens, capacity, OSMO templates and rules, allocation records, idempotence, check mode."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.harness.ansible import run_module
from tests.harness.nodes import create_node, create_pod

pytestmark = pytest.mark.integration

GROUP, VERSION = "gpufabric.io", "v1alpha1"
PREFIX = "runwhere.ai"
A100 = "NVIDIA-A100"


@pytest.fixture
def stem(request):
    """A name unique to the test, so tests sharing the cluster never meet."""
    return request.node.name.replace("_", "-")[5:30].strip("-")


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def failed(result):
    assert result.get("failed"), result
    return result["msg"]


KUBECONFIG = []  # set by the autouse fixture, so the helpers below stay one-liners


@pytest.fixture(autouse=True)
def _kubeconfig(kubeconfig):
    KUBECONFIG[:] = [kubeconfig]


def module(name, args, check=False, diff=False, context="operator"):
    return run_module(name, args, KUBECONFIG[0], context=context, check=check, diff=diff)


def make_compute_pool(custom_objects, namespace, name, gpus=16, mode="shared", family=A100):
    """A ComputePool as the compute_pool module leaves it: spec, and a status with its hardware capacity."""
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ComputePool", "metadata": {"name": name},
            "spec": {"clusterVariant": {mode: {}}, "controlPlane": {"nodeCount": 1},
                     "nodePoolRequirements": {"workerPools": [{"name": "gpu-workers", "minWorkerNodes": 1,
                                                               "gpu": {"family": family, "gpuCount": gpus}}]}}}
    custom_objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "computepools", body)
    status = {"status": "Running", "mode": mode, "gpuTotal": gpus, "gpuAllocated": 0,
              "cloudConfigUUID": "cloud-config-uuid-1",
              "hardwareCapacity": [{"architecture": "AMD64", "totalCPU": 64, "totalMemory": "256Gi",
                                    "gpu": [{"family": family, "gpuCount": gpus}]}]}
    custom_objects.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, "computepools", name,
                                                         {"status": status})
    return status


def compute_pool_status(custom_objects, namespace, name):
    return custom_objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "computepools", name)["status"]


def ref(name, namespace, gpus, family=A100):
    """An aiWorkloadRefs entry: the app and the GPUs it holds."""
    return {"name": name, "namespace": namespace, "family": family, "gpuCount": gpus, "architecture": "AMD64"}


def tenant(name, quota, **extra):
    return module("tenant", dict({"name": name, "gpu_quota": quota}, **extra))


def project(name, quota, **extra):
    return module("project", dict({"name": name, "gpu_quota": quota}, **extra))


def app(name, namespace, **extra):
    args = {"name": name, "namespace": namespace, "image": "busybox:1.36"}
    args.update(extra)
    return module("app_deployment", args)


def deployment_body(name):
    return {"metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}


def status_code(call):
    try:
        call()
    except ApiException as error:
        return error.status
    return 200


# -- tenants and projects ------------------------------------------------------------------------------------------

def test_project_objects_then_converged_run_writes_nothing(core_v1, api_client_for, stem, writes):
    ok(tenant(stem + "-t", {A100: 16}))
    args = {"name": stem, "tenant": stem + "-t", "gpu_quota": {"NVIDIA A100": 8},
            "members": [{"user": "alice", "role": "admin"}, {"group": "ml-team", "role": "editor"}],
            "pool_access": [{"pool": "training-pool", "users": ["carol"]}]}

    writes.start()
    preview = ok(module("project", args, check=True, diff=True))
    assert writes.count() == 0, writes.describe()
    assert preview["changed"] and "ResourceQuota/gpu-quota" in preview["changed_objects"]

    first = ok(module("project", args))
    assert first["changed"] and first["changed_objects"] == preview["changed_objects"]
    namespace = core_v1.read_namespace(stem).metadata
    assert namespace.labels[f"{PREFIX}/project"] == stem and namespace.labels[f"{PREFIX}/tenant"] == stem + "-t"
    assert namespace.labels["app.kubernetes.io/managed-by"] == "gpufabric"
    quota = core_v1.read_namespaced_resource_quota("gpu-quota", stem)
    assert quota.spec.hard == {"requests.nvidia.com/gpu": "8"}
    assert quota.metadata.annotations[f"{PREFIX}/gpu-quota"] == '{"NVIDIA-A100":8}'
    rbac = client.RbacAuthorizationV1Api(api_client_for("admin"))
    access = rbac.read_namespaced_role("pool-access-training-pool", stem)
    assert access.rules[0].resource_names == ["training-pool"] and access.rules[0].verbs == ["get", "use"]
    tenant_status = client.CustomObjectsApi(api_client_for("admin")).get_cluster_custom_object(
        GROUP, VERSION, "tenants", stem + "-t")["status"]
    assert tenant_status["assigned"] == [{"family": A100, "gpuCount": 8}] and tenant_status["projectCount"] == 1

    writes.start()
    second = ok(module("project", args))
    again = ok(module("project", args, check=True))
    assert (second["changed"], again["changed"]) == (False, False)
    assert writes.count() == 0, writes.describe()
    assert writes.dry_runs() == [], "a converged check run sends nothing"


def test_tenant_quota_holds_the_sum_of_its_projects(custom_objects, stem, writes):
    ok(tenant(stem, {A100: 16}))
    ok(project(stem + "-a", {A100: 10}, tenant=stem))
    ok(project(stem + "-b", {A100: 6}, tenant=stem))  # 10 + 6 == 16: exactly at the tenant quota

    writes.start()
    message = failed(project(stem + "-c", {A100: 1}, tenant=stem))
    assert message == (f"tenant {stem}: projects request 17 x {A100} ({stem}-a 10, {stem}-b 6, {stem}-c 1) "
                       f"but the tenant quota is 16: over by 1")
    grow = failed(project(stem + "-b", {A100: 7}, tenant=stem))
    assert "projects request 17 x NVIDIA-A100" in grow and "over by 1" in grow
    shrink = failed(tenant(stem, {A100: 15}))
    assert "projects request 16 x NVIDIA-A100" in shrink and "the tenant quota is 15: over by 1" in shrink
    missing = failed(project(stem + "-d", {A100: 1}, tenant=stem + "-nope"))
    assert f"tenant {stem}-nope does not exist" in missing
    assert writes.count() == 0, writes.describe()

    status = custom_objects.get_cluster_custom_object(GROUP, VERSION, "tenants", stem)["status"]
    assert status["gpuQuotaTotal"] == 16 and status["gpuAssignedTotal"] == 16
    assert [p["name"] for p in status["projects"]] == [stem + "-a", stem + "-b"]

    ok(project(stem + "-b", {A100: 2}, tenant=stem))
    status = custom_objects.get_cluster_custom_object(GROUP, VERSION, "tenants", stem)["status"]
    assert status["assigned"] == [{"family": A100, "gpuCount": 12}]


def test_bindings_are_exact_and_rbac_holds_for_real_users(core_v1, custom_objects, api_client_for, stem, writes):
    members = [{"user": "alice", "role": "admin"}, {"user": "bob", "role": "editor"},
               {"user": "carol", "role": "viewer"}]
    ok(project(stem, {A100: 8}, members=members))
    rbac = client.RbacAuthorizationV1Api(api_client_for("admin"))
    # Something the project does not own, in its namespace: never touched.
    rbac.create_namespaced_role_binding(stem, {
        "metadata": {"name": "someone-elses"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dave"}]})
    make_compute_pool(custom_objects, stem, "cp-a")
    make_compute_pool(custom_objects, stem, "cp-b")

    def apps_api(user):
        return client.AppsV1Api(api_client_for(user))

    def pools_api(user):
        return client.CustomObjectsApi(api_client_for(user))

    # viewer reads but cannot create a Deployment; editor can; only the admin deletes a compute pool.
    assert apps_api("carol").list_namespaced_deployment(stem).items == []
    assert status_code(lambda: apps_api("carol").create_namespaced_deployment(stem, deployment_body("v"))) == 403
    assert status_code(lambda: apps_api("bob").create_namespaced_deployment(stem, deployment_body("e"))) == 200
    assert status_code(lambda: pools_api("bob").delete_namespaced_custom_object(
        GROUP, VERSION, stem, "computepools", "cp-a")) == 403
    assert status_code(lambda: pools_api("carol").delete_namespaced_custom_object(
        GROUP, VERSION, stem, "computepools", "cp-a")) == 403
    assert status_code(lambda: pools_api("bob").patch_namespaced_custom_object(
        GROUP, VERSION, stem, "computepools", "cp-b", {"metadata": {"labels": {"x": "y"}}})) == 403
    assert status_code(lambda: pools_api("alice").patch_namespaced_custom_object(
        GROUP, VERSION, stem, "computepools", "cp-b", {"metadata": {"labels": {"x": "y"}}})) == 200
    assert status_code(lambda: pools_api("alice").delete_namespaced_custom_object(
        GROUP, VERSION, stem, "computepools", "cp-a")) == 200

    # bob leaves: his binding goes, and with it his rights; nothing else changes.
    result = ok(project(stem, {A100: 8}, members=[m for m in members if m["user"] != "bob"]))
    assert result["changed_objects"] == ["RoleBinding/gpufabric-editor"] and result["removed_objects"] == []
    editor = rbac.read_namespaced_role_binding("gpufabric-editor", stem)
    assert not editor.subjects
    assert [s.name for s in rbac.read_namespaced_role_binding("gpufabric-admin", stem).subjects] == ["alice"]
    assert status_code(lambda: apps_api("bob").create_namespaced_deployment(stem, deployment_body("e2"))) == 403
    assert [s.name for s in rbac.read_namespaced_role_binding("someone-elses", stem).subjects] == ["dave"]

    writes.start()
    assert ok(project(stem, {A100: 8}, members=[m for m in members if m["user"] != "bob"]))["changed"] is False
    assert writes.count() == 0, writes.describe()


def test_pool_access_pairs_follow_the_list(api_client_for, stem):
    ok(project(stem, {A100: 8}, pool_access=[{"pool": "p1", "users": ["alice"]}, {"pool": "p2", "groups": ["g"]}]))
    result = ok(project(stem, {A100: 8}, pool_access=[{"pool": "p2", "groups": ["g"]}]))
    assert result["removed_objects"] == ["Role/pool-access-p1", "RoleBinding/pool-access-p1"]
    rbac = client.RbacAuthorizationV1Api(api_client_for("admin"))
    assert sorted(r.metadata.name for r in rbac.list_namespaced_role(stem).items) == [
        "gpufabric-admin", "gpufabric-editor", "gpufabric-viewer", "pool-access-p2"]


def test_project_absent_refuses_while_apps_remain_unless_forced(core_v1, custom_objects, stem, writes):
    ok(project(stem, {A100: 8}, members=[{"user": "alice", "role": "admin"}]))
    make_compute_pool(custom_objects, stem, "cp")
    ok(app("svc", stem, compute_pool="cp", resources={"gpu": 1}))

    writes.start()
    message = failed(module("project", {"name": stem, "state": "absent"}))
    assert f"project {stem} still has 1 app deployment(s): Deployment/svc" in message and "set force" in message
    assert writes.count() == 0, writes.describe()

    ok(app("svc", stem, state="absent"))
    preview = ok(module("project", {"name": stem, "state": "absent"}, check=True))
    gone = ok(module("project", {"name": stem, "state": "absent"}))
    assert preview["removed_objects"] == gone["removed_objects"]
    assert "Namespace/" + stem in gone["removed_objects"] and "RoleBinding/gpufabric-admin" in gone["removed_objects"]
    assert client.RbacAuthorizationV1Api(core_v1.api_client).list_namespaced_role(stem).items == []
    writes.start()
    assert ok(module("project", {"name": stem, "state": "absent"}))["changed"] is False
    assert writes.count() == 0, writes.describe()


# -- app deployments ---------------------------------------------------------------------------------------------

def test_project_quota_boundary_for_apps(custom_objects, stem, writes):
    ok(project(stem, {A100: 8}))
    make_compute_pool(custom_objects, stem, "cp", gpus=32)
    placed = ok(app("exact", stem, compute_pool="cp", replicas=2, resources={"gpu": 4}))  # 8 == quota
    assert placed["placement"]["quotaLeft"] == 8 and placed["placement"]["quotaLeftAfter"] == 0

    writes.start()
    message = failed(app("one-more", stem, compute_pool="cp", resources={"gpu": 1}))
    assert message == f"needs 1 x {A100}, 0 left of project {stem}'s quota (8 quota, 8 used): short by 1"
    assert writes.count() == 0, writes.describe()


def test_capacity_reject_names_the_shortfall(custom_objects, stem, writes):
    ok(project(stem, {A100: 64}))
    make_compute_pool(custom_objects, stem, "cp", gpus=8)
    writes.start()
    message = failed(app("big", stem, compute_pool="cp", replicas=3, resources={"gpu": 4}))
    assert message == f"needs 12 x {A100}, 8 free on compute pool cp (8 total, 0 allocated): short by 4"
    assert writes.count() == 0, writes.describe()


def test_allocation_is_the_sum_of_apps_and_removal_frees_it(custom_objects, api_client_for, stem, writes):
    ok(project(stem, {A100: 16}))
    before = make_compute_pool(custom_objects, stem, "cp", gpus=16)
    serve = {"gpu": 3, "cpu": "0.5", "memory": "1024Mi"}  # the server stores these as 500m and 1Gi
    ok(app("serve", stem, compute_pool="cp", replicas=2, resources=serve))
    ok(app("train", stem, compute_pool="cp", kind="Job", resources={"gpu": 4}))

    status = compute_pool_status(custom_objects, stem, "cp")
    assert status["hardwareAllocation"] == [{"architecture": "AMD64", "gpu": [{"family": A100, "gpuCount": 10}]}]
    assert status["aiWorkloadRefs"] == [ref("serve", stem, 6), ref("train", stem, 4)]
    assert status["gpuAllocated"] == 10
    for key in ("status", "mode", "gpuTotal", "cloudConfigUUID", "hardwareCapacity"):
        assert status[key] == before[key], key  # the compute pool's own fields are kept as they were
    deployment = client.AppsV1Api(api_client_for("admin")).read_namespaced_deployment("serve", stem)
    pod = deployment.spec.template.spec
    # a compute pool made by hand has no hosts whose GPU products the placement could select: its label places it
    assert pod.node_selector == {f"{PREFIX}/compute-pool": "cp"}
    assert pod.containers[0].resources.limits == {"nvidia.com/gpu": "3"}
    assert pod.containers[0].resources.requests == {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "3"}
    assert [t.key for t in pod.tolerations] == ["nvidia.com/gpu"]
    job = client.BatchV1Api(api_client_for("admin")).read_namespaced_job("train", stem)
    assert job.spec.parallelism == 1 and job.spec.template.spec.restart_policy == "Never"

    writes.start()
    assert ok(app("serve", stem, compute_pool="cp", replicas=2, resources=serve))["changed"] is False
    assert ok(app("train", stem, compute_pool="cp", kind="Job", resources={"gpu": 4}))["changed"] is False
    assert writes.count() == 0, writes.describe()

    writes.start()
    preview = ok(module("app_deployment", {"name": "serve", "namespace": stem, "state": "absent"}, check=True))
    assert preview["changed"] and preview["allocation"]["gpu_allocated"] == 4
    assert writes.count() == 0, writes.describe()
    removed = ok(module("app_deployment", {"name": "serve", "namespace": stem, "state": "absent"}))
    assert removed["allocation"] == {"target": {"kind": "ComputePool", "name": "cp"}, "gpu_allocated": 4,
                                     "apps": [f"{stem}/train"]}
    status = compute_pool_status(custom_objects, stem, "cp")
    assert status["gpuAllocated"] == 4 and status["aiWorkloadRefs"] == [ref("train", stem, 4)]
    assert client.AppsV1Api(api_client_for("admin")).list_namespaced_deployment(stem).items == []
    # The freed GPUs are free: 12 more fit where 6 did not before.
    ok(app("serve2", stem, compute_pool="cp", replicas=3, resources={"gpu": 4}))
    writes.start()
    assert ok(module("app_deployment", {"name": "serve", "namespace": stem, "state": "absent"}))["changed"] is False
    assert writes.count() == 0, writes.describe()


def test_check_mode_previews_placement_and_writes_nothing(custom_objects, stem, writes):
    ok(project(stem, {A100: 8}))
    make_compute_pool(custom_objects, stem, "cp", gpus=16)
    writes.start()
    preview = ok(module("app_deployment", {"name": "llm", "namespace": stem, "compute_pool": "cp", "image": "x",
                                           "resources": {"gpu": 2}, "replicas": 2}, check=True, diff=True))
    assert writes.count() == 0, writes.describe()
    assert preview["changed"] and preview["placement"]["gpuFreeAfter"] == 12 and preview["placement"]["quotaLeftAfter"] == 4
    key = f"Deployment/{stem}/llm"
    assert key in preview["diff"]["after"] and preview["diff"]["before"][key] is None
    real = ok(module("app_deployment", {"name": "llm", "namespace": stem, "compute_pool": "cp", "image": "x",
                                        "resources": {"gpu": 2}, "replicas": 2}, diff=True))
    assert real["placement"] == preview["placement"] and real["allocation"] == preview["allocation"]
    assert real["diff"] == preview["diff"]


def test_dedicated_compute_pool_takes_one_app(custom_objects, stem, writes):
    ok(project(stem, {A100: 16}))
    make_compute_pool(custom_objects, stem, "solo", gpus=16, mode="dedicated")
    ok(app("first", stem, compute_pool="solo", resources={"gpu": 2}))
    writes.start()
    message = failed(app("second", stem, compute_pool="solo", resources={"gpu": 2}))
    assert f"compute pool solo is dedicated and already hosts {stem}/first" in message
    assert writes.count() == 0, writes.describe()


def test_osmo_templates_merge_in_order_and_failing_rule_reports_its_message(custom_objects, api_client_for, stem,
                                                                            writes):
    ok(project(stem, {A100: 8}))
    make_compute_pool(custom_objects, stem, "cp")
    templates = [
        {"metadata": {"labels": {"tier": "base", "team": "vision"}},
         "spec": {"nodeSelector": {"disk": "ssd"}, "priorityClassName": "low",
                  "containers": [{"name": "{{USER_CONTAINER_NAME}}", "env": [{"name": "MODE", "value": "base"}]}]}},
        {"metadata": {"labels": {"tier": "override"}},
         "spec": {"nodeSelector": {"disk": "nvme", f"{PREFIX}/compute-pool": "elsewhere"},
                  "containers": [{"name": "{{USER_CONTAINER_NAME}}", "env": [{"name": "MODE", "value": "fast"}]}]}},
    ]
    rules = [{"operator": "LE", "left_operand": "{{USER_MEMORY}}", "right_operand": "64Gi",
              "assert_message": "Memory {{USER_MEMORY}} exceeds the 64Gi a node has"},
             {"operator": "GE", "left_operand": "{{USER_CPU}}", "right_operand": "1",
              "assert_message": "CPU {{USER_CPU}} is below 1"}]
    args = dict(compute_pool="cp", resources={"gpu": 1, "memory": "32Gi"}, pod_templates=templates,
                default_variables={"USER_CPU": 2, "USER_MEMORY": "1Gi"}, resource_validations=rules)

    writes.start()
    too_big = dict(args)
    too_big["resources"] = {"gpu": 1, "memory": "128Gi"}
    message = failed(app("osmo", stem, **too_big))
    assert message == "Memory 128Gi exceeds the 64Gi a node has"
    assert writes.count() == 0, writes.describe()

    ok(app("osmo", stem, **args))
    pod = client.AppsV1Api(api_client_for("admin")).read_namespaced_deployment("osmo", stem).spec.template
    assert pod.metadata.labels["tier"] == "override" and pod.metadata.labels["team"] == "vision"  # later wins
    assert pod.spec.node_selector == {"disk": "nvme", f"{PREFIX}/compute-pool": "cp"}  # the pool's stays
    assert pod.spec.priority_class_name == "low"
    container = pod.spec.containers[0]
    assert [(e.name, e.value) for e in container.env] == [("MODE", "fast")]
    assert container.resources.requests == {"cpu": "2", "memory": "32Gi", "nvidia.com/gpu": "1"}  # default CPU
    writes.start()
    assert ok(app("osmo", stem, **args))["changed"] is False
    assert writes.count() == 0, writes.describe()


def test_pool_access_is_respected(custom_objects, api_client_for, stem, writes):
    """dave may run app_deployment (the shipped gpufabric-app-deployer ClusterRole) but holds `use` on no pool:
    which pools he may place apps on comes only from the project's pool_access."""
    rbac = client.RbacAuthorizationV1Api(api_client_for("admin"))
    rbac.create_cluster_role_binding({
        "metadata": {"name": stem},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gpufabric-app-deployer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dave"}]})
    access = [{"pool": "mine", "users": ["dave"]}, {"pool": "theirs", "users": ["alice"], "groups": ["ml"]}]
    ok(project(stem, {A100: 8}, pool_access=access))
    for name in ("mine", "theirs", "unlisted"):
        make_compute_pool(custom_objects, stem, name, gpus=4)
    args = {"namespace": stem, "image": "busybox", "resources": {"gpu": 1}}

    placed = ok(module("app_deployment", dict(args, name="allowed", compute_pool="mine"), context="dave"))
    assert placed["allocation"]["gpu_allocated"] == 1
    writes.start()
    denied = failed(module("app_deployment", dict(args, name="denied", compute_pool="theirs"), context="dave"))
    assert denied == (f"pool access denied: the caller may not use compute pool theirs in project {stem}; "
                      f"its pool_access grants it to Group ml, User alice")
    unlisted = failed(module("app_deployment", dict(args, name="unlisted", compute_pool="unlisted"), context="dave"))
    assert f"project {stem} declares pool access for mine, theirs only; unlisted is not one of them" in unlisted
    writes.events()  # waits until the audit log has caught up
    assert writes.audit.writes_since(writes.mark, users=("dave", "operator", "admin")) == []

    # dave may use `theirs` once the project's pool_access names him too.
    ok(project(stem, {A100: 8}, pool_access=[access[0], dict(access[1], users=["alice", "dave"])]))
    ok(module("app_deployment", dict(args, name="denied", compute_pool="theirs"), context="dave"))


def test_app_on_a_labelled_pool_and_pool_label_agree(core_v1, custom_objects, stem, writes):
    nodes = {f"{stem}-{i}": {"gpu_type": "A100-80G"} for i in (1, 2)}
    for node in nodes:
        create_node(core_v1, node, gpu_product=A100, gpus=8)
    ok(module("pool_label", {"name": stem, "nodes": nodes}))
    ok(project(stem, {A100: 16}))
    create_pod(core_v1, stem, "someone-else", f"{stem}-1", gpus=2)  # not an app: counted from the pod

    placed = ok(app("train", stem, pool=stem, platform="A100-80G", replicas=2, resources={"gpu": 4}))
    assert placed["placement"]["gpuFree"] == 14 and placed["placement"]["gpuFreeAfter"] == 6
    assert placed["workload"]["node_selector"] == {f"{PREFIX}/pool": stem, f"{PREFIX}/gpu-type": "A100-80G",
                                                   "nvidia.com/gpu.product": A100}
    status = custom_objects.get_cluster_custom_object(GROUP, VERSION, "pools", stem)["status"]
    assert (status["gpuTotal"], status["gpuUsed"], status["gpuFree"], status["gpuAllocated"]) == (16, 10, 6, 8)
    assert status["aiWorkloadRefs"] == [ref("train", stem, 8)]

    writes.start()
    assert ok(module("pool_label", {"name": stem, "nodes": nodes}))["changed"] is False
    assert ok(app("train", stem, pool=stem, platform="A100-80G", replicas=2, resources={"gpu": 4}))["changed"] is False
    assert writes.count() == 0, writes.describe()

    message = failed(app("more", stem, pool=stem, replicas=2, resources={"gpu": 4}))
    assert message == f"needs 8 x {A100}, 6 free on pool {stem} (16 total, 10 allocated): short by 2"

    ok(app("train", stem, state="absent"))
    status = custom_objects.get_cluster_custom_object(GROUP, VERSION, "pools", stem)["status"]
    assert (status["gpuUsed"], status["gpuFree"], status["gpuAllocated"], status["aiWorkloadRefs"]) == (2, 14, 0, [])


def test_tenant_check_mode_idempotence_and_guarded_removal(custom_objects, stem, writes):
    writes.start()
    preview = ok(module("tenant", {"name": stem, "gpu_quota": {"nvidia a100": 8}}, check=True, diff=True))
    assert preview["changed"] and preview["diff"]["after"][f"Tenant/{stem}"]["spec"]["gpuQuota"] == [
        {"family": A100, "gpuCount": 8}]
    assert writes.count() == 0, writes.describe()

    ok(tenant(stem, {"nvidia a100": 8}))
    assert custom_objects.get_cluster_custom_object(GROUP, VERSION, "tenants", stem)["spec"]["gpuQuota"] == [
        {"family": A100, "gpuCount": 8}]
    writes.start()
    assert ok(tenant(stem, {"nvidia a100": 8}))["changed"] is False
    assert ok(module("tenant", {"name": stem, "gpu_quota": {A100: 8}}, check=True))["changed"] is False
    assert writes.count() == 0 and writes.dry_runs() == [], writes.describe()

    ok(project(stem + "-p", {A100: 4}, tenant=stem))
    writes.start()
    message = failed(module("tenant", {"name": stem, "state": "absent"}))
    assert message == (f"tenant {stem} still has 1 project(s): {stem}-p; remove them first (project state=absent) "
                       "or set force to delete the tenant anyway (the projects keep their own quotas)")
    assert writes.count() == 0, writes.describe()
    ok(module("project", {"name": stem + "-p", "state": "absent"}))
    assert ok(module("tenant", {"name": stem, "state": "absent"}))["changed"] is True
    writes.start()
    assert ok(module("tenant", {"name": stem, "state": "absent"}))["changed"] is False
    assert writes.count() == 0, writes.describe()
