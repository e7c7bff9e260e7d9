"""Hub and spoke registration without a server: the spoke spec's checks, the GPU inventory and its labels, the
objects and kubeconfigs rendered, a registration planned, applied to an in-memory view and planned again (nothing
left to write), the same cluster under two names, deregistration with its guards, and the hub's plan."""

from __future__ import annotations

import base64
import json

import pytest
from core_helpers import node

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import (
    HUB, SPOKE, UID_ANNOTATION, Blockers, HubFacts, Live, Manifests, SpokeFacts, blockers, gpu_inventory,
    hide_secrets, inventory_labels, kubeconfig, parse_manifests, parse_ocm_crds, parse_spoke, plan_deregistration,
    plan_hub, plan_registration)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import APPLY, DELETE

P = "runwhere.ai"
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "pools.gpufabric.io"},
       "spec": {"group": "gpufabric.io", "names": {"kind": "Pool"}, "versions": [{"name": "v1alpha1"}]}}
ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "gpufabric-operator"},
        "rules": []}
MANIFESTS = Manifests((CRD,), (ROLE,), ())


def spec(**params):
    return parse_spoke(dict({"name": "edge-a", "cluster": {"context": "edge-a"}}, **params))


def facts(token="spoke-token", uid="uid-1", nodes=()):
    return SpokeFacts(uid, "https://edge-a:6443", CA, gpu_inventory(nodes, P), token)


HUB_FACTS = HubFacts("https://hub:6443", CA, "bootstrap-token")


def applied(live, writes):
    """The view after the writes, as a server that stores what server-side apply sends; a delete removes the object,
    and a deleted namespace what is in it (as the namespace controller does, a few seconds later)."""
    objects = dict(live.objects)
    for write in writes:
        side = SPOKE if write.cluster else HUB
        objects[(side, write.kind, write.namespace or "", write.name)] = \
            None if write.action == DELETE else json.loads(json.dumps(write.body))
        if write.action == DELETE and write.kind == "Namespace":
            objects = dict((key, None if key[0] == side and key[2] == write.name else obj)
                           for key, obj in objects.items())
    return Live(objects)


def test_every_problem_of_a_spoke_spec_is_named_at_once():
    with pytest.raises(FabricError) as error:
        parse_spoke({"name": "Edge_A", "cluster_set": "Bad Set", "hub_url": "http://hub", "wait_timeout": 0,
                     "klusterlet": {"registration_image": "quay.io/x y"}})
    text = str(error.value)
    for part in ("spoke name 'Edge_A' is not a DNS-1123 label", "cluster_set 'Bad Set'",
                 "cluster is required with state=present", "hub_url http://hub must be an https:// URL",
                 "wait_timeout is 0", "klusterlet.registration_image 'quay.io/x y'"):
        assert part in text, text
    assert len(error.value.errors) >= 6


def test_deregistration_needs_no_connection():
    assert parse_spoke({"name": "edge-a", "state": "absent"}).connection == ()


def test_the_inventory_counts_gpus_by_family_however_the_product_is_spelt():
    nodes = [node("a", gpus=8, product="NVIDIA A100"), node("b", gpus=8, product="NVIDIA-A100"),
             node("c", gpus=4, product="NVIDIA-H100", ready="False"), node("cpu")]
    inventory = gpu_inventory(nodes, P)
    assert (inventory.nodes, inventory.ready, inventory.gpus) == (4, 3, 20)
    assert inventory.families == (("NVIDIA-A100", 16), ("NVIDIA-H100", 4))
    labels, annotations, warnings = inventory_labels(inventory, P)
    assert labels == {P + "/gpus": "20", P + "/gpu-families": "NVIDIA-A100.NVIDIA-H100"}
    assert annotations == {P + "/gpus-by-family": "NVIDIA-A100=16,NVIDIA-H100=4"} and warnings == []


