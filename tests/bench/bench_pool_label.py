"""pool-label benchmark: 4 pool_label tasks over 1,000 GPU nodes, against floors measured in the same run.

Floors (see the project's benchmark rules):
- request floor: a bare kubernetes client, 1 LIST of nodes + 1 merge PATCH per node (sequential, and with the
  same 8 threads pool_label uses); converged: 1 LIST per task.
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

from tests.harness.ansible import ansible_env
from tests.harness.audit import AuditLog
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.controlplane import ControlPlane
from tests.harness.nodes import node_body, node_status

NODES, POOLS, THREADS = 1000, 4, 8


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
    out = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), cwd=str(REPO))
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

            def floor_run(prefix, threads):
                core.list_node(_preload_content=False).data

                def patch(name):
                    labels = {f"{prefix}/pool": "p", f"{prefix}/gpu-type": "A100"}
                    core.patch_node(name, {"metadata": {"labels": labels}}, _preload_content=False)

                if threads == 1:
                    for name in names:
                        patch(name)
                else:
                    with ThreadPoolExecutor(threads) as pool:
                        list(pool.map(patch, names))

            log("request floor: 1 LIST + 1,000 PATCH, sequential and with 8 threads")
            floor_seq = timed(lambda: floor_run("floor-a.bench", 1))
            floor_par = timed(lambda: floor_run("floor-b.bench", THREADS))
            floor_list = timed(lambda: [core.list_node(_preload_content=False).data for _ in range(POOLS)])

            log("ansible floor: ansible-playbook with 4 ansible.builtin.ping tasks")
            ansible_floor = min(playbook(tmp / "ping.json", plane.kubeconfig,
                                         [{"ansible.builtin.ping": {}} for _ in range(POOLS)]) for _ in range(2))

            per_pool = NODES // POOLS
            tasks = [{"gpufabric.platform.pool_label": {
                "name": f"pool-{p}", "nodes": {n: {"gpu_type": "A100-80G"} for n in names[p * per_pool:(p + 1) * per_pool]}}}
                for p in range(POOLS)]
            audit = AuditLog(plane.audit_log)
            log("pool_label: first run, then a converged rerun")
            first = playbook(tmp / "pools.json", plane.kubeconfig, tasks)
            mark = audit.mark()
            rerun = playbook(tmp / "pools.json", plane.kubeconfig, tasks)
            time.sleep(1)  # the apiserver appends to the audit log asynchronously
            writes_rerun = len(audit.writes_since(mark))
        finally:
            plane.down(quiet=True)

    floor_first = ansible_floor + floor_par
    floor_rerun = ansible_floor + floor_list
    print(f"pool-label-floor nodes={NODES} list_patch_seq_s={floor_seq:.2f} list_patch_{THREADS}threads_s={floor_par:.2f} "
          f"list_x{POOLS}_s={floor_list:.2f} ansible_{POOLS}_tasks_s={ansible_floor:.2f}")
    print(f"pool-label nodes={NODES} pools={POOLS} first_run_s={first:.2f} rerun_s={rerun:.2f} "
          f"writes_rerun={writes_rerun} floor_first_s={floor_first:.2f} floor_rerun_s={floor_rerun:.2f} "
          f"ratio_first={first / floor_first:.2f} ratio_rerun={rerun / floor_rerun:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
