"""Questions asked of the demo's platform: the README's "Asking questions of the platform" playbook, read from the
README itself, run with ansible-playbook against the fleet `make demo` builds (a hub and two spokes, the demo's
nodes and jobs, playbooks/site.yml applying playbooks/files/demo-fleet.yml), each answer checked; and the info
rows those questions read (project_info, compute_pool_info's hosts) as the operator, with nothing written.

The demo gets a fleet of its own: the fleet and control plane the other integration tests share hold their spokes,
nodes and pools of the same names (spoke-1, gpu-node-1, training-pool, host-uid-1), which would change the answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import WriteCounter
from tests.harness import demo as make_demo
from tests.harness.ansible import ansible_env, run_module, run_playbook
from tests.harness.audit import AuditLog
from tests.harness.collection import REPO
from tests.harness.nodes import create_pod

pytestmark = pytest.mark.integration

SECTION = "## Asking questions of the platform"
A100, A10, H100 = "NVIDIA-A100", "NVIDIA-A10", "NVIDIA-H100"

# What the demo holds (tests/harness/demo.py, playbooks/files/demo-fleet.yml): on the hub, jobs of 8 + 4 GPUs on
# training-pool's 16 A100s and chat (4 x A10) on inference-pool's 8; llm-serve (4 GPUs) on vision-cluster's edge
# hosts (8 GPUs); finetune (2 x 8 A100) filling vision-train on spoke-1; embed (2 x 4 H100) on nlp-serve on spoke-2
# (16 GPUs). Quotas: vision 32 A100 (20 used), nlp 8 A10 (4 used), 16 H100 (8 used), 8 A100 (none used).
ANSWERS = {
    "Which pools have at least 4 free A100 GPUs?": ["training-pool"],
    "Which projects have used at least half of their quota of a GPU family, and of which?": [
        {"project": "nlp", "families": [A10, H100]}, {"project": "vision", "families": [A100]}],
    "Which apps run on a spoke, and on which?": [
        {"app": "embed", "project": "nlp", "spoke": "spoke-2", "gpus": 8},
        {"app": "finetune", "project": "vision", "spoke": "spoke-1", "gpus": 16}],
    "Where are the compute pools' GPU hosts, and are they healthy?": [
        {"host": "s2-gpu-1", "on": "spoke-2", "compute_pool": "nlp-serve", "status": "Healthy"},
        {"host": "s2-gpu-2", "on": "spoke-2", "compute_pool": "nlp-serve", "status": "Healthy"},
        {"host": "host-uid-3", "on": "hub", "compute_pool": "vision-cluster", "status": "Healthy"},
        {"host": "host-uid-4", "on": "hub", "compute_pool": "vision-cluster", "status": "Healthy"},
        {"host": "s1-gpu-1", "on": "spoke-1", "compute_pool": "vision-train", "status": "Healthy"},
        {"host": "s1-gpu-2", "on": "spoke-1", "compute_pool": "vision-train", "status": "Healthy"}],
    "Which compute pools have GPUs left to allocate?": [
        {"name": "nlp-serve", "allocated": 8, "total": 16}, {"name": "vision-cluster", "allocated": 4, "total": 8}],
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The hub (a ControlPlane) of a fleet built as `make demo` builds it: the demo's nodes on the hub and on each
    spoke, its jobs on the hub's pools, then playbooks/site.yml with the demo's spec and inventory."""
    from tests.harness.fleet import Fleet

    fleet = Fleet.at(tmp_path_factory.mktemp("demo") / "state", spokes=2).up()
    try:
        hub = client.CoreV1Api(fleet.hub.api_client("admin"))
        make_demo.create_nodes(hub, make_demo.NODES)
        make_demo.create_nodes(hub, make_demo.EDGE_HOSTS, {"palette.ai.rg/site": "edge"})
        for spoke, nodes in make_demo.SPOKE_NODES.items():
            make_demo.create_nodes(client.CoreV1Api(fleet.cluster(spoke).api_client("admin")), nodes)
        for namespace, name, node, gpus, pool in make_demo.PODS:
            try:
                create_pod(hub, namespace, name, node, gpus=gpus, node_selector={"runwhere.ai/pool": pool})
            except ApiException as error:
                if error.status != 409:
                    raise
        extra = {"fabric_spec": str(make_demo.SPEC), "fleet_kubeconfig": str(fleet.kubeconfig),
                 "hub_connection": {"kubeconfig": str(fleet.kubeconfig), "context": "hub-admin"}}
        out = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(make_demo.INVENTORY),
                              str(REPO / "playbooks" / "site.yml"), "-e", json.dumps(extra)],
                             capture_output=True, text=True, env=ansible_env(), cwd=str(REPO), check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        yield fleet.hub
    finally:
        fleet.down(quiet=True)


