"""Allocation rules: seed example, best fit, stability, exclusivity, control plane, shortfalls."""

from __future__ import annotations

from core_helpers import cpu_host, gpu_host, seed_hosts, spec

from ansible_collections.gpufabric.platform.plugins.module_utils.core.allocate import allocate, allocate_many
from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import HostEntry, MachinePool
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import host_from_dict


def pools(result):
    return dict((p.machine_pool, p) for p in result.pools)


def test_seed_example_places_the_two_a100_hosts_in_worker_pool_nvidia_amd64_0():
    result = allocate(seed_hosts(), spec())
    got = pools(result)
    assert result.shortfalls == ()
    assert sorted(got) == ["control-plane-pool", "worker-pool-nvidia-amd64-0"]
    assert got["worker-pool-nvidia-amd64-0"].hosts == ("host-uid-3", "host-uid-4")
    assert got["worker-pool-nvidia-amd64-0"].requirement == "gpu-workers"
    assert got["worker-pool-nvidia-amd64-0"].labels == ("worker", "gpu-family-nvidia")
    assert got["worker-pool-nvidia-amd64-0"].node_type == "WorkerOnly"
    assert got["control-plane-pool"].hosts == ("host-uid-1",)
    assert got["control-plane-pool"].labels == ("control-plane",)
    assert got["control-plane-pool"].node_type == "ControlPlaneAndWorker"  # as the seed's example shows


def test_control_plane_is_control_plane_and_worker_without_worker_pools():
    result = allocate(seed_hosts(), spec(workers=[], schedule_workloads=False))
    assert [(p.machine_pool, p.node_type) for p in result.pools] == [("control-plane-pool", "ControlPlaneAndWorker")]


def test_control_plane_only_when_it_schedules_no_workloads_beside_worker_pools():
    result = allocate(seed_hosts(), spec(schedule_workloads=False))
    assert dict((p.machine_pool, p.node_type) for p in result.pools)["control-plane-pool"] == "ControlPlaneOnly"


def test_control_plane_prefers_gpu_less_hosts_then_name():
    hosts = [gpu_host("a-gpu"), cpu_host("z-cpu"), cpu_host("m-cpu")]
    result = allocate(hosts, spec(workers=[], node_count=1))
    assert pools(result)["control-plane-pool"].hosts == ("m-cpu",)


def test_best_fit_prefers_least_waste_over_fewer_hosts():
    hosts = [gpu_host("big", 8), gpu_host("a", 4), gpu_host("b", 2), gpu_host("c", 2), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 6, 1)]))
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("a", "b")


def test_best_fit_prefers_fewer_hosts_when_waste_is_equal():
    hosts = [gpu_host("x", 4), gpu_host("y", 4), gpu_host("z", 8), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 1)]))
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("z",)


def test_min_worker_nodes_forces_spreading():
    hosts = [gpu_host("x", 4), gpu_host("y", 4), gpu_host("z", 8), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 2)]))
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("x", "y")


def test_ties_break_by_name():
    hosts = [gpu_host(n, 4) for n in ("d", "b", "c", "a")] + [cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 1)]))
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("a", "b")


def test_family_spellings_are_one_family():
    hosts = [host_from_dict({"name": "g", "gpus": [{"family": "nvidia-a100", "count": 8}]}), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA A100", 8, 1)]))
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("g",)


def test_hosts_of_another_compute_pool_are_never_taken():
    hosts = [gpu_host("a", 8, compute_pool="other"), gpu_host("b", 8), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 1)]))
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("b",)


def test_hosts_in_another_current_allocation_are_never_taken():
    other = (MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "w", (HostEntry("a", "Healthy"),)),)
    hosts = [gpu_host("a", 8), gpu_host("b", 8), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 1)]), others={"other": other})
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("b",)


def test_current_valid_hosts_stay_even_when_a_better_fit_appears():
    current = (MachinePool("control-plane-pool", "ControlPlaneOnly", ("control-plane",), None,
                           (HostEntry("cp", "Healthy"),)),
               MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "w",
                           (HostEntry("x", "Healthy"), HostEntry("y", "Healthy"))))
    hosts = [gpu_host("x", 4), gpu_host("y", 4), gpu_host("a-better", 8), cpu_host("cp"), cpu_host("a-cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 1)]), current)
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("x", "y")
    assert pools(result)["control-plane-pool"].hosts == ("cp",)


def test_unhealthy_current_host_is_replaced_and_healthy_one_stays():
    current = (MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "w",
                           (HostEntry("x", "Healthy"), HostEntry("y", "Healthy"))),)
    hosts = [gpu_host("x", 4), gpu_host("y", 4, status="Unhealthy"), gpu_host("z", 4), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 2)]), current)
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("x", "z")


