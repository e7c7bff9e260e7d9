"""One plan for a whole spec: tenants and projects, labelled pools, compute pools, apps, then the statuses that
sum them up, in the order the writes must reach the server.

Each kind's planner works on what the cluster will hold once the earlier kinds are applied (a project sees the
tenants the spec declares, an app sees the compute pool the same run allocates), collects its errors instead of
stopping at the first, and adds its writes to a phase. Removals run last, apps first and tenants last, so nothing
is removed while something that depends on it still stands.
"""

from __future__ import annotations

from dataclasses import replace

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import app_from_workload
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import Entry, FabricPlan, tagged
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import unknown_product_warnings
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import Ledger
from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import validate_options
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan_apps import Apps
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan_compute_pools import ComputePools
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan_pools import Pools
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import managed
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan_tenancy import Tenancy
from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import ClusterState
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import apply_write

PHASES = ("tenant", "project", "tenant-status", "pool", "pool-labels", "pool-status", "compute-pool",
          "compute-pool-labels", "compute-pool-status", "spoke-namespace", "workload", "remove-workload",
          "remove-compute-pool", "remove-pool", "remove-project", "remove-tenant")
# live kind -> the entry kind that declares it (what prune compares against)
DECLARED_BY = {"Tenant": "tenant", "Namespace": "project", "Pool": "pool_label", "ComputePool": "compute_pool",
               "Deployment": "app_deployment", "Job": "app_deployment"}


def _key(obj):
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace") or None, metadata.get("name")