def test_families_that_do_not_fit_a_label_value_are_left_to_the_annotation_with_a_warning():
    nodes = [node("n%d" % i, gpus=1, product="NVIDIA-GPU-MODEL-NUMBER-%d" % i) for i in range(4)]
    labels, annotations, warnings = inventory_labels(gpu_inventory(nodes, P), P)
    assert P + "/gpu-families" not in labels and labels[P + "/gpus"] == "4"
    assert annotations[P + "/gpus-by-family"].count("=1") == 4
    families = ".".join("NVIDIA-GPU-MODEL-NUMBER-%d" % i for i in range(4))
    assert "do not fit a label value (%d characters, at most 63" % len(families) in warnings[0], warnings


def test_kubeconfigs_are_the_same_bytes_each_run_and_carry_server_ca_and_token():
    text = kubeconfig("edge-a", "https://edge-a:6443", CA, "gpufabric-hub", "t0ken")
    assert text == kubeconfig("edge-a", "https://edge-a:6443", CA, "gpufabric-hub", "t0ken")
    config = json.loads(text)
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://edge-a:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == CA
    assert config["users"][0]["user"] == {"token": "t0ken"} and config["current-context"] == "edge-a"
    assert "certificate-authority-data" not in json.loads(kubeconfig("x", "https://x", "", "u", "t"))["clusters"][0][
        "cluster"]  # no CA: the system's trust store


def test_a_registration_writes_the_spoke_first_then_the_hub_and_a_rerun_writes_nothing():
    nodes = [node("gpu-1", gpus=8, product="NVIDIA-A100")]
    plan = plan_registration(spec(), HUB_FACTS, facts(nodes=nodes), Live(), [], MANIFESTS, P)
    keys = [write.key for write in plan.writes]
    assert keys == [
        "edge-a:CustomResourceDefinition/pools.gpufabric.io", "edge-a:ClusterRole/gpufabric-operator",
        "edge-a:Namespace/gpufabric-system", "edge-a:ServiceAccount/gpufabric-system/gpufabric-hub",
        "edge-a:Secret/gpufabric-system/gpufabric-hub-token", "edge-a:ClusterRoleBinding/gpufabric-hub",
        "edge-a:Namespace/open-cluster-management-agent",
        "edge-a:Secret/open-cluster-management-agent/bootstrap-hub-kubeconfig", "edge-a:Klusterlet/klusterlet",
        "ManagedClusterSet/default", "Namespace/edge-a", "ManagedCluster/edge-a",
        "Secret/edge-a/gpufabric-spoke-connection"]
    assert plan.wait_after == 6 and all(w.action == APPLY for w in plan.writes)
    cluster = next(w.body for w in plan.writes if w.kind == "ManagedCluster")
    assert cluster["spec"] == {"hubAcceptsClient": True, "managedClusterClientConfigs": [
        {"url": "https://edge-a:6443", "caBundle": base64.b64encode(CA.encode()).decode()}]}
    assert cluster["metadata"]["labels"]["cluster.open-cluster-management.io/clusterset"] == "default"
    assert cluster["metadata"]["labels"][P + "/gpus"] == "8"
    assert cluster["metadata"]["annotations"][UID_ANNOTATION] == "uid-1"
    bootstrap = next(w.body for w in plan.writes if w.name == "bootstrap-hub-kubeconfig")
    joined = json.loads(base64.b64decode(bootstrap["data"]["kubeconfig"]))
    assert joined["clusters"][0]["cluster"]["server"] == "https://hub:6443"
    assert joined["users"][0]["user"]["token"] == "bootstrap-token"

    live = applied(Live(), plan.writes)
    cluster_set = live.get(HUB, "ManagedClusterSet", "default")
    again = plan_registration(spec(), HUB_FACTS, facts(nodes=nodes), live, [cluster], MANIFESTS, P, cluster_set)
    assert again.writes == ()


