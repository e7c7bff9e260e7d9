"""The apps each pool and compute pool holds: the allocation ledger.

A pool's status lists its apps with their GPUs (aiWorkloadRefs), and every app workload records where it was
placed. The ledger starts from both (an app recorded in a status but whose workload is not written yet still
holds its GPUs, so a concurrent run cannot place over it), then takes the spec's changes: apps placed, moved or
removed. The status is written, with a resourceVersion precondition, before the workload, so two runs that
place apps on one pool at once cannot both pass the capacity check: the second one's status write conflicts, it
reads again and is checked against the first one's record.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    AppAllocation, hardware_allocation, workload_refs)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import row_name
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import normalise_architecture

POOL, COMPUTE_POOL = "pool", "compute_pool"


def apps_from_refs(status, namespace=None):
    """AppAllocations recorded in a status's aiWorkloadRefs (entries without gpuCount record nothing)."""
    found = []
    for ref in (status or {}).get("aiWorkloadRefs") or ():
        if ref.get("gpuCount") is None or not ref.get("name"):
            continue
        found.append(AppAllocation(str(ref["name"]), str(ref.get("namespace") or namespace or ""),
                                   normalise_architecture(ref.get("architecture") or "AMD64") or "AMD64",
                                   row_name(ref), int(ref["gpuCount"])))
    return found


def recorded(apps):
    """The allocation fields of a pool or compute pool status: always present, 0 and empty when no app holds
    GPUs there, so a table shows 0 rather than nothing."""
    apps = sorted(apps, key=lambda a: (a.namespace, a.name))
    return {"gpuAllocated": sum(app.count for app in apps), "hardwareAllocation": hardware_allocation(apps),
            "aiWorkloadRefs": workload_refs(apps)}


def _workload_apps(obj):
    """(target kind, target name, AppAllocation) recorded on an app workload, or None."""
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import app_from_workload

    placed = app_from_workload(obj)
    if placed is None or placed[0] not in (POOL, COMPUTE_POOL):
        return None
    return placed


class Ledger(object):
    """{target: {(namespace, app): AppAllocation}}; target is (POOL, name, cluster) for a labelled pool (pools
    live on the cluster whose nodes they label) or (COMPUTE_POOL, name, namespace) for a compute pool (always on
    the hub, wherever its hosts are)."""

    def __init__(self, states):
        """states: {cluster: ClusterState}, "" the cluster the run addresses (the hub)."""
        self.books = {}
        for cluster, state in sorted(states.items()):
            for pool in state.items("Pool"):
                for app in apps_from_refs(pool.get("status")):
                    self._add((POOL, pool["metadata"]["name"], cluster), app, True)
            for cp in state.items("ComputePool"):
                metadata = cp["metadata"]
                for app in apps_from_refs(cp.get("status"), metadata.get("namespace")):
                    self._add((COMPUTE_POOL, metadata["name"], metadata.get("namespace")), app, True)
        for cluster, state in sorted(states.items()):
            workloads = [(obj, cluster) for kind in ("Deployment", "Job") for obj in state.items(kind)]
            for work in state.items("ManifestWork"):  # delivered to the spoke named by its namespace
                for manifest in ((work.get("spec") or {}).get("workload") or {}).get("manifests") or ():
                    if isinstance(manifest, dict) and manifest.get("kind") in ("Deployment", "Job"):
                        workloads.append((manifest, work["metadata"].get("namespace") or ""))
            for obj, where in workloads:
                placed = _workload_apps(obj)
                if placed is not None:
                    target_kind, name, app = placed
                    self._add(self.target(target_kind, name, app.namespace, where), app, False)
        self.initial = dict((target, dict(book)) for target, book in self.books.items())

    def _add(self, target, app, replace):
        book = self.books.setdefault(target, {})
        if replace or (app.namespace, app.name) not in book:
            book[(app.namespace, app.name)] = app

    @staticmethod
    def target(kind, name, namespace=None, cluster=""):
        return (kind, name, namespace) if kind == COMPUTE_POOL else (kind, name, cluster)

    def apps_on(self, kind, name, namespace=None, cluster=""):
        book = self.books.get(self.target(kind, name, namespace, cluster), {})
        return sorted(book.values(), key=lambda a: (a.namespace, a.name))

    def apps_in(self, namespace):
        """Every app held anywhere by a project namespace (its quota counts them)."""
        found = {}
        for book in self.books.values():
            for key, app in book.items():
                if key[0] == namespace:
                    found[key] = app
        return sorted(found.values(), key=lambda a: a.name)

    def where(self, namespace, name):
        """Targets that hold the app."""
        return sorted(target for target, book in self.books.items() if (namespace, name) in book)

    def remove(self, namespace, name):
        for book in self.books.values():
            book.pop((namespace, name), None)

    def place(self, kind, target_name, app, cluster=""):
        self.remove(app.namespace, app.name)
        self.books.setdefault(self.target(kind, target_name, app.namespace, cluster), {})[
            (app.namespace, app.name)] = app

    def changed_targets(self):
        targets = set(self.books) | set(self.initial)
        return sorted((t for t in targets if self.books.get(t, {}) != self.initial.get(t, {})), key=str)
