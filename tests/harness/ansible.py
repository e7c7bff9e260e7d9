"""Run gpufabric modules for real: as the module process Ansible would start, or through ansible-playbook."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness.collection import COLLECTIONS, REPO

MODULES = "ansible_collections.gpufabric.platform.plugins.modules."


def ansible_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(COLLECTIONS), str(REPO)])
    env["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS)
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    return env


def run_module(module: str, args: dict, kubeconfig: str, context: str = "operator", check: bool = False,
               diff: bool = False) -> dict:
    """Run one module with these arguments, as AnsibleModule reads them; return its JSON result.

    `failed` is true when the module called fail_json. The connection goes through the restricted
    `operator` identity unless told otherwise, which proves the shipped ClusterRole is enough.
    """
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, kubeconfig=kubeconfig, context=context,
                                           _ansible_check_mode=check, _ansible_diff=diff)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(payload, handle)
    try:
        out = subprocess.run([sys.executable, "-m", MODULES + module, handle.name], capture_output=True,
                             text=True, env=ansible_env(), cwd=str(REPO), check=False)
    finally:
        os.unlink(handle.name)
    try:
        result = json.loads(out.stdout)
    except ValueError:
        raise AssertionError(f"module {module} printed no JSON (rc={out.returncode}):\n{out.stdout}\n{out.stderr}")
    # ansible-core >= 2.19 emits warnings as structured summaries; ansible-playbook prints their messages.
    result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
    return result


def run_playbook(playbook: Path, extra_vars: dict | None = None, check: bool = False, diff: bool = False):
    """ansible-playbook on localhost; returns (returncode, output, recap) with recap {ok, changed, failed}."""
    argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
            str(playbook), "-e", json.dumps(extra_vars or {})]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    env = ansible_env()
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
    output = out.stdout + out.stderr
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output)
    recap = dict(zip(("ok", "changed", "failed"), map(int, match.groups()))) if match else {}
    return out.returncode, output, recap
