"""The hub's and the spokes' own objects, from the core's registration plans (core.registration), as items.

Without spokes the hub is the one cluster: it gets the collection's CRDs and the operator's RBAC (manifests/). With
spokes it gets what `plan_hub` declares (the CRDs, RBAC, and the bootstrap identity spokes join with), and each
spoke what `plan_registration` declares on both sides: on the spoke the CRDs, the hub's identity and OCM's
Klusterlet with its bootstrap kubeconfig; on the hub the spoke's namespace, its accepted ManagedCluster and the
connection Secret. The two kubeconfig Secrets hold tokens the clusters issue during the run (service-account token
Secrets), so their data is an output the component fills in with the core's own kubeconfig rendering.

The plans are made as for clusters that hold none of the platform's objects: every object the platform would write
is declared (Pulumi compares with its own state). Objects of these names the platform did not make (a namespace or
cluster set Open Cluster Management created) are read first and left to their owner, as the modules leave them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import (
    AGENT_NAMESPACE, BOOTSTRAP_SECRET, BOOTSTRAP_TOKEN, CONNECTION_SECRET, HUB_IDENTITY_TOKEN, HUB_KINDS,
    HUB_NAMESPACE, SPOKE_KINDS, SPOKE_NAMESPACE, HubFacts, Live, Manifests, SpokeFacts, bootstrap_secret,
    connection_secret, gpu_inventory, hub_module_reads, managed, missing_kind_errors, parse_manifests, plan_hub,
    plan_registration)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import FINGERPRINT
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.spokes import (
    ca_text, get_objects, served_kinds)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import HUB as HUB_SIDE
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import SPOKE as SPOKE_SIDE
from gpufabric_pulumi.desired import HUB, Item, Key

MANIFEST_FOLDERS = ("crds", "rbac")


def collection_manifests(root: Path) -> Manifests:
    """The collection's manifests/crds and manifests/rbac documents (file-name order), checked by the core."""
    documents = []
    for folder in MANIFEST_FOLDERS:
        for path in sorted((root / "manifests" / folder).glob("*.y*ml")):
            documents += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return parse_manifests(documents)


def _declared(body: dict) -> dict:
    """A write's body as declared: the core's fingerprint is the Ansible modules' bookkeeping, not the object's."""
    obj = dict(body, metadata=dict(body["metadata"]))
    annotations = dict(obj["metadata"].get("annotations") or {})
    annotations.pop(FINGERPRINT, None)
    if annotations:
        obj["metadata"]["annotations"] = annotations
    else:
        obj["metadata"].pop("annotations", None)
    return obj


def _unmanaged(side, objects) -> Dict[tuple, dict]:
    return dict(((side,) + key, obj) for key, obj in objects.items() if obj is not None and not managed(obj))


@dataclass(frozen=True)
class Registration:
    """A spoke's declared objects and what its two token-bearing Secrets are rendered from."""

    items: Tuple[Item, ...]
    spec: object
    hub: HubFacts
    facts: SpokeFacts


def hub_items(manifests: Manifests, hub_cluster=None) -> List[Item]:
    """The hub's objects: with `hub_cluster` (a fleet) read for the OCM kinds it serves and for objects of the
    bootstrap identity's names it did not get from the platform."""
    owner = ("Hub", "hub")
    if hub_cluster is None:
        return [Item(HUB, obj, owner) for obj in tuple(manifests.crds) + tuple(manifests.rbac)]
    served = served_kinds(hub_cluster, HUB_KINDS)
    live = Live(_unmanaged(HUB_SIDE, get_objects(hub_cluster, hub_module_reads())))
    plan = plan_hub(manifests, {}, served, live)
    return [Item(HUB, _declared(write.body), owner) for write in plan.all_writes]


def hub_facts(spec, hub_cluster) -> HubFacts:
    """Where a spoke's Klusterlet reaches the hub: the spoke entry's hub_url, else the server the stack reaches."""
    connection = hub_cluster.connection
    return HubFacts(spec.hub_url or connection.host, ca_text(connection, "the hub"), "")


def registration(spec, hub_cluster, spoke_cluster, spoke_state, manifests, prefix) -> Registration:
    """Everything registering one spoke declares, on both sides (FabricError: the cluster is registered under
    another name, or a side lacks OCM's kinds)."""
    name = spec.name
    kube_system = spoke_cluster.get("Namespace", "kube-system")
    if kube_system is None:
        raise FabricError(["spoke %s at %s has no kube-system namespace: is it a Kubernetes API server?"
                           % (name, spoke_cluster.connection.host)])
    if SPOKE_KINDS[0] not in served_kinds(spoke_cluster, SPOKE_KINDS):
        raise_if(missing_kind_errors(list(SPOKE_KINDS), "spoke %s at %s" % (name, spoke_cluster.connection.host)))
    keys = [("Namespace", "", ns) for ns in (SPOKE_NAMESPACE, AGENT_NAMESPACE)]
    hub_keys = [("Namespace", "", name), ("ManagedClusterSet", "", spec.cluster_set)]
    hub_objects = get_objects(hub_cluster, hub_keys)
    live = Live(dict(list(_unmanaged(SPOKE_SIDE, get_objects(spoke_cluster, keys)).items())
                     + list(_unmanaged(HUB_SIDE, hub_objects).items())))
    cluster_set = hub_objects[("ManagedClusterSet", "", spec.cluster_set)]
    hub = hub_facts(spec, hub_cluster)
    facts = SpokeFacts(kube_system["metadata"]["uid"], spoke_cluster.connection.host,
                       ca_text(spoke_cluster.connection, "spoke %s" % name),
                       gpu_inventory(list(spoke_state.items("Node")), prefix))
    plan = plan_registration(spec, hub, facts, live, hub_cluster.list("ManagedCluster"), manifests, prefix,
                             cluster_set if cluster_set is not None and not managed(cluster_set) else None)
    owner = ("Spoke", name)
    items = []
    for write in plan.writes:
        obj = _declared(write.body)
        if obj["kind"] == "ManagedClusterSet":  # shared by the spokes of the set: the hub's
            items.append(Item(HUB, obj, ("Hub", "hub")))
            continue
        items.append(Item(write.cluster, obj, owner))
    return Registration(tuple(items), spec, hub, facts)


def token_sources(name: str) -> Dict[Key, Key]:
    """{kubeconfig Secret: token Secret its kubeconfig carries the token of} for one spoke."""
    return {(name, "Secret", AGENT_NAMESPACE, BOOTSTRAP_SECRET): (HUB, "Secret", HUB_NAMESPACE, BOOTSTRAP_TOKEN),
            (HUB, "Secret", name, CONNECTION_SECRET): (name, "Secret", SPOKE_NAMESPACE, HUB_IDENTITY_TOKEN)}


def secret_data(reg: Registration, key: Key, token: str) -> dict:
    """The data of one of a spoke's kubeconfig Secrets once the token is known (the core renders it)."""
    if key[3] == BOOTSTRAP_SECRET:
        return bootstrap_secret(reg.spec, replace(reg.hub, bootstrap_token=token))["data"]
    return connection_secret(reg.spec, replace(reg.facts, token=token))["data"]