def test_resource_groups_restrict_worker_hosts():
    hosts = [gpu_host("fast", 8, groups={"storage-tier": "high-performance"}), gpu_host("slow", 8), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 1)],
                                  worker_resource_groups={"storage-tier": "high-performance"}))
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("fast",)


def test_control_plane_uses_control_plane_resource_groups():
    hosts = [cpu_host("a"), cpu_host("b", groups={"network-pool": "1"})]
    result = allocate(hosts, spec(workers=[], control_plane_resource_groups={"network-pool": "1"}))
    assert pools(result)["control-plane-pool"].hosts == ("b",)


def test_single_node_cluster_manages_only_the_control_plane_with_control_plane_groups():
    hosts = [gpu_host("g1", 8, groups={"zone": "a"}), gpu_host("g2", 8, groups={"zone": "b"}), cpu_host("c")]
    result = allocate(hosts, spec(single=True, control_plane_resource_groups={"zone": "b"},
                                  worker_resource_groups={"zone": "a"}))
    assert [(p.machine_pool, p.node_type, p.hosts) for p in result.pools] == [
        ("control-plane-pool", "ControlPlaneAndWorker", ("g2",))]


def test_architecture_must_match():
    hosts = [gpu_host("arm", 8, arch="ARM64"), gpu_host("x86", 8), cpu_host("cp")]
    result = allocate(hosts, spec(worker_pools=[{"name": "w", "architecture": "arm64",
                                                 "gpu": {"family": "NVIDIA-A100", "count": 8}}]))
    assert pools(result)["worker-pool-nvidia-arm64-0"].hosts == ("arm",)


def test_shortfall_is_returned_with_counted_reasons():
    hosts = [gpu_host("a", 4, groups={"storage-tier": "high-performance"}),
             gpu_host("b", 4, groups={"storage-tier": "high-performance"}, compute_pool="X"),
             gpu_host("c", 4, groups={"storage-tier": "high-performance"}, status="Unhealthy"),
             gpu_host("d", 4, family="NVIDIA-H100", groups={"storage-tier": "high-performance"}),
             gpu_host("e", 4, family="NVIDIA-L40S", groups={"storage-tier": "high-performance"}),
             cpu_host("cp")]
    result = allocate(hosts, spec(worker_resource_groups={"storage-tier": "high-performance"}))
    assert len(result.shortfalls) == 1
    short = result.shortfalls[0]
    assert short.message == (
        "worker pool gpu-workers needs 8 x NVIDIA-A100 on >= 2 hosts in storage-tier=high-performance; "
        "4 eligible on 1 host (1 host in machine pool control-plane-pool, 1 host in compute pool X, "
        "2 wrong family, 1 unhealthy)")
    assert (short.needed, short.eligible, short.eligible_hosts) == (8, 4, 1)
    unmet = pools(result)["worker-pool-nvidia-amd64-0"]
    assert unmet.satisfied is False and unmet.hosts == ()


def test_control_plane_shortfall_counts_hosts():
    result = allocate([cpu_host("a"), cpu_host("b", status="Failed")], spec(workers=[], node_count=3))
    assert result.shortfalls[0].message == (
        "control plane needs 3 hosts; 1 eligible (1 unhealthy)")


def test_shortfall_names_a_non_default_architecture_and_counts_wrong_architecture():
    hosts = [gpu_host("a", 4, arch="ARM64"), gpu_host("b", 4), cpu_host("cp")]
    result = allocate(hosts, spec(worker_pools=[{"name": "w", "architecture": "arm64",
                                                 "gpu": {"family": "NVIDIA-A100", "count": 8}}]))
    assert result.shortfalls[0].message == (
        "worker pool w needs 8 x NVIDIA-A100 on >= 1 ARM64 host; 4 eligible on 1 host "
        "(1 host in machine pool control-plane-pool, 1 wrong architecture)")


