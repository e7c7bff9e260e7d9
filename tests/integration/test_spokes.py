"""The hub and its spokes on the fleet (a hub and two spokes, each its own control plane, CA, tokens and audit log):
the hub module, registering both spokes (check mode first), reruns that write nothing on any of the three servers,
what the bootstrap kubeconfig and the kept connection may do, refusals that write nothing anywhere, spoke_info,
and deregistration with its guards.

The tests run in file order on one fleet: the first registers the spokes, the last ones deregister spoke-2.
Modules run as the restricted operator identity on both sides, which proves gpufabric-operator is enough."""

from __future__ import annotations

import base64
import json
import subprocess
from collections import Counter

import jmespath
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.harness.ansible import run_module
from tests.harness.controlplane import REPO, free_port
from tests.harness.nodes import create_node
from tests.harness.waiting import wait_gone

pytestmark = pytest.mark.integration

AGENT_NS, SPOKE_NS = "open-cluster-management-agent", "gpufabric-system"
CONNECTION = "gpufabric-spoke-connection"
BOOTSTRAP_USER = "system:serviceaccount:open-cluster-management:gpufabric-bootstrap"
PREFIX = "runwhere.ai"
WRITERS = ("admin", "operator", "system:serviceaccount:gpufabric-system:gpufabric-hub")
NODES = {"spoke-1": [("s1-a100-1", "NVIDIA-A100", 8), ("s1-a100-2", "NVIDIA-A100", 8), ("s1-h100-1", "NVIDIA-H100", 4)],
         "spoke-2": [("s2-l40s-1", "NVIDIA-L40S", 4)]}


def manifests():
    from ansible_collections.gpufabric.platform.plugins.action.hub import collection_manifests

    return collection_manifests(str(REPO))


@pytest.fixture(scope="module")
def docs():
    return manifests()


def hub_module(fleet, docs, check=False, diff=False, **args):
    return run_module("hub", dict({"manifests": docs}, **args), str(fleet.kubeconfig), "hub-operator", check, diff)


def spoke_module(fleet, docs, name, cluster=None, check=False, diff=False, **args):
    args = dict({"name": name, "manifests": docs}, **args)
    if args.get("state", "present") == "present":
        args["cluster"] = cluster or {"kubeconfig": str(fleet.kubeconfig), "context": f"{name}-operator"}
    elif cluster:
        args["cluster"] = cluster
    return run_module("spoke", args, str(fleet.kubeconfig), "hub-operator", check, diff)


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def start(fleet_writes):
    for counter in fleet_writes.values():
        counter.start()
    return fleet_writes


def counts(fleet_writes):
    """Writes per cluster since start(), by admin, operator and the hub's identity on a spoke (the connection the
    hub keeps: deregistration without a cluster option writes through it)."""
    result = {}
    for name, counter in fleet_writes.items():
        counter.count()  # waits until the audit log has caught up
        result[name] = len(counter.audit.writes_since(counter.mark, users=WRITERS))
    return result


def api(fleet_api_client, cluster, kind="core"):
    factory = {"core": client.CoreV1Api, "custom": client.CustomObjectsApi, "rbac": client.RbacAuthorizationV1Api,
               "ext": client.ApiextensionsV1Api, "apps": client.AppsV1Api}[kind]
    return factory(fleet_api_client(cluster))


def expected_inventory(core):
    """GPUs per product label from the Nodes as the API lists them: the oracle the module's labels must match."""
    families = Counter()
    nodes = core.list_node().items
    for node in nodes:
        gpus = int((node.status.capacity or {}).get("nvidia.com/gpu", "0"))
        if gpus:
            families[node.metadata.labels["nvidia.com/gpu.product"]] += gpus
    return len(nodes), dict(families)


def secret_text(core, namespace, name, key="kubeconfig"):
    return base64.b64decode(core.read_namespaced_secret(name, namespace).data[key]).decode()


def client_from(kubeconfig_text):
    configuration = client.Configuration()
    config.load_kube_config_from_dict(yaml.safe_load(kubeconfig_text), client_configuration=configuration,
                                      persist_config=False)
    return client.ApiClient(configuration)


