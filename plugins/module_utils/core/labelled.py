"""Labelled pools (gpuctl, seed 002): nodes join a pool by label <prefix>/pool=<name>, GPU type by
<prefix>/gpu-type=<type>. Membership is declarative: nodes that carry the pool label but are no longer listed
lose it. Only keys under <prefix>/ are ever written to a Node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import pool_row
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    API_VERSION, MANAGED_BY, dns_label_errors, label_prefix_errors, label_value_errors)

DEFAULT_POOL = "default"
DOCUMENT_KIND, DOCUMENT_VERSION = "pool", "v0.1"


@dataclass(frozen=True)
class PoolSpec:
    """nodes: sorted (node, gpu_type) pairs; gpu_type '' removes the label, None leaves it as it is."""

    name: str
    description: str = ""
    nodes: Tuple[Tuple[str, Optional[str]], ...] = ()


def pool_keys(prefix):
    return prefix + "/pool", prefix + "/gpu-type"


def parse_pool(name, description="", nodes=None):
    """Module arguments -> PoolSpec. nodes: {node: {gpu_type: T}} (or {gpu-type: T}), or a list of node names
    (e.g. a node selector already resolved), which leaves gpu-type labels alone."""
    errors = dns_label_errors(name, "pool name")
    if name == DEFAULT_POOL:
        errors.append("pool name 'default' is reserved for nodes without a pool label")
    pairs = []
    if isinstance(nodes, (list, tuple)):
        nodes = dict((node, None) for node in nodes)
    if nodes is not None and not isinstance(nodes, dict):
        errors.append("pool %s: nodes must be a mapping of node name to {gpu_type} or a list of names" % name)
        nodes = {}
    for node in sorted(nodes or {}, key=str):
        body = (nodes or {})[node]
        gpu_type = None
        if body is not None:
            if not isinstance(body, dict):
                errors.append("pool %s node %s: expected {gpu_type: ...}, got %r" % (name, node, body))
                continue
            gpu_type = body.get("gpu_type", body.get("gpu-type"))
            gpu_type = None if gpu_type is None else str(gpu_type)
            if gpu_type:
                errors.extend(label_value_errors(gpu_type, "pool %s node %s gpu_type" % (name, node)))
        pairs.append((str(node), gpu_type))
    raise_if(errors)
    return PoolSpec(name, str(description or ""), tuple(pairs))


def parse_pool_document(document):
    """A gpuctl pool document (kind: pool, version: v0.1, pool: {name, description}, nodes: {...}) -> PoolSpec."""
    errors = []
    if not isinstance(document, dict):
        raise_if(["pool document must be a mapping, got %r" % (document,)])
    if document.get("kind") != DOCUMENT_KIND:
        errors.append("pool document kind is %r; expected 'pool'" % (document.get("kind"),))
    if str(document.get("version")) != DOCUMENT_VERSION:
        errors.append("pool document version is %r; expected 'v0.1'" % (document.get("version"),))
    pool = document.get("pool") or {}
    raise_if(errors)
    return parse_pool(pool.get("name"), pool.get("description", ""), document.get("nodes") or {})


def _labels(node):
    return (node.get("metadata") or {}).get("labels") or {}


def _name(node):
    return (node.get("metadata") or {}).get("name")


def pool_label_changes(nodes, spec, prefix, overwrite=False, state="present"):
    """Label patches {node: {key: value or None}} making the nodes match the pool; only changed keys appear.

    Raises FabricError listing unknown nodes and nodes in another pool (when overwrite is false).
    """
    errors = label_prefix_errors(prefix)
    pool_key, type_key = pool_keys(prefix)
    by_name = dict((_name(node), _labels(node)) for node in nodes)
    desired = {}
    if state == "present":
        for node, gpu_type in spec.nodes:
            labels = by_name.get(node)
            if labels is None:
                errors.append("node %s does not exist" % node)
                continue
            other = labels.get(pool_key)
            if other and other != spec.name and not overwrite:
                errors.append("node %s is in pool %s; set overwrite to move it to %s" % (node, other, spec.name))
            wanted = {pool_key: spec.name}
            if gpu_type is not None:
                wanted[type_key] = gpu_type or None
            desired[node] = wanted
    elif state != "absent":
        errors.append("state %r is not present or absent" % (state,))
    raise_if(errors)
    for node in by_name:
        if node not in desired and by_name[node].get(pool_key) == spec.name:
            desired[node] = {pool_key: None, type_key: None}
    changes = {}
    for node in sorted(desired):
        labels = by_name[node]
        patch = dict((key, value) for key, value in sorted(desired[node].items()) if labels.get(key) != value)
        if patch:
            changes[node] = patch
    return changes


def member_nodes(nodes, name, prefix):
    """The nodes of a pool, sorted by name; the default pool is every node without a pool label."""
    pool_key = pool_keys(prefix)[0]
    wanted = None if name == DEFAULT_POOL else name
    return sorted((n for n in nodes if (_labels(n).get(pool_key) or None) == wanted), key=_name)


def pool_members(nodes, name, prefix):
    """Names of the nodes in a pool, sorted."""
    return [_name(n) for n in member_nodes(nodes, name, prefix)]


def pool_table(nodes, pods, prefix):
    """`gpuctl get pools`: one row per pool found on the nodes, sorted by name, then the default pool."""
    pool_key = pool_keys(prefix)[0]
    groups = {}
    for node in nodes:
        groups.setdefault(_labels(node).get(pool_key) or DEFAULT_POOL, []).append(node)
    names = sorted(name for name in groups if name != DEFAULT_POOL) + [DEFAULT_POOL]
    return [pool_row(name, groups.get(name, []), pods) for name in names]


RECORDED_FIELDS = ("gpuAllocated", "hardwareAllocation", "aiWorkloadRefs")


def recorded_allocation(status):
    """The app deployments' part of a Pool status (written by app_deployment), carried over by pool_label."""
    status = status or {}
    if not status.get("aiWorkloadRefs"):
        return {}
    return dict((key, status[key]) for key in RECORDED_FIELDS if key in status)


