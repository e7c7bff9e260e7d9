"""pool_label and pool_info against the real control plane: gpuctl semantics, safety, idempotence, check mode."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.harness.ansible import run_module, run_playbook
from tests.harness.collection import REPO
from tests.harness.nodes import create_node, create_pod

pytestmark = pytest.mark.integration

POOLS = REPO / "playbooks" / "files" / "pools"
PREFIX = "runwhere.ai"


def labels(core_v1, node):
    return core_v1.read_node(node).metadata.labels


def pool_object(custom_objects, name):
    return custom_objects.get_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", name)


@pytest.fixture
def nodes(core_v1, request):
    """Three 8 x A100 nodes named after the test, so tests sharing the cluster never meet."""
    stem = request.node.name.replace("_", "-")[5:40].strip("-")
    names = [f"{stem}-{i}" for i in range(1, 4)]
    for name in names:
        create_node(core_v1, name, gpu_product="NVIDIA-A100", gpus=8, labels={"team": "ml", "zone": "eu-1"})
    return names


@pytest.fixture(scope="module")
def four_pools(core_v1):
    """The cluster of seed 002's four-pool design."""
    for name, product, gpus in [("gpu-node-1", "NVIDIA-A100", 8), ("gpu-node-2", "NVIDIA-A100", 8),
                                ("gpu-node-3", "NVIDIA-A10", 4), ("gpu-node-4", "NVIDIA-A10", 4),
                                ("gpu-node-5", "NVIDIA-GeForce-RTX-4090", 4),
                                ("cpu-node-1", None, 0), ("cpu-node-2", None, 0)]:
        create_node(core_v1, name, gpu_product=product, gpus=gpus)
    return ["training-pool", "inference-pool", "dev-pool", "compute-pool"]


def test_four_pool_design_from_gpuctl_documents(kubeconfig, core_v1, custom_objects, four_pools, writes):
    results = {pool: run_module("pool_label", {"src": str(POOLS / f"{pool}.yaml")}, kubeconfig)
               for pool in four_pools}
    assert all(r.get("changed") and not r.get("failed") for r in results.values()), results

    assert labels(core_v1, "gpu-node-1")[f"{PREFIX}/pool"] == "training-pool"
    assert labels(core_v1, "gpu-node-1")[f"{PREFIX}/gpu-type"] == "A100-100G"
    assert labels(core_v1, "gpu-node-5")[f"{PREFIX}/gpu-type"] == "RTX4090-24G"
    assert labels(core_v1, "cpu-node-1")[f"{PREFIX}/pool"] == "compute-pool"
    assert f"{PREFIX}/gpu-type" not in labels(core_v1, "cpu-node-1")  # gpu-type "" means no label

    rows = {p: (r["pool"]["gpu_total"], r["pool"]["gpu_free"], r["pool"]["node_count"]) for p, r in results.items()}
    assert rows == {"training-pool": (16, 16, 2), "inference-pool": (8, 8, 2), "dev-pool": (4, 4, 1),
                    "compute-pool": (0, 0, 2)}
    training = pool_object(custom_objects, "training-pool")
    assert training["spec"]["description"] == "Large model training (high-end GPUs)"
    observed = training["status"].pop("observedAt")  # when this run measured the figures
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", observed), observed
    assert training["status"] == {"state": "active", "gpuTotal": 16, "gpuUsed": 0, "gpuFree": 16, "nodeCount": 2,
                                  "gpuAllocated": 0, "hardwareAllocation": [], "aiWorkloadRefs": []}

    writes.start()
    again = [run_module("pool_label", {"src": str(POOLS / f"{pool}.yaml")}, kubeconfig) for pool in four_pools]
    assert [r["changed"] for r in again] == [False] * 4
    assert writes.count() == 0, writes.describe()


def test_pool_table_counts_gpus_of_pods_on_the_pool(kubeconfig, core_v1, four_pools):
    for pool in four_pools:
        run_module("pool_label", {"src": str(POOLS / f"{pool}.yaml")}, kubeconfig)
    selector = {f"{PREFIX}/pool": "training-pool"}
    create_pod(core_v1, "research", "train-0", "gpu-node-1", gpus=8, node_selector=selector)
    create_pod(core_v1, "research", "train-1", "gpu-node-2", gpus=4, node_selector=selector)

    info = run_module("pool_info", {}, kubeconfig)
    table = {p["name"]: (p["status"], p["gpu_total"], p["gpu_used"], p["gpu_free"], p["node_count"])
             for p in info["pools"]}
    assert table["training-pool"] == ("active", 16, 12, 4, 2)  # seed 002's example row
    assert table["inference-pool"] == ("active", 8, 0, 8, 2)
    assert info["pools"][-1]["name"] == "default"
    training = next(p for p in info["pools"] if p["name"] == "training-pool")
    assert [(w["name"], w["gpus"]) for w in training["workloads"]] == [("train-0", 8), ("train-1", 4)]
    assert info["changed"] is False

    # pool_label refreshes the Pool status; kubectl prints it through the printer columns
    refreshed = run_module("pool_label", {"src": str(POOLS / "training-pool.yaml")}, kubeconfig)
    assert refreshed["changed"] and refreshed["changed_nodes"] == []
    kubectl = shutil.which("kubectl")
    out = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "pools"], capture_output=True, text=True,
                         check=True).stdout
    header, *rows = out.splitlines()
    assert header.split()[:7] == ["NAME", "STATUS", "GPU", "TOTAL", "GPU", "USED", "GPU"]
    assert "training-pool" in out and any(r.split()[:6] == ["training-pool", "active", "16", "12", "4", "2"]
                                          for r in rows), out