def compute_pool(name, namespace, spoke):
    return {"apiVersion": "gpufabric.io/v1alpha1", "kind": "ComputePool", "metadata": {"name": name,
                                                                                       "namespace": namespace},
            "spec": {"spoke": spoke, "clusterVariant": {"dedicated": {}},
                     "controlPlane": {"nodeCount": 1, "singleNodeCluster": False, "architecture": "AMD64",
                                      "scheduleWorkloads": True},
                     "nodePoolRequirements": {"workerPools": []}}}


@pytest.fixture(scope="module")
def registered(fleet, docs):
    """Hub prepared and both spokes registered (the first tests do it; this makes later ones stand alone)."""
    ok(hub_module(fleet, docs))
    for name in ("spoke-1", "spoke-2"):
        ok(spoke_module(fleet, docs, name))


# -- the hub ----------------------------------------------------------------------------------------------------------

def test_hub_check_mode_predicts_the_real_run_and_a_rerun_writes_nothing(fleet, docs, fleet_writes):
    start(fleet_writes)
    preview = ok(hub_module(fleet, docs, check=True, diff=True))
    assert counts(fleet_writes) == {"hub": 0, "spoke-1": 0, "spoke-2": 0}, fleet_writes["hub"].describe()

    real = ok(hub_module(fleet, docs, diff=True))
    assert "ServiceAccount/open-cluster-management/gpufabric-bootstrap" in real["hub"]["writes"]
    assert (real["changed"], real["hub"], real["diff"]) == (preview["changed"], preview["hub"], preview["diff"])
    assert counts(fleet_writes) == {"hub": len(real["hub"]["writes"]), "spoke-1": 0, "spoke-2": 0}
    assert real["hub"]["ocm"] == {"served": ["ManagedCluster", "ManagedClusterSet", "ManifestWork"], "installed": []}

    start(fleet_writes)
    again = ok(hub_module(fleet, docs))
    assert again["changed"] is False and again["hub"]["writes"] == []
    assert counts(fleet_writes) == {"hub": 0, "spoke-1": 0, "spoke-2": 0}, fleet_writes["hub"].describe()


def test_hub_bootstrap_identity_is_bound_to_exactly_the_agent_rules(fleet_api_client):
    rbac = api(fleet_api_client, "hub", "rbac")
    role = rbac.read_cluster_role("gpufabric-bootstrap")
    rules = sorted((tuple(r.api_groups), tuple(r.resources), tuple(sorted(r.verbs))) for r in role.rules)
    assert rules == [(("certificates.k8s.io",), ("certificatesigningrequests",), ("create", "get", "list", "watch")),
                     (("cluster.open-cluster-management.io",), ("managedclusters",), ("create", "get")),
                     (("cluster.open-cluster-management.io",), ("managedclustersets/join",), ("create",))]
    binding = rbac.read_cluster_role_binding("gpufabric-bootstrap")
    assert [(s.kind, s.namespace, s.name) for s in binding.subjects] == [
        ("ServiceAccount", "open-cluster-management", "gpufabric-bootstrap")]


# -- registering ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["spoke-1", "spoke-2"])
def test_register_check_mode_predicts_the_real_run_on_both_servers(fleet, docs, fleet_api_client, fleet_writes, name):
    core = api(fleet_api_client, name)
    for node, product, gpus in NODES[name]:
        create_node(core, node, gpu_product=product, gpus=gpus)
    other = "spoke-2" if name == "spoke-1" else "spoke-1"

    start(fleet_writes)
    preview = ok(spoke_module(fleet, docs, name, check=True, diff=True))
    assert counts(fleet_writes) == {"hub": 0, "spoke-1": 0, "spoke-2": 0}
    real = ok(spoke_module(fleet, docs, name, diff=True))
    written = real["spoke"]["writes"]
    assert f"{name}:Klusterlet/klusterlet" in written["spoke"] and f"ManagedCluster/{name}" in written["hub"]
    assert (real["changed"], real["spoke"], real["diff"]) == (preview["changed"], preview["spoke"], preview["diff"])
    assert counts(fleet_writes) == {"hub": len(written["hub"]), name: len(written["spoke"]), other: 0}, \
        "\n".join(counter.describe() for counter in fleet_writes.values())
    hub_diff, spoke_diff = real["diff"]
    assert hub_diff["after_header"] == "hub" and spoke_diff["after_header"] == f"spoke {name}"
    assert hub_diff["after"][f"Secret/{name}/{CONNECTION}"]["data"] == {"kubeconfig": "(hidden)"}


