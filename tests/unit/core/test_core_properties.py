"""Property-based tests: idempotence, determinism, stability, exclusivity, conservation, quorum."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import HostEntry, MachinePool
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    check_fit, hardware_capacity, pool_row)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import GpuGroup, Host
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import quorum
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import (
    apply_plan, plan_compute_pool, plan_many)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan_compute_pools import merge_label_patches
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_render import (
    compute_pool_label_changes, render_compute_pool_status)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import parse_compute_pool

FAMILIES = ("NVIDIA-A100", "NVIDIA-H100")
FAST = settings(max_examples=100, deadline=None)

host_st = st.builds(
    lambda gpus, family, arch, status, zone: (gpus, family, arch, status, zone),
    st.sampled_from((0, 0, 1, 2, 4, 8)), st.sampled_from(FAMILIES), st.sampled_from(("AMD64", "AMD64", "ARM64")),
    st.sampled_from(("Healthy", "Healthy", "Healthy", "Provisioning", "Unhealthy")), st.sampled_from("ab"))


def make_hosts(raw):
    return [Host(name="h%02d" % i, architecture=arch, cpu=Fraction(8), memory=Fraction(64 * 1024 ** 3),
                 gpus=(GpuGroup(family, gpus, 40960),) if gpus else (), resource_groups=(("zone", zone),),
                 status=status) for i, (gpus, family, arch, status, zone) in enumerate(raw)]


worker_st = st.builds(lambda family, count, nodes: (family, max(count, nodes), nodes),
                      st.sampled_from(FAMILIES), st.integers(1, 12), st.integers(1, 3))
spec_st = st.builds(lambda workers, nodes, zone: (workers, nodes, zone),
                    st.lists(worker_st, max_size=3), st.sampled_from((1, 1, 3)), st.sampled_from((None, "a")))


def make_spec(raw, name="pool-a"):
    workers, nodes, zone = raw
    args = {"name": name, "namespace": "ns", "control_plane": {"node_count": nodes},
            "worker_pools": [{"name": "w%d" % i, "gpu": {"family": f, "count": c}, "min_worker_nodes": m}
                             for i, (f, c, m) in enumerate(workers)]}
    if zone:
        args["worker_resource_groups"] = {"zone": zone}
    return parse_compute_pool(args)


def all_healthy(hosts):
    return [replace(h, status="Healthy") for h in hosts]


def assign(hosts, allocations, prefix="runwhere.ai"):
    """The hosts as they read once the node label patches of every compute pool ({name: allocation}) are
    written, as the planner writes them."""
    patches = merge_label_patches(compute_pool_label_changes(hosts, name, allocations[name], prefix)
                                  for name in sorted(allocations))
    result = []
    for host in hosts:
        labels = dict(host.labels)
        for key, value in patches.get(host.name, {}).items():
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
        result.append(replace(host, labels=tuple(sorted(labels.items())),
                              compute_pool=labels.get(prefix + "/compute-pool"),
                              machine_pool=labels.get(prefix + "/machine-pool")))
    return result


@FAST
@given(st.lists(host_st, min_size=1, max_size=12), spec_st)
def test_replanning_with_the_same_health_only_repeats_waits(raw_hosts, raw_spec):
    hosts, desired = make_hosts(raw_hosts), make_spec(raw_spec)
    first = plan_compute_pool(hosts, desired)
    current = apply_plan((), first, hosts, "t1")
    again = plan_compute_pool(assign(hosts, {desired.name: current}), desired, current)
    assert not again.changed
    assert set(again.waiting) <= set(first.waiting) or not first.waiting


@FAST
@given(st.lists(host_st, min_size=1, max_size=12), spec_st, spec_st)
def test_plan_converges_and_then_is_empty_once_replacements_are_healthy(raw_hosts, raw_old, raw_new):
    hosts = make_hosts(raw_hosts)
    current = apply_plan((), plan_compute_pool(hosts, make_spec(raw_old)), hosts, "t1")
    desired = make_spec(raw_new)
    plan = plan_compute_pool(hosts, desired, current)
    current = apply_plan(current, plan, hosts, "t2")
    hosts = all_healthy(hosts)  # the replacements (and everything else) become Healthy
    for step in range(3):
        plan = plan_compute_pool(assign(hosts, {desired.name: current}), desired, current)
        if not plan.operations:
            break
        current = apply_plan(current, plan, hosts, "t%d" % (step + 3))
    assert plan.operations == ()
    current = apply_plan(current, plan, hosts, "t9")  # records the Healthy statuses
    assert plan_compute_pool(assign(hosts, {desired.name: current}), desired, current).operations == ()
    assert apply_plan(current, plan, hosts, "later") == current


@FAST
@given(st.lists(host_st, min_size=1, max_size=12), spec_st, st.randoms(use_true_random=False))
def test_shuffled_hosts_give_the_same_plan_and_rendered_status(raw_hosts, raw_spec, rnd):
    hosts, desired = make_hosts(raw_hosts), make_spec(raw_spec)
    shuffled = list(hosts)
    rnd.shuffle(shuffled)
    plan_a, plan_b = plan_compute_pool(hosts, desired), plan_compute_pool(shuffled, desired)
    assert json.dumps(plan_a.to_dict()) == json.dumps(plan_b.to_dict())
    alloc_a, alloc_b = apply_plan((), plan_a, hosts, "t"), apply_plan((), plan_b, shuffled, "t")
    status_a = render_compute_pool_status(desired, alloc_a, hosts)
    status_b = render_compute_pool_status(desired, alloc_b, shuffled)
    assert json.dumps(status_a) == json.dumps(status_b)


@FAST
@given(st.lists(host_st, min_size=1, max_size=12), spec_st, spec_st)
def test_adding_a_compute_pool_never_moves_hosts_of_another(raw_hosts, raw_a, raw_b):
    hosts = all_healthy(make_hosts(raw_hosts))
    spec_a = make_spec(raw_a, "pool-b")  # sorts after pool-a: the newcomer is planned first
    current_a = apply_plan((), plan_compute_pool(hosts, spec_a), hosts, "t1")
    labelled = assign(hosts, {"pool-b": current_a})
    plans = plan_many(labelled, [spec_a, make_spec(raw_b, "pool-a")], {"pool-b": current_a})
    assert plans["pool-b"].operations == ()
    alone = plan_compute_pool(labelled, make_spec(raw_b, "pool-a"))
    held = set(e.host for p in current_a for e in p.hosts)
    assert not held & set(s.host for op in alone.operations for s in op.steps if s.host)


@FAST
@given(st.lists(host_st, min_size=1, max_size=12), st.lists(spec_st, min_size=1, max_size=3))
def test_no_host_is_in_two_pools(raw_hosts, raw_specs):
    hosts = make_hosts(raw_hosts)
    specs = [make_spec(raw, "pool-%d" % i) for i, raw in enumerate(raw_specs)]
    plans = plan_many(hosts, specs, {})
    allocations = dict((name, apply_plan((), plan, hosts, "t")) for name, plan in plans.items())
    names = [e.host for alloc in allocations.values() for pool in alloc for e in pool.hosts]
    assert len(names) == len(set(names))
    # and sequential planning through the labels keeps them apart too
    labelled, seen = assign(hosts, allocations), set()
    for desired in specs:
        again = plan_compute_pool(labelled, desired, allocations[desired.name])
        alloc = apply_plan(allocations[desired.name], again, hosts, "t2")
        mine = set(e.host for pool in alloc for e in pool.hosts)
        assert not mine & seen
        seen |= mine


@FAST
@given(st.lists(host_st, min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 11), st.integers(0, 4),
                          st.sampled_from(("Running", "Pending", "Succeeded", "Failed"))),
                max_size=10))
def test_capacity_total_is_used_plus_free(raw_hosts, raw_pods):
    nodes = [{"metadata": {"name": "h%02d" % i}, "status": {"capacity": {"nvidia.com/gpu": str(g)}}}
             for i, (g, unused, unused, unused, unused) in enumerate(raw_hosts)]
    pods = [{"spec": {"nodeName": "h%02d" % n, "containers": [{"resources": {"requests": {"nvidia.com/gpu": g}}}]},
             "status": {"phase": phase}} for n, g, phase in raw_pods]
    row = pool_row("p", nodes, pods)
    assert row["gpuTotal"] == row["gpuUsed"] + row["gpuFree"]
    assert row["gpuTotal"] == sum(g for g, unused, unused, unused, unused in raw_hosts)
    hosts = make_hosts(raw_hosts)
    alloc = (MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "w",
                         tuple(HostEntry(h.name, "Healthy") for h in hosts)),)
    capacity = hardware_capacity(alloc, hosts)
    used = [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": row["gpuUsed"]}]}]
    fit = check_fit("p", capacity, used, "NVIDIA-A100", 1)
    assert fit.total == fit.used + fit.free
    assert fit.total == sum(h.gpu_count("NVIDIA-A100") for h in hosts if h.architecture)


@FAST
@given(st.lists(st.sampled_from(("Healthy", "Healthy", "Unhealthy", "Provisioning")), min_size=1, max_size=5),
       st.lists(st.sampled_from(("Healthy", "Provisioning", "Unhealthy")), max_size=6),
       st.sampled_from((1, 3, 5)), st.sampled_from(("AMD64", "ARM64")))
def test_no_step_lowers_control_plane_quorum(old_statuses, new_statuses, desired_count, arch):
    old = [Host("old-%d" % i, "AMD64", 8, 64, status=s) for i, s in enumerate(old_statuses)]
    new = [Host("new-%d" % i, arch, 8, 64, status=s) for i, s in enumerate(new_statuses)]
    current = (MachinePool("control-plane-pool", "ControlPlaneAndWorker", ("control-plane",), None,
                           tuple(HostEntry(h.name, "Healthy") for h in old)),)
    desired = parse_compute_pool({"name": "p", "namespace": "ns",
                                  "control_plane": {"node_count": desired_count, "architecture": arch}})
    hosts = dict((h.name, h) for h in old + new)
    plan = plan_compute_pool(list(hosts.values()), desired, current)
    members = set(h.name for h in old)
    for op in plan.operations:
        for step in op.steps:
            before = sum(1 for m in members if hosts[m].status == "Healthy")
            if step.action == "add-host":
                members.add(step.host)
            elif step.action == "remove-host":
                members.discard(step.host)
            after = sum(1 for m in members if hosts[m].status == "Healthy")
            assert after >= before or after >= quorum(desired_count)