def test_more_gpus_change_only_the_managed_cluster():
    first = plan_registration(spec(), HUB_FACTS, facts(), Live(), [], MANIFESTS, P)
    live = applied(Live(), first.writes)
    more = facts(nodes=[node("gpu-1", gpus=4, product="NVIDIA-L40S")])
    cluster_set = live.get(HUB, "ManagedClusterSet", "default")
    plan = plan_registration(spec(), HUB_FACTS, more, live, [], MANIFESTS, P, cluster_set)
    assert [w.key for w in plan.writes] == ["ManagedCluster/edge-a"]


def test_a_new_token_rewrites_only_the_connection_secret():
    first = plan_registration(spec(), HUB_FACTS, facts(token=""), Live(), [], MANIFESTS, P)
    live = applied(Live(), first.writes)
    plan = plan_registration(spec(), HUB_FACTS, facts(token="filled-in"), live, [], MANIFESTS, P,
                             live.get(HUB, "ManagedClusterSet", "default"))
    assert [w.key for w in plan.writes] == ["Secret/edge-a/gpufabric-spoke-connection"]


def test_the_same_cluster_under_another_name_is_refused_naming_both():
    registered = {"metadata": {"name": "edge-old", "annotations": {UID_ANNOTATION: "uid-1"}}}
    with pytest.raises(FabricError) as error:
        plan_registration(spec(), HUB_FACTS, facts(), Live(), [registered], MANIFESTS, P)
    assert "spoke edge-a is the cluster already registered as edge-old" in str(error.value)


def test_a_namespace_the_platform_did_not_make_is_used_as_it_is_and_never_deleted():
    theirs = {"metadata": {"name": "open-cluster-management-agent", "labels": {}}}
    live = Live({(SPOKE, "Namespace", "", "open-cluster-management-agent"): theirs})
    plan = plan_registration(spec(), HUB_FACTS, facts(), live, [], MANIFESTS, P)
    assert "edge-a:Namespace/open-cluster-management-agent" not in [w.key for w in plan.writes]
    gone = plan_deregistration(spec(state="absent"), applied(live, plan.writes), Blockers())
    keys = [w.key for w in gone.writes]
    assert "edge-a:Namespace/open-cluster-management-agent" not in keys
    assert "edge-a:Secret/open-cluster-management-agent/bootstrap-hub-kubeconfig" in keys  # its Secret goes alone
    assert gone.report["left"] == ["spoke Namespace/open-cluster-management-agent"]


def test_a_registration_into_a_namespace_being_deleted_is_refused():
    going = {"metadata": {"name": "gpufabric-system", "labels": {"app.kubernetes.io/managed-by": "gpufabric"},
                          "deletionTimestamp": "2024-01-15T10:30:00Z"}}
    with pytest.raises(FabricError) as error:
        plan_registration(spec(), HUB_FACTS, facts(), Live({(SPOKE, "Namespace", "", "gpufabric-system"): going}),
                          [], MANIFESTS, P)
    assert "namespace gpufabric-system on the spoke edge-a is still being deleted" in str(error.value)


def test_deregistration_is_refused_while_a_compute_pool_or_an_app_uses_the_spoke():
    pools = [{"metadata": {"name": "edge", "namespace": "vision"}, "spec": {"spoke": "edge-a"}},
             {"metadata": {"name": "hub-pool", "namespace": "vision"}, "spec": {}}]
    apps = [{"kind": "Deployment", "metadata": {"name": "llm", "namespace": "vision",
                                                "labels": {"gpufabric.io/app": "llm"}}}]
    found = blockers("edge-a", pools, apps, [])
    assert found.compute_pools == ("vision/edge",) and found.apps == ("Deployment vision/llm",)
    with pytest.raises(FabricError) as error:
        plan_deregistration(spec(state="absent"), Live(), found)
    assert "spoke edge-a still has 1 compute pool(s) (vision/edge) and 1 app(s) (Deployment vision/llm)" in \
        str(error.value)
    forced = plan_deregistration(spec(state="absent", force=True), Live(), found)
    assert "deregistered with force while" in forced.warnings[0]


