"""Compute pools in a plan: every declared compute pool allocated in one pass over the hosts, the machine-pool
plan of each, the node labels, the ComputePool objects and their status; removal marks the hosts Deleting, takes
their labels off, then deletes the object.

Guards: a compute pool lives in a project namespace; its name is unique across namespaces (node labels carry the
name only); its mode is immutable; a new requirement that no longer offers the GPU family an app holds there, or
a removal while apps are recorded on it, needs `force`.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import allocation_from_status
from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import capacity_families, compute_pool_mode
from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import (
    autoscaled_spec, autoscaling_record, decide, epoch_seconds, parse_samples, scaling_policy_from_resource)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import covers
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import COMPUTE_POOL, recorded
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import parse_hosts
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import (
    apply_plan, deleting_allocation, plan_delete, plan_many)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import managed
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_render import (
    compute_pool_label_changes, compute_pool_state, render_compute_pool, render_compute_pool_status, with_free_gpus)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import (
    compute_pool_from_resource, immutable_errors)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import (
    delete_write, label_write, observed_status, status_write, strip_volatile)


EDGEHOSTS = "edgehosts"
# The inventory key of the hub's EdgeHosts (no spoke can be named so): every compute pool over them shares it.
EDGE_INVENTORY = "edgehosts:"


def _key(obj):
    return obj["metadata"].get("namespace"), obj["metadata"]["name"]


def on_edgehosts(entry):
    """Whether a compute pool allocates from the hub's EdgeHosts (host_source: edgehosts)."""
    return entry.params.get("host_source") == EDGEHOSTS


def merge_label_patches(patches):
    """One patch per node from several compute pools' patches: a value set by one wins over a removal by
    another (a host moving between compute pools in one run)."""
    merged = {}
    for patch_set in patches:
        for node, patch in patch_set.items():
            into = merged.setdefault(node, {})
            for key, value in patch.items():
                if value is not None or into.get(key) is None:
                    into[key] = value
    return merged


class Planned(object):
    """One declared compute pool as planned: its entry, requirements as sized, the plan, the allocation after."""

    def __init__(self, entry, spec, scaled, live, autoscaling=None, decision=None):
        self.entry, self.spec, self.scaled, self.live = entry, spec, scaled, live
        self.autoscaling, self.decision = autoscaling, decision
        self.plan = None
        self.after = ()
        self.hosts = ()
        self.status_body = None