def test_node_in_another_pool_is_not_moved_without_overwrite(kubeconfig, core_v1, custom_objects, nodes, writes):
    run_module("pool_label", {"name": "ow-a", "nodes": {nodes[0]: {"gpu_type": "A100"}}}, kubeconfig)
    writes.start()
    refused = run_module("pool_label", {"name": "ow-b", "nodes": {nodes[0]: {}, nodes[1]: {}}}, kubeconfig)
    assert refused["failed"]
    assert f"node {nodes[0]} is in pool ow-a" in refused["msg"] and "overwrite" in refused["msg"]
    assert writes.count() == 0, writes.describe()
    assert labels(core_v1, nodes[1]).get(f"{PREFIX}/pool") is None

    moved = run_module("pool_label", {"name": "ow-b", "nodes": {nodes[0]: {}, nodes[1]: {}}, "overwrite": True},
                       kubeconfig)
    assert moved["changed"] and moved["changed_nodes"] == sorted(nodes[:2])
    assert labels(core_v1, nodes[0])[f"{PREFIX}/pool"] == "ow-b"
    assert labels(core_v1, nodes[0])[f"{PREFIX}/gpu-type"] == "A100"  # no gpu_type given: left as it was
    assert pool_object(custom_objects, "ow-a")["status"]["nodeCount"] == 0  # the pool it left is recounted


def test_labels_outside_the_prefix_survive_byte_for_byte(kubeconfig, core_v1, nodes):
    core_v1.patch_node(nodes[0], {"metadata": {"labels": {"other.io/pool": "keep", "runwhere.ai-x/y": "keep"}}})
    before = {k: v for k, v in labels(core_v1, nodes[0]).items() if not k.startswith(PREFIX + "/")}
    run_module("pool_label", {"name": "fl", "nodes": {nodes[0]: {"gpu_type": "A100-100G"}}}, kubeconfig)
    run_module("pool_label", {"name": "fl", "state": "absent"}, kubeconfig)
    after = labels(core_v1, nodes[0])
    assert {k: v for k, v in after.items() if not k.startswith(PREFIX + "/")} == before
    assert not [k for k in after if k.startswith(PREFIX + "/")]


def test_second_run_changes_nothing_and_writes_nothing(kubeconfig, nodes, writes):
    args = {"name": "idem", "description": "twice", "nodes": {n: {"gpu_type": "A100-100G"} for n in nodes}}
    assert run_module("pool_label", args, kubeconfig)["changed"]
    writes.start()
    second = run_module("pool_label", args, kubeconfig, diff=True)
    assert second["changed"] is False and second["changed_nodes"] == []
    assert writes.count() == 0, writes.describe()


def test_check_mode_writes_nothing_and_predicts_the_real_run(kubeconfig, core_v1, custom_objects, nodes, writes):
    args = {"name": "chk", "nodes": {nodes[0]: {"gpu_type": "A100-100G"}, nodes[1]: {"gpu_type": "A100-100G"}}}
    writes.start()
    predicted = run_module("pool_label", args, kubeconfig, check=True, diff=True)
    assert writes.count() == 0, writes.describe()
    assert len(writes.dry_runs()) >= 3  # the Pool and two node patches, sent as server-side dry runs
    assert predicted["changed"] and predicted["changed_nodes"] == sorted(nodes[:2])
    assert predicted["diff"]["after"][f"Node/{nodes[0]}"] == {"labels": {f"{PREFIX}/gpu-type": "A100-100G",
                                                                         f"{PREFIX}/pool": "chk"}}
    assert labels(core_v1, nodes[0]).get(f"{PREFIX}/pool") is None

    real = run_module("pool_label", args, kubeconfig, diff=True)
    assert real["changed_nodes"] == predicted["changed_nodes"]
    assert real["diff"] == predicted["diff"]
    assert real["pool"] == predicted["pool"]

    writes.start()
    converged = run_module("pool_label", args, kubeconfig, check=True)
    assert converged["changed"] is False and writes.count() == 0 and writes.dry_runs() == []


