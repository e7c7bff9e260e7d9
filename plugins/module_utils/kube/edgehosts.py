# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""The reads edge-host registration needs on the hub: one host's registration (its EdgeHost and identity objects,
by name), the compute pools that hold it, and the token its identity was given; and the Nodes a compute pool's
cluster has."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.edgehosts import (
    NAMESPACE, registration_keys, token_name)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.spokes import get_objects, wait_token


def read_registration(cluster, name):
    """{(kind, namespace, name): object or None} of everything one edge host's registration holds, and the
    namespace the identities live in (GETs by name, side by side)."""
    keys = registration_keys(name) + [("Namespace", "", NAMESPACE)]
    return get_objects(cluster, keys)


def compute_pools(cluster):
    """Every ComputePool on the hub (their status says which hosts they hold)."""
    return cluster.list("ComputePool")


def identity_token(cluster, name, timeout):
    """The edge host's token, once the hub's controller manager has filled in its token Secret."""
    return wait_token(cluster, NAMESPACE, token_name(name), timeout, "edge host %s" % name)


def read_node(cluster, name):
    node = cluster.get("Node", name)
    if node is not None:
        node.setdefault("kind", "Node")
        node.setdefault("apiVersion", "v1")
    return node