class ComputePools(object):
    """Plans every declared compute pool; `finish` writes their status with the apps the ledger holds."""

    def __init__(self, planner, tenancy):
        self.p, self.tenancy = planner, tenancy
        self.live = dict((_key(cp), cp) for cp in planner.state.items("ComputePool"))
        self.planned = {}      # (namespace, name) -> Planned
        self.removed = {}      # (namespace, name) -> entry
        self.label_changes = {}
        self._allocated = {}  # spoke -> {compute pool: allocation} planned so far (exclusive per cluster)
        self._nodes = {}
        for entry in planner.spec.of("compute_pool"):
            if not entry.present:
                self.removed[(entry.namespace, entry.name)] = entry
        for key in planner.pruned_keys("ComputePool", [cp for cp in self.live.values() if managed(cp)]):
            self.removed[key] = planner.pruned_entry("compute_pool", key[1], key[0])

    def nodes(self, cluster):
        """The Nodes of the cluster a compute pool's hosts are on (the hub's own, or a spoke's)."""
        if cluster not in self._nodes:
            self._nodes[cluster] = self.p.state_of(cluster).items("Node")
        return self._nodes[cluster]

    def spoke_of(self, name, namespace):
        """The spoke a compute pool's hosts are on once the spec is applied ("" for the hub's own nodes)."""
        planned = self.planned.get((namespace, name))
        if planned is not None:
            return planned.spec.spoke
        return ((self.live.get((namespace, name)) or {}).get("spec") or {}).get("spoke") or ""

    def exists(self, name, namespace):
        """A compute pool apps may use once the spec is applied: declared, or live and not removed."""
        return (namespace, name) in self.planned or (
            (namespace, name) in self.live and (namespace, name) not in self.removed)

    def mode_and_state(self, name, namespace):
        """(dedicated or shared, status.status) once the spec is applied."""
        planned = self.planned.get((namespace, name))
        if planned is not None:
            return planned.spec.mode, (planned.status_body or {}).get("status")
        live = self.live.get((namespace, name)) or {}
        return compute_pool_mode(live), (live.get("status") or {}).get("status")

    def capacity(self, name, namespace):
        """hardwareCapacity once the spec is applied (the plan's for a declared pool, the live status's else)."""
        planned = self.planned.get((namespace, name))
        if planned is not None:
            return (planned.status_body or {}).get("hardwareCapacity") or []
        if not self.exists(name, namespace):
            return []
        return ((self.live.get((namespace, name)) or {}).get("status") or {}).get("hardwareCapacity") or []

    def nodes_of(self, name, namespace):
        """The Nodes of the compute pool's hosts once the spec is applied (none for a host list without Nodes)."""
        planned = self.planned.get((namespace, name))
        if planned is not None:
            allocation = planned.after
        elif self.exists(name, namespace):
            allocation = allocation_from_status((self.live.get((namespace, name)) or {}).get("status"))
        else:
            return []
        hosts = set(entry.host for pool in allocation for entry in pool.hosts)
        return [node for node in self.nodes(self.spoke_of(name, namespace)) if node["metadata"]["name"] in hosts]

    # -- planning ----------------------------------------------------------------------------------------------

    def plan(self):
        """Allocate and plan every declared compute pool; label and object writes."""
        p = self.p
        entries = [e for e in p.spec.of("compute_pool") if e.present]
        for entry in entries:
            self._check(entry)
        groups = {}
        for entry in entries:  # one host inventory per group: a host list, the hub's EdgeHosts, or a cluster's Nodes
            if entry.params.get("hosts"):
                group = ("hosts", entry.where, "")
            elif on_edgehosts(entry):
                group = (EDGEHOSTS, entry.params["resource_group_prefix"], EDGE_INVENTORY)
            else:
                group = ("nodes", entry.params["resource_group_prefix"], entry.cluster)
            groups.setdefault(group, []).append(entry)
        for group in sorted(groups):
            spoke = group[2]
            # An EdgeHost is held by whichever compute pool's status names it, wherever that pool's cluster is.
            currents = dict((key[1], allocation_from_status(cp.get("status"))) for key, cp in self.live.items()
                            if key not in self.removed
                            and (spoke == EDGE_INVENTORY or self.spoke_of(key[1], key[0]) == spoke))
            currents.update(self._allocated.get(spoke, {}))
            self._plan_group(group, groups[group], currents)
            self._allocated.setdefault(spoke, {}).update(currents)

    def settle(self, ledger):
        """Once the apps are placed: guards that depend on them, and removals."""
        for planned in self.planned.values():
            self._guard_families(planned, ledger)
        for key, entry in sorted(self.removed.items(), key=lambda item: (item[0][0] or "", item[0][1])):
            self._remove(key, entry, ledger)

    def _check(self, entry):
        p, spec = self.p, entry.spec
        live = self.live.get((spec.namespace, spec.name))
        if on_edgehosts(entry) and (entry.params.get("hosts") or not spec.spoke):
            p.error(entry, "compute pool %s/%s: host_source edgehosts allocates the hub's EdgeHosts; it takes no "
                           "hosts list, and needs spoke: the name of the cluster its hosts become"
                    % (spec.namespace, spec.name))
        if self.tenancy.quota_of(spec.namespace) is None:
            p.error(entry, "compute pool %s/%s: namespace %s is not a gpufabric project; declare it first "
                           "(gpufabric.platform.project, or the spec's projects)"
                    % (spec.namespace, spec.name, spec.namespace))
        twins = sorted("%s/%s" % key for key in self.live if key[1] == spec.name and key[0] != spec.namespace
                       and key not in self.removed)
        if twins:
            p.error(entry, "compute pool %s/%s: a compute pool named %s exists in %s; node labels carry the name "
                           "only, so compute pool names must be unique across namespaces"
                    % (spec.namespace, spec.name, spec.name, ", ".join(twins)))
        if live is not None:
            try:
                p.errors.extend(p.where(entry, immutable_errors(compute_pool_from_resource(live), spec)))
            except FabricError as error:  # a live object this collection cannot read back
                p.error(entry, "compute pool %s/%s as stored cannot be read: %s"
                        % (spec.namespace, spec.name, error))
        try:
            scaled, record, decision = self._autoscale(entry, live)
        except FabricError as error:
            p.errors.extend(p.where(entry, error.errors))
            scaled, record, decision = spec, None, None
        self.planned[(spec.namespace, spec.name)] = Planned(entry, spec, scaled, live, record, decision)

    def _autoscale(self, entry, live):
        """(requirements sized by the autoscaler, status.autoscaling, this run's Decision or None).

        With `autoscale` samples, or those the run read from Prometheus (context.metrics, core.metrics), the core
        decides against the referenced ScalingPolicy; without, the size the last decision recorded is kept while a
        policy is referenced, so a plain re-run does not undo the autoscaler. A worker pool without hosts yet has
        nothing Prometheus could measure: it keeps that size too."""
        spec, options = entry.spec, entry.params.get("autoscale")
        where = "compute pool %s/%s" % (spec.namespace, spec.name)
        record = ((live or {}).get("status") or {}).get("autoscaling")
        if spec.scaling_policy_ref is None:
            if options:
                raise FabricError(["%s: autoscale needs scaling_policy (the ScalingPolicy with the thresholds and "
                                   "bounds)" % where])
            return spec, None, None
        names = [pool.name for pool in spec.managed_worker_pools]
        worker = (options or {}).get("worker_pool") or (record or {}).get("workerPool") or (names[:1] or [None])[0]
        if worker not in names:
            raise FabricError(["%s: autoscale worker pool %s is not one of its worker pools (%s)"
                               % (where, worker, ", ".join(names) or "none")])
        record = record if (record or {}).get("workerPool") == worker else None
        if not options:
            return (autoscaled_spec(spec, worker, record["targetNodes"]) if record else spec), record, None
        ref = dict(spec.scaling_policy_ref)
        namespace = ref.get("namespace") or spec.namespace
        policy = self.p.state.get("ScalingPolicy", ref["name"], namespace)
        if policy is None:
            raise FabricError(["%s: ScalingPolicy %s/%s does not exist; create it or drop autoscale"
                               % (where, namespace, ref["name"])])
        current = next((pool for pool in allocation_from_status((live or {}).get("status"))
                        if pool.requirement == worker), None)
        declared = next(pool for pool in spec.worker_pools if pool.name == worker)
        nodes = record["targetNodes"] if record else (len(current.hosts) if current else declared.min_worker_nodes)
        now = options.get("now") or self.p.context.now
        if options.get("prometheus"):
            samples = self.p.context.samples_of(spec.namespace, spec.name)
            if samples is None and current is not None and current.hosts:
                raise FabricError(["%s: autoscale.prometheus: no utilization was read for its hosts before "
                                   "planning" % where])
            if samples is None:
                return (autoscaled_spec(spec, worker, record["targetNodes"]) if record else spec), record, None
        else:
            samples = parse_samples(options["samples"])

        def seconds(key):
            return epoch_seconds(record[key]) if record and record.get(key) else None

        decision = decide(scaling_policy_from_resource(policy), samples,
                          epoch_seconds(now), nodes, seconds("lastActionAt"), seconds("scalingUpSince"),
                          [(entry_.host, entry_.status) for entry_ in (current.hosts if current else ())])
        if decision.action != "none":
            self.p.warnings.append("%s: autoscaler %s to %d worker node(s): %s"
                                   % (where, decision.action, decision.target_nodes, decision.reason))
        record = autoscaling_record(worker, decision, now, record)
        return autoscaled_spec(spec, worker, record["targetNodes"]), record, decision

    def _plan_group(self, group, entries, currents):
        p = self.p
        kind, unused, spoke = group
        entries = [e for e in entries if (e.namespace, e.name) in self.planned]
        if not entries:
            return
        try:
            if kind == "hosts":
                hosts = parse_hosts(inventory=entries[0].params["hosts"], label_prefix=p.prefix,
                                    rg_prefix=entries[0].params["resource_group_prefix"])
            elif kind == EDGEHOSTS:  # no Node labels: the allocation is recorded in the ComputePool status only
                hosts = parse_hosts(edgehosts=p.state.items("EdgeHost"), rg_prefix=group[1])
            else:
                hosts = parse_hosts(nodes=self.nodes(spoke), label_prefix=p.prefix, rg_prefix=group[1])
        except FabricError as error:
            for entry in entries:
                p.errors.extend(p.where(entry, error.errors))
            return
        planned = [self.planned[(e.namespace, e.name)] for e in entries]
        plans = plan_many(hosts, [item.scaled for item in planned], currents)
        patches = []
        for item in planned:
            spec = item.spec
            item.plan, item.hosts = plans[spec.name], hosts
            p.errors.extend(p.where(item.entry, [s.message for s in item.plan.shortfalls]))
            current = currents.get(spec.name, ())
            item.after = apply_plan(current, item.plan, hosts, p.context.now)
            currents[spec.name] = item.after
            p.waiting.extend(item.plan.waiting)
            if kind == "nodes":
                patches.append(compute_pool_label_changes(hosts, spec.name, item.after, p.prefix))
            item.status_body = render_compute_pool_status(
                spec, item.after, hosts, status=compute_pool_state(item.after, hosts, item.plan))
            if item.autoscaling:
                item.status_body["autoscaling"] = item.autoscaling
            desired = render_compute_pool(spec)
            p.apply("compute-pool", desired, item.live, item.entry)
        merged = merge_label_patches(patches)
        self._label(merged, "compute-pool-labels", dict((spec_item.spec.name, spec_item.entry)
                                                        for spec_item in planned), spoke)

    def _label(self, patches, phase, entries_by_pool, cluster):
        if not patches:
            return
        by_name = dict((n["metadata"]["name"], n) for n in self.nodes(cluster))
        key = self.p.prefix + "/compute-pool"
        for node in sorted(patches):
            live = by_name[node]
            owner = patches[node].get(key) or ((live["metadata"].get("labels") or {}).get(key))
            self.label_changes[(cluster, node)] = patches[node]
            # A claim (the host gets this compute pool's label) is guarded: two runs claiming one free host at
            # once cannot both win; the loser reads again and plans again.
            claim = bool(patches[node].get(key)) and patches[node].get(key) != (live["metadata"].get("labels")
                                                                                or {}).get(key)
            self.p.add(phase, label_write(live, patches[node], guarded=claim), entries_by_pool.get(owner), cluster)

    def _guard_families(self, planned, ledger):
        spec = planned.spec
        if planned.plan is None:
            return
        families = set(capacity_families(planned.status_body["hardwareCapacity"]))
        stranded = [app for app in ledger.apps_on(COMPUTE_POOL, spec.name, spec.namespace)
                    if app.count and not any(covers(app.family, kind) for kind in families)]
        if not stranded:
            return
        listed = ", ".join("%s/%s (%d x %s)" % (a.namespace, a.name, a.count, a.family) for a in stranded)
        if planned.entry.params.get("force"):
            self.p.warnings.append("compute pool %s/%s no longer has GPUs for %s; they keep running where they "
                                   "are but cannot be rescheduled" % (spec.namespace, spec.name, listed))
        else:
            self.p.error(planned.entry, "compute pool %s/%s would no longer have GPUs of the family its apps hold: "
                                        "%s (after this change: %s); move or remove those apps first, or set force"
                         % (spec.namespace, spec.name, listed, ", ".join(sorted(families)) or "no GPUs"))

    def _remove(self, key, entry, ledger):
        """Hosts marked Deleting, their labels removed, then the object; refused while apps are recorded on it."""
        p = self.p
        namespace, name = key
        live = self.live.get(key)
        spoke = ((live or {}).get("spec") or {}).get("spoke") or entry.cluster
        hosts = []
        if not entry.params.get("hosts") and not self._edge_pool(entry, live):
            hosts = parse_hosts(nodes=self.nodes(spoke), label_prefix=p.prefix,
                                rg_prefix=entry.params.get("resource_group_prefix") or "palette.ai.rg/")
        labels = compute_pool_label_changes(hosts, name, (), p.prefix) if hosts else {}
        if live is None:
            self._label(labels, "remove-compute-pool", {name: entry}, spoke)
            p.report(entry, {"compute_pool": None, "plan": plan_delete(name, ()).to_dict(),
                             "changed_nodes": sorted(labels)})
            return
        apps = ledger.apps_on(COMPUTE_POOL, name, namespace)
        # The ledger holds every app recorded with its GPU count, less those this run removes; a reference
        # without a count (PaletteAI's plain {name, namespace}) is none the ledger reads, and still names a workload.
        uncounted = set("%s/%s" % (ref.get("namespace"), ref.get("name"))
                        for ref in (live.get("status") or {}).get("aiWorkloadRefs") or ()
                        if ref.get("gpuCount") is None)
        workloads = sorted(set("%s/%s" % (a.namespace, a.name) for a in apps) | uncounted)
        if workloads and not entry.params.get("force"):
            p.error(entry, "compute pool %s/%s still runs %d workload(s) (%s); set force to delete it anyway: node "
                           "labels under the prefix are removed and running workloads are not stopped"
                    % (namespace, name, len(workloads), ", ".join(workloads)))
        elif workloads:
            p.warnings.append("compute pool %s/%s deleted with workloads %s still running; they are not stopped"
                              % (namespace, name, ", ".join(workloads)))
        current = allocation_from_status(live.get("status"))
        deleting = deleting_allocation(current, p.context.now)
        try:
            spec = compute_pool_from_resource(live)
            state = compute_pool_state(deleting, hosts, deleting=True)
            status = render_compute_pool_status(spec, deleting, hosts, status=state)
            status = observed_status(with_free_gpus(dict(status, **recorded(apps))), live, p.context.now)
            p.add("remove-compute-pool", status_write(live, status, live), entry)
        except FabricError:
            pass  # an object this collection cannot read back is deleted as it is
        self._label(labels, "remove-compute-pool", {name: entry}, spoke)
        p.add("remove-compute-pool", delete_write(live, "ComputePool"), entry)
        p.report(entry, {"compute_pool": None, "plan": plan_delete(name, current).to_dict(),
                         "changed_nodes": sorted(labels)})

    # -- statuses ----------------------------------------------------------------------------------------------

    def finish(self, ledger):
        """Status of every declared compute pool (with its apps), and of live ones whose apps changed."""
        p = self.p
        for key, planned in sorted(self.planned.items(), key=lambda item: (item[0][0] or "", item[0][1])):
            if planned.plan is None:
                continue
            spec = planned.spec
            status = dict(planned.status_body, **recorded(ledger.apps_on(COMPUTE_POOL, spec.name, spec.namespace)))
            status = observed_status(with_free_gpus(status), planned.live, p.context.now)
            desired = render_compute_pool(spec, status)
            p.add("compute-pool-status", status_write(desired, status, planned.live), planned.entry)
            before = set() if on_edgehosts(planned.entry) else self._members_before(spec.name, spec.spoke)
            report = {"compute_pool": strip_volatile(desired), "plan": planned.plan.to_dict(),
                      "changed_nodes": sorted(n for (cluster, n), patch in self.label_changes.items()
                                              if cluster == spec.spoke and (
                                                  patch.get(p.prefix + "/compute-pool") == spec.name
                                                  or n in before))}
            if planned.decision is not None:
                report["autoscaling"] = {"decision": planned.decision.action,
                                         "targetNodes": planned.decision.target_nodes,
                                         "reason": planned.decision.reason}
            p.report(planned.entry, report)
        for target in ledger.changed_targets():
            kind, name, namespace = target
            if kind != COMPUTE_POOL or (namespace, name) in self.planned or (namespace, name) in self.removed:
                continue
            live = self.live.get((namespace, name))
            if live is None:
                continue
            status = dict(live.get("status") or {}, **recorded(ledger.apps_on(COMPUTE_POOL, name, namespace)))
            status = observed_status(with_free_gpus(status), live, p.context.now)
            p.add("compute-pool-status", status_write(live, status, live), None)

    def _edge_pool(self, entry, live):
        """Whether a compute pool being removed holds EdgeHosts (it has no Node labels to take off)."""
        if on_edgehosts(entry):
            return True
        edgehosts = set(obj["metadata"]["name"] for obj in self.p.state.items("EdgeHost"))
        held = set(h.host for pool in allocation_from_status((live or {}).get("status")) for h in pool.hosts)
        return bool(held) and held <= edgehosts

    def _members_before(self, name, cluster):
        key = self.p.prefix + "/compute-pool"
        return set(n["metadata"]["name"] for n in self.nodes(cluster)
                   if (n["metadata"].get("labels") or {}).get(key) == name)