def test_a_rerun_writes_nothing_on_any_of_the_three_servers(fleet, docs, registered, fleet_writes):
    start(fleet_writes)
    for name in ("spoke-1", "spoke-2"):
        again = ok(spoke_module(fleet, docs, name))
        assert again["changed"] is False and again["spoke"]["writes"] == {"hub": [], "spoke": []}
    checked = ok(spoke_module(fleet, docs, "spoke-1", check=True))
    assert checked["changed"] is False
    assert counts(fleet_writes) == {"hub": 0, "spoke-1": 0, "spoke-2": 0}, \
        "\n".join(counter.describe() for counter in fleet_writes.values())


def test_the_managed_cluster_carries_the_gpu_inventory_identity_and_cluster_set(fleet, registered, fleet_api_client):
    for name in ("spoke-1", "spoke-2"):
        core = api(fleet_api_client, name)
        nodes, families = expected_inventory(core)
        cluster = api(fleet_api_client, "hub", "custom").get_cluster_custom_object(
            "cluster.open-cluster-management.io", "v1", "managedclusters", name)
        labels, annotations = cluster["metadata"]["labels"], cluster["metadata"]["annotations"]
        assert labels[f"{PREFIX}/gpus"] == str(sum(families.values()))
        assert labels[f"{PREFIX}/gpu-families"] == ".".join(sorted(families))
        assert annotations[f"{PREFIX}/gpus-by-family"] == ",".join(f"{f}={n}" for f, n in sorted(families.items()))
        assert labels["cluster.open-cluster-management.io/clusterset"] == "default"
        assert annotations["gpufabric.io/cluster-uid"] == core.read_namespace("kube-system").metadata.uid
        plane = fleet.cluster(name)
        assert cluster["spec"]["hubAcceptsClient"] is True
        assert cluster["spec"]["managedClusterClientConfigs"] == [
            {"url": plane.server, "caBundle": base64.b64encode(plane.ca_cert.read_bytes()).decode()}]
        klusterlet = api(fleet_api_client, name, "custom").get_cluster_custom_object(
            "operator.open-cluster-management.io", "v1", "klusterlets", "klusterlet")
        assert klusterlet["spec"]["clusterName"] == name and klusterlet["spec"]["namespace"] == AGENT_NS
        assert klusterlet["spec"]["externalServerURLs"] == cluster["spec"]["managedClusterClientConfigs"]
    sets = api(fleet_api_client, "hub", "custom").get_cluster_custom_object(
        "cluster.open-cluster-management.io", "v1beta2", "managedclustersets", "default")
    assert sets["spec"]["clusterSelector"]["selectorType"] == "ExclusiveClusterSetLabel"


def test_a_new_gpu_node_changes_only_the_labels_on_the_hub(fleet, docs, registered, fleet_api_client, fleet_writes):
    core = api(fleet_api_client, "spoke-1")
    create_node(core, "s1-h100-2", gpu_product="NVIDIA-H100", gpus=4)
    start(fleet_writes)
    result = ok(spoke_module(fleet, docs, "spoke-1"))
    assert result["spoke"]["writes"] == {"hub": ["ManagedCluster/spoke-1"], "spoke": []}
    assert counts(fleet_writes) == {"hub": 1, "spoke-1": 0, "spoke-2": 0}
    families = dict((row["family"], row["count"]) for row in result["spoke"]["inventory"]["gpu_families"])
    assert families == expected_inventory(core)[1]


