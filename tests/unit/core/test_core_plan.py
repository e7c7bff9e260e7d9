"""Plan: create / delete / scale / replace with host steps, waits, quorum and apply_plan convergence."""

from __future__ import annotations

from dataclasses import replace

import pytest
from core_helpers import cpu_host, gpu_host, seed_hosts, spec

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import HostEntry, MachinePool
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import (
    apply_plan, plan_compute_pool, plan_delete, plan_many)


def healthy(hosts, names=None):
    return [replace(h, status="Healthy") if names is None or h.name in names else h for h in hosts]


def steps(plan):
    return [(s.action, s.machine_pool, s.host) for op in plan.operations for s in op.steps]


def kinds(plan):
    return [(op.kind, op.machine_pool) for op in plan.operations]


def converge(hosts, desired, current=(), now="t"):
    plan = plan_compute_pool(hosts, desired, current)
    return apply_plan(current, plan, hosts, now), plan


def test_create_from_nothing_adds_hosts_with_their_status():
    hosts = seed_hosts()[:3] + [replace(seed_hosts()[3], status="Provisioning")]
    plan = plan_compute_pool(hosts, spec())
    assert kinds(plan) == [("create", "control-plane-pool"), ("create", "worker-pool-nvidia-amd64-0")]
    adds = [(s.host, s.status) for op in plan.operations for s in op.steps if s.action == "add-host"]
    assert adds == [("host-uid-1", "Healthy"), ("host-uid-3", "Healthy"), ("host-uid-4", "Provisioning")]
    assert steps(plan)[0] == ("create-machine-pool", "control-plane-pool", None)
    assert plan.to_dict()["mode"] == "dedicated"
    assert plan_compute_pool(hosts, spec(mode="shared")).to_dict()["mode"] == "shared"


def test_converged_state_plans_nothing_and_apply_is_a_fixpoint():
    hosts = seed_hosts()
    current, unused = converge(hosts, spec(), now="t1")
    plan = plan_compute_pool(hosts, spec(), current)
    assert plan.operations == () and not plan.changed
    assert apply_plan(current, plan, hosts, "t2") == current


def test_delete_removes_hosts_first_marks_them_deleting_then_the_pool():
    hosts = seed_hosts()
    current, unused = converge(hosts, spec())
    plan = plan_compute_pool(hosts, spec(workers=[]), current)
    delete = [op for op in plan.operations if op.kind == "delete"][0]
    assert [(s.action, s.host, s.status) for s in delete.steps] == [
        ("remove-host", "host-uid-3", "Deleting"), ("remove-host", "host-uid-4", "Deleting"),
        ("delete-machine-pool", None, None)]
    after = apply_plan(current, plan, hosts, "t2")
    assert [p.name for p in after] == ["control-plane-pool"]
    assert after[0].node_type == "ControlPlaneAndWorker"


def test_scale_up_only_adds():
    hosts = [gpu_host("g%d" % i, 4) for i in range(4)] + [cpu_host("cp")]
    current, unused = converge(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 2)]))
    plan = plan_compute_pool(hosts, spec(workers=[("w", "NVIDIA-A100", 16, 2)]), current)
    assert kinds(plan) == [("scale", "worker-pool-nvidia-amd64-0")]
    assert steps(plan) == [("add-host", "worker-pool-nvidia-amd64-0", "g2"),
                           ("add-host", "worker-pool-nvidia-amd64-0", "g3")]


def test_pure_shrink_removes_surplus_directly():
    hosts = [gpu_host("g%d" % i, 4) for i in range(4)] + [cpu_host("cp")]
    current, unused = converge(hosts, spec(workers=[("w", "NVIDIA-A100", 16, 4)]))
    plan = plan_compute_pool(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 2)]), current)
    assert steps(plan) == [("remove-host", "worker-pool-nvidia-amd64-0", "g2"),
                           ("remove-host", "worker-pool-nvidia-amd64-0", "g3")]
    assert plan.waiting == ()


