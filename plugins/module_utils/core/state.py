"""The live objects a plan starts from: one LIST per kind, read by the kube layer, looked up here.

Which kinds a run reads depends on what it declares (`kinds_for`), so an identity with narrow rights (an app
deployer) is asked only for what its entries need, and a converged run costs one LIST per kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import APP_LABEL
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import MANAGED_BY

MANAGED_SELECTOR = ",".join("%s=%s" % item for item in MANAGED_BY.items())
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"

# kind -> (label selector, field selector) of the LIST that reads it; None: every object of the kind.
LISTS = {
    "Node": (None, None),
    "Pod": (None, ACTIVE_PODS),
    "Namespace": (None, None),
    "Tenant": (None, None),
    "Pool": (None, None),
    "ComputePool": (None, None),
    "EdgeHost": (None, None),
    "ScalingPolicy": (None, None),
    "ResourceQuota": (MANAGED_SELECTOR, None),
    "Role": (MANAGED_SELECTOR, None),
    "RoleBinding": (MANAGED_SELECTOR, None),
    "Deployment": (APP_LABEL, None),
    "Job": (APP_LABEL, None),
    "ManifestWork": (APP_LABEL, None),
    "ManagedCluster": (MANAGED_SELECTOR, None),
}

# What each kind of entry reads. Nodes are read by every kind that counts or places GPUs.
READS = {
    "tenant": ("Tenant", "Namespace", "Node", "ManagedCluster"),
    "project": ("Tenant", "Namespace", "ResourceQuota", "Role", "RoleBinding", "Deployment", "Job", "Node",
                "ManagedCluster"),
    "pool_label": ("Node", "Pod", "Pool", "Deployment", "Job"),
    # EdgeHosts: the bare-metal hosts of compute pools with host_source edgehosts (none where the CRD is missing).
    "compute_pool": ("Node", "Namespace", "ComputePool", "EdgeHost", "ScalingPolicy", "Deployment", "Job"),
    "app_deployment": ("Namespace", "Node", "Pod", "Pool", "ComputePool", "Deployment", "Job", "ManifestWork"),
}
# What a run reads on a spoke its entries name: the nodes and pods its pools and compute pools hold, its
# labelled pools, the apps delivered to it, and the project namespaces and quotas mirrored there.
SPOKE_READS = ("Node", "Pod", "Pool", "Deployment", "Job", "Namespace", "ResourceQuota")


def kinds_for(entry_kinds):
    """The kinds to LIST for entries of these kinds, in a stable order."""
    wanted = set()
    for kind in entry_kinds:
        wanted.update(READS[kind])
    return tuple(kind for kind in LISTS if kind in wanted)


def key_of(obj):
    """(namespace or '', name) of an object."""
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace") or "", metadata.get("name")


@dataclass(frozen=True)
class ClusterState:
    """Objects by kind and (namespace, name), in the order listed (each carrying kind and apiVersion).
    A kind that was not read is empty; `read` says which were."""

    objects: Dict[str, Dict[Tuple[str, str], dict]] = field(default_factory=dict)
    read: Tuple[str, ...] = ()

    def items(self, kind):
        return tuple(self.objects.get(kind, {}).values())

    def get(self, kind, name, namespace=None):
        return self.objects.get(kind, {}).get((namespace or "", name))


def state_from_lists(lists):
    """ClusterState from {kind: [objects]} (list items with kind and apiVersion filled in by the reader)."""
    return ClusterState(dict((kind, dict((key_of(obj), obj) for obj in items)) for kind, items in lists.items()),
                        tuple(sorted(lists)))