def test_deregistration_deletes_the_spoke_side_first_and_leaves_crds_and_the_cluster_set():
    plan = plan_registration(spec(), HUB_FACTS, facts(), Live(), [], MANIFESTS, P)
    live = applied(Live(), plan.writes)
    gone = plan_deregistration(spec(state="absent"), live, Blockers())
    assert [w.key for w in gone.writes] == [
        "edge-a:Klusterlet/klusterlet", "edge-a:Namespace/open-cluster-management-agent",
        "edge-a:Namespace/gpufabric-system", "edge-a:ClusterRoleBinding/gpufabric-hub", "ManagedCluster/edge-a",
        "Namespace/edge-a"]
    assert all(w.action == DELETE for w in gone.writes)
    assert plan_deregistration(spec(state="absent"), applied(live, gone.writes), Blockers()).writes == ()


def test_an_unreachable_spoke_deregistered_by_force_loses_only_the_hub_side():
    live = applied(Live(), plan_registration(spec(), HUB_FACTS, facts(), Live(), [], MANIFESTS, P).writes)
    gone = plan_deregistration(spec(state="absent", force=True), live, Blockers(), reachable=False,
                               url="https://edge-a:6443")
    assert [w.key for w in gone.writes] == ["ManagedCluster/edge-a", "Namespace/edge-a"]
    assert "spoke edge-a at https://edge-a:6443 cannot be reached" in gone.warnings[0]


def ocm_crd(kind, plural, group):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "names": {"kind": kind, "plural": plural}, "versions": [{"name": "v1"}]}}


def test_a_hub_missing_ocm_kinds_is_refused_unless_their_crds_are_given_and_only_those_are_installed():
    with pytest.raises(FabricError) as error:
        plan_hub(MANIFESTS, {}, {"ManagedCluster"}, Live())
    assert "does not serve ManagedClusterSet (cluster.open-cluster-management.io/v1beta2), ManifestWork" in \
        str(error.value)
    crds = parse_ocm_crds([ocm_crd("ManagedCluster", "managedclusters", "cluster.open-cluster-management.io"),
                           ocm_crd("ManagedClusterSet", "managedclustersets", "cluster.open-cluster-management.io"),
                           ocm_crd("ManifestWork", "manifestworks", "work.open-cluster-management.io")])
    plan = plan_hub(MANIFESTS, crds, {"ManagedCluster"}, Live())
    assert plan.report["ocm"]["installed"] == ["manifestworks.work.open-cluster-management.io",
                                               "managedclustersets.cluster.open-cluster-management.io"][::-1]
    assert [w.key for w in plan.crd_writes] == [
        "CustomResourceDefinition/pools.gpufabric.io",
        "CustomResourceDefinition/managedclustersets.cluster.open-cluster-management.io",
        "CustomResourceDefinition/manifestworks.work.open-cluster-management.io"]
    assert "ClusterRoleBinding/gpufabric-bootstrap" in [w.key for w in plan.writes]
    live = applied(Live(), plan.all_writes)
    served = {"ManagedCluster", "ManagedClusterSet", "ManifestWork"}
    assert plan_hub(MANIFESTS, crds, served, live).all_writes == ()


def test_manifests_and_ocm_crds_of_the_wrong_kind_are_named():
    with pytest.raises(FabricError) as error:
        parse_manifests([CRD, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}])
    assert "manifests[1]: apps/v1 Deployment is not one of the collection's manifests" in str(error.value)
    with pytest.raises(FabricError) as error:
        parse_ocm_crds([CRD])
    assert "pools.gpufabric.io is a CRD of group gpufabric.io, not of Open Cluster Management" in str(error.value)


def test_diffs_never_show_a_secrets_values():
    shown = hide_secrets({"kind": "Secret", "data": {"kubeconfig": "c2VjcmV0", "token": "eA=="}})
    assert shown["data"] == {"kubeconfig": "(hidden)", "token": "(hidden)"}
    other = {"kind": "ConfigMap", "data": {"a": "b"}}
    assert hide_secrets(other) is other