def test_scale_with_replacement_waits_until_a_replacement_is_healthy():
    hosts = [gpu_host("g1", 4), gpu_host("g2", 4), cpu_host("cp"), gpu_host("g7", 4, status="Provisioning")]
    current, unused = converge(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 2)]))
    hosts = [replace(h, resource_groups=(("tier", "old"),)) if h.name == "g2" else
             replace(h, resource_groups=(("tier", "new"),)) for h in hosts]
    # g2 leaves the resource group: g7 replaces it, g2 is removed only once g7 is Healthy.
    desired = spec(workers=[("w", "NVIDIA-A100", 8, 2)], worker_resource_groups={"tier": "new"})
    plan = plan_compute_pool(hosts, desired, current)
    pool = "worker-pool-nvidia-amd64-0"
    assert kinds(plan) == [("scale", pool)]
    assert steps(plan) == [("add-host", pool, "g7"), ("wait", pool, "g2")]
    assert plan.waiting == ("waiting for %s host g7 to become Healthy before removing host g2" % pool,)
    after = apply_plan(current, plan, hosts, "t2")
    replan = plan_compute_pool(hosts, desired, after)
    assert steps(replan) == [("wait", pool, "g2")] and not replan.changed
    hosts = healthy(hosts)
    final = plan_compute_pool(hosts, desired, after)
    assert steps(final) == [("remove-host", pool, "g2")]
    done = apply_plan(after, final, hosts, "t3")
    assert plan_compute_pool(hosts, desired, done).operations == ()


def test_replace_keeps_one_bridge_host_until_a_replacement_is_healthy():
    hosts = [gpu_host("gpu-1", 4), gpu_host("gpu-2", 4), cpu_host("cp"),
             gpu_host("gpu-7", 4, family="NVIDIA-H100", status="Provisioning"),
             gpu_host("gpu-8", 4, family="NVIDIA-H100", status="Provisioning")]
    current, unused = converge(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 2)]))
    desired = spec(workers=[("w", "NVIDIA-H100", 8, 2)])
    plan = plan_compute_pool(hosts, desired, current)
    pool = "worker-pool-nvidia-amd64-0"
    assert kinds(plan) == [("replace", pool)]
    assert steps(plan) == [("add-host", pool, "gpu-7"), ("add-host", pool, "gpu-8"),
                           ("remove-host", pool, "gpu-2"), ("wait", pool, "gpu-1")]
    assert plan.waiting == ("waiting for %s hosts gpu-7, gpu-8 (any one) to become Healthy before removing "
                            "bridge host gpu-1" % pool,)
    after = apply_plan(current, plan, hosts, "t2")
    assert [(e.host, e.status) for e in after[1].hosts] == [("gpu-1", "Healthy"), ("gpu-7", "Provisioning"),
                                                            ("gpu-8", "Provisioning")]
    again = plan_compute_pool(hosts, desired, after)
    assert [op.kind for op in again.operations] == ["replace"] and again.waiting == plan.waiting
    assert apply_plan(after, again, hosts, "t3") == after
    hosts = healthy(hosts, {"gpu-8"})
    finish = plan_compute_pool(hosts, desired, after)
    assert steps(finish) == [("remove-host", pool, "gpu-1")]


def test_control_plane_quorum_never_drops():
    cps = [cpu_host("cp-%d" % i) for i in range(3)]
    new = [cpu_host("n-%d" % i, status="Provisioning", arch="ARM64") for i in range(3)]
    hosts = cps + new
    current, unused = converge(hosts, spec(workers=[], node_count=3))
    desired = spec(workers=[], node_count=3, control_plane={"node_count": 3, "architecture": "arm64"})
    plan = plan_compute_pool(hosts, desired, current)
    removed = [s.host for op in plan.operations for s in op.steps if s.action == "remove-host"]
    # cp-0 is the bridge; removing cp-1 leaves 2 Healthy (quorum of 3 is 2); removing cp-2 too would leave 1.
    assert removed == ["cp-1"]
    waits = dict((s.host, s.message) for op in plan.operations for s in op.steps if s.action == "wait")
    assert sorted(waits) == ["cp-0", "cp-2"]
    assert "before removing bridge host cp-0" in waits["cp-0"]
    assert waits["cp-2"] == ("waiting for control-plane-pool hosts n-0, n-1, n-2 (any one) to become Healthy: "
                             "removing host cp-2 now would leave 1 Healthy control-plane hosts, below the quorum "
                             "of 2 for 3 nodes")
    hosts = healthy(hosts)
    done = apply_plan(current, plan_compute_pool(hosts, desired, current), hosts, "t2")
    done = apply_plan(done, plan_compute_pool(hosts, desired, done), hosts, "t3")
    assert [e.host for e in done[0].hosts] == ["n-0", "n-1", "n-2"]
    assert plan_compute_pool(hosts, desired, done).operations == ()


