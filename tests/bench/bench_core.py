"""Benchmark the allocation core: plan from scratch, then re-plan the converged state.

What is measured: N hosts (10% GPU-less, the rest 1/2/4/8 GPUs of four families, 90% AMD64, two
resource-group keys, 2% unhealthy) and M worker-pool requirements spread over M/5 compute pools of 5 worker
pools each (plus one control-plane host per compute pool, a quarter of the pools with a worker resource
group). Pools ask for about half the GPUs, capped at a realistic 1-63 GPUs per worker pool; 1,000 hosts cannot
hold 1,200 machine pools, so that case measures the shortfall path too. `core-plan` times plan_many over all
compute pools in one call (hosts indexed once); `core-replan-converged` applies those plans, marks the hosts
labelled and times planning again (it must yield 0 operations). Best of 3 up to 10,000 hosts, 1 run above.
Prints one line per case; never asserts a time.
Usage: PYTHONPATH=.collections python tests/bench/bench_core.py [--quick]   (--quick: N <= 10,000 only)
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import replace
from fractions import Fraction

from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import GpuGroup, Host
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import apply_plan, plan_many
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import parse_compute_pool

FAMILIES = ("NVIDIA-A100", "NVIDIA-H100", "NVIDIA-L40S", "NVIDIA-A10")
SIZES = (1, 2, 4, 8)


def make_hosts(count, seed=1):
    rng = random.Random(seed)
    hosts = []
    for index in range(count):
        gpu = rng.random() >= 0.1
        gpus = (GpuGroup(rng.choice(FAMILIES), rng.choice(SIZES), 40960),) if gpu else ()
        hosts.append(Host(
            name="host-%06d" % index, architecture="AMD64" if rng.random() < 0.9 else "ARM64",
            cpu=Fraction(32), memory=Fraction(128 * 1024 ** 3), gpus=gpus,
            resource_groups=(("storage-tier", rng.choice(("high", "standard"))), ("zone", rng.choice("ab"))),
            status="Healthy" if rng.random() >= 0.02 else "Unhealthy"))
    return hosts


def make_specs(requirements, hosts, seed=2):
    rng = random.Random(seed)
    supply = sum(h.gpu_count() for h in hosts if h.architecture == "AMD64")
    # Half the GPUs when that is a realistic pool size, at most 32 GPUs per worker pool on average.
    per_requirement = min(max(1, supply // (2 * requirements)), 32)
    specs = []
    for pool in range(requirements // 5):
        workers = []
        for index in range(5):
            count = rng.randint(1, max(1, 2 * per_requirement - 1))
            workers.append({"name": "wp-%d" % index, "gpu": {"family": rng.choice(FAMILIES), "count": count},
                            "min_worker_nodes": rng.randint(1, min(2, count))})
        args = {"name": "pool-%04d" % pool, "namespace": "bench", "control_plane": {"node_count": 1},
                "worker_pools": workers}
        if pool % 4 == 0:
            args["worker_resource_groups"] = {"storage-tier": "high"}
        specs.append(parse_compute_pool(args))
    return specs


def assign(hosts, allocations):
    """The hosts as they read once the compute-pool labels of {compute pool: allocation} are written."""
    holder = dict((entry.host, (compute_pool, pool.name)) for compute_pool in sorted(allocations)
                  for pool in allocations[compute_pool] for entry in pool.hosts)
    return tuple(replace(host, compute_pool=holder[host.name][0], machine_pool=holder[host.name][1])
                 if host.name in holder else host for host in hosts)


def best_of(repeats, func):
    best, result = None, None
    for unused in range(repeats):
        start = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def main(argv):
    sizes = (1000, 10000) if "--quick" in argv else (1000, 10000, 100000)
    for count in sizes:
        hosts = make_hosts(count)
        for requirements in (100, 1000):
            specs = make_specs(requirements, hosts)
            repeats = 3 if count <= 10000 else 1
            seconds, plans = best_of(repeats, lambda: plan_many(hosts, specs, {}))
            short = sum(len(p.shortfalls) for p in plans.values())
            print("core-plan hosts=%d requirements=%d seconds=%.3f shortfalls=%d" % (count, requirements, seconds,
                                                                                     short))
            if requirements != 1000:
                continue
            currents = dict((name, apply_plan((), plan, hosts, "t0")) for name, plan in plans.items())
            labelled = assign(hosts, currents)
            seconds, replans = best_of(repeats, lambda: plan_many(labelled, specs, currents))
            ops = sum(len(p.operations) for p in replans.values())
            print("core-replan-converged hosts=%d ops=%d seconds=%.3f" % (count, ops, seconds))


if __name__ == "__main__":
    main(sys.argv[1:])