@pytest.fixture
def counter(demo):
    return WriteCounter(AuditLog(demo.audit_log), client.CoreV1Api(demo.api_client("admin"))).start()


def readme_playbook():
    """The YAML block of the README's section on questions, as text."""
    text = (REPO / "README.md").read_text()
    assert text.count(SECTION + "\n") == 1, "the README has no single section %r" % SECTION
    section = text.split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```yaml\n(.*?)^```$", section, flags=re.M | re.S)
    assert len(blocks) == 1, "the section should hold one playbook"
    return blocks[0]


def debug_answers(output):
    """{task name: msg} of every task whose result ansible-playbook printed (the default callback, JSON results)."""
    found = {}
    for block in re.split(r"^TASK \[", output, flags=re.M)[1:]:
        name = block[:block.index("]")]
        marker = "ok: [localhost] => "
        if marker in block:
            result, unused = json.JSONDecoder().raw_decode(block[block.index(marker) + len(marker):])
            if "msg" in result:
                found[name] = result["msg"]
    return found


def questions(playbook_text):
    """The names of the README playbook's tasks that ask (its debug tasks), in order."""
    tasks = yaml.safe_load(playbook_text)[0]["tasks"]
    return [task["name"] for task in tasks if "ansible.builtin.debug" in task]


def test_the_readme_asks_five_questions_with_the_query_filter():
    text = readme_playbook()
    tasks = yaml.safe_load(text)[0]["tasks"]
    asked = [task for task in tasks if "ansible.builtin.debug" in task]
    assert [task["name"] for task in asked] == list(ANSWERS)
    for task in asked:
        assert "gpufabric.platform.query(jmespath)" in task["ansible.builtin.debug"]["msg"]
        assert task["vars"]["jmespath"]


def test_the_readme_questions_get_the_demo_answers(demo, tmp_path, counter):
    playbook = tmp_path / "questions.yml"
    playbook.write_text(readme_playbook())
    code, output, recap = run_playbook(playbook, {"kubeconfig": str(demo.kubeconfig), "kube_context": "operator"})
    assert code == 0, output
    assert recap == {"ok": 3 + len(ANSWERS), "changed": 0, "failed": 0}, output
    answers = debug_answers(output)
    for question in questions(playbook.read_text()):
        assert answers.get(question) == ANSWERS[question], "%s\n%s" % (question, output)
    assert counter.count() == 0, counter.describe()


def test_the_answers_agree_with_the_rows_they_select_from(demo):
    """The same questions answered in Python from the modules' rows: the filter selected what the rows say."""
    kubeconfig = str(demo.kubeconfig)
    pools = run_module("pool_info", {}, kubeconfig)["pools"]
    projects = run_module("project_info", {}, kubeconfig)["projects"]
    compute = run_module("compute_pool_info", {}, kubeconfig)
    answers = list(ANSWERS.values())
    assert answers[0] == [p["name"] for p in pools if p["gpu_free"] >= 4
                          and any(n["gpu_type"].startswith("A100") for n in p["nodes"])]
    assert answers[1] == [{"project": p["name"], "families": [g["family"] for g in p["gpus"]
                                                              if g["used_percent"] >= 50]}
                          for p in projects if any(g["used_percent"] >= 50 for g in p["gpus"])]
    assert answers[2] == [{"app": a["name"], "project": a["namespace"], "spoke": a["spoke"], "gpus": a["gpu_count"]}
                          for p in projects for a in p["apps"] if a["spoke"]]
    assert answers[3] == [{"host": h["name"], "on": h["spoke"] or "hub", "compute_pool": h["compute_pool"],
                           "status": h["status"]} for h in compute["hosts"] if h["gpu_count"] > 0]
    assert answers[4] == [{"name": c["metadata"]["name"], "allocated": c["status"]["gpuAllocated"],
                           "total": c["status"]["gpuTotal"]} for c in compute["compute_pools"]
                          if c["status"]["gpuAllocated"] < c["status"]["gpuTotal"]]


