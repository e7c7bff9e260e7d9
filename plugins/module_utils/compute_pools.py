# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Compute pools end to end: read the inventory and every ComputePool once, let the core allocate and plan,
then write the CR spec, the node labels and the CR status, in that order, only where they differ.

Shared by the compute_pool and compute_pool_info modules.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from ansible_collections.gpufabric.platform.plugins.module_utils.core.allocation import allocation_from_status
from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import (
    autoscaled_spec, autoscaling_record, decide, epoch_seconds, parse_samples, scaling_policy_from_resource)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import delete_guard_errors
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import label_diff
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import parse_hosts
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import (
    apply_plan, deleting_allocation, plan_compute_pool, plan_delete)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.render import (
    compute_pool_label_changes, keep_app_allocation, pool_status, render_compute_pool, render_compute_pool_status)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.spec import (
    check_immutable, compute_pool_from_resource, parse_compute_pool)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import strip_volatile
from ansible_collections.gpufabric.platform.plugins.module_utils.module import ModuleRun

WAIT_INTERVAL = 2


def utc_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(obj):
    return obj["metadata"].get("namespace"), obj["metadata"]["name"]


class ComputePoolRun(ModuleRun):
    """One compute_pool run. Nothing is written until the whole input, the allocation and the plan are valid."""

    def __init__(self, module):
        super(ComputePoolRun, self).__init__(module)
        self.nodes = []  # the Nodes read, for diff mode

    def read(self):
        """Hosts (Nodes, or the explicit host list) and every ComputePool: one LIST each. The Nodes are kept
        for diff mode."""
        params = self.params
        self.nodes = [] if params["hosts"] else self.cluster.list("Node")
        hosts = parse_hosts(nodes=self.nodes, inventory=params["hosts"] or (), label_prefix=self.prefix,
                            rg_prefix=params["resource_group_prefix"])
        return hosts, self.cluster.list("ComputePool")

    def run(self):
        spec = parse_compute_pool(self.params)
        hosts, pools = self.read()
        live = next((p for p in pools if _key(p) == (spec.namespace, spec.name)), None)
        twins = ["%s/%s" % _key(p) for p in pools if p["metadata"]["name"] == spec.name and p is not live]
        raise_if(["compute pool %s/%s: a compute pool named %s exists in %s; node labels carry the name only, so "
                  "compute pool names must be unique across namespaces" % (spec.namespace, spec.name, spec.name,
                                                                           ", ".join(twins))] if twins else [])
        if self.params["state"] == "absent":
            return self.delete(spec, live, hosts)
        if live is not None:
            check_immutable(compute_pool_from_resource(live), spec)
        others = dict((p["metadata"]["name"], allocation_from_status(p.get("status")))
                      for p in pools if p is not live)
        scaled, autoscaling, decision = self.autoscale(spec, live)
        result = self.converge(spec, scaled, autoscaling, live, hosts, others)
        if decision is not None:
            result["autoscaling"] = {"decision": decision.action, "targetNodes": decision.target_nodes,
                                     "reason": decision.reason}
        deadline = time.monotonic() + self.params["wait_timeout"]
        while self.params["wait"] and result["plan"]["waiting"] and not self.check_mode:
            if time.monotonic() > deadline:
                self.module.fail_json(msg="compute pool %s/%s: still waiting after %d s: %s" % (
                    spec.namespace, spec.name, self.params["wait_timeout"], "; ".join(result["plan"]["waiting"])),
                    **result)
            time.sleep(WAIT_INTERVAL)
            hosts, pools = self.read()
            live = next(p for p in pools if _key(p) == (spec.namespace, spec.name))
            again = self.converge(spec, scaled, autoscaling, live, hosts, others)
            again["changed"] = again["changed"] or result["changed"]
            result = again
        return result

    def converge(self, spec, scaled, autoscaling, live, hosts, others):
        """Plan with the autoscaled requirements; the object's spec keeps what the user declared."""
        current = allocation_from_status((live or {}).get("status"))
        plan = plan_compute_pool(hosts, scaled, current, others)
        raise_if([shortfall.message for shortfall in plan.shortfalls])
        after = apply_plan(current, plan, hosts, utc_now())
        label_changes = self.label_changes(hosts, spec.name, after)
        status = render_compute_pool_status(spec, after, hosts, status=pool_status(after, hosts, plan))
        status = keep_app_allocation(status, (live or {}).get("status"))
        if autoscaling:
            status["autoscaling"] = autoscaling
        desired = render_compute_pool(spec, status)

        changed, applied = self.cluster.apply(desired, live, self.check_mode)
        self.patch_nodes(label_changes)
        stored = live if self.check_mode else applied
        status_changed, after_obj = self.cluster.apply_status(desired, stored, self.check_mode)
        result = {
            "changed": changed or status_changed or bool(label_changes),
            "compute_pool": strip_volatile(after_obj),
            "plan": plan.to_dict(),
            "changed_nodes": sorted(label_changes),
        }
        if self.module._diff:
            result["diff"] = self.diff(live, after_obj, label_changes)
        return result

    def autoscale(self, spec, live):
        """(spec sized by the autoscaler, status.autoscaling, this run's decision or None). With `autoscale` samples the core decides against
        the referenced ScalingPolicy; without, the size the last decision recorded is kept while a policy is
        referenced, so a plain re-run does not undo the autoscaler."""
        options = self.params["autoscale"]
        recorded = ((live or {}).get("status") or {}).get("autoscaling")
        if spec.scaling_policy_ref is None:
            raise_if(["compute pool %s/%s: autoscale needs scaling_policy (the ScalingPolicy with the thresholds and "
                      "bounds)" % (spec.namespace, spec.name)] if options else [])
            return spec, None, None
        names = [pool.name for pool in spec.managed_worker_pools]
        worker = (options or {}).get("worker_pool") or (recorded or {}).get("workerPool") or (names[:1] or [None])[0]
        if worker not in names:
            raise_if(["compute pool %s/%s: autoscale worker pool %s is not one of its worker pools (%s)"
                      % (spec.namespace, spec.name, worker, ", ".join(names) or "none")])
        recorded = recorded if (recorded or {}).get("workerPool") == worker else None
        if not options:
            return (autoscaled_spec(spec, worker, recorded["targetNodes"]) if recorded else spec), recorded, None
        ref = dict(spec.scaling_policy_ref)
        namespace = ref.get("namespace") or spec.namespace
        found = self.cluster.get("ScalingPolicy", ref["name"], namespace)
        raise_if(["compute pool %s/%s: ScalingPolicy %s/%s does not exist; create it or drop autoscale"
                  % (spec.namespace, spec.name, namespace, ref["name"])] if found is None else [])
        pool = next((p for p in allocation_from_status((live or {}).get("status")) if p.requirement == worker), None)
        declared = next(p for p in spec.worker_pools if p.name == worker)
        nodes = recorded["targetNodes"] if recorded else (len(pool.hosts) if pool else declared.min_worker_nodes)
        now = options.get("now") or utc_now()

        def seconds(key):
            return epoch_seconds(recorded[key]) if recorded and recorded.get(key) else None

        decision = decide(scaling_policy_from_resource(found), parse_samples(options["samples"]), epoch_seconds(now),
                          nodes, seconds("lastActionAt"), seconds("scalingUpSince"),
                          [(entry.host, entry.status) for entry in (pool.hosts if pool else ())])
        if decision.action != "none":
            self.module.warn("compute pool %s/%s: autoscaler %s to %d worker node(s): %s"
                             % (spec.namespace, spec.name, decision.action, decision.target_nodes, decision.reason))
        record = autoscaling_record(worker, decision, now, recorded)
        return autoscaled_spec(spec, worker, record["targetNodes"]), record, decision

    def delete(self, spec, live, hosts):
        """Machines first (hosts marked Deleting, labels removed), then the ComputePool object."""
        if live is None:
            label_changes = self.label_changes(hosts, spec.name, ())
            self.patch_nodes(label_changes)
            return {"changed": bool(label_changes), "compute_pool": None, "plan": plan_delete(spec.name, ()).to_dict(),
                    "changed_nodes": sorted(label_changes)}
        refs = (live.get("status") or {}).get("aiWorkloadRefs") or []
        workloads = ["%s/%s" % (ref.get("namespace"), ref.get("name")) for ref in refs]
        raise_if(delete_guard_errors("compute pool %s/%s" % (spec.namespace, spec.name), workloads,
                                     self.params["force"]))
        if workloads:
            self.module.warn("compute pool %s/%s deleted with workloads %s still running; they are not stopped"
                             % (spec.namespace, spec.name, ", ".join(workloads)))
        current = allocation_from_status(live.get("status"))
        plan = plan_delete(spec.name, current)
        deleting = deleting_allocation(current, utc_now())
        status = render_compute_pool_status(compute_pool_from_resource(live), deleting, hosts,
                                            status=pool_status(deleting, hosts, deleting=True))
        desired = dict(live, status=keep_app_allocation(status, live.get("status")))
        self.cluster.apply_status(desired, live, self.check_mode)
        label_changes = self.label_changes(hosts, spec.name, ())
        self.patch_nodes(label_changes)
        self.cluster.delete("ComputePool", spec.name, spec.namespace, check_mode=self.check_mode)
        result = {"changed": True, "compute_pool": None, "plan": plan.to_dict(), "changed_nodes": sorted(label_changes)}
        if self.module._diff:
            result["diff"] = self.diff(live, None, label_changes)
        return result

    def label_changes(self, hosts, name, allocation):
        """Node label patches; none for an explicit host list (bare metal): those hosts have no Node, and the
        allocations recorded in the other ComputePools keep them exclusive."""
        if self.params["hosts"]:
            return {}
        return compute_pool_label_changes(hosts, name, allocation, self.prefix)

    def patch_nodes(self, changes):
        self.cluster.patch_labels_many("Node", changes, self.check_mode)

    def diff(self, before, after, label_changes):
        nodes_before, nodes_after = label_diff(self.nodes, label_changes, self.prefix)
        return {"before": {"compute_pool": strip_volatile(before), "nodes": nodes_before},
                "after": {"compute_pool": strip_volatile(after), "nodes": nodes_after}}


def compute_pool_report(cluster, name=None, namespace=None):
    """compute_pool_info: ComputePool objects as stored (one, a namespace's, or all), volatile metadata removed."""
    if name and namespace:
        found = cluster.get("ComputePool", name, namespace)
        return [strip_volatile(found)] if found else []
    pools = cluster.list("ComputePool", namespace=namespace)
    if name:
        pools = [p for p in pools if p["metadata"]["name"] == name]
    return [strip_volatile(p) for p in sorted(pools, key=_key)]
