"""Benchmark the appliance install over SSH: three test hosts (network namespaces with their own address and sshd),
the leader's control plane and two edge hosts linked to it; a first run, then a converged rerun.

The floor, measured in the same run on the same hosts: `ansible-playbook` running a trivial play over the three
hosts (gather facts, then one `ansible.builtin.ping`), so SSH, start-up and fact gathering are counted once. The
appliance is uninstalled and the hosts are stopped at the end. Needs root (namespaces) and the control-plane
binaries (`make control-plane`).
Prints one line; never asserts a time.
Usage: python -m tests.bench.bench_appliance
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.ansible import ansible_env
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.hosts import Hosts, free_subnet

PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
OCM = REPO / "tests" / "harness" / "ocm"
TRIVIAL = """\
- name: A trivial play over the same hosts
  hosts: leader:edge
  gather_facts: true
  tasks:
    - name: Answer
      ansible.builtin.ping:
"""


def say(message):
    print("[bench] %s" % message, file=sys.stderr, flush=True)


def play(hosts, inventory, playbook, variables):
    """Seconds ansible-playbook took, and its changed count over every host."""
    env = dict(ansible_env(), **hosts.environment)
    env["ANSIBLE_PIPELINING"] = "1"
    started = time.monotonic()
    out = subprocess.run([PLAYBOOK, "-i", str(inventory), str(playbook), "-e", json.dumps(variables)],
                         capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
    seconds = time.monotonic() - started
    if out.returncode:
        raise SystemExit("%s failed (exit %d):\n%s" % (playbook, out.returncode, (out.stdout + out.stderr)[-4000:]))
    changed = sum(int(n) for n in re.findall(r"\schanged=(\d+)", out.stdout))
    return seconds, changed


def main():
    ensure_collection_path()
    from tests.harness.controlplane import binaries

    binaries()  # built (or found) before anything is timed
    with tempfile.TemporaryDirectory(prefix="bench-appliance-") as work:
        work = Path(work)
        hosts = Hosts(work / "hosts", 3, free_subnet())
        try:
            hosts.up()
            inventory = hosts.write_inventory(work / "inventory.yml", {"leader": ["h1"], "edge": ["h2", "h3"]})
            trivial = work / "trivial.yml"
            trivial.write_text(TRIVIAL)
            variables = {"appliance_local_dir": str(work / "local"), "appliance_edge_heartbeat": 86400,
                         "appliance_ocm_crds": [str(OCM / name) for name in (
                             "managedclusters.yaml", "managedclustersets.yaml", "manifestworks.yaml")]}
            say("floor: a trivial play over the 3 hosts")
            floor, unused = play(hosts, inventory, trivial, {})
            say("appliance: first run (copies about 300 MB of binaries to the leader)")
            first, unused = play(hosts, inventory, REPO / "playbooks" / "appliance.yml", variables)
            say("appliance: converged rerun")
            rerun, changed = play(hosts, inventory, REPO / "playbooks" / "appliance.yml", variables)
            print("appliance hosts=3 first_s=%.1f rerun_s=%.1f rerun_changed=%d floor_s=%.1f rerun_vs_floor=%.2f"
                  % (first, rerun, changed, floor, rerun / floor), flush=True)
            say("uninstalling")
            play(hosts, inventory, REPO / "playbooks" / "appliance.yml", dict(variables, appliance_state="absent"))
        finally:
            hosts.down(quiet=True)


if __name__ == "__main__":
    main()
