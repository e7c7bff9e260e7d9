"""A hub and two spokes: three clusters that share nothing (CA, tokens, audit log, objects), each with the
collection's CRDs, the operator's RBAC and its own controllers, reachable through one fleet kubeconfig."""

from __future__ import annotations

import itertools
import json
import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.harness.controlplane import IDENTITIES
from tests.harness.nodes import create_node, ensure_namespace, wait_bound

pytestmark = pytest.mark.integration

CLUSTERS = ("hub", "spoke-1", "spoke-2")


def status_of(url: str, cafile, token: str) -> int:
    context = ssl.create_default_context(cafile=str(cafile))
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_layout_hub_in_the_state_folder_spokes_below_it(fleet):
    assert [plane.name for plane in fleet.clusters] == list(CLUSTERS)
    assert fleet.hub.kubeconfig == fleet.state / "kubeconfig"
    assert [plane.kubeconfig for plane in fleet.spokes] == [
        fleet.state / "spokes" / name / "kubeconfig" for name in ("spoke-1", "spoke-2")]
    for plane in fleet.clusters:
        contexts = [context["name"] for context in json.loads(plane.kubeconfig.read_text())["contexts"]]
        assert contexts == list(IDENTITIES)


@pytest.mark.parametrize("ca_of, server_of", itertools.permutations(CLUSTERS, 2))
def test_one_clusters_ca_does_not_verify_another_clusters_server(fleet, ca_of, server_of):
    ca, server = fleet.cluster(ca_of), fleet.cluster(server_of)
    assert status_of(server.server + "/readyz", server.ca_cert, server.token("admin")) == 200

    with pytest.raises(urllib.error.URLError) as error:
        status_of(server.server + "/readyz", ca.ca_cert, server.token("admin"))
    assert isinstance(error.value.reason, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("token_of, server_of", itertools.permutations(CLUSTERS, 2))
def test_one_clusters_token_opens_no_other_cluster(fleet, token_of, server_of):
    server = fleet.cluster(server_of)
    url = server.server + "/api/v1/namespaces"

    assert status_of(url, server.ca_cert, server.token("admin")) == 200
    assert status_of(url, server.ca_cert, fleet.cluster(token_of).token("admin")) == 401


def test_every_token_is_distinct(fleet):
    tokens = [plane.token(identity) for plane in fleet.clusters for identity in IDENTITIES]
    assert len(set(tokens)) == len(tokens) == 3 * len(IDENTITIES)


def test_fleet_kubeconfig_has_a_context_per_cluster_and_identity(fleet):
    kubeconfig = json.loads(fleet.kubeconfig.read_text())
    expected = [f"{cluster}-{identity}" for cluster in CLUSTERS for identity in IDENTITIES]
    assert [c["name"] for c in kubeconfig["contexts"]] == expected
    cas = {c["name"]: (c["cluster"]["server"], c["cluster"]["certificate-authority"]) for c in kubeconfig["clusters"]}
    assert cas == {plane.name: (plane.server, str(plane.ca_cert)) for plane in fleet.clusters}
    for cluster in CLUSTERS:  # each context reaches its own cluster, TLS verified with that cluster's CA
        configuration = client.Configuration()
        config.load_kube_config(str(fleet.kubeconfig), context=f"{cluster}-admin",
                                client_configuration=configuration, persist_config=False)
        assert configuration.host == fleet.cluster(cluster).server and configuration.verify_ssl
        client.CoreV1Api(client.ApiClient(configuration)).list_namespace()


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_each_cluster_has_the_crds_and_the_operator_rbac(fleet_api_client, cluster):
    crds = client.ApiextensionsV1Api(fleet_api_client(cluster)).list_custom_resource_definition().items
    established = {crd.metadata.name for crd in crds
                   if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])}
    assert {"pools.gpufabric.io", "computepools.gpufabric.io"} <= established
    operator = client.CoreV1Api(fleet_api_client(cluster, "operator"))
    operator.list_node()  # granted
    with pytest.raises(ApiException) as error:
        operator.list_secret_for_all_namespaces()
    assert error.value.status == 403


def test_writes_are_counted_in_the_cluster_that_took_them(fleet_api_client, fleet_writes):
    for counter in fleet_writes.values():
        counter.start()

    client.CoreV1Api(fleet_api_client("spoke-1")).create_namespaced_config_map(
        "default", {"metadata": {"name": "only-on-spoke-1"}})

    assert {name: counter.count() for name, counter in fleet_writes.items()} == {
        "hub": 0, "spoke-1": 1, "spoke-2": 0}


def test_a_spoke_schedules_pods_onto_its_own_nodes(fleet_api_client):
    spoke, hub = client.CoreV1Api(fleet_api_client("spoke-2")), client.CoreV1Api(fleet_api_client("hub"))
    own = {"fleet.test/placed": "here"}  # other tests leave GPU nodes of their own on spoke-2
    create_node(spoke, "spoke-2-gpu", gpus=4, labels=own)
    ensure_namespace(spoke, "placed")
    container = {"name": "main", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": "2"}}}
    spoke.create_namespaced_pod("placed", {
        "metadata": {"name": "job", "labels": {"app": "job"}},
        "spec": {"automountServiceAccountToken": False, "nodeSelector": own, "containers": [container]}})

    assert [pod.spec.node_name for pod in wait_bound(spoke, "placed", "app=job", 1)] == ["spoke-2-gpu"]
    with pytest.raises(ApiException) as error:
        hub.read_node("spoke-2-gpu")
    assert error.value.status == 404
