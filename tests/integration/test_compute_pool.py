"""compute_pool and compute_pool_info against the real control plane: PaletteAI's machine-pool lifecycle.

Every test's nodes carry their own resource group (palette.ai.rg/suite=<test>), and its compute pools select it,
so tests sharing the session's cluster never compete for hosts.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from tests.harness.ansible import run_module
from tests.harness.nodes import create_node, set_ready

pytestmark = pytest.mark.integration

PREFIX = "runwhere.ai"
WORKERS = "worker-pool-nvidia-amd64-0"


@pytest.fixture
def suite(request, core_v1, kubeconfig):
    """This test's project and resource group; `suite.node(...)` creates a node in it."""

    class Suite:
        name = request.node.name.replace("_", "-")[5:45].strip("-")
        namespace = name
        groups = {"suite": name}

        def node(self, name, product="NVIDIA-A100", gpus=4, ready=True, **labels):
            """ready None: a node still joining (no Ready condition yet), which the host model calls Provisioning."""
            rg = {"palette.ai.rg/suite": self.name}
            rg.update({"palette.ai.rg/" + k: v for k, v in labels.items()})
            create_node(core_v1, f"{self.name}-{name}", gpu_product=product if gpus else None, gpus=gpus,
                        cpu=32 if gpus else 16, memory="128Gi" if gpus else "64Gi", labels=rg, ready=ready,
                        gpu_memory_mib=40960 if gpus else None)
            return f"{self.name}-{name}"

        def args(self, name="pool", workers=(("gpu-workers", "NVIDIA-A100", 8, 2),), **extra):
            body = {"name": f"{self.name[:40]}-{name}", "namespace": self.namespace,
                    "control_plane": {"node_count": 1, "resource_groups": dict(self.groups)},
                    "worker_resource_groups": dict(self.groups),
                    "worker_pools": [{"name": n, "gpu": {"family": f, "count": c}, "min_worker_nodes": m}
                                     for n, f, c, m in workers]}
            body.update(extra)
            return body

    project = run_module("project", {"name": Suite.namespace, "gpu_quota": {"NVIDIA-A100": 64}}, kubeconfig)
    assert not project.get("failed"), project.get("msg")
    return Suite()


