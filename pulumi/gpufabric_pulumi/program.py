"""The stack: read the spec and the clusters, let the core plan, declare the plan's objects in components, export.

`build` does everything but declaring (it reads through the kube layer and returns plain data), so a spec or a
cluster that the core refuses fails before a single resource is registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import SPOKE_READS
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.reader import read_state
from gpufabric_pulumi import REPO
from gpufabric_pulumi.components import COMPONENTS, CREATION_ORDER
from gpufabric_pulumi.config import Connection, StackConfig
from gpufabric_pulumi.desired import HUB, Item, fabric_items, guard, order, unique
from gpufabric_pulumi.fleet import Registration, collection_manifests, hub_items, registration, token_sources
from gpufabric_pulumi.live import open_clusters, read_and_plan
from gpufabric_pulumi.spec import Fabric, load_fabric
from gpufabric_pulumi.summary import component_summaries, stack_outputs


@dataclass
class Build:
    """Everything the stack declares, before anything is declared."""

    fabric: Fabric
    items: List[Item]
    connections: Dict[str, Connection]
    registrations: Dict[str, Registration] = field(default_factory=dict)


def spoke_connection(config: StackConfig, spoke) -> Connection:
    """A spoke's connection: the stack config's, else the spec entry's `cluster` (a kubeconfig given as a
    mapping there is handed to the provider as text)."""
    if spoke.name in config.spokes:
        return config.spokes[spoke.name]
    options = spoke.options
    kubeconfig = options.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        kubeconfig = json.dumps(kubeconfig)
    return Connection(kubeconfig=kubeconfig, context=options.get("context"))


def build(config: StackConfig, clusters=None) -> Build:
    """Validate the spec, read the clusters, plan, and lay out every item: dependencies, guards. clusters: the
    kube layer's clusters to read (default: opened from the connections)."""
    fabric = load_fabric(config.spec, config.label_prefix,
                         dict((name, connection.options()) for name, connection in config.spokes.items()))
    connections = dict(config.spokes)
    if "hub" in connections or any(spoke.name == "hub" for spoke in fabric.spokes):
        raise FabricError(["a spoke may not be named hub: the hub's provider and component carry that name"])
    for spoke in fabric.spokes:
        connections[spoke.name] = spoke_connection(config, spoke)
    connections[HUB] = config.hub
    if clusters is None:
        clusters = open_clusters(config, dict((name, connection.options())
                                              for name, connection in connections.items() if name))
    reading = read_and_plan(fabric.spec, clusters)
    manifests = collection_manifests(REPO)
    prefix = fabric.label_prefix
    items = hub_items(manifests, clusters.hub if fabric.spokes else None)
    registrations, extra = {}, {}
    for spoke in fabric.spokes:
        state = reading.states.get(spoke.name) or read_state(clusters.spokes[spoke.name], SPOKE_READS)
        registrations[spoke.name] = registration(spoke, clusters.hub, clusters.spokes[spoke.name], state, manifests,
                                                 prefix)
        items += registrations[spoke.name].items
        extra.update(token_sources(spoke.name))
    items = unique(items + fabric_items(fabric.spec, reading.plan))
    items = guard(order(items, fabric.spec, extra), fabric.spec, reading.states, prefix)
    return Build(fabric, items, connections, registrations)


def providers_for(connections: Dict[str, Connection], clusters) -> Dict[str, kubernetes.Provider]:
    """One provider per cluster, from the stack config (the kubeconfig is a secret), server-side apply on."""
    providers = {}
    for cluster in sorted(clusters):
        connection = connections.get(cluster, Connection())
        kubeconfig = connection.provider_kubeconfig()
        providers[cluster] = kubernetes.Provider(
            cluster or "hub", kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig else None,
            context=connection.context, enable_server_side_apply=True)
    return providers


def declare(result: Build, providers: Optional[Dict[str, kubernetes.Provider]] = None) -> dict:
    """The components, each created after those it depends on; returns {(type, name): component}."""
    items = result.items
    if providers is None:
        providers = providers_for(result.connections, set(item.cluster for item in items) | {HUB})
    summaries = component_summaries(result.fabric.spec, items)
    declared, components = {}, {}
    owners = []
    for item in items:
        if item.owner not in owners:
            owners.append(item.owner)
    for typ in CREATION_ORDER:
        cls, args_type = COMPONENTS[typ]
        for owner in [owner for owner in owners if owner[0] == typ]:
            args = args_type(items=[item for item in items if item.owner == owner], providers=providers,
                             declared=declared, summary=summaries.get(owner, {}))
            if typ == "Spoke":
                args.registration = result.registrations.get(owner[1])
            components[owner] = cls(owner[1], args)
    return components


def export(result: Build) -> dict:
    """Declare, then export the stack outputs; returns the components."""
    components = declare(result)
    for key, value in stack_outputs(result.fabric.spec, result.items, result.fabric.spokes).items():
        pulumi.export(key, value)
    return components


def declare_stack(config: StackConfig) -> dict:
    """The whole stack: build (a rejected spec or cluster declares nothing), declare, export."""
    return export(build(config))
