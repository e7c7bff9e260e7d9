# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Labelled pools end to end: read the cluster once, let the core decide, write only what differs.

Shared by the pool_label and pool_info modules. The decisions (membership, label changes, conflicts, the pool
table) are the core's; this file only reads, orders the writes and shapes the result.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    node_gpus, pod_gpu_request, pool_row)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import (
    DEFAULT_POOL, apply_label_changes, label_diff, parse_pool, parse_pool_document, pool_keys, pool_label_changes,
    member_nodes, pool_members, pool_status, pool_table, recorded_allocation, render_pool)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.selector import matches, parse_selector
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import strip_volatile
from ansible_collections.gpufabric.platform.plugins.module_utils.documents import read_pool_document
from ansible_collections.gpufabric.platform.plugins.module_utils.module import ModuleRun

ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"


def _name(obj):
    return obj["metadata"]["name"]


def _labels(obj):
    return obj["metadata"].get("labels") or {}


def read_inventory(cluster):
    """Nodes, active pods and Pool objects: one LIST each."""
    nodes = cluster.list("Node")
    pods = cluster.list("Pod", field_selector=ACTIVE_PODS)
    pools = dict((_name(pool), pool) for pool in cluster.list("Pool"))
    return nodes, pods, pools


def workloads_on(pool, nodes, pods, prefix):
    """Active pods that select the pool and run on its nodes, sorted."""
    pool_key = pool_keys(prefix)[0]
    members = set(pool_members(nodes, pool, prefix))
    found = [
        {"namespace": pod["metadata"].get("namespace"), "name": _name(pod), "node": pod["spec"].get("nodeName"),
         "gpus": pod_gpu_request(pod)}
        for pod in pods
        if pod["spec"].get("nodeName") in members
        and (pod["spec"].get("nodeSelector") or {}).get(pool_key) == pool
    ]
    return sorted(found, key=lambda w: (w["namespace"] or "", w["name"]))


def allocated_gpus(pool):
    """GPUs app deployments hold on a Pool, as recorded in its status by app_deployment (0 when none)."""
    return int(recorded_allocation((pool or {}).get("status")).get("gpuAllocated") or 0)


def describe_pool(name, nodes, pods, prefix, description="", status=None, allocated=0):
    """The pool as `gpuctl describe pool` shows it (the pool_label / pool_info return shape)."""
    type_key = pool_keys(prefix)[1]
    members = member_nodes(nodes, name, prefix)
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
        "workloads": workloads_on(name, nodes, pods, prefix) if name != DEFAULT_POOL else [],
    }


class PoolLabeller(ModuleRun):
    """One pool_label run: validate everything, then write Pool spec, node labels, Pool status."""

    def spec(self, nodes):
        params = self.params
        document = params["definition"]
        if params["src"]:
            document = read_pool_document(params["src"])
        if document is not None:
            spec = parse_pool_document(document)
            if params["name"] and params["name"] != spec.name:
                raise_if(["name %s differs from the pool document's name %s" % (params["name"], spec.name)])
            return spec
        if params["node_selector"] is not None:
            requirements = parse_selector(params["node_selector"])
            selected = [_name(node) for node in nodes if matches(requirements, _labels(node))]
            return parse_pool(params["name"], params["description"], selected)
        if params["nodes"] is None and params["state"] == "present":
            raise_if(["pool %s: state=present needs nodes, node_selector, definition or src" % params["name"]])
        return parse_pool(params["name"], params["description"], params["nodes"] or {})

    def run(self):
        nodes, pods, pools = read_inventory(self.cluster)
        spec = self.spec(nodes)
        state = self.params["state"]
        changes = pool_label_changes(nodes, spec, self.prefix, self.params["overwrite"], state)
        live = pools.get(spec.name)
        after_nodes = apply_label_changes(nodes, changes)
        result = {"changed": bool(changes), "changed_nodes": sorted(changes)}

        if state == "absent":
            workloads = workloads_on(spec.name, nodes, pods, self.prefix)
            if workloads and not self.params["force"]:
                raise_if(["pool %s has %d workload(s) on its nodes: %s; stop them first, or set force to remove "
                          "the pool labels anyway (the workloads keep running)"
                          % (spec.name, len(workloads), ", ".join(
                              "%s/%s on %s" % (w["namespace"], w["name"], w["node"]) for w in workloads))])
            if workloads:
                self.module.warn("pool %s removed with %d workload(s) still running on its former nodes; they keep "
                                 "running, but new pods selecting the pool will not schedule" % (spec.name,
                                                                                                 len(workloads)))
            self.cluster.patch_labels_many("Node", changes, self.check_mode)
            deleted = live is not None and self.cluster.delete("Pool", spec.name, check_mode=self.check_mode)
            result["changed"] = result["changed"] or bool(deleted)
            result["pool"] = describe_pool(spec.name, after_nodes, pods, self.prefix, spec.description, "absent")
            result["workloads"] = workloads
            after_pool = None
        else:
            row = pool_row(spec.name, member_nodes(after_nodes, spec.name, self.prefix), pods, allocated_gpus(live))
            desired = render_pool(spec, row, self.prefix, (live or {}).get("status"))
            changed, applied = self.cluster.apply(desired, live, self.check_mode)
            self.cluster.patch_labels_many("Node", changes, self.check_mode)
            # A dry-run apply stores nothing: in check mode the stored object is still `live`.
            stored = live if self.check_mode else applied
            status_changed, after_pool = self.cluster.apply_status(desired, stored, self.check_mode)
            result["changed"] = result["changed"] or changed or status_changed
            result["changed"] = self._refresh_sources(nodes, after_nodes, changes, pods, pools, spec.name) \
                or result["changed"]
            result["pool"] = describe_pool(spec.name, after_nodes, pods, self.prefix, spec.description,
                                           allocated=allocated_gpus(live))

        if self.module._diff:
            nodes_before, nodes_after = label_diff(nodes, changes, self.prefix)
            result["diff"] = {"before": {"pool": strip_volatile(live), "nodes": nodes_before},
                              "after": {"pool": strip_volatile(after_pool), "nodes": nodes_after}}
        return result

    def _refresh_sources(self, nodes, after_nodes, changes, pods, pools, name):
        """Pools that lost nodes to this one (overwrite) get their status recomputed."""
        pool_key = pool_keys(self.prefix)[0]
        before = dict((_name(n), _labels(n).get(pool_key)) for n in nodes)
        sources = sorted(set(before[node] for node in changes if before[node] not in (None, name)))
        changed = False
        for source in sources:
            live = pools.get(source)
            if live is None:
                continue
            row = pool_row(source, member_nodes(after_nodes, source, self.prefix), pods, allocated_gpus(live))
            status = pool_status(row, live.get("status"))
            desired = dict(live, status=status)
            changed = self.cluster.apply_status(desired, live, self.check_mode)[0] or changed
        return changed


def pool_report(cluster, name, prefix):
    """pool_info: every pool found on the nodes (and every Pool object), or one, with its nodes and workloads."""
    nodes, pods, pools = read_inventory(cluster)
    names = [row["name"] for row in pool_table(nodes, pods, prefix)]
    names = sorted(set(names) | set(pools), key=lambda n: (n == DEFAULT_POOL, n))
    if name:
        names = [n for n in names if n == name]
    return [describe_pool(n, nodes, pods, prefix, ((pools.get(n) or {}).get("spec") or {}).get("description", ""),
                          allocated=allocated_gpus(pools.get(n)))
            for n in names]
