"""Labelled pools (gpuctl's resource pools): nodes join a pool by label <prefix>/pool=<name>, GPU type by
<prefix>/gpu-type=<type>. Membership is declarative: nodes that carry the pool label but are no longer listed
lose it. Only keys under <prefix>/ are ever written to a Node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    node_gpus, pod_gpu_request, pool_row)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    API_VERSION, MANAGED_BY, dns_label_errors, label_value_errors)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.selector import parse_selector

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


NODE_KEYS = ("gpu_type", "gpu-type")
DOCUMENT_KEYS = ("kind", "version", "pool", "nodes")
POOL_KEYS = ("name", "description")


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
        errors.append("pool %s: nodes must be a mapping of node name to {gpu_type: TYPE}, got %r" % (name, nodes))
        nodes = {}
    for node in sorted(nodes or {}, key=str):
        body = (nodes or {})[node]
        if not isinstance(node, str):
            errors.append("pool %s: node name %r must be a string" % (name, node))
        gpu_type = None
        if body is not None:
            if not isinstance(body, dict):
                errors.append("pool %s node %s: expected {gpu_type: TYPE}, got %r" % (name, node, body))
                continue
            unknown = sorted(str(key) for key in body if key not in NODE_KEYS)
            if unknown:
                errors.append("pool %s node %s: unknown key %s (the only key is gpu_type)"
                              % (name, node, ", ".join(unknown)))
            gpu_type = body.get("gpu_type", body.get("gpu-type"))
            if isinstance(gpu_type, (bool, dict, list)):
                errors.append("pool %s node %s: gpu_type must be a string, got %r" % (name, node, gpu_type))
                gpu_type = None
            gpu_type = None if gpu_type is None else str(gpu_type)
            if gpu_type:
                errors.extend(label_value_errors(gpu_type, "pool %s node %s gpu_type" % (name, node)))
        pairs.append((str(node), gpu_type))
    raise_if(errors)
    return PoolSpec(name, str(description or ""), tuple(pairs))


def parse_pool_document(document, source="pool document"):
    """A gpuctl pool document (kind: pool, version: v0.1, pool: {name, description}, nodes: {...}) -> PoolSpec.
    source: how messages name the document (e.g. the file it came from)."""
    if not isinstance(document, dict):
        raise_if(["%s must be a mapping (kind: pool, version: v0.1, pool: {name, description}, nodes: {...}), "
                  "got %s" % (source, "an empty document" if document is None else repr(document)[:80])])
    errors = ["%s: unknown key %s (known: %s)" % (source, key, ", ".join(DOCUMENT_KEYS))
              for key in sorted(str(k) for k in document if k not in DOCUMENT_KEYS)]
    if document.get("kind") != DOCUMENT_KIND:
        errors.append("%s: kind is %r; expected 'pool'" % (source, document.get("kind")))
    if str(document.get("version")) != DOCUMENT_VERSION:
        errors.append("%s: version is %r; expected 'v0.1'" % (source, document.get("version")))
    pool = document.get("pool")
    if not isinstance(pool, dict):
        errors.append("%s: pool must be a mapping {name, description}, got %r" % (source, pool))
        pool = {}
    errors += ["%s: unknown key pool.%s (known: %s)" % (source, key, ", ".join(POOL_KEYS))
               for key in sorted(str(k) for k in pool if k not in POOL_KEYS)]
    nodes = document.get("nodes")
    if nodes is not None and not isinstance(nodes, dict):  # a list is how a node selector's result is passed
        errors.append("%s: nodes must be a mapping of node name to {gpu-type: TYPE}, got %r" % (source, nodes))
    raise_if(errors)
    return parse_pool(pool.get("name"), pool.get("description", ""), nodes or {})


def pool_spec_from_params(params):
    """pool_label options -> PoolSpec: from `definition` (a gpuctl document; `src` is read into it by the caller)
    or name/description/nodes. None when `node_selector` chooses the nodes: that is resolved against the listed
    Nodes when planning. state=absent needs only the name."""
    document = params.get("definition")
    if document is not None:
        spec = parse_pool_document(document)
        if params.get("name") and params["name"] != spec.name:
            raise_if(["name %s differs from the pool document's name %s" % (params["name"], spec.name)])
        return spec
    name = params.get("name")
    if params.get("state", "present") == "absent":
        return parse_pool(name, params.get("description") or "")
    if params.get("node_selector") is not None:
        parse_selector(params["node_selector"])
        raise_if(dns_label_errors(name, "pool name"))
        return None
    if params.get("nodes") is None:
        raise_if(["pool %s: state=present needs nodes, node_selector, definition or src" % name])
    return parse_pool(name, params.get("description") or "", params["nodes"])


def _labels(node):
    return (node.get("metadata") or {}).get("labels") or {}


def _name(node):
    return (node.get("metadata") or {}).get("name")


def member_nodes(nodes, name, prefix):
    """The nodes of a pool, sorted by name; the default pool is every node without a pool label."""
    pool_key = pool_keys(prefix)[0]
    wanted = None if name == DEFAULT_POOL else name
    return sorted((n for n in nodes if (_labels(n).get(pool_key) or None) == wanted), key=_name)


def pool_members(nodes, name, prefix):
    """Names of the nodes in a pool, sorted."""
    return [_name(n) for n in member_nodes(nodes, name, prefix)]


def workloads_on(pool, members, pods, prefix):
    """Active pods that select the pool and run on its member nodes, sorted: what removing the pool would
    strand. members: the pool's nodes (or their names)."""
    pool_key = pool_keys(prefix)[0]
    names = set(member if isinstance(member, str) else _name(member) for member in members)
    found = [
        {"namespace": pod["metadata"].get("namespace"), "name": _name(pod), "node": pod["spec"].get("nodeName"),
         "gpus": pod_gpu_request(pod)}
        for pod in pods
        if pod["spec"].get("nodeName") in names
        and (pod["spec"].get("nodeSelector") or {}).get(pool_key) == pool
    ]
    return sorted(found, key=lambda w: (w["namespace"] or "", w["name"]))