class Planner(object):
    """Collects writes per phase, per-entry reports, warnings and errors while the kinds are planned."""

    def __init__(self, spec, state, context, spokes=None):
        self.spec, self.state, self.context = spec, state, context
        self.states = dict(spokes or {})
        self.states[""] = state
        self.prefix = spec.label_prefix
        self.errors, self.warnings, self.waiting = [], [], []
        self._writes = dict((phase, []) for phase in PHASES)
        self._reports = []
        self._objects = []

    # -- what the kind planners call ---------------------------------------------------------------------------

    def add(self, phase, write, entry=None, cluster=""):
        """Add a write to a phase; cluster: the spoke it goes to ("" for the cluster the run addresses)."""
        if write is not None:
            self._writes[phase].append(replace(tagged(write, entry.where if entry is not None else ""),
                                               cluster=cluster))

    def apply(self, phase, desired, live, entry=None, cluster=""):
        """Declare an object the spec wants (what a declarative front end creates), and add the write that makes
        `live` so when it differs."""
        declared = dict((key, value) for key, value in desired.items() if key != "status")
        self._objects.append((cluster, declared, entry.where if entry is not None else ""))
        self.add(phase, apply_write(desired, live), entry, cluster)

    def report(self, entry, body):
        self._reports.append((entry.where, entry.kind, body))

    @staticmethod
    def where(entry, errors):
        place = entry.where if entry is not None else ""
        return ["%s: %s" % (place, error) if place else error for error in errors]

    def error(self, entry, message):
        self.errors.extend(self.where(entry, [message]))

    def _declared(self, kind, cluster=None):
        """(namespace, name) of the entries that declare objects of a live kind (on one cluster, when given)."""
        return set((e.namespace, e.name) for e in self.spec.of(DECLARED_BY[kind])
                   if cluster is None or kind not in ("Pool",) or e.cluster == cluster)

    def state_of(self, cluster):
        """The objects read on one cluster; a spoke nobody read is an error, not an empty cluster."""
        if cluster not in self.states:
            self.errors.append("spoke %s: nothing was read from it; register it with gpufabric.platform.spoke "
                               "(its connection is kept on the hub)" % cluster)
            self.states[cluster] = ClusterState()
        return self.states[cluster]

    def clusters(self):
        """Every cluster the spec's pools and apps are on: the one the run addresses, and the spokes named."""
        kinds = ("pool_label", "app_deployment")
        return sorted(set([""] + [e.cluster for e in self.spec.entries if e.kind in kinds]))

    def pruned_keys(self, kind, live_objects, cluster=None):
        """(namespace, name) of managed live objects of `kind` that the spec does not name, when pruning."""
        if not self.context.prune:
            return []
        declared = self._declared(kind, cluster)
        return sorted(set(_key(obj) for obj in live_objects if managed(obj) and _key(obj) not in declared),
                      key=lambda key: (key[0] or "", key[1]))

    def pruned(self, kind, live_objects, cluster=None):
        return [name for unused, name in self.pruned_keys(kind, live_objects, cluster)]

    @staticmethod
    def pruned_entry(kind, name, namespace=None):
        """The state=absent entry prune acts as: the same guards, no force."""
        args = {"name": name, "state": "absent"}
        if namespace:
            args["namespace"] = namespace
        params, unused = validate_options(kind, args)
        return Entry(kind, "prune %s %s%s" % (kind, "%s/" % namespace if namespace else "", name), params)

    def _live_apps(self):
        for kind in ("Deployment", "Job"):
            for obj in self.state.items(kind):
                placed = app_from_workload(obj)
                if placed is not None:
                    yield obj, placed[2]

    def live_apps_in(self, namespace):
        return [app for unused, app in self._live_apps() if app.namespace == namespace]

    def undeclared_apps_in(self, namespace):
        """Live apps of a namespace that the spec neither declares nor removes: their GPUs stand as they are."""
        declared = self._declared("Deployment")
        return [app for app in self.live_apps_in(namespace) if (app.namespace, app.name) not in declared]

    def app_names_left_in(self, namespace):
        """Kind/name of the apps a namespace will still hold: live ones not removed, and declared ones."""
        removed = set((e.namespace, e.name) for e in self.spec.of("app_deployment") if not e.present)
        removed |= set(self.pruned_keys("Deployment", [obj for obj, unused in self._live_apps()]))
        names = set("%s/%s" % (obj["kind"], app.name) for obj, app in self._live_apps()
                    if app.namespace == namespace and (app.namespace, app.name) not in removed)
        names |= set("%s/%s" % (e.params.get("kind") or "Deployment", e.name) for e in self.spec.of("app_deployment")
                     if e.present and e.namespace == namespace)
        return sorted(names)

    # -- the plan ----------------------------------------------------------------------------------------------

    def plan(self):
        for cluster, state in sorted(self.states.items()):  # GPUs of unknown products: counted, and named
            self.warnings.extend(unknown_product_warnings(state.items("Node"), "spoke %s: " % cluster if cluster
                                                          else ""))
        tenancy = Tenancy(self)
        pools = dict((cluster, Pools(self, cluster)) for cluster in self.clusters())
        ledger = Ledger(self.states)
        compute_pools = ComputePools(self, tenancy)
        apps = Apps(self, tenancy, pools, compute_pools, ledger)
        tenancy.plan()
        for cluster in sorted(pools):
            pools[cluster].plan()
        compute_pools.plan()
        apps.plan()
        compute_pools.settle(ledger)
        for cluster in sorted(pools):
            pools[cluster].finish(ledger)
        compute_pools.finish(ledger)
        tenancy.finish()
        raise_if(self.errors)
        writes = tuple(write for phase in PHASES for write in self._writes[phase])
        return FabricPlan(writes, tuple(self._reports), tuple(dict.fromkeys(self.warnings)),
                          tuple(dict.fromkeys(self.waiting)), tuple(self._objects), self._node_labels(writes))

    def _node_labels(self, writes):
        """{(cluster, node): {key: value}}: the labels under the prefix every node the spec touches ends with."""
        touched = set((write.cluster, write.name) for write in writes if write.action == "labels")
        touched |= set((cluster, node["metadata"]["name"]) for cluster, state in self.states.items()
                       for node in state.items("Node")
                       if any(key.startswith(self.prefix + "/") for key in (node["metadata"].get("labels") or {})))
        result = {}
        for cluster, name in sorted(touched):
            node = self.states[cluster].get("Node", name) or {}
            labels = dict((k, v) for k, v in ((node.get("metadata") or {}).get("labels") or {}).items()
                          if k.startswith(self.prefix + "/"))
            for write in writes:
                if write.action == "labels" and (write.cluster, write.name) == (cluster, name):
                    for key, value in write.body.items():
                        if value is None:
                            labels.pop(key, None)
                        else:
                            labels[key] = value
            result[(cluster, name)] = labels
        return result