def untimed(value):
    """The value without statusUpdatedAt and observedAt: check mode and the real run differ only in when they ran."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in ("statusUpdatedAt", "observedAt")}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def machine_pools(result):
    return {pool["name"]: sorted(pool["hosts"]) for pool in result["compute_pool"]["status"]["allocatedMachinePools"]}


def node_labels(core_v1, name):
    labels = core_v1.read_node(name).metadata.labels
    return {k: v for k, v in labels.items() if k.startswith(PREFIX + "/")}


def test_seed_example_gives_the_seed_status(kubeconfig, core_v1, suite, writes):
    cp = [suite.node(f"host-uid-{i}", gpus=0) for i in (1, 2)]
    gpu = [suite.node(f"host-uid-{i}", gpus=4) for i in (3, 4)]
    args = suite.args()

    result = run_module("compute_pool", args, kubeconfig)
    assert result["changed"] and not result.get("failed"), result.get("msg")
    status = result["compute_pool"]["status"]
    assert set(status) >= {"status", "hardwareCapacity", "hardwareAllocation", "cloudConfigUUID",
                           "allocatedMachinePools", "aiWorkloadRefs"}
    assert status["status"] == "Running" and status["mode"] == "dedicated"
    control, workers = status["allocatedMachinePools"]
    assert control["name"] == "control-plane-pool" and control["nodeType"] == "ControlPlaneAndWorker"
    assert control["labels"] == ["control-plane"] and list(control["hosts"]) == [cp[0]]
    assert control["hosts"][cp[0]]["cpuCount"] == 16 and control["hosts"][cp[0]]["memoryGB"] == 64
    assert workers["name"] == WORKERS and workers["nodeType"] == "WorkerOnly"
    assert workers["workerPoolRequirementsName"] == "gpu-workers"
    assert workers["labels"] == ["worker", "gpu-family-nvidia"]
    host = workers["hosts"][gpu[0]]
    assert sorted(workers["hosts"]) == gpu
    assert {k: host[k] for k in ("architecture", "cpuCount", "memoryGB", "gpuCountByFamily", "gpuMemoryGBByFamily",
                                 "status")} == {"architecture": "AMD64", "cpuCount": 32, "memoryGB": 128,
                                                "gpuCountByFamily": {"NVIDIA-A100": 4},
                                                "gpuMemoryGBByFamily": {"NVIDIA-A100": 160}, "status": "Healthy"}
    assert host["statusUpdatedAt"].endswith("Z")
    assert status["hardwareCapacity"] == [{"architecture": "AMD64", "totalCPU": 80, "totalMemory": "320Gi",
                                           "gpu": [{"family": "NVIDIA-A100", "memoryGB": 40, "gpuCount": 8}]}]
    assert (status["gpuTotal"], status["gpuAllocated"], status["gpuFree"]) == (8, 0, 8)
    assert status["observedAt"].endswith("Z")
    assert node_labels(core_v1, gpu[0]) == {f"{PREFIX}/compute-pool": args["name"], f"{PREFIX}/machine-pool": WORKERS}
    assert node_labels(core_v1, cp[1]) == {}

    writes.start()
    again = run_module("compute_pool", args, kubeconfig)
    assert again["changed"] is False and again["plan"]["operations"] == []
    assert writes.count() == 0, writes.describe()

    info = run_module("compute_pool_info", {"name": args["name"], "namespace": suite.namespace}, kubeconfig)
    assert info["compute_pools"][0]["status"] == status and info["changed"] is False
    out = subprocess.run([shutil.which("kubectl"), "--kubeconfig", kubeconfig, "get", "computepools", "-A"],
                         capture_output=True, text=True, check=True).stdout
    assert any(line.split()[:6] == [suite.namespace, args["name"], "Running", "dedicated", "8", "0"]
               for line in out.splitlines()), out


def test_check_mode_writes_nothing_and_predicts_the_plan(kubeconfig, suite, writes):
    suite.node("cp", gpus=0)
    suite.node("g1")
    suite.node("g2")
    args = suite.args()
    writes.start()
    predicted = run_module("compute_pool", args, kubeconfig, check=True, diff=True)
    assert writes.count() == 0, writes.describe()
    assert writes.dry_runs(), "check mode asks the server (dry run)"
    key = f"ComputePool/{suite.namespace}/{args['name']}"
    assert predicted["changed"] and predicted["diff"]["before"][key] is None
    real = run_module("compute_pool", args, kubeconfig, diff=True)
    assert real["plan"]["operations"] == predicted["plan"]["operations"]
    assert real["changed_nodes"] == predicted["changed_nodes"]
    assert untimed(real["diff"]) == untimed(predicted["diff"])
    writes.start()
    converged = run_module("compute_pool", args, kubeconfig, check=True)
    assert converged["changed"] is False and writes.count() == 0 and writes.dry_runs() == []


def test_dedicated_and_shared_and_mode_is_immutable(kubeconfig, suite, custom_objects, writes):
    suite.node("cp-a", gpus=0)
    suite.node("cp-b", gpus=0)
    for i in range(4):
        suite.node(f"g{i}")
    dedicated = run_module("compute_pool", suite.args("ded", mode="dedicated"), kubeconfig)
    shared = run_module("compute_pool", suite.args("shr", mode="shared"), kubeconfig)
    assert dedicated["compute_pool"]["spec"]["clusterVariant"] == {
        "dedicated": {}, "controlPlaneResourceGroups": suite.groups, "workerResourceGroups": suite.groups}
    assert "shared" in shared["compute_pool"]["spec"]["clusterVariant"]
    assert shared["compute_pool"]["status"]["mode"] == "shared"

    writes.start()
    changed = run_module("compute_pool", suite.args("ded", mode="shared"), kubeconfig)
    assert changed["failed"] and "mode is dedicated and cannot change to shared" in changed["msg"]
    assert writes.count() == 0


def test_two_compute_pools_never_share_a_host(kubeconfig, suite):
    suite.node("cp-a", gpus=0)
    suite.node("cp-b", gpus=0)
    for i in range(3):
        suite.node(f"g{i}")
    first = run_module("compute_pool", suite.args("one"), kubeconfig)
    refused = run_module("compute_pool", suite.args("two"), kubeconfig)
    assert refused["failed"]
    assert f"in compute pool {suite.args('one')['name']}" in refused["msg"]
    assert "needs 8 x NVIDIA-A100 on >= 2 hosts" in refused["msg"]
    second = run_module("compute_pool", suite.args("two", workers=(("small", "NVIDIA-A100", 4, 1),)), kubeconfig)
    taken = {h for hosts in machine_pools(first).values() for h in hosts}
    given = {h for hosts in machine_pools(second).values() for h in hosts}
    assert taken and given and not taken & given


def test_unsatisfiable_requirement_fails_with_the_shortfall_and_writes_nothing(kubeconfig, suite, writes):
    suite.node("cp", gpus=0)
    suite.node("g1")
    suite.node("sick", ready=False)
    suite.node("h100", product="NVIDIA-H100")
    writes.start()
    result = run_module("compute_pool", suite.args(workers=(("big", "NVIDIA-A100", 16, 2),)), kubeconfig)
    assert result["failed"]
    message = result["msg"]
    assert "worker pool big needs 16 x NVIDIA-A100 on >= 2 hosts" in message
    assert "4 eligible on 1 host" in message and "1 unhealthy" in message and "wrong family" in message
    assert writes.count() == 0


def test_resource_groups_select_control_plane_and_workers(kubeconfig, suite):
    suite.node("cp-a", gpus=0, zone="a")
    suite.node("cp-b", gpus=0, zone="b")
    suite.node("g-a", zone="a")
    suite.node("g-b1", zone="b")
    suite.node("g-b2", zone="b")
    args = suite.args(workers=(("w", "NVIDIA-A100", 8, 2),))
    args["control_plane"]["resource_groups"] = dict(suite.groups, zone="b")
    args["worker_resource_groups"] = dict(suite.groups, zone="b")
    result = run_module("compute_pool", args, kubeconfig)
    assert machine_pools(result) == {"control-plane-pool": [f"{suite.name}-cp-b"],
                                     WORKERS: [f"{suite.name}-g-b1", f"{suite.name}-g-b2"]}


def test_single_node_cluster_selects_with_control_plane_groups(kubeconfig, suite):
    suite.node("g-a", zone="a")
    suite.node("g-b", zone="b")
    args = suite.args("single", workers=(("w", "NVIDIA-A100", 4, 1),))
    args["control_plane"] = {"node_count": 1, "single_node_cluster": True,
                             "resource_groups": dict(suite.groups, zone="a")}
    args["worker_resource_groups"] = dict(suite.groups, zone="b")
    result = run_module("compute_pool", args, kubeconfig)
    assert machine_pools(result) == {"control-plane-pool": [f"{suite.name}-g-a"]}  # workers are not managed


def test_scale_up_adds_hosts_and_pure_shrink_removes_them(kubeconfig, core_v1, suite):
    suite.node("cp", gpus=0)
    gpus = [suite.node(f"g{i}") for i in range(4)]
    run_module("compute_pool", suite.args(), kubeconfig)
    up = run_module("compute_pool", suite.args(workers=(("gpu-workers", "NVIDIA-A100", 16, 2),)), kubeconfig)
    assert [op["kind"] for op in up["plan"]["operations"]] == ["scale"]
    assert machine_pools(up)[WORKERS] == gpus and up["compute_pool"]["status"]["gpuTotal"] == 16
    down = run_module("compute_pool", suite.args(), kubeconfig)
    assert [s["action"] for s in down["plan"]["operations"][0]["steps"]] == ["remove-host", "remove-host"]
    assert down["plan"]["waiting"] == [] and len(machine_pools(down)[WORKERS]) == 2
    for gone in sorted(set(gpus) - set(machine_pools(down)[WORKERS])):
        assert node_labels(core_v1, gone) == {}


def test_scale_keeps_the_old_host_until_a_replacement_is_healthy(kubeconfig, core_v1, suite):
    suite.node("cp", gpus=0)
    old = [suite.node("g1", tier="new"), suite.node("g2", tier="new")]
    run_module("compute_pool", suite.args(), kubeconfig)
    spare = suite.node("g7", tier="new", ready=None)
    core_v1.patch_node(old[1], {"metadata": {"labels": {"palette.ai.rg/tier": "old"}}})
    args = suite.args(worker_resource_groups=dict(suite.groups, tier="new"))

    waiting = run_module("compute_pool", args, kubeconfig)
    assert [op["kind"] for op in waiting["plan"]["operations"]] == ["scale"]
    assert waiting["plan"]["waiting"] == [
        f"waiting for {WORKERS} host {spare} to become Healthy before removing host {old[1]}"]
    hosts = waiting["compute_pool"]["status"]["allocatedMachinePools"][1]["hosts"]
    assert hosts[old[1]]["status"] == "Healthy" and hosts[spare]["status"] == "Provisioning"
    assert waiting["compute_pool"]["status"]["status"] == "Updating"
    assert run_module("compute_pool", args, kubeconfig)["changed"] is False  # still waiting, nothing to do

    set_ready(core_v1, spare, True)
    done = run_module("compute_pool", args, kubeconfig)
    assert machine_pools(done)[WORKERS] == [old[0], spare]
    assert node_labels(core_v1, old[1]) == {} and done["compute_pool"]["status"]["status"] == "Running"


def test_replace_keeps_a_bridge_host_over_several_runs(kubeconfig, core_v1, suite, writes):
    suite.node("cp", gpus=0)
    a100 = [suite.node("a1"), suite.node("a2")]
    run_module("compute_pool", suite.args(), kubeconfig)
    h100 = [suite.node("h1", product="NVIDIA-H100", ready=None), suite.node("h2", product="NVIDIA-H100", ready=None)]
    args = suite.args(workers=(("gpu-workers", "NVIDIA-H100", 8, 2),))

    first = run_module("compute_pool", args, kubeconfig)
    assert [op["kind"] for op in first["plan"]["operations"]] == ["replace"]
    assert machine_pools(first)[WORKERS] == sorted([a100[0]] + h100)  # one bridge host kept
    assert "bridge host " + a100[0] in first["plan"]["waiting"][0]
    assert node_labels(core_v1, a100[1]) == {}

    writes.start()
    second = run_module("compute_pool", args, kubeconfig)
    assert second["changed"] is False and second["plan"]["waiting"] == first["plan"]["waiting"]
    assert writes.count() == 0, writes.describe()

    set_ready(core_v1, h100[1], True)
    third = run_module("compute_pool", args, kubeconfig)
    assert machine_pools(third)[WORKERS] == h100 and third["plan"]["waiting"] == []
    assert node_labels(core_v1, a100[0]) == {}
    status = third["compute_pool"]["status"]["allocatedMachinePools"][1]["hosts"]
    assert (status[h100[0]]["status"], status[h100[1]]["status"]) == ("Provisioning", "Healthy")
    set_ready(core_v1, h100[0], True)
    fourth = run_module("compute_pool", args, kubeconfig)
    assert fourth["compute_pool"]["status"]["status"] == "Running"
    assert run_module("compute_pool", args, kubeconfig)["changed"] is False


def test_wait_finishes_a_replace_in_one_run(kubeconfig, core_v1, suite):
    suite.node("cp", gpus=0)
    suite.node("a1")
    suite.node("a2")
    run_module("compute_pool", suite.args(), kubeconfig)
    h100 = [suite.node("h1", product="NVIDIA-H100", ready=None), suite.node("h2", product="NVIDIA-H100", ready=None)]
    threading.Timer(3, lambda: [set_ready(core_v1, name, True) for name in h100]).start()
    started = time.monotonic()
    result = run_module("compute_pool", suite.args(workers=(("gpu-workers", "NVIDIA-H100", 8, 2),), wait=True,
                                                   wait_timeout=60), kubeconfig)
    assert result["changed"] and result["plan"]["waiting"] == [], result.get("msg")
    assert machine_pools(result)[WORKERS] == h100
    assert time.monotonic() - started >= 3  # it did wait for the Nodes


def test_wait_times_out_naming_what_it_waits_for(kubeconfig, suite):
    suite.node("cp", gpus=0)
    suite.node("a1")
    suite.node("a2")
    run_module("compute_pool", suite.args(), kubeconfig)
    suite.node("h1", product="NVIDIA-H100", ready=None)
    suite.node("h2", product="NVIDIA-H100", ready=None)
    result = run_module("compute_pool", suite.args(workers=(("gpu-workers", "NVIDIA-H100", 8, 2),), wait=True,
                                                   wait_timeout=1), kubeconfig)
    assert result["failed"] and "still waiting after 1 s" in result["msg"] and "bridge host" in result["msg"]
    assert result["changed"] is True  # the first run added the H100 hosts before it waited: that stays written


def test_delete_refuses_while_workloads_run_unless_forced(kubeconfig, core_v1, custom_objects, suite, writes):
    suite.node("cp", gpus=0)
    gpus = [suite.node("g1"), suite.node("g2")]
    args = suite.args()
    run_module("compute_pool", args, kubeconfig)
    custom_objects.patch_namespaced_custom_object_status(
        "gpufabric.io", "v1alpha1", suite.namespace, "computepools", args["name"],
        {"status": {"aiWorkloadRefs": [{"name": "training-job-1", "namespace": suite.namespace}]}})

    writes.start()
    refused = run_module("compute_pool", dict(args, state="absent"), kubeconfig)
    assert refused["failed"] and f"{suite.namespace}/training-job-1" in refused["msg"]
    assert writes.count() == 0

    forced = run_module("compute_pool", dict(args, state="absent", force=True), kubeconfig)
    assert forced["changed"] and any("training-job-1" in w for w in forced["warnings"])
    assert [op["kind"] for op in forced["plan"]["operations"]] == ["delete", "delete"]
    assert forced["plan"]["operations"][-1]["machinePool"] == "control-plane-pool"  # workers first
    assert all(node_labels(core_v1, name) == {} for name in gpus)
    assert run_module("compute_pool_info", {"namespace": suite.namespace}, kubeconfig)["compute_pools"] == []
    again = run_module("compute_pool", dict(args, state="absent"), kubeconfig)
    assert again["changed"] is False, again


def test_delete_without_workloads_marks_hosts_deleting_first(kubeconfig, suite, writes):
    suite.node("cp", gpus=0)
    suite.node("g1")
    suite.node("g2")
    args = suite.args()
    run_module("compute_pool", args, kubeconfig)
    writes.start()
    result = run_module("compute_pool", dict(args, state="absent"), kubeconfig)
    assert result["changed"]
    kinds = [(e["verb"], e["objectRef"]["resource"], e["objectRef"].get("subresource")) for e in writes.events()]
    assert kinds[0] == ("patch", "computepools", "status")  # hosts marked Deleting
    assert kinds[-1] == ("delete", "computepools", None)  # the object last
    assert kinds.count(("patch", "nodes", None)) == 3


def test_explicit_host_list_needs_no_nodes(kubeconfig, suite, writes):
    hosts = [{"name": "bm-cp", "architecture": "amd64", "cpu": 16, "memory": "64Gi", "status": "Healthy",
              "labels": {"palette.ai.rg/suite": suite.name}},
             {"name": "bm-gpu", "architecture": "amd64", "cpu": 64, "memory": "512Gi", "status": "Healthy",
              "gpus": [{"family": "NVIDIA H100", "count": 8, "memory_mib": 81920}],
              "labels": {"palette.ai.rg/suite": suite.name}}]
    args = suite.args("bm", workers=(("w", "NVIDIA-H100", 8, 1),), hosts=hosts)
    result = run_module("compute_pool", args, kubeconfig)
    assert machine_pools(result) == {"control-plane-pool": ["bm-cp"], WORKERS: ["bm-gpu"]}
    assert result["compute_pool"]["status"]["gpuTotal"] == 8
    writes.start()
    assert run_module("compute_pool", args, kubeconfig)["changed"] is False
    assert writes.count() == 0


T0 = 1705312800  # 2024-01-15T10:00:00Z


def utilization(start, end, cpu, gpu):
    return [{"time": t, "cpu": cpu, "gpu": gpu} for t in range(start, end + 1, 60)]


def at(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@pytest.fixture
def burst_policy(custom_objects, suite):
    custom_objects.create_namespaced_custom_object("gpufabric.io", "v1alpha1", suite.namespace, "scalingpolicies", {
        "apiVersion": "gpufabric.io/v1alpha1", "kind": "ScalingPolicy", "metadata": {"name": "gpu-burst"},
        "spec": {"metric": "gpu", "scaleUp": {"threshold": 80, "durationSeconds": 300, "step": 1},
                 "scaleDown": {"threshold": 20, "durationSeconds": 600},
                 "minNodes": 1, "maxNodes": 4, "cooldownSeconds": 900, "abortSeconds": 1200}})
    return {"name": "gpu-burst"}


def test_autoscale_up_cool_down_and_back_down(kubeconfig, suite, burst_policy, writes):
    suite.node("cp", gpus=0)
    for i in range(4):
        suite.node(f"g{i}")
    args = suite.args(scaling_policy=burst_policy)
    assert len(machine_pools(run_module("compute_pool", args, kubeconfig))[WORKERS]) == 2

    hot = dict(args, autoscale={"samples": utilization(T0, T0 + 600, 30, 90), "now": at(T0 + 600)})
    up = run_module("compute_pool", hot, kubeconfig)
    assert up["autoscaling"]["decision"] == "scale-up" and up["autoscaling"]["targetNodes"] == 3
    assert up["autoscaling"]["reason"] == "minimum gpu utilization over 300 s is 90%, above 80%"
    assert len(machine_pools(up)[WORKERS]) == 3 and up["compute_pool"]["status"]["gpuTotal"] == 12
    assert up["compute_pool"]["status"]["autoscaling"]["lastAction"] == "scale-up"
    assert up["compute_pool"]["spec"]["nodePoolRequirements"]["workerPools"][0]["gpu"]["gpuCount"] == 8  # declared

    writes.start()
    again = run_module("compute_pool", hot, kubeconfig)
    assert again["changed"] is False and again["autoscaling"]["decision"] == "none"
    assert again["autoscaling"]["reason"].startswith("cooling down")
    assert writes.count() == 0, writes.describe()
    plain = run_module("compute_pool", args, kubeconfig)
    assert plain["changed"] is False and len(machine_pools(plain)[WORKERS]) == 3  # the autoscaled size stays

    at_threshold = dict(args, autoscale={"samples": utilization(T0 + 1600, T0 + 2200, 80, 80), "now": at(T0 + 2200)})
    assert run_module("compute_pool", at_threshold, kubeconfig)["autoscaling"]["decision"] == "none"
    cold = dict(args, autoscale={"samples": utilization(T0 + 1600, T0 + 2200, 5, 10), "now": at(T0 + 2200)})
    down = run_module("compute_pool", cold, kubeconfig)
    assert down["autoscaling"]["decision"] == "scale-down" and len(machine_pools(down)[WORKERS]) == 2


def test_autoscale_abort_drops_hosts_that_never_became_healthy(kubeconfig, suite, burst_policy):
    suite.node("cp", gpus=0)
    healthy = [suite.node("g1"), suite.node("g2")]
    args = suite.args(scaling_policy=burst_policy)
    run_module("compute_pool", args, kubeconfig)
    joining = suite.node("g3", ready=None)  # joins, never becomes Ready
    up = run_module("compute_pool", dict(args, autoscale={"samples": utilization(T0, T0 + 600, 30, 90),
                                                          "now": at(T0 + 600)}), kubeconfig)
    assert machine_pools(up)[WORKERS] == sorted(healthy + [joining])
    late = dict(args, autoscale={"samples": utilization(T0 + 1300, T0 + 1900, 30, 50), "now": at(T0 + 1900)})
    aborted = run_module("compute_pool", late, kubeconfig)
    assert aborted["autoscaling"]["decision"] == "abort" and joining in aborted["autoscaling"]["reason"]
    assert machine_pools(aborted)[WORKERS] == healthy


def test_autoscale_needs_a_policy_that_exists(kubeconfig, suite, writes):
    suite.node("cp", gpus=0)
    suite.node("g1")
    suite.node("g2")
    samples = {"samples": utilization(T0, T0 + 600, 30, 90)}
    writes.start()
    missing_ref = run_module("compute_pool", suite.args(autoscale=samples), kubeconfig)
    assert missing_ref["failed"] and "autoscale needs scaling_policy" in missing_ref["msg"]
    missing = run_module("compute_pool", suite.args(autoscale=samples, scaling_policy={"name": "nope"}), kubeconfig)
    assert missing["failed"] and f"ScalingPolicy {suite.namespace}/nope does not exist" in missing["msg"]
    assert writes.count() == 0