def test_membership_is_declarative(kubeconfig, core_v1, nodes):
    run_module("pool_label", {"name": "decl", "nodes": {n: {"gpu_type": "A100"} for n in nodes}}, kubeconfig)
    shrunk = run_module("pool_label", {"name": "decl", "nodes": {nodes[0]: {"gpu_type": "A100"}}}, kubeconfig,
                        diff=True)
    assert shrunk["changed_nodes"] == sorted(nodes[1:])
    assert shrunk["diff"]["after"][f"Node/{nodes[1]}"] == {"labels": {}}
    assert f"{PREFIX}/pool" not in labels(core_v1, nodes[1])
    assert shrunk["pool"]["node_count"] == 1


def test_64_character_pool_name_is_rejected_before_any_write(kubeconfig, nodes, writes):
    writes.start()
    result = run_module("pool_label", {"name": "p" * 64, "nodes": {nodes[0]: {}}}, kubeconfig)
    assert result["failed"] and "64 characters; the limit is 63" in result["msg"]
    assert writes.count() == 0


def test_unknown_node_is_rejected_by_name(kubeconfig, nodes, writes):
    writes.start()
    result = run_module("pool_label", {"name": "unk", "nodes": {nodes[0]: {}, "no-such-node": {}}}, kubeconfig)
    assert result["failed"] and "node no-such-node does not exist" in result["msg"]
    assert writes.count() == 0


def test_node_selector_chooses_members(kubeconfig, core_v1, nodes):
    core_v1.patch_node(nodes[2], {"metadata": {"labels": {"tier": "gold"}}})
    result = run_module("pool_label", {"name": "sel", "node_selector": "tier=gold,team in (ml)"}, kubeconfig)
    assert result["changed_nodes"] == [nodes[2]]
    bad = run_module("pool_label", {"name": "sel", "node_selector": "tier==="}, kubeconfig)
    assert bad["failed"] and "not a label selector requirement" in bad["msg"]


def test_absent_refuses_while_workloads_run_unless_forced(kubeconfig, core_v1, custom_objects, nodes, writes):
    run_module("pool_label", {"name": "busy", "nodes": {nodes[0]: {}, nodes[1]: {}}}, kubeconfig)
    create_pod(core_v1, "busy-ns", "job-0", nodes[0], gpus=2, node_selector={f"{PREFIX}/pool": "busy"})
    writes.start()
    refused = run_module("pool_label", {"name": "busy", "state": "absent"}, kubeconfig)
    assert refused["failed"] and "busy-ns/job-0 on " + nodes[0] in refused["msg"]
    assert writes.count() == 0

    forced = run_module("pool_label", {"name": "busy", "state": "absent", "force": True}, kubeconfig)
    assert forced["changed"] and forced["changed_nodes"] == sorted(nodes[:2])
    assert any("keep running" in w for w in forced["warnings"])
    assert [w["name"] for w in forced["workloads"]] == ["job-0"]
    assert f"{PREFIX}/pool" not in labels(core_v1, nodes[0])
    with pytest.raises(Exception):
        pool_object(custom_objects, "busy")
    assert run_module("pool_label", {"name": "busy", "state": "absent"}, kubeconfig)["changed"] is False


def test_custom_label_prefix_is_validated_and_used(kubeconfig, core_v1, nodes):
    bad = run_module("pool_label", {"name": "pfx", "nodes": {nodes[0]: {}}, "label_prefix": "Not A Prefix"},
                     kubeconfig)
    assert bad["failed"] and "prefix" in bad["msg"]
    run_module("pool_label", {"name": "pfx", "nodes": {nodes[0]: {"gpu_type": "A100"}}, "label_prefix": "gpu.acme.io"},
               kubeconfig)
    assert labels(core_v1, nodes[0])["gpu.acme.io/pool"] == "pfx"


def test_src_is_read_on_the_controller_through_the_action_plugin(kubeconfig, core_v1, nodes, tmp_path):
    """ansible-playbook: `src` is found in the playbook's files/ and read on the controller; a file that is not a
    mapping is refused naming the file, and nothing is written."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "pool.yaml").write_text(
        "kind: pool\nversion: v0.1\npool: {name: from-file, description: read on the controller}\n"
        f"nodes:\n  {nodes[0]}: {{gpu-type: A100-80G}}\n")
    (tmp_path / "files" / "list.yaml").write_text("- not a pool document\n")
    book = tmp_path / "pool.yml"
    book.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  vars: {ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n"
        f"  tasks:\n    - gpufabric.platform.pool_label: {{src: '{{{{ document }}}}', kubeconfig: {kubeconfig},"
        " context: operator}\n")
    code, output, recap = run_playbook(book, {"document": "pool.yaml"})
    assert code == 0 and recap["changed"] == 1, output
    assert labels(core_v1, nodes[0])[f"{PREFIX}/pool"] == "from-file"
    code, output, recap = run_playbook(book, {"document": "pool.yaml"})
    assert code == 0 and recap["changed"] == 0, output
    code, output, recap = run_playbook(book, {"document": "list.yaml"})
    assert code != 0 and "list.yaml must be a mapping" in output, output
