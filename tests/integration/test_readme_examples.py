"""The README's module examples, read from the README itself and run as written with ansible-playbook against a
cluster holding the demo's hub nodes (gpuctl's GPU nodes and the edge hosts labelled palette.ai.rg/site=edge).

The tasks of the sections on labelled pools, compute pools and tenants/projects/apps make one playbook, in the
order the fabric applies the kinds (a compute pool needs its project's namespace; an app its pool). The run
converges, a rerun writes nothing, and the app the README places on a compute pool may instead go where the
README's comment offers (`pool: training-pool`): on the demo's A100-SXM4-80GB nodes, counted against the
project's NVIDIA-A100 quota."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from kubernetes import client

from tests.conftest import WriteCounter
from tests.harness import demo
from tests.harness.ansible import run_playbook
from tests.harness.audit import AuditLog
from tests.harness.collection import REPO

pytestmark = pytest.mark.integration

SECTIONS = ("## Labelled pools (gpuctl)", "## Compute pools (PaletteAI)", "## Tenants, projects and app deployments")
ORDER = ("tenant", "project", "pool_label", "pool_info", "compute_pool", "compute_pool_info", "app_deployment")
PREFIX = "gpufabric.platform."


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A control plane of its own (the shared one holds nodes of the same names in other pools)."""
    from tests.harness.controlplane import ControlPlane

    plane = ControlPlane(tmp_path_factory.mktemp("readme") / "state")
    try:
        plane.up()
        core = client.CoreV1Api(plane.api_client("admin"))
        demo.create_nodes(core, demo.NODES)
        demo.create_nodes(core, demo.EDGE_HOSTS, {"palette.ai.rg/site": "edge"})
        yield plane
    finally:
        plane.down(quiet=True)


def readme_tasks():
    """The tasks of the first YAML block of each section, as the README writes them."""
    text = (REPO / "README.md").read_text()
    tasks = []
    for section in SECTIONS:
        assert text.count(section + "\n") == 1, "the README has no single section %r" % section
        body = text.split(section + "\n", 1)[1].split("\n## ", 1)[0]
        tasks.extend(yaml.safe_load(re.search(r"^```yaml\n(.*?)^```$", body, flags=re.M | re.S).group(1)))
    return tasks


def module_of(task):
    return next(key[len(PREFIX):] for key in task if key.startswith(PREFIX))


def write_playbook(directory, tasks):
    """A play on localhost with the connection set once for the collection, beside the pool documents a `src`
    names (searched in the playbook's files/)."""
    shutil.copytree(REPO / "playbooks" / "files" / "pools", directory / "files" / "pools", dirs_exist_ok=True)
    connection = {"kubeconfig": "{{ kubeconfig }}", "context": "operator"}
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/gpufabric.platform.kube": connection},
             "tasks": sorted(tasks, key=lambda task: ORDER.index(module_of(task)))}]
    path = directory / "readme.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


def test_the_readme_examples_run_as_written_and_converge(cluster, tmp_path):
    tasks = readme_tasks()
    assert sorted(set(module_of(task) for task in tasks)) == sorted(ORDER)
    playbook = write_playbook(tmp_path, tasks)
    variables = {"kubeconfig": str(cluster.kubeconfig)}

    code, output, recap = run_playbook(playbook, variables)
    assert code == 0 and recap["failed"] == 0, output
    assert recap["changed"] == 6, output  # tenant, project, two pools, compute pool, app; the three info tasks read
    apps = client.AppsV1Api(cluster.api_client("admin"))
    deployment = apps.read_namespaced_deployment("llm-serve", "vision")
    assert deployment.spec.template.spec.node_selector["runwhere.ai/compute-pool"] == "vision-cluster"

    writes = WriteCounter(AuditLog(cluster.audit_log), client.CoreV1Api(cluster.api_client("admin"))).start()
    code, output, recap = run_playbook(playbook, variables)
    assert (code, recap["changed"]) == (0, 0), output
    assert writes.count() == 0, writes.describe()


def test_the_readme_app_goes_to_the_training_pool_as_its_comment_offers(cluster, tmp_path):
    tasks = readme_tasks()
    app = next(task for task in tasks if module_of(task) == "app_deployment")[PREFIX + "app_deployment"]
    del app["compute_pool"]
    app["pool"] = "training-pool"
    playbook = write_playbook(tmp_path, tasks)

    code, output, recap = run_playbook(playbook, {"kubeconfig": str(cluster.kubeconfig)})
    assert code == 0 and recap["failed"] == 0, output
    assert recap["changed"] >= 1, output
    template = client.AppsV1Api(cluster.api_client("admin")).read_namespaced_deployment(
        "llm-serve", "vision").spec.template.spec
    assert template.node_selector["runwhere.ai/pool"] == "training-pool"
    assert template.node_selector["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    custom = client.CustomObjectsApi(cluster.api_client("admin"))
    training = custom.get_cluster_custom_object("gpufabric.io", "v1alpha1", "pools", "training-pool")
    assert [(ref["name"], ref["gpuCount"]) for ref in training["status"]["aiWorkloadRefs"]] == [("llm-serve", 8)]
    computed = custom.get_namespaced_custom_object("gpufabric.io", "v1alpha1", "vision", "computepools",
                                                   "vision-cluster")
    assert not computed["status"].get("aiWorkloadRefs"), computed["status"]  # the move freed the compute pool