def test_shortfall_counts_own_hosts_that_cannot_stay_by_their_defect():
    current = (MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "w",
                           (HostEntry("x", "Healthy"), HostEntry("gone", "Healthy"))),)
    hosts = [gpu_host("x", 4, status="Failed"), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("w", "NVIDIA-A100", 8, 1)]), current)
    assert result.shortfalls[0].message == (
        "worker pool w needs 8 x NVIDIA-A100 on >= 1 host; 0 eligible on 0 hosts "
        "(1 host in machine pool control-plane-pool, 1 unhealthy, 1 gone from the inventory)")


def test_unmet_requirement_keeps_its_current_hosts():
    current = (MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "gpu-workers",
                           (HostEntry("x", "Healthy"),)),)
    result = allocate([gpu_host("x", 4), cpu_host("cp")], spec(), current)
    assert pools(result)["worker-pool-nvidia-amd64-0"].hosts == ("x",)
    assert result.shortfalls[0].requirement == "gpu-workers"


def test_new_machine_pools_take_the_next_free_index_and_keep_names():
    current = (MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "b-old", (HostEntry("x", "Healthy"),)),)
    hosts = [gpu_host("x", 4), gpu_host("y", 4), gpu_host("z", 4), cpu_host("cp")]
    result = allocate(hosts, spec(workers=[("b-old", "NVIDIA-A100", 4, 1), ("a-new", "NVIDIA-A100", 4, 1),
                                           ("c-new", "NVIDIA-A100", 4, 1)]), current)
    names = dict((p.requirement, p.machine_pool) for p in result.pools)
    assert names == {None: "control-plane-pool", "b-old": "worker-pool-nvidia-amd64-0",
                     "a-new": "worker-pool-nvidia-amd64-1", "c-new": "worker-pool-nvidia-amd64-2"}


def test_allocate_many_never_puts_a_host_in_two_pools():
    hosts = [gpu_host("g%d" % i, 4) for i in range(6)] + [cpu_host("c%d" % i) for i in range(3)]
    specs = [spec(name="p%d" % i, workers=[("w", "NVIDIA-A100", 8, 2)]) for i in range(3)]
    results = allocate_many(hosts, specs, {})
    seen = [h for r in results.values() for p in r.pools for h in p.hosts]
    assert len(seen) == len(set(seen)) == 9


def test_shortfall_names_the_three_largest_holding_compute_pools_and_sums_the_rest():
    hosts = [gpu_host("%s-%d" % (pool, i), 4, compute_pool=pool)
             for pool, n in (("p1", 1), ("p2", 3), ("p3", 2), ("p4", 2), ("p5", 1)) for i in range(n)]
    result = allocate(hosts + [cpu_host("cp")], spec())
    assert result.shortfalls[0].reasons == (
        "1 host in machine pool control-plane-pool", "3 hosts in compute pool p2", "2 hosts in compute pool p3",
        "2 hosts in compute pool p4", "2 hosts in 2 other compute pools")


def test_single_node_cluster_prefers_a_host_with_the_declared_gpu_family():
    hosts = [cpu_host("a-cpu"), gpu_host("b-h100", 8, family="NVIDIA-H100"), gpu_host("c-a100", 8)]
    result = allocate(hosts, spec(single=True))
    assert pools(result)["control-plane-pool"].hosts == ("c-a100",)
    assert pools(allocate(hosts, spec(workers=[])))["control-plane-pool"].hosts == ("a-cpu",)


def test_shortfall_reports_what_a_taken_host_is_before_who_holds_it():
    """A host in another compute pool that could never serve (wrong resource group) is reported as such."""
    hosts = [cpu_host("cp", groups={"tier": "hp"}), gpu_host("mine", 4, groups={"tier": "hp"}),
             gpu_host("taken-hp", 4, groups={"tier": "hp"}), gpu_host("taken-low", 4, groups={"tier": "low"})]
    other = (MachinePool("worker-pool-nvidia-amd64-0", "WorkerOnly", (), "w",
                         (HostEntry("taken-hp", "Healthy"), HostEntry("taken-low", "Healthy"))),)
    desired = spec(workers=[("gpu-workers", "NVIDIA-A100", 8, 2)], worker_resource_groups={"tier": "hp"},
                   control_plane_resource_groups={"tier": "hp"})
    result = allocate(hosts, desired, others={"other-pool": other})
    [shortfall] = result.shortfalls
    assert "1 host in compute pool other-pool" in shortfall.message
    assert "1 outside the resource groups" in shortfall.message
