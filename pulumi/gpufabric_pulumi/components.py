"""The ComponentResources: each declares its items as children (`parent=self`), on the provider of the item's
cluster, after what the item depends on, protected when deleting it would destroy workloads, and registers the
outputs a user reads.

- Hub: the cluster the stack addresses. Its CRDs and RBAC (and, in a fleet, the bootstrap identity spokes join
  with), the labels of its Nodes (one NodePatch per node: a node's labels can come from a labelled pool and a
  compute pool at once, so the patch belongs to the cluster, and moving a node between pools updates it in place).
- Spoke: one registered cluster. Its side of the registration, the hub's side (its namespace, ManagedCluster and
  the connection Secret), the labels of its Nodes, and the project namespaces and quotas mirrored there for apps.
- Tenant, Project, LabelledPool, ComputePool, App: one per spec entry, named by what the entry names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as kubernetes

from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import token_of
from gpufabric_pulumi.desired import Item, Key
from gpufabric_pulumi.fleet import Registration, secret_data, token_sources
from gpufabric_pulumi.objects import declare


@dataclass
class ComponentArgs:
    """items: the component's objects, in declaration order; providers: {cluster: provider} ("" the hub);
    declared: every resource declared so far, by item key (what cross-component dependencies resolve against;
    each component adds its own); summary: what the component registers as its outputs."""

    items: Sequence[Item]
    providers: Mapping[str, kubernetes.Provider]
    declared: Dict[Key, pulumi.CustomResource]
    summary: dict = field(default_factory=dict)


@dataclass
class HubArgs(ComponentArgs):
    pass


@dataclass
class SpokeArgs(ComponentArgs):
    """registration: the spoke's registration (None for a spoke registered elsewhere: then only its pools, node
    labels and apps' namespaces are declared here)."""

    registration: Optional[Registration] = None


@dataclass
class TenantArgs(ComponentArgs):
    pass


@dataclass
class ProjectArgs(ComponentArgs):
    pass


@dataclass
class LabelledPoolArgs(ComponentArgs):
    pass


@dataclass
class ComputePoolArgs(ComponentArgs):
    pass


@dataclass
class AppArgs(ComponentArgs):
    pass


class FabricComponent(pulumi.ComponentResource):
    TYPE = ""

    def __init__(self, name: str, args: ComponentArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(self.TYPE, name, None, opts)
        self.resources: Dict[Key, pulumi.CustomResource] = {}
        for item in args.items:
            resource = declare(item, self.child_options(item, args), self.data_of(item, args))
            self.resources[item.key] = resource
            args.declared[item.key] = resource
        self.register_outputs(dict(args.summary))

    def child_options(self, item: Item, args: ComponentArgs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=args.providers[item.cluster],
                                      depends_on=[args.declared[key] for key in item.depends],
                                      protect=bool(item.protect))

    def data_of(self, item: Item, args: ComponentArgs) -> Optional[pulumi.Output]:
        return None


class Hub(FabricComponent):
    TYPE = "gpufabric:platform:Hub"


class Spoke(FabricComponent):
    TYPE = "gpufabric:platform:Spoke"

    def data_of(self, item: Item, args: SpokeArgs) -> Optional[pulumi.Output]:
        """The bootstrap kubeconfig (on the spoke) and the connection kubeconfig (on the hub) carry tokens the
        clusters issue for the service-account token Secrets declared before them; rendered by the core once the
        provider has read those Secrets back, and kept secret."""
        if args.registration is None:
            return None
        source = token_sources(args.registration.spec.name).get(item.key)
        if source is None:
            return None
        token_secret = args.declared[source]
        return pulumi.Output.secret(token_secret.data.apply(
            lambda data: secret_data(args.registration, item.key, token_of({"data": data or {}}))))


class Tenant(FabricComponent):
    TYPE = "gpufabric:platform:Tenant"


class Project(FabricComponent):
    TYPE = "gpufabric:platform:Project"


class LabelledPool(FabricComponent):
    TYPE = "gpufabric:platform:LabelledPool"


class ComputePool(FabricComponent):
    TYPE = "gpufabric:platform:ComputePool"


class App(FabricComponent):
    TYPE = "gpufabric:platform:App"


COMPONENTS = {"Hub": (Hub, HubArgs), "Spoke": (Spoke, SpokeArgs), "Tenant": (Tenant, TenantArgs),
              "Project": (Project, ProjectArgs), "LabelledPool": (LabelledPool, LabelledPoolArgs),
              "ComputePool": (ComputePool, ComputePoolArgs), "App": (App, AppArgs)}
# creation order: each component's dependencies are declared by components before it
CREATION_ORDER = ("Hub", "Spoke", "Tenant", "Project", "LabelledPool", "ComputePool", "App")
