"""The stack: validated fabric spec in, components out, in the fabric role's order (tenants, projects, pools,
compute pools) expressed as dependencies rather than as a sequence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from gpufabric_pulumi.compute_pool import ComputePool
from gpufabric_pulumi.config import StackConfig
from gpufabric_pulumi.labelled_pool import LabelledPool
from gpufabric_pulumi.project import Project
from gpufabric_pulumi.spec import Fabric, load_fabric
from gpufabric_pulumi.tenant import Tenant


@dataclass
class Components:
    tenants: Dict[str, Tenant]
    projects: Dict[str, Project]
    pools: Dict[str, LabelledPool]
    compute_pools: Dict[str, ComputePool]


def _options(provider, depends_on=()):
    return pulumi.ResourceOptions(providers=[provider] if provider else None, depends_on=list(depends_on))


def _named(components, name):
    """The component of that name as a dependency, or none when the spec does not declare it."""
    return [components[name]] if name in components else []


def declare_fabric(fabric: Fabric, provider: Optional[kubernetes.Provider] = None) -> Components:
    """A project waits for its tenant (the project module reads the Tenant); a compute pool waits for the project
    whose namespace it lives in. Pools depend on nothing the spec declares."""
    prefix = fabric.label_prefix
    tenants = dict((name, Tenant(name, quota, _options(provider))) for name, quota in fabric.tenants)
    projects = dict((spec.name, Project(spec, prefix, _options(provider, _named(tenants, spec.tenant))))
                    for spec in fabric.projects)
    pools = dict((spec.name, LabelledPool(spec, prefix, _options(provider))) for spec in fabric.pools)
    compute_pools = dict(("%s/%s" % (spec.namespace, spec.name),
                          ComputePool(spec, _options(provider, _named(projects, spec.namespace))))
                         for spec in fabric.compute_pools)
    return Components(tenants, projects, pools, compute_pools)


def provider_for(config: StackConfig) -> Optional[kubernetes.Provider]:
    """An explicit provider only when the stack names a kubeconfig or context; otherwise the ambient one."""
    if not config.explicit_provider:
        return None
    return kubernetes.Provider("gpufabric", kubeconfig=config.kubeconfig, context=config.context)


def declare_stack(config: StackConfig) -> Components:
    """Validate the whole spec first (a rejected spec declares nothing), then declare it; export what it holds."""
    fabric = load_fabric(config.spec, config.label_prefix)
    components = declare_fabric(fabric, provider_for(config))
    pulumi.export("labelPrefix", fabric.label_prefix)
    pulumi.export("tenants", sorted(components.tenants))
    pulumi.export("projects", sorted(components.projects))
    pulumi.export("pools", sorted(components.pools))
    pulumi.export("computePools", sorted(components.compute_pools))
    return components