def test_control_plane_shrink_keeps_quorum_of_desired_count():
    hosts = [cpu_host("cp-%d" % i) for i in range(5)]
    current, unused = converge(hosts, spec(workers=[], node_count=5))
    plan = plan_compute_pool(hosts, spec(workers=[], node_count=3), current)
    assert [s.host for s in plan.operations[0].steps if s.action == "remove-host"] == ["cp-3", "cp-4"]


def test_unhealthy_host_stays_until_its_only_replacement_is_healthy():
    hosts = [cpu_host("cp-0"), cpu_host("cp-1")]
    current, unused = converge(hosts, spec(workers=[]))
    hosts = [replace(hosts[0], status="Unhealthy"), replace(hosts[1], status="Provisioning")]
    plan = plan_compute_pool(hosts, spec(workers=[]), current)
    assert steps(plan) == [("add-host", "control-plane-pool", "cp-1"), ("wait", "control-plane-pool", "cp-0")]
    assert plan.waiting == ("waiting for control-plane-pool host cp-1 to become Healthy before removing bridge "
                            "host cp-0",)
    healthy = [hosts[0], replace(hosts[1], status="Healthy")]
    after = apply_plan(current, plan, hosts, "2024-01-01T00:00:00Z")
    assert steps(plan_compute_pool(healthy, spec(workers=[]), after)) == [
        ("remove-host", "control-plane-pool", "cp-0")]


def test_node_type_change_is_an_update():
    hosts = seed_hosts()
    current, unused = converge(hosts, spec(workers=[], schedule_workloads=False))
    plan = plan_compute_pool(hosts, spec(schedule_workloads=False), current)
    assert kinds(plan) == [("update", "control-plane-pool"), ("create", "worker-pool-nvidia-amd64-0")]
    after = apply_plan(current, plan, hosts, "t")
    assert after[0].node_type == "ControlPlaneOnly"


def test_unmet_requirement_plans_nothing_for_its_pool():
    hosts = seed_hosts()
    plan = plan_compute_pool(hosts, spec(workers=[("w", "NVIDIA-A100", 64, 2)]))
    assert kinds(plan) == [("create", "control-plane-pool")]
    assert [s.requirement for s in plan.shortfalls] == ["w"]


def test_plan_delete_removes_workers_before_the_control_plane():
    hosts = seed_hosts()
    current, unused = converge(hosts, spec())
    plan = plan_delete("vision-cluster", current)
    assert kinds(plan) == [("delete", "worker-pool-nvidia-amd64-0"), ("delete", "control-plane-pool")]
    assert apply_plan(current, plan, hosts, "t") == ()


def test_status_refresh_records_time_only_when_status_changes():
    hosts = seed_hosts()
    current, unused = converge(hosts, spec(), now="t1")
    sick = [replace(h, status="Unhealthy") if h.name == "host-uid-1" else h for h in hosts]
    after = apply_plan(current, plan_compute_pool(hosts, spec(), current), sick, "t2")
    entries = dict((e.host, e) for p in after for e in p.hosts)
    assert entries["host-uid-1"] == HostEntry("host-uid-1", "Unhealthy", "t2")
    assert entries["host-uid-3"] == HostEntry("host-uid-3", "Healthy", "t1")


def test_missing_host_is_removed():
    current = (MachinePool("control-plane-pool", "ControlPlaneAndWorker", ("control-plane",), None,
                           (HostEntry("gone", "Healthy"),)),)
    plan = plan_compute_pool([cpu_host("cp")], spec(workers=[]), current)
    assert steps(plan) == [("add-host", "control-plane-pool", "cp"), ("remove-host", "control-plane-pool", "gone")]


def test_plan_many_rejects_duplicate_compute_pool_names():
    with pytest.raises(FabricError, match="compute pool vision-cluster is given 2 times"):
        plan_many(seed_hosts(), [spec(namespace="a"), spec(namespace="b")], {})


def test_deleting_allocation_marks_every_host_once():
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import HostEntry, MachinePool
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import deleting_allocation

    current = (MachinePool("control-plane-pool", "ControlPlaneOnly", ("control-plane",), None,
                           (HostEntry("a", "Healthy", "t0"), HostEntry("b", "Deleting", "t1"))),)
    marked = deleting_allocation(current, "t2")
    assert [(e.host, e.status, e.status_updated_at) for e in marked[0].hosts] == [
        ("a", "Deleting", "t2"), ("b", "Deleting", "t1")]
    assert deleting_allocation(marked, "t3") == marked
