"""Registering N spokes to a hub with playbooks/spokes.yml (forks = N, each spoke its own control plane), first run
and converged rerun, beside the floor measured in the same run: ansible-playbook with a trivial task over the same
inventory and forks, plus one LIST of Nodes per spoke (what a registration cannot do without). The rerun's writes
are counted in all N + 1 audit logs. Prints; never asserts a time.

    python -m tests.bench.bench_spokes [--spokes 6]

Each control plane takes about 500 MB; N = 6 is seven of them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client

from tests.harness.ansible import ansible_env
from tests.harness.audit import AuditLog
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.fleet import Fleet
from tests.harness.nodes import create_node

WRITERS = ("admin", "operator", "system:serviceaccount:gpufabric-system:gpufabric-hub")


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def playbook(path: Path, inventory: Path, forks: int) -> float:
    argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), "--forks", str(forks),
            str(path)]
    env = ansible_env()
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
    elapsed = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{path.name} failed:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    return elapsed


def inventory(fleet: Fleet) -> dict:
    kubeconfig = str(fleet.kubeconfig)
    return {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "hub_connection": {"kubeconfig": kubeconfig, "context": "hub-operator"}},
        "children": {
            "hub": {"hosts": {"hub-cluster": {}}},
            "spokes": {"hosts": dict((plane.name, {"spoke": {"cluster": {
                "kubeconfig": kubeconfig, "context": f"{plane.name}-operator"}}}) for plane in fleet.spokes)}}}}


def writes_since(marks: dict) -> int:
    time.sleep(1)  # the apiservers append to their audit logs asynchronously
    return sum(len(AuditLog(path).writes_since(mark, WRITERS)) for path, mark in marks.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spokes", type=int, default=6)
    args = parser.parse_args(argv)
    ensure_collection_path()
    count = args.spokes
    with tempfile.TemporaryDirectory(prefix="gpufabric-bench-") as tmp:
        tmp = Path(tmp)
        fleet = Fleet.at(tmp / "fleet", spokes=count)
        log(f"starting a hub and {count} spokes (about {5 * (count + 1)} s on 2 cores, more on a busy machine)")
        fleet.up()
        try:
            cores = dict((plane.name, client.CoreV1Api(plane.api_client())) for plane in fleet.spokes)
            for name, core in cores.items():
                for index in range(2):
                    create_node(core, f"{name}-gpu-{index}", gpu_product="NVIDIA-A100", gpus=8)
            inv = tmp / "inventory.json"
            inv.write_text(json.dumps(inventory(fleet)))
            log("the hub: CRDs, RBAC and the bootstrap identity (not timed)")
            playbook(REPO / "playbooks" / "hub.yml", inv, count)

            log(f"spokes.yml over {count} spokes with {count} forks: first run, then a converged rerun")
            first = playbook(REPO / "playbooks" / "spokes.yml", inv, count)
            marks = dict((plane.audit_log, AuditLog(plane.audit_log).mark()) for plane in fleet.clusters)
            rerun = playbook(REPO / "playbooks" / "spokes.yml", inv, count)
            writes_rerun = writes_since(marks)

            log("floor: a trivial play over the same inventory and forks, plus one LIST of Nodes per spoke")
            ping = tmp / "ping.yml"
            ping.write_text(json.dumps([{"name": "floor", "hosts": "spokes", "gather_facts": False,
                                         "tasks": [{"ansible.builtin.ping": {}}]}]))
            play = min(playbook(ping, inv, count) for unused in range(2))
            start = time.perf_counter()
            for core in cores.values():
                core.list_node(_preload_content=False).data
            lists = time.perf_counter() - start
        finally:
            fleet.down(quiet=True)
    floor = play + lists
    print(f"spokes-register spokes={count} forks={count} first_s={first:.2f} rerun_s={rerun:.2f} "
          f"writes_rerun={writes_rerun} floor_s={floor:.2f} floor_play_s={play:.2f} floor_lists_s={lists:.2f} "
          f"ratio_first={first / floor:.2f} ratio_rerun={rerun / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