def describe_pool(name, members, pods, prefix, description="", status=None, allocated=0):
    """The pool as `gpuctl describe pool` shows it (what pool_label and pool_info return); members: its nodes."""
    type_key = pool_keys(prefix)[1]
    members = sorted(members, key=_name)
    row = pool_row(name, members, pods, allocated)
    return {
        "name": name,
        "description": description,
        "status": status or row["state"],
        "gpu_total": row["gpuTotal"],
        "gpu_used": row["gpuUsed"],
        "gpu_free": row["gpuFree"],
        "node_count": row["nodeCount"],
        "nodes": [{"name": _name(node), "gpu_type": _labels(node).get(type_key, ""), "gpu_count": node_gpus(node)}
                  for node in members],
        "workloads": workloads_on(name, members, pods, prefix) if name != DEFAULT_POOL else [],
    }


def recorded_figures(pool, now):
    """What `kubectl get pools` prints for a pool, its Pool object's status, and how old that is: {gpu_total,
    gpu_used, gpu_free, node_count, observed_at, age_seconds}; None without a Pool object. observed_at is when the
    run that last changed the status measured it (None before a run recorded it); now: the time of this read."""
    if pool is None:
        return None
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import epoch_seconds

    status = pool.get("status") or {}
    observed = status.get("observedAt")
    return {"gpu_total": status.get("gpuTotal", 0), "gpu_used": status.get("gpuUsed", 0),
            "gpu_free": status.get("gpuFree", 0), "node_count": status.get("nodeCount", 0),
            "observed_at": observed,
            "age_seconds": max(epoch_seconds(now) - epoch_seconds(observed), 0) if observed and now else None}


def pool_table(nodes, pods, prefix):
    """`gpuctl get pools`: one row per pool found on the nodes, sorted by name, then the default pool."""
    pool_key = pool_keys(prefix)[0]
    groups = {}
    for node in nodes:
        groups.setdefault(_labels(node).get(pool_key) or DEFAULT_POOL, []).append(node)
    names = sorted(name for name in groups if name != DEFAULT_POOL) + [DEFAULT_POOL]
    return [pool_row(name, groups.get(name, []), pods) for name in names]


def pool_status(row, recorded=None):
    """Pool .status: the pool table row, plus the allocation fields the app deployments recorded."""
    status = {"state": row["state"], "gpuTotal": row["gpuTotal"], "gpuUsed": row["gpuUsed"],
              "gpuFree": row["gpuFree"], "nodeCount": row["nodeCount"]}
    status.update(recorded or {})
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