def pool_status(row, recorded=None):
    """Pool .status: the pool table row, plus the app deployments' allocation when any app is placed."""
    status = {"state": row["state"], "gpuTotal": row["gpuTotal"], "gpuUsed": row["gpuUsed"],
              "gpuFree": row["gpuFree"], "nodeCount": row["nodeCount"]}
    status.update(recorded_allocation(recorded))
    return status


def render_pool(spec, row, prefix, recorded=None):
    """The Pool object (cluster-scoped) with its status row (and the recorded app allocation, if any)."""
    pool_key = pool_keys(prefix)[0]
    body = {"description": spec.description, "nodeSelector": {pool_key: spec.name},
            "nodes": [dict([("name", node)] + ([("gpuType", gpu_type)] if gpu_type else []))
                      for node, gpu_type in spec.nodes]}
    return {"apiVersion": API_VERSION, "kind": "Pool",
            "metadata": {"name": spec.name, "labels": dict(MANAGED_BY)}, "spec": body,
            "status": pool_status(row, recorded)}


def apply_label_changes(nodes, changes):
    """Nodes as they will be once the patches are applied (pure; used to preview rows and in tests)."""
    result = []
    for node in nodes:
        patch = changes.get(_name(node))
        if not patch:
            result.append(node)
            continue
        labels = dict(_labels(node))
        for key, value in patch.items():
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
        metadata = dict(node.get("metadata") or {})
        metadata["labels"] = labels
        updated = dict(node)
        updated["metadata"] = metadata
        result.append(updated)
    return result


def label_diff(nodes, changes, prefix):
    """Diff mode's view of label patches: ({node: labels under the prefix} before, the same after), changed
    nodes only; any other label is none of the diff's business."""
    def view(group):
        return dict((_name(node), dict((key, value) for key, value in sorted(_labels(node).items())
                                       if key.startswith(prefix + "/")))
                    for node in group if _name(node) in changes)

    return view(nodes), view(apply_label_changes(nodes, changes))