def test_no_token_or_secret_is_in_the_results(fleet, docs, registered, fleet_api_client):
    hub_token = base64.b64decode(api(fleet_api_client, "hub").read_namespaced_secret(
        "gpufabric-bootstrap-token", "open-cluster-management").data["token"]).decode()
    spoke_token = base64.b64decode(api(fleet_api_client, "spoke-1").read_namespaced_secret(
        "gpufabric-hub-token", SPOKE_NS).data["token"]).decode()
    result = ok(spoke_module(fleet, docs, "spoke-1", check=True, diff=True))
    text = json.dumps(result)
    assert hub_token not in text and spoke_token not in text
    assert fleet.cluster("spoke-1").token("operator") not in text


def test_the_bootstrap_kubeconfig_may_do_what_an_agent_needs_and_no_more(fleet, registered, fleet_api_client, tmp_path):
    text = secret_text(api(fleet_api_client, "spoke-1"), AGENT_NS, "bootstrap-hub-kubeconfig")
    kubeconfig = yaml.safe_load(text)
    assert kubeconfig["clusters"][0]["cluster"]["server"] == fleet.hub.server
    assert base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]) == \
        fleet.hub.ca_cert.read_bytes()
    agent = client_from(text)
    key, request = tmp_path / "agent.key", tmp_path / "agent.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(request), "-subj", "/O=system:open-cluster-management:spoke-1/CN=spoke-1-agent"],
                   check=True, capture_output=True)
    certificates = client.CertificatesV1Api(agent)
    created = certificates.create_certificate_signing_request({
        "metadata": {"generateName": "spoke-1-"},
        "spec": {"request": base64.b64encode(request.read_bytes()).decode(),
                 "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]}})
    try:
        assert created.spec.username == BOOTSTRAP_USER
        mine = client.CustomObjectsApi(agent).get_cluster_custom_object(
            "cluster.open-cluster-management.io", "v1", "managedclusters", "spoke-1")
        assert mine["metadata"]["name"] == "spoke-1"
        for forbidden in (lambda: client.CoreV1Api(agent).list_namespaced_secret("open-cluster-management"),
                          lambda: client.CustomObjectsApi(agent).list_cluster_custom_object(
                              "cluster.open-cluster-management.io", "v1", "managedclusters"),
                          lambda: client.CustomObjectsApi(agent).patch_cluster_custom_object(
                              "cluster.open-cluster-management.io", "v1", "managedclusters", "spoke-1",
                              {"spec": {"hubAcceptsClient": False}})):
            with pytest.raises(ApiException) as error:
                forbidden()
            assert error.value.status == 403
    finally:
        client.CertificatesV1Api(fleet_api_client("hub")).delete_certificate_signing_request(created.metadata.name)


def test_the_kept_connection_reaches_the_spoke_as_the_hubs_identity(fleet, registered, fleet_api_client):
    from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster
    from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import connect
    from ansible_collections.gpufabric.platform.plugins.module_utils.kube.send import may
    from ansible_collections.gpufabric.platform.plugins.module_utils.kube.spokes import open_spoke

    hub = Cluster(connect({"kubeconfig": str(fleet.kubeconfig), "context": "hub-operator"}))
    spoke = open_spoke(hub, "spoke-2")
    assert spoke.connection.host == fleet.cluster("spoke-2").server
    names = sorted(node["metadata"]["name"] for node in spoke.list("Node"))
    assert names == sorted(node.metadata.name for node in api(fleet_api_client, "spoke-2").list_node().items)
    assert may(spoke, "create", "gpufabric.io", "pools") and may(spoke, "patch", "", "nodes")
    assert not may(spoke, "list", "", "secrets")
    text = secret_text(api(fleet_api_client, "hub"), "spoke-2", CONNECTION)
    review = client.AuthenticationV1Api(fleet_api_client("spoke-2")).create_token_review(
        {"spec": {"token": yaml.safe_load(text)["users"][0]["user"]["token"]}})
    assert review.status.user.username == "system:serviceaccount:gpufabric-system:gpufabric-hub"

    with pytest.raises(Exception) as error:
        open_spoke(hub, "never-registered")
    assert "spoke never-registered is not registered" in str(error.value)


# -- refusals that write nothing anywhere -----------------------------------------------------------------------------

def refused(fleet, docs, fleet_writes, name, cluster=None, **args):
    start(fleet_writes)
    result = spoke_module(fleet, docs, name, cluster, **args)
    assert result.get("failed"), result
    assert counts(fleet_writes) == {"hub": 0, "spoke-1": 0, "spoke-2": 0}, \
        "\n".join(counter.describe() for counter in fleet_writes.values())
    assert not [e for c in fleet_writes.values() for e in c.audit.requests_since(c.mark, users=WRITERS)
                if "dryRun" not in e.get("requestURI", "")]
    return result["msg"]


def test_the_same_cluster_under_a_second_name_is_refused_naming_both(fleet, docs, registered, fleet_writes):
    message = refused(fleet, docs, fleet_writes, "edge-copy",
                      {"kubeconfig": str(fleet.kubeconfig), "context": "spoke-1-operator"})
    assert "spoke edge-copy is the cluster already registered as spoke-1" in message
    assert "kube-system namespace uid" in message


def test_an_unreachable_spoke_is_named_with_its_url_and_nothing_is_written(fleet, docs, registered, fleet_writes):
    url = f"https://127.0.0.1:{free_port()}"
    message = refused(fleet, docs, fleet_writes, "ghost-1",
                      {"host": url, "api_key": "unused", "ca_cert": str(fleet.cluster("spoke-1").ca_cert)})
    assert f"spoke ghost-1 cannot be reached at {url}" in message


def bad_inputs(fleet, tmp_path):
    spoke = fleet.cluster("spoke-1")
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("clusters: [this is: not, a kubeconfig")
    return {
        "invalid name": ("Spoke_1", None, "spoke name 'Spoke_1' is not a DNS-1123 label"),
        "missing kubeconfig": ("edge-x", {"kubeconfig": str(tmp_path / "nowhere.kubeconfig")},
                               str(tmp_path / "nowhere.kubeconfig")),
        "unreadable kubeconfig": ("edge-x", {"kubeconfig": str(broken)}, str(broken)),
        "wrong CA": ("edge-x", {"host": spoke.server, "api_key": spoke.token("operator"),
                                "ca_cert": str(fleet.hub.ca_cert)}, "certificate verify failed"),
        "verification off": ("edge-x", {"host": spoke.server, "api_key": spoke.token("operator"),
                                        "validate_certs": False}, "certificate verification off"),
        "unknown connection option": ("edge-x", {"kubeconfig": str(fleet.kubeconfig), "contxt": "spoke-1-operator"},
                                      "cluster: unknown option contxt (did you mean context?)"),
    }


@pytest.mark.parametrize("case", ["invalid name", "missing kubeconfig", "unreadable kubeconfig", "wrong CA",
                                  "verification off", "unknown connection option"])
def test_bad_input_is_a_clear_error_with_no_write_on_any_server(fleet, docs, registered, fleet_writes, tmp_path, case):
    name, cluster, expected = bad_inputs(fleet, tmp_path)[case]
    message = refused(fleet, docs, fleet_writes, name, cluster)
    assert expected in message, message
    if case in ("missing kubeconfig", "unreadable kubeconfig", "wrong CA", "verification off"):
        assert message.startswith("spoke edge-x"), message


# -- spoke_info -------------------------------------------------------------------------------------------------------

def test_spoke_info_lists_reachability_version_nodes_gpus_pools_and_apps(fleet, registered, fleet_api_client):
    custom_hub, core_hub = api(fleet_api_client, "hub", "custom"), api(fleet_api_client, "hub")
    core_hub.create_namespace({"metadata": {"name": "info-team"}})
    custom_hub.create_namespaced_custom_object("gpufabric.io", "v1alpha1", "info-team", "computepools",
                                               compute_pool("edge-pool", "info-team", "spoke-1"))
    custom_hub.create_namespaced_custom_object("work.open-cluster-management.io", "v1", "spoke-1", "manifestworks", {
        "apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork", "metadata": {"name": "batch"},
        "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "c", "namespace": "default"}}]}}})
    api(fleet_api_client, "spoke-1", "apps").create_namespaced_deployment("default", {
        "metadata": {"name": "llm", "labels": {"gpufabric.io/app": "llm"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "llm"}},
                 "template": {"metadata": {"labels": {"app": "llm"}},
                              "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}})
    # A registered spoke whose API server is gone: a ManagedCluster and a kept connection to a dead port.
    dead = f"https://127.0.0.1:{free_port()}"
    core_hub.create_namespace({"metadata": {"name": "gone-1"}})
    custom_hub.create_cluster_custom_object("cluster.open-cluster-management.io", "v1", "managedclusters", {
        "apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": "gone-1", "labels": {"app.kubernetes.io/managed-by": "gpufabric"}},
        "spec": {"hubAcceptsClient": True, "managedClusterClientConfigs": [{"url": dead}]}})
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "gone",
                  "clusters": [{"name": "gone", "cluster": {"server": dead}}],
                  "users": [{"name": "u", "user": {"token": "t"}}],
                  "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}]}
    core_hub.create_namespaced_secret("gone-1", {"metadata": {"name": CONNECTION}, "data": {
        "kubeconfig": base64.b64encode(json.dumps(kubeconfig).encode()).decode()}})
    try:
        result = ok(run_module("spoke_info", {}, str(fleet.kubeconfig), "hub-operator"))
        rows = result["spokes"]
        assert [row["name"] for row in rows] == ["gone-1", "spoke-1", "spoke-2"]
        assert jmespath.search("[?!reachable].name", rows) == ["gone-1"]
        assert f"spoke gone-1 cannot be reached at {dead}" in rows[0]["error"]
        for row in rows[1:]:
            core = api(fleet_api_client, row["name"])
            nodes, families = expected_inventory(core)
            assert row["reachable"] and row["error"] == "" and row["kubernetes_version"] == "v1.20.2"
            assert (row["nodes"], row["gpus"]) == (nodes, sum(families.values()))
            assert jmespath.search("gpu_families[].[family, count]", row) == sorted(map(list, families.items()))
        spoke_1 = rows[1]
        assert spoke_1["compute_pools"] == [{"namespace": "info-team", "name": "edge-pool"}]
        assert spoke_1["apps"] == [{"kind": "Deployment", "namespace": "default", "name": "llm", "delivery": "direct"},
                                   {"kind": "ManifestWork", "namespace": "spoke-1", "name": "batch",
                                    "delivery": "manifestwork"}]
        assert rows[2]["compute_pools"] == [] and rows[2]["apps"] == []
        one = ok(run_module("spoke_info", {"name": "spoke-2"}, str(fleet.kubeconfig), "hub-operator"))
        assert [row["name"] for row in one["spokes"]] == ["spoke-2"]
    finally:
        custom_hub.delete_cluster_custom_object("cluster.open-cluster-management.io", "v1", "managedclusters", "gone-1")
        core_hub.delete_namespace("gone-1")
        custom_hub.delete_namespaced_custom_object("gpufabric.io", "v1alpha1", "info-team", "computepools",
                                                   "edge-pool")
        custom_hub.delete_namespaced_custom_object("work.open-cluster-management.io", "v1", "spoke-1",
                                                   "manifestworks", "batch")
        api(fleet_api_client, "spoke-1", "apps").delete_namespaced_deployment("llm", "default")


# -- deregistering ----------------------------------------------------------------------------------------------------

def registration_objects(fleet_api_client, name):
    """Which of the registration's objects exist (and are not being deleted) on the hub and the spoke."""
    def alive(read):
        try:
            obj = read()
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        metadata = obj["metadata"] if isinstance(obj, dict) else obj.metadata
        return not (metadata.get("deletionTimestamp") if isinstance(metadata, dict) else metadata.deletion_timestamp)

    hub, spoke = api(fleet_api_client, "hub"), api(fleet_api_client, name)
    custom_hub, custom_spoke = api(fleet_api_client, "hub", "custom"), api(fleet_api_client, name, "custom")
    return {
        "ManagedCluster": alive(lambda: custom_hub.get_cluster_custom_object(
            "cluster.open-cluster-management.io", "v1", "managedclusters", name)),
        "hub namespace": alive(lambda: hub.read_namespace(name)),
        "Klusterlet": alive(lambda: custom_spoke.get_cluster_custom_object(
            "operator.open-cluster-management.io", "v1", "klusterlets", "klusterlet")),
        "agent namespace": alive(lambda: spoke.read_namespace(AGENT_NS)),
        "hub identity namespace": alive(lambda: spoke.read_namespace(SPOKE_NS)),
        "hub identity binding": alive(lambda: api(fleet_api_client, name, "rbac").read_cluster_role_binding(
            "gpufabric-hub")),
    }


def test_deregistration_is_refused_while_a_compute_pool_names_the_spoke(
        fleet, docs, registered, fleet_api_client, fleet_writes):
    custom_hub = api(fleet_api_client, "hub", "custom")
    api(fleet_api_client, "hub").create_namespace({"metadata": {"name": "edge-team"}})
    custom_hub.create_namespaced_custom_object("gpufabric.io", "v1alpha1", "edge-team", "computepools",
                                               compute_pool("edge-2", "edge-team", "spoke-2"))
    message = refused(fleet, docs, fleet_writes, "spoke-2", state="absent")
    assert "spoke spoke-2 still has 1 compute pool(s) (edge-team/edge-2)" in message
    assert all(registration_objects(fleet_api_client, "spoke-2").values())

    custom_hub.delete_namespaced_custom_object("gpufabric.io", "v1alpha1", "edge-team", "computepools", "edge-2")
    start(fleet_writes)
    preview = ok(spoke_module(fleet, docs, "spoke-2", state="absent", check=True, diff=True))
    assert counts(fleet_writes) == {"hub": 0, "spoke-1": 0, "spoke-2": 0}
    real = ok(spoke_module(fleet, docs, "spoke-2", state="absent", diff=True))
    assert (real["changed"], real["spoke"], real["diff"]) == (preview["changed"], preview["spoke"], preview["diff"])
    assert counts(fleet_writes) == {"hub": len(real["spoke"]["writes"]["hub"]),
                                    "spoke-2": len(real["spoke"]["writes"]["spoke"]), "spoke-1": 0}
    assert not any(registration_objects(fleet_api_client, "spoke-2").values())
    # What registration leaves: the CRDs and ClusterRoles on the spoke, the cluster set and bootstrap identity.
    assert "pools.gpufabric.io" in {crd.metadata.name for crd in api(
        fleet_api_client, "spoke-2", "ext").list_custom_resource_definition().items}
    api(fleet_api_client, "spoke-2", "rbac").read_cluster_role("gpufabric-operator")
    custom_hub.get_cluster_custom_object("cluster.open-cluster-management.io", "v1beta2", "managedclustersets",
                                         "default")
    assert registration_objects(fleet_api_client, "spoke-1")["ManagedCluster"]

    start(fleet_writes)
    again = ok(spoke_module(fleet, docs, "spoke-2", state="absent"))
    assert again["changed"] is False
    assert counts(fleet_writes) == {"hub": 0, "spoke-1": 0, "spoke-2": 0}


def test_force_deregisters_while_an_app_runs_and_leaves_the_app(fleet, docs, fleet_api_client, fleet_writes):
    spoke, hub = api(fleet_api_client, "spoke-2"), api(fleet_api_client, "hub")
    for what, read in (("spoke-2's " + AGENT_NS, lambda: spoke.read_namespace(AGENT_NS)),
                       ("spoke-2's " + SPOKE_NS, lambda: spoke.read_namespace(SPOKE_NS)),
                       ("the hub's spoke-2", lambda: hub.read_namespace("spoke-2"))):
        wait_gone(what, read)  # the previous test's deregistration: namespaces finish deleting in about 5 s
    ok(spoke_module(fleet, docs, "spoke-2"))
    apps = api(fleet_api_client, "spoke-2", "apps")
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "trainer", "labels": {"gpufabric.io/app": "trainer"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "trainer"}},
                 "template": {"metadata": {"labels": {"app": "trainer"}},
                              "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}})
    message = refused(fleet, docs, fleet_writes, "spoke-2", state="absent")
    assert "1 app(s) (Deployment default/trainer)" in message and "force: true" in message

    forced = ok(spoke_module(fleet, docs, "spoke-2", state="absent", force=True))
    assert forced["changed"] and forced["spoke"]["blockers"]["apps"] == ["Deployment default/trainer"]
    assert any("Deployment default/trainer" in warning for warning in forced["warnings"])
    assert not any(registration_objects(fleet_api_client, "spoke-2").values())
    apps.read_namespaced_deployment("trainer", "default")  # left running
    apps.delete_namespaced_deployment("trainer", "default")


# -- a hub without OCM ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bare_hub(tmp_path_factory):
    """A control plane with the collection's manifests and none of OCM's CRDs."""
    from tests.harness.controlplane import ControlPlane

    plane = ControlPlane(tmp_path_factory.mktemp("bare-hub") / "state", "bare-hub").up()
    yield plane
    plane.down(quiet=True)


def test_a_hub_without_ocm_kinds_is_refused_naming_them_then_installed_from_named_files(
        fleet, bare_hub, docs, fleet_writes):
    from tests.conftest import WriteCounter
    from tests.harness.audit import AuditLog

    counter = WriteCounter(AuditLog(bare_hub.audit_log), client.CoreV1Api(bare_hub.api_client())).start()
    start(fleet_writes)
    spoke = run_module("spoke", {"name": "spoke-1", "manifests": docs, "cluster": {
        "kubeconfig": str(fleet.kubeconfig), "context": "spoke-1-operator"}}, str(bare_hub.kubeconfig), "operator")
    assert spoke.get("failed")
    assert f"the hub at {bare_hub.server} does not serve ManagedCluster (cluster.open-cluster-management.io/v1), " \
        "ManagedClusterSet (cluster.open-cluster-management.io/v1beta2)" in spoke["msg"], spoke["msg"]
    assert counter.count() == 0 and fleet_writes["spoke-1"].count() == 0

    failed = run_module("hub", {"manifests": docs}, str(bare_hub.kubeconfig), "operator")
    assert failed.get("failed")
    assert ("the hub does not serve ManagedCluster (cluster.open-cluster-management.io/v1), ManagedClusterSet "
            "(cluster.open-cluster-management.io/v1beta2), ManifestWork (work.open-cluster-management.io/v1)") \
        in failed["msg"]
    assert counter.count() == 0, counter.describe()

    ocm = [doc for path in sorted((REPO / "tests" / "harness" / "ocm").glob("*.yaml"))
           for doc in yaml.safe_load_all(path.read_text()) if doc]
    installed = ok(run_module("hub", {"manifests": docs, "ocm_crds": ocm}, str(bare_hub.kubeconfig), "operator"))
    assert installed["hub"]["ocm"] == {"served": [], "installed": [
        "managedclusters.cluster.open-cluster-management.io", "managedclustersets.cluster.open-cluster-management.io",
        "manifestworks.work.open-cluster-management.io"]}
    served = {crd.metadata.name for crd in client.ApiextensionsV1Api(
        bare_hub.api_client()).list_custom_resource_definition().items}
    assert "klusterlets.operator.open-cluster-management.io" not in served  # a spoke's kind: not the hub's to install
    counter.start()
    again = ok(run_module("hub", {"manifests": docs, "ocm_crds": ocm}, str(bare_hub.kubeconfig), "operator"))
    assert again["changed"] is False and again["hub"]["ocm"]["installed"] == []
    assert counter.count() == 0, counter.describe()