def test_project_info_lists_the_demo_projects_as_the_operator_and_writes_nothing(demo, counter):
    kubeconfig = str(demo.kubeconfig)
    first = run_module("project_info", {}, kubeconfig)
    second = run_module("project_info", {}, kubeconfig, check=True)
    assert not first.get("failed") and first["changed"] is False, first
    assert second["projects"] == first["projects"]
    assert counter.count() == 0 and counter.dry_runs() == [], counter.describe()
    rows = dict((row["name"], row) for row in first["projects"])
    assert sorted(rows) == ["nlp", "vision"]  # research and notebooks hold jobs but are no projects
    vision, nlp = rows["vision"], rows["nlp"]
    assert (vision["tenant"], vision["gpu_quota"], vision["gpu_used"]) == ("research", {A100: 32}, {A100: 20})
    assert vision["gpus"] == [{"family": A100, "quota": 32, "used": 20, "free": 12, "used_percent": 62}]
    assert nlp["gpus"] == [{"family": A10, "quota": 8, "used": 4, "free": 4, "used_percent": 50},
                           {"family": A100, "quota": 8, "used": 0, "free": 8, "used_percent": 0},
                           {"family": H100, "quota": 16, "used": 8, "free": 8, "used_percent": 50}]
    assert (nlp["gpu_quota_total"], nlp["gpu_used_total"]) == (32, 12)
    assert vision["members"] == [{"kind": "User", "name": "alice", "role": "admin"},
                                 {"kind": "Group", "name": "ml-team", "role": "editor"},
                                 {"kind": "User", "name": "bob", "role": "viewer"}]
    assert nlp["members"] == [{"kind": "User", "name": "carol", "role": "admin"}]
    assert [(a["name"], a["gpu_count"], a["pool"], a["compute_pool"], a["spoke"]) for a in vision["apps"]] == [
        ("finetune", 16, None, "vision-train", "spoke-1"), ("llm-serve", 4, None, "vision-cluster", None)]
    assert [(a["name"], a["gpu_count"], a["pool"], a["compute_pool"], a["spoke"]) for a in nlp["apps"]] == [
        ("chat", 4, "inference-pool", None, None), ("embed", 8, None, "nlp-serve", "spoke-2")]
    # each app's own family (named with the GPUs' memory where the hosts say it) is one its quota family covers
    assert [a["family"].startswith(A100) for a in vision["apps"]] == [True, True]
    assert [a["family"].startswith(family) for a, family in zip(nlp["apps"], (A10, H100))] == [True, True]


def test_project_info_narrows_to_a_project_or_a_tenant(demo):
    kubeconfig = str(demo.kubeconfig)
    assert [p["name"] for p in run_module("project_info", {"name": "nlp"}, kubeconfig)["projects"]] == ["nlp"]
    assert [p["name"] for p in run_module("project_info", {"tenant": "research"}, kubeconfig)["projects"]] == [
        "nlp", "vision"]
    assert run_module("project_info", {"tenant": "elsewhere"}, kubeconfig)["projects"] == []
    assert run_module("project_info", {"name": "research"}, kubeconfig)["projects"] == []


def test_compute_pool_info_lists_each_host_with_its_pool_spoke_and_status(demo, counter):
    kubeconfig = str(demo.kubeconfig)
    result = run_module("compute_pool_info", {"namespace": "vision"}, kubeconfig)
    assert counter.count() == 0, counter.describe()
    hosts = result["hosts"]
    assert [(h["compute_pool"], h["spoke"], h["name"], h["machine_pool"], h["worker_pool"], h["status"],
             h["gpu_count"]) for h in hosts] == [
        ("vision-cluster", None, "host-uid-1", "control-plane-pool", None, "Healthy", 0),
        ("vision-cluster", None, "host-uid-3", "worker-pool-nvidia-amd64-0", "gpu-workers", "Healthy", 4),
        ("vision-cluster", None, "host-uid-4", "worker-pool-nvidia-amd64-0", "gpu-workers", "Healthy", 4),
        ("vision-train", "spoke-1", "s1-cpu-1", "control-plane-pool", None, "Healthy", 0),
        ("vision-train", "spoke-1", "s1-gpu-1", "worker-pool-nvidia-amd64-0", "a100-workers", "Healthy", 8),
        ("vision-train", "spoke-1", "s1-gpu-2", "worker-pool-nvidia-amd64-0", "a100-workers", "Healthy", 8)]
    assert hosts[1]["gpus"] == [{"family": A100, "count": 4, "memory_gb": 160}]
    assert all(h["namespace"] == "vision" for h in hosts)
    # the stored objects are returned as before, the hosts mappings included; the rows are those mappings
    names = [(pool["metadata"]["name"], name) for pool in result["compute_pools"]
             for machine_pool in pool["status"]["allocatedMachinePools"] for name in machine_pool["hosts"]]
    assert sorted(names) == sorted((h["compute_pool"], h["name"]) for h in hosts)
    elsewhere = run_module("compute_pool_info", {"namespace": "research"}, kubeconfig)
    assert (elsewhere["compute_pools"], elsewhere["hosts"]) == ([], [])
