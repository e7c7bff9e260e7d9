"""Module benchmarks on one local control plane with 1,000 GPU nodes, each figure beside floors measured in
the same run:
- pool-label: 4 pool_label tasks (250 nodes each), first run and converged rerun;
- compute-pool: 20 compute_pool tasks (1 control-plane host + 360 A100 GPUs on >= 45 hosts each).

Floors (see the project's benchmark rules):
- request floor: a bare kubernetes client, 1 LIST of nodes + 1 merge PATCH per node that must change
  (sequential, and with the same 8 threads the modules use); converged: 1 LIST of nodes per task.
- ansible floor: ansible-playbook with the same number of trivial tasks (ansible.builtin.ping).
The figure that counts is the ratio to (ansible floor + request floor). Prints; never asserts a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client, config

from tests.harness.ansible import ansible_env, run_module
from tests.harness.audit import AuditLog
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.controlplane import ControlPlane
from tests.harness.nodes import node_body, node_status

NODES, POOLS, COMPUTE_POOLS, THREADS = 1000, 4, 20, 8
HOSTS_PER_COMPUTE_POOL = 46  # 1 control-plane host + 45 workers of 8 GPUs


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def playbook(path: Path, kubeconfig: Path, tasks: list) -> float:
    path.write_text(json.dumps([{
        "name": "bench", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "module_defaults": {"group/gpufabric.platform.kube": {"kubeconfig": str(kubeconfig), "context": "operator"}},
        "tasks": tasks,
    }]))
    argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", str(path)]
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), cwd=str(REPO), check=False)
    elapsed = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"playbook failed:\n{out.stdout[-3000:]}")
    return elapsed


def main() -> int:
    ensure_collection_path()
    with tempfile.TemporaryDirectory(prefix="gpufabric-bench-") as tmp:
        tmp = Path(tmp)
        plane = ControlPlane(tmp / "cluster").up()
        try:
            configuration = client.Configuration()
            config.load_kube_config(str(plane.kubeconfig), context="admin", client_configuration=configuration)
            configuration.connection_pool_maxsize = THREADS
            core = client.CoreV1Api(client.ApiClient(configuration))
            names = [f"gpu-{i:04d}" for i in range(NODES)]
            log(f"creating {NODES} GPU nodes (about 10 s)")

            def create(name):
                core.create_node(node_body(name))
                core.patch_node_status(name, node_status())

            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(create, names))

            def floor_run(prefix, threads, count=NODES):
                core.list_node(_preload_content=False).data

                def patch(name):
                    labels = {f"{prefix}/pool": "p", f"{prefix}/gpu-type": "A100"}
                    core.patch_node(name, {"metadata": {"labels": labels}}, _preload_content=False)
                if threads == 1:
                    for name in names[:count]:
                        patch(name)
                else:
                    with ThreadPoolExecutor(threads) as pool:
                        list(pool.map(patch, names[:count]))

            def list_floor(tasks):
                return timed(lambda: [core.list_node(_preload_content=False).data for unused in range(tasks)])

            def ansible_floor(tasks):
                return min(playbook(tmp / "ping.json", plane.kubeconfig,
                                    [{"ansible.builtin.ping": {}} for unused in range(tasks)]) for unused in range(2))

            audit = AuditLog(plane.audit_log)

            def first_and_rerun(name, tasks):
                log(f"{name}: first run, then a converged rerun")
                first = playbook(tmp / f"{name}.json", plane.kubeconfig, tasks)
                mark = audit.mark()
                rerun = playbook(tmp / f"{name}.json", plane.kubeconfig, tasks)
                time.sleep(1)  # the apiserver appends to the audit log asynchronously
                return first, rerun, len(audit.writes_since(mark))

            log("request floor: 1 LIST + 1,000 PATCH, sequential and with 8 threads")
            floor_seq = timed(lambda: floor_run("floor-a.bench", 1))
            floor_par = timed(lambda: floor_run("floor-b.bench", THREADS))
            log("ansible floors: ansible-playbook with trivial ansible.builtin.ping tasks")
            ansible_pools, ansible_compute = ansible_floor(POOLS), ansible_floor(COMPUTE_POOLS)

            per_pool = NODES // POOLS
            pool_tasks = [{"gpufabric.platform.pool_label": {
                "name": f"pool-{p}", "nodes": {n: {"gpu_type": "A100-80G"} for n in names[p * per_pool:(p + 1) * per_pool]}}}
                for p in range(POOLS)]
            pools = first_and_rerun("pool-label", pool_tasks)

            project = run_module("project", {"name": "bench", "gpu_quota": {"NVIDIA-A100": 8000}}, str(plane.kubeconfig))
            if project.get("failed"):
                raise SystemExit(f"project failed: {project.get('msg')}")
            compute_tasks = [{"gpufabric.platform.compute_pool": {
                "name": f"cluster-{c:02d}", "namespace": "bench", "control_plane": {"node_count": 1},
                "worker_pools": [{"name": "gpu-workers", "gpu": {"family": "NVIDIA-A100", "count": 360},
                                  "min_worker_nodes": 45}]}} for c in range(COMPUTE_POOLS)]
            computes = first_and_rerun("compute-pool", compute_tasks)
            compute_hosts = COMPUTE_POOLS * HOSTS_PER_COMPUTE_POOL
            compute_floor = timed(lambda: floor_run("floor-c.bench", THREADS, compute_hosts))
            pools_list, computes_list = list_floor(POOLS), list_floor(COMPUTE_POOLS)
        finally:
            plane.down(quiet=True)

    print(f"request-floor nodes={NODES} list_patch_seq_s={floor_seq:.2f} list_patch_{THREADS}threads_s={floor_par:.2f} "
          f"list_patch_{compute_hosts}_s={compute_floor:.2f} ansible_{POOLS}_tasks_s={ansible_pools:.2f} "
          f"ansible_{COMPUTE_POOLS}_tasks_s={ansible_compute:.2f}")
    report("pool-label", f"nodes={NODES} pools={POOLS}", pools, ansible_pools + floor_par, ansible_pools + pools_list)
    report("compute-pool", f"hosts={NODES} pools={COMPUTE_POOLS}", computes, ansible_compute + compute_floor,
           ansible_compute + computes_list)
    return 0


def report(case, sizes, figures, floor_first, floor_rerun):
    first, rerun, writes_rerun = figures
    print(f"{case} {sizes} first_run_s={first:.2f} rerun_s={rerun:.2f} writes_rerun={writes_rerun} "
          f"floor_first_s={floor_first:.2f} floor_rerun_s={floor_rerun:.2f} "
          f"ratio_first={first / floor_first:.2f} ratio_rerun={rerun / floor_rerun:.2f}")


if __name__ == "__main__":
    sys.exit(main())
