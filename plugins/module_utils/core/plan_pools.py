"""Labelled pools in a plan: which pool every node ends up in, the label patches that get it there, the Pool
objects, and the guards (a node moves from an undeclared pool only with `overwrite`; a node under a running
workload of its pool leaves it, by shrinking or removal, only with `force`)."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import (
    apply_label_changes, describe_pool, parse_pool, pool_keys, pool_status,
    render_pool, workloads_on)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import pool_row
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import recorded
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import managed
from ansible_collections.gpufabric.platform.plugins.module_utils.core.selector import matches, parse_selector
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import (
    delete_write, label_write, observed_status, status_write)


def _name(obj):
    return obj["metadata"]["name"]


def _labels(obj):
    return obj["metadata"].get("labels") or {}


class Pools(object):
    """Final membership {node: pool}, the label patches, and each affected pool's object and status."""

    def __init__(self, planner, cluster=""):
        self.p, self.cluster = planner, cluster
        state = planner.state_of(cluster)
        self.pool_key, self.type_key = pool_keys(planner.prefix)
        self.nodes = state.items("Node")
        self.by_name = dict((_name(n), n) for n in self.nodes)
        self.pods = state.items("Pod")
        self.live_pools = dict((_name(pool), pool) for pool in state.items("Pool"))
        self.specs = {}       # declared pool name -> (entry, PoolSpec)
        self.removed = {}     # pool name -> entry (state=absent or pruned)
        for entry in planner.spec.of("pool_label"):
            if entry.cluster != cluster:
                continue
            if not entry.present:
                self.removed[entry.name] = entry
                continue
            spec = entry.spec
            if spec is None:  # node_selector: resolved against the listed Nodes
                try:
                    requirements = parse_selector(entry.params["node_selector"])
                    chosen = [_name(n) for n in self.nodes if matches(requirements, _labels(n))]
                    spec = parse_pool(entry.params["name"], entry.params.get("description") or "", chosen)
                except ValueError as error:  # FabricError is a ValueError
                    planner.error(entry, str(error))
                    continue
            self.specs[spec.name] = (entry, spec)
        for name in planner.pruned("Pool", [pool for pool in self.live_pools.values() if managed(pool)], cluster):
            self.removed[name] = planner.pruned_entry("pool_label", name)
        self.changes = {}
        self.after_nodes = self.nodes
        self._members = None
        self.claims = {}      # node -> entry whose pool change moves it

    def plan(self):
        p = self.p
        live = dict((_name(n), _labels(n)) for n in self.nodes)
        desired = {}
        for name, (entry, spec) in sorted(self.specs.items()):
            overwrite = entry.params.get("overwrite")
            for node, gpu_type in spec.nodes:
                labels = live.get(node)
                if labels is None:
                    p.error(entry, "node %s does not exist" % node)
                    continue
                other = labels.get(self.pool_key)
                if other and other != name and not overwrite and other not in self.specs and other not in self.removed:
                    p.error(entry, "node %s is in pool %s; set overwrite to move it to %s" % (node, other, name))
                wanted = {self.pool_key: name}
                if gpu_type is not None:
                    wanted[self.type_key] = gpu_type or None
                desired[node] = wanted
                self.claims[node] = entry
        for node, labels in sorted(live.items()):
            pool = labels.get(self.pool_key)
            if node in desired or pool is None:
                continue
            if pool in self.specs or pool in self.removed:
                desired[node] = {self.pool_key: None, self.type_key: None}
                self.claims[node] = self.specs[pool][0] if pool in self.specs else self.removed[pool]
        self._guard_leavers(live, desired)
        for node in sorted(desired):
            patch = dict((k, v) for k, v in sorted(desired[node].items()) if live[node].get(k) != v)
            if patch:
                self.changes[node] = patch
        for node in sorted(self.changes):
            p.add("pool-labels", label_write(self.by_name[node], self.changes[node]), self.claims.get(node),
                  self.cluster)
        self.after_nodes = apply_label_changes(self.nodes, self.changes)
        self._members = None
        for name, (entry, spec) in sorted(self.specs.items()):
            row = self.row(name, 0)
            p.apply("pool", render_pool(spec, row, p.prefix), self.live_pools.get(name), entry, self.cluster)
        for name, entry in sorted(self.removed.items()):
            if name in self.live_pools:
                p.add("remove-pool", delete_write(self.live_pools[name], "Pool"), entry, self.cluster)

    def _guard_leavers(self, live, desired):
        """Nodes leaving a pool (shrunk list, overwrite by another pool, removal) while pods that select the pool
        run on them: refused unless the entry that makes them leave sets force, as state=absent refuses."""
        p = self.p
        leaving = {}
        for node, wanted in desired.items():
            before = live[node].get(self.pool_key)
            if before and wanted.get(self.pool_key) != before:
                leaving.setdefault(before, []).append(node)
        for pool, nodes in sorted(leaving.items()):
            found = workloads_on(pool, nodes, self.pods, p.prefix)
            if not found:
                continue
            entry = self.claims.get(found[0]["node"])
            listed = ", ".join("%s/%s on %s" % (w["namespace"], w["name"], w["node"]) for w in found)
            if entry is not None and entry.params.get("force"):
                p.warnings.append("pool %s loses node(s) %s with %d workload(s) still running: %s; they keep "
                                  "running, but new pods selecting the pool will not schedule there"
                                  % (pool, ", ".join(sorted(nodes)), len(found), listed))
                continue
            p.error(entry, "pool %s: node(s) %s would leave the pool while %d workload(s) that select it run there: "
                           "%s; stop them first, or set force (the workloads keep running)"
                    % (pool, ", ".join(sorted(set(w["node"] for w in found))), len(found), listed))

    def members(self, name, platform=None):
        """The pool's nodes once the labels are written (of GPU type `platform` when given), sorted by name."""
        if self._members is None:
            self._members = {}
            for node in sorted(self.after_nodes, key=_name):
                self._members.setdefault(_labels(node).get(self.pool_key), []).append(node)
        return [n for n in self._members.get(name, ()) if platform is None or _labels(n).get(self.type_key) == platform]

    def live_members(self, name):
        """Names of the pool's nodes as the run found them."""
        return [n for n, labels in ((_name(node), _labels(node)) for node in self.nodes)
                if labels.get(self.pool_key) == name]

    def exists(self, name):
        """A pool apps may use: declared, or a Pool object or labelled nodes the spec does not remove."""
        if name in self.removed:
            return False
        return name in self.specs or name in self.live_pools or bool(self.members(name))

    def row(self, name, allocated):
        return pool_row(name, self.members(name), self.pods, allocated)

    def finish(self, ledger):
        """Pool statuses: every declared pool, and every live Pool whose members or recorded apps changed."""
        p = self.p
        touched = set(self.specs)
        for node, patch in self.changes.items():
            before = _labels(self.by_name[node]).get(self.pool_key)
            if before:
                touched.add(before)
            if patch.get(self.pool_key):
                touched.add(patch[self.pool_key])
        touched |= set(target[1] for target in ledger.changed_targets() if target[0] == "pool"
                       and target[2] == self.cluster)
        for name in sorted(touched - set(self.removed)):
            live = self.live_pools.get(name)
            entry = self.specs.get(name, (None,))[0]
            if live is None and entry is None:
                continue
            apps = ledger.apps_on("pool", name, cluster=self.cluster)
            allocated = sum(app.count for app in apps)
            status = observed_status(pool_status(self.row(name, allocated), recorded(apps)), live, p.context.now)
            obj = live if entry is None else render_pool(self.specs[name][1], self.row(name, allocated), p.prefix)
            p.add("pool-status", status_write(obj, status, live), entry, self.cluster)
        moved = {}  # id(entry) -> the nodes its pool change labels, by name
        for node in sorted(self.changes):
            if node in self.claims:
                moved.setdefault(id(self.claims[node]), []).append(node)
        for name, (entry, spec) in sorted(self.specs.items()):
            apps = ledger.apps_on("pool", name, cluster=self.cluster)
            described = describe_pool(name, self.members(name), self.pods, p.prefix, spec.description,
                                      allocated=sum(app.count for app in apps))
            p.report(entry, {"pool": described, "changed_nodes": moved.get(id(entry), [])})
        for name, entry in sorted(self.removed.items()):
            workloads = workloads_on(name, self.live_members(name), self.pods, p.prefix)
            described = describe_pool(name, self.members(name), self.pods, p.prefix,
                                      ((self.live_pools.get(name) or {}).get("spec") or {}).get("description", ""),
                                      "absent")
            p.report(entry, {"pool": described, "workloads": workloads, "changed_nodes": moved.get(id(entry), [])})
