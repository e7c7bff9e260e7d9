"""The fabric module against a control plane of its own (prune must see only this file's objects): the whole spec
validated before any write, check mode on an empty cluster predicting the real run, prune, and the role through
ansible-playbook with the spec and its pool documents read on the controller."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from kubernetes import client, config

from tests.conftest import WriteCounter
from tests.harness.ansible import run_module, run_playbook
from tests.harness.audit import AuditLog
from tests.harness.collection import REPO
from tests.harness.nodes import create_node, create_pod

pytestmark = pytest.mark.integration

PREFIX = "runwhere.ai"
A100 = "NVIDIA-A100"
EDGE = {"palette.ai.rg/site": "edge"}


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    from tests.harness.controlplane import ControlPlane

    started = ControlPlane(tmp_path_factory.mktemp("fabric") / "state").up()
    yield started
    started.down(quiet=True)


@pytest.fixture(scope="module")
def core(plane):
    configuration = client.Configuration()
    config.load_kube_config(str(plane.kubeconfig), context="admin", client_configuration=configuration,
                            persist_config=False)
    api = client.CoreV1Api(client.ApiClient(configuration))
    for name in ("gpu-1", "gpu-2", "gpu-3", "gpu-4"):
        create_node(api, name, gpu_product=A100, gpus=8)
    for name, gpus in (("edge-cp", 0), ("edge-1", 4), ("edge-2", 4)):
        create_node(api, name, gpu_product=A100 if gpus else None, gpus=gpus, labels=EDGE)
    return api


@pytest.fixture
def counter(plane, core):
    return WriteCounter(AuditLog(plane.audit_log), core).start()


def fabric(plane, spec, **extra):
    return run_module("fabric", dict({"spec": spec}, **extra), str(plane.kubeconfig))


def base_spec():
    return {
        "tenants": [{"name": "research", "gpu_quota": {A100: 24}}],
        "projects": [{"name": "vision", "tenant": "research", "gpu_quota": {A100: 16},
                      "members": [{"user": "alice", "role": "admin"}]},
                     {"name": "nlp", "tenant": "research", "gpu_quota": {A100: 8}}],
        "pools": [{"name": "train", "nodes": {"gpu-1": {"gpu_type": "A100"}, "gpu-2": {"gpu_type": "A100"}}},
                  {"name": "serve", "nodes": {"gpu-3": {"gpu_type": "A100"}}}],
        "compute_pools": [{"name": "edge", "namespace": "vision", "control_plane": {"resource_groups": {"site": "edge"}},
                           "worker_resource_groups": {"site": "edge"},
                           "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 8},
                                             "min_worker_nodes": 2}]}],
        "apps": [{"name": "llm", "namespace": "vision", "compute_pool": "edge", "image": "busybox",
                  "resources": {"gpu": 4}},
                 {"name": "chat", "namespace": "nlp", "pool": "train", "image": "busybox", "resources": {"gpu": 2}}],
    }


def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k != "statusUpdatedAt"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


INVALID = [
    ("unknown top-level key", {"tenant": [{"name": "x"}]}, "unknown top-level key tenant"),
    ("misspelt section", {"computepools": []}, "unknown top-level key computepools"),
    ("section not a list", {"pools": {"name": "train"}}, "pools must be a list"),
    ("unknown option", {"tenants": [{"name": "t", "gpu_quotas": {}}]}, "unknown option gpu_quotas (did you mean gpu_quota?)"),
    ("unknown node key", {"pools": [{"name": "p", "nodes": {"gpu-1": {"gpu_typ": "A100"}}}]},
     "unknown key gpu_typ"),
    ("node in two pools", {"pools": [{"name": "p1", "nodes": {"gpu-1": {}}}, {"name": "p2", "nodes": {"gpu-1": {}}}]},
     "node gpu-1 is listed by pools p1, p2"),
    ("tenant missing", {"projects": [{"name": "orphan", "tenant": "nobody"}]}, "tenant nobody does not exist"),
    ("quota over tenant", {"tenants": [{"name": "t", "gpu_quota": {A100: 4}}],
                           "projects": [{"name": "p", "tenant": "t", "gpu_quota": {A100: 5}}]},
     "projects request 5 x NVIDIA-A100 (p 5) but the tenant quota is 4: over by 1"),
    ("app on missing pool", {"projects": [{"name": "p"}],
                             "apps": [{"name": "a", "namespace": "p", "pool": "ghost", "image": "x"}]},
     "pool ghost does not exist"),
    ("compute pool outside a project", {"compute_pools": [{"name": "c", "namespace": "loose"}]},
     "namespace loose is not a gpufabric project"),
    ("capacity", {"projects": [{"name": "p", "gpu_quota": {A100: 64}}],
                  "pools": [{"name": "p1", "nodes": {"gpu-1": {}}}],
                  "apps": [{"name": "a", "namespace": "p", "pool": "p1", "image": "x", "resources": {"gpu": 9}}]},
     "needs 9 x NVIDIA-A100, 8 free on pool p1"),
    ("the same project twice", {"projects": [{"name": "p"}, {"name": "p"}]}, "project p is declared 2 times"),
]


@pytest.mark.parametrize("case, spec, message", INVALID, ids=[case[0] for case in INVALID])
def test_an_invalid_spec_writes_nothing(plane, core, counter, case, spec, message):
    document = dict({"tenants": [{"name": "ok-tenant"}]}, **spec)  # a valid entry that must not be written either
    result = fabric(plane, document)
    assert result.get("failed"), result
    assert message in result["msg"], result["msg"]
    assert counter.count() == 0, counter.describe()
    assert not [e for e in counter.audit.requests_since(counter.mark) if "dryRun" not in e.get("requestURI", "")]


def test_every_error_of_the_spec_is_reported_at_once(plane, core, counter):
    result = fabric(plane, {"tenant": [], "pools": [{"name": "Bad_Name", "nodes": {}}],
                            "projects": [{"name": "p", "members": "alice"}]})
    assert result.get("failed")
    assert len(result["errors"]) >= 3, result["errors"]
    assert counter.count() == 0


def test_check_on_an_empty_cluster_predicts_the_real_run(plane, core, counter):
    spec = base_spec()
    preview = run_module("fabric", {"spec": spec}, str(plane.kubeconfig), check=True, diff=True)
    assert not preview.get("failed"), preview.get("msg")
    assert counter.count() == 0, counter.describe()
    assert preview["changed"] and preview["summary"]["Namespace"]["created"] == ["nlp", "vision"]
    real = run_module("fabric", {"spec": spec}, str(plane.kubeconfig), diff=True)
    assert not real.get("failed"), real.get("msg")
    assert real["summary"] == preview["summary"]
    assert untimed(real["diff"]) == untimed(preview["diff"])
    assert real["writes"] == preview["writes"]

    counter.start()
    again = fabric(plane, spec)
    assert again["changed"] is False and again["writes"] == 0
    assert counter.count() == 0 and counter.dry_runs() == [], counter.describe()
    assert again["summary"]["Pool"]["unchanged"] == ["serve", "train"]


def test_prune_removes_exactly_what_left_the_spec_and_keeps_the_guards(plane, core, counter):
    spec = base_spec()
    assert not fabric(plane, spec).get("failed")
    core.create_namespace({"metadata": {"name": "hand-made"}})  # not managed: prune never touches it
    create_pod(core, "hand-made", "job-0", "gpu-3", gpus=1, node_selector={f"{PREFIX}/pool": "serve"})

    smaller = copy.deepcopy(spec)
    smaller["pools"] = [p for p in smaller["pools"] if p["name"] != "serve"]
    counter.start()
    refused = fabric(plane, smaller, prune=True)
    assert refused.get("failed") and "pool serve: node(s) gpu-3 would leave the pool while 1 workload(s)" in \
        refused["msg"], refused.get("msg")
    assert counter.count() == 0, counter.describe()

    smaller["apps"] = [a for a in smaller["apps"] if a["name"] != "chat"]
    smaller["projects"] = [p for p in smaller["projects"] if p["name"] != "nlp"]
    smaller["pools"] = spec["pools"]
    without_prune = fabric(plane, smaller)  # nothing outside the spec is touched
    assert not without_prune.get("failed"), without_prune.get("msg")
    assert all(not row["removed"] for row in without_prune["summary"].values()), without_prune["summary"]
    touched = set(name for row in without_prune["summary"].values() for name in row["changed"] + row["created"])
    assert not touched & {"nlp", "nlp/chat", "nlp/gpu-quota"}, without_prune["summary"]
    assert core.read_namespace("nlp").metadata.name == "nlp"
    pruned = fabric(plane, smaller, prune=True)
    assert not pruned.get("failed"), pruned.get("msg")
    assert pruned["summary"]["Deployment"]["removed"] == ["nlp/chat"]
    assert "nlp" in pruned["summary"]["Namespace"]["removed"]
    assert "hand-made" not in json.dumps(pruned["summary"])
    assert core.read_namespace("hand-made").metadata.name == "hand-made"
    assert all(node.metadata.name for node in core.list_node().items)  # Nodes are never deleted
    assert fabric(plane, smaller, prune=True)["changed"] is False


def test_the_role_reads_the_spec_and_its_pool_documents_on_the_controller(plane, core, tmp_path):
    (tmp_path / "pools").mkdir()
    (tmp_path / "pools" / "doc.yaml").write_text(yaml.safe_dump({
        "kind": "pool", "version": "v0.1", "pool": {"name": "from-doc", "description": "read beside the spec"},
        "nodes": {"gpu-4": {"gpu-type": "A100-80G"}}}))
    spec_file = tmp_path / "fabric.yml"
    spec_file.write_text(yaml.safe_dump({"pools": [{"src": "pools/doc.yaml"}]}))
    playbook = REPO / "playbooks" / "fabric.yml"
    extra = {"fabric_spec": str(spec_file), "kubeconfig": str(plane.kubeconfig), "kube_context": "operator"}
    code, output, recap = run_playbook(playbook, extra)
    assert code == 0, output
    assert recap["changed"] == 1
    assert core.read_node("gpu-4").metadata.labels[f"{PREFIX}/pool"] == "from-doc"
    code, output, recap = run_playbook(playbook, extra)
    assert code == 0 and recap["changed"] == 0, output

    spec_file.write_text("- not: a mapping\n")
    code, output, recap = run_playbook(playbook, extra)
    assert code != 0 and f"fabric spec {spec_file} must be a mapping" in output, output
