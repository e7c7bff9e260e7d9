"""The fabric as one job: a spec of labelled pools over many GPU nodes, applied by playbooks/fabric.yml's role as
the operator identity, first run and converged rerun, each beside floors measured in the same run:
- first-run floor: ansible-playbook with one trivial task + 1 LIST of nodes + 1 PATCH per node, 8 threads;
- rerun floor: ansible-playbook with one trivial task + 1 LIST per kind the spec reads.
Then the same spec at ten times the size, with the module process's peak memory. Prints; never asserts a time.

    python -m tests.bench.bench_fabric [--nodes 1000 --pools 50] [--large-nodes 10000 --large-pools 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from kubernetes import client, config

from tests.harness.ansible import MODULES, ansible_env
from tests.harness.audit import AuditLog
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.controlplane import ControlPlane
from tests.harness.nodes import node_body, node_status

THREADS = 8


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run_playbook(path: Path, kubeconfig: Path, tasks: list) -> float:
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


def spec_for(names, pools):
    per_pool = len(names) // pools
    return {"pools": [{"name": f"pool-{p:03d}", "description": "bench",
                       "nodes": {n: {"gpu_type": "A100-80G"} for n in names[p * per_pool:(p + 1) * per_pool]}}
                      for p in range(pools)]}


def module_peak_rss_mb(spec_file: Path, kubeconfig: Path) -> float:
    """Peak resident memory of one fabric module process (converged run), as the kernel accounted it."""
    with open(spec_file) as handle:
        spec = yaml.safe_load(handle)
    args = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"ANSIBLE_MODULE_ARGS": {"spec": spec, "kubeconfig": str(kubeconfig), "context": "operator"}}, args)
    args.close()
    probe = ("import resource, subprocess, sys; "
             "subprocess.run([sys.executable, '-m', sys.argv[1], sys.argv[2]], stdout=subprocess.DEVNULL, check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, MODULES + "fabric", args.name], capture_output=True,
                         text=True, env=ansible_env(), cwd=str(REPO), check=True)
    os.unlink(args.name)
    return int(out.stdout.strip()) / 1024


def case(tmp: Path, node_count: int, pool_count: int, memory: bool) -> str:
    plane = ControlPlane(tmp / f"cluster-{node_count}").up()
    try:
        configuration = client.Configuration()
        config.load_kube_config(str(plane.kubeconfig), context="admin", client_configuration=configuration)
        configuration.connection_pool_maxsize = THREADS
        core = client.CoreV1Api(client.ApiClient(configuration))
        names = [f"gpu-{i:05d}" for i in range(node_count)]
        log(f"creating {node_count} GPU nodes (about {node_count // 100} s)")

        def create(name):
            core.create_node(node_body(name))
            core.patch_node_status(name, node_status())

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(create, names))

        spec_file = tmp / f"fabric-{node_count}.yml"
        spec_file.write_text(yaml.safe_dump(spec_for(names, pool_count)))
        task = [{"gpufabric.platform.fabric": {"src": str(spec_file)}}]
        ping = [{"ansible.builtin.ping": {}}]
        audit = AuditLog(plane.audit_log)

        log(f"fabric nodes={node_count} pools={pool_count}: first run")
        first = run_playbook(tmp / "fabric.json", plane.kubeconfig, task)
        log("converged rerun")
        mark = audit.mark()
        rerun = run_playbook(tmp / "fabric.json", plane.kubeconfig, task)
        time.sleep(1)  # the apiserver appends to the audit log asynchronously
        writes_rerun = len(audit.writes_since(mark))

        log("floors: a trivial play, 1 LIST + 1 PATCH per node with 8 threads, 1 LIST per kind")
        play = min(run_playbook(tmp / "ping.json", plane.kubeconfig, ping) for unused in range(2))
        custom = client.CustomObjectsApi(client.ApiClient(configuration))
        apps, batch = client.AppsV1Api(client.ApiClient(configuration)), client.BatchV1Api(client.ApiClient(configuration))

        def list_every_kind():
            core.list_node(_preload_content=False).data
            core.list_pod_for_all_namespaces(_preload_content=False).data
            custom.list_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", _preload_content=False).data
            apps.list_deployment_for_all_namespaces(_preload_content=False).data
            batch.list_job_for_all_namespaces(_preload_content=False).data

        def list_and_patch():
            core.list_node(_preload_content=False).data

            def patch(name):
                core.patch_node(name, {"metadata": {"labels": {"floor.bench/pool": "p"}}}, _preload_content=False)
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(patch, names))

        floor_first = play + timed(list_and_patch)
        floor_rerun = play + timed(list_every_kind)
        line = (f"fabric nodes={node_count} pools={pool_count} first_s={first:.2f} rerun_s={rerun:.2f} "
                f"writes_rerun={writes_rerun} floor_first_s={floor_first:.2f} floor_rerun_s={floor_rerun:.2f} "
                f"ratio_first={first / floor_first:.2f} ratio_rerun={rerun / floor_rerun:.2f}")
        if memory:
            log("peak memory of one converged fabric module process")
            line += f" rss_mb={module_peak_rss_mb(spec_file, plane.kubeconfig):.0f}"
        return line
    finally:
        plane.down(quiet=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--large-nodes", type=int, default=10000)
    parser.add_argument("--large-pools", type=int, default=500)
    args = parser.parse_args(argv)
    ensure_collection_path()
    with tempfile.TemporaryDirectory(prefix="gpufabric-bench-") as tmp:
        lines = [case(Path(tmp), args.nodes, args.pools, memory=True)]
        if args.large_nodes:
            lines.append(case(Path(tmp), args.large_nodes, args.large_pools, memory=True))
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
