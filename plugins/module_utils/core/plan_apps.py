"""App deployments in a plan: each app checked against the pool it lands on (free GPUs of its family, the
project's quota, a dedicated compute pool's single app, the caller's pool access), in spec order, each seeing the
apps placed before it; then its workload, and the ledger (the apps each pool holds) that the pools' statuses
record before any workload is written.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import (
    app_from_workload, choose_family, labelled_capacity, node_selector, place, placement_report, render_workload,
    validation_messages, workload_gpu_errors)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import AppAllocation
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_keys
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import COMPUTE_POOL, POOL
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import normalise_family
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import (
    apply_write, contains, delete_write, drop_empty_strings)

UNUSABLE_STATES = ("Deleting", "Failed")


def _architecture(capacity, family):
    """The architecture whose capacity rows hold the family (the first, by name; AMD64 when none)."""
    for row in sorted(capacity or (), key=lambda r: r.get("architecture") or ""):
        if any(normalise_family(g.get("family")) == family for g in row.get("gpu") or ()):
            return row.get("architecture") or "AMD64"
    return "AMD64"


def access_questions(spec, state, prefix):
    """(resource, pool, namespace) for every app whose project restricts pools: the run asks the API server
    whether the caller may `use` each (SelfSubjectAccessReview) before planning."""
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import pool_access_pools

    declared = dict((e.name, tuple(a.pool for a in e.spec.pool_access)) for e in spec.of("project") if e.present)
    questions = []
    for entry in spec.of("app_deployment"):
        if not entry.present:
            continue
        app = entry.spec
        pools = declared.get(app.namespace)
        if pools is None:
            pools = pool_access_pools(state.get("Namespace", app.namespace), prefix)
        if pools and app.target in pools:
            questions.append(("pools" if app.target_kind == POOL else "computepools", app.target, app.namespace))
    return sorted(set(questions))


class Apps(object):
    """Places every declared app and removes the absent ones, keeping the ledger up to date."""

    def __init__(self, planner, tenancy, pools, compute_pools, ledger):
        self.p, self.tenancy, self.pools, self.compute_pools, self.ledger = (
            planner, tenancy, pools, compute_pools, ledger)
        self.live = {}
        for kind in ("Deployment", "Job"):
            for obj in planner.state.items(kind):
                key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
                self.live.setdefault(key, obj)
        self.pods = planner.state.items("Pod")

    def plan(self):
        p = self.p
        removed = [e for e in p.spec.of("app_deployment") if not e.present]
        declared = set(e.key for e in p.spec.of("app_deployment"))
        for key in p.pruned_keys("Deployment", [obj for k, obj in sorted(self.live.items()) if k not in declared]):
            removed.append(p.pruned_entry("app_deployment", key[1], key[0]))
        for entry in removed:
            self._remove(entry)
        for entry in p.spec.of("app_deployment"):
            if entry.present:
                self._place(entry)

    def _target(self, app):
        """(exists, capacity, foreign, mode, state, gpu types) of the pool the app lands on, as it will be."""
        if app.target_kind == COMPUTE_POOL:
            if not self.compute_pools.exists(app.target, app.namespace):
                return None
            mode, state = self.compute_pools.mode_and_state(app.target, app.namespace)
            return self.compute_pools.capacity(app.target, app.namespace), [], mode, state, []
        if not self.pools.exists(app.target):
            return None
        members = self.pools.members(app.target)
        chosen = self.pools.members(app.target, app.platform)
        capacity, foreign = labelled_capacity(chosen, self.pods)
        type_key = pool_keys(self.p.prefix)[1]
        gpu_types = sorted(set((n["metadata"].get("labels") or {}).get(type_key) for n in members) - {None})
        return capacity, foreign, "shared", None, gpu_types

    def _place(self, entry):
        p, app = self.p, entry.spec
        errors = list(validation_messages(app))
        quota = self.tenancy.quota_of(app.namespace)
        if quota is None:
            errors.append("namespace %s is not a gpufabric project (no %s/gpu-quota); declare it with "
                          "gpufabric.platform.project first (or in the spec's projects)" % (app.namespace, p.prefix))
        live = self.live.get((app.namespace, app.name))
        if live is not None and live["kind"] != app.kind:
            errors.append("%s/%s already exists as a %s; remove it first (state=absent, kind=%s)"
                          % (app.namespace, app.name, live["kind"], live["kind"]))
        target = self._target(app)
        if target is None:
            where = "in namespace %s " % app.namespace if app.target_kind == COMPUTE_POOL else ""
            p.errors.extend(p.where(entry, errors + ["%s %s %sdoes not exist" % (
                "compute pool" if app.target_kind == COMPUTE_POOL else "pool", app.target, where)]))
            return
        capacity, foreign, mode, state, gpu_types = target
        if state in UNUSABLE_STATES:
            errors.append("compute pool %s is %s and takes no new apps" % (app.target, state))
        family, family_errors = choose_family(app, capacity, gpu_types)
        errors += family_errors
        architecture = _architecture(capacity, family)
        selector = node_selector(app, family, p.prefix)
        others = [a for a in self.ledger.apps_on(app.target_kind, app.target, app.namespace)
                  if (a.namespace, a.name) != (app.namespace, app.name)]
        in_project = [a for a in self.ledger.apps_in(app.namespace) if a.name != app.name]
        placement = place(app, family, capacity, foreign, mode, others, quota or {}, in_project, selector,
                          architecture)
        if not family_errors:
            errors += list(placement.errors)
        errors += self._access_errors(app)
        desired = render_workload(app, placement, architecture)
        errors += workload_gpu_errors(app, desired)
        if live is not None and live["kind"] == "Job" == app.kind and not contains(
                live["spec"].get("template"), drop_empty_strings(desired["spec"]["template"])):
            errors.append("Job %s/%s exists with another pod template, which a Job cannot change; remove it "
                          "(state=absent) and run again" % (app.namespace, app.name))
        if errors:
            p.errors.extend(p.where(entry, errors))
            return
        self.ledger.place(app.target_kind, app.target,
                          AppAllocation(app.name, app.namespace, architecture, family, app.gpu_total))
        p.add("workload", apply_write(desired, live), entry)
        apps_after = self.ledger.apps_on(app.target_kind, app.target, app.namespace)
        p.report(entry, {
            "placement": placement_report(app, placement),
            "workload": {"kind": app.kind, "name": app.name, "namespace": app.namespace,
                         "node_selector": dict(placement.node_selector)},
            "allocation": {"target": {"kind": "Pool" if app.target_kind == POOL else "ComputePool",
                                      "name": app.target},
                           "gpu_allocated": sum(a.count for a in apps_after),
                           "apps": sorted("%s/%s" % (a.namespace, a.name) for a in apps_after)}})

    def _access_errors(self, app):
        """A project that declared pool_access places apps only on those pools, and only for callers the pool's
        binding names (the API server's own authorizer answered before planning)."""
        pools = self.tenancy.pool_access(app.namespace)
        if not pools:
            return []
        what = "pool" if app.target_kind == POOL else "compute pool"
        if app.target not in pools:
            return ["project %s declares pool access for %s only; %s is not one of them (add it to the project's "
                    "pool_access)" % (app.namespace, ", ".join(pools), app.target)]
        resource = "pools" if app.target_kind == POOL else "computepools"
        allowed, subjects = self.p.context.may_use(resource, app.target, app.namespace)
        if allowed is False:
            return ["pool access denied: the caller may not use %s %s in project %s; its pool_access grants it to "
                    "%s" % (what, app.target, app.namespace, subjects or "nobody")]
        return []

    def _remove(self, entry):
        """Delete the workload (of the given kind, if any); its GPUs leave the ledger."""
        p = self.p
        namespace, name = entry.namespace, entry.name
        live = self.live.get((namespace, name))
        kinds = [entry.params["kind"]] if entry.params.get("kind") else ["Deployment", "Job"]
        if live is not None and live["kind"] in kinds:
            p.add("remove-workload", delete_write(live), entry)
        held = self.ledger.where(namespace, name)
        placed = app_from_workload(live) if live is not None else None
        self.ledger.remove(namespace, name)
        report = {"workload": {"kind": live["kind"] if live else entry.params.get("kind"), "name": name,
                               "namespace": namespace, "state": "absent"}}
        targets = held or ([self.ledger.target(placed[0], placed[1], namespace)] if placed else [])
        if targets:
            kind, target, scope = targets[0]
            apps = self.ledger.apps_on(kind, target, scope)
            report["allocation"] = {"target": {"kind": "Pool" if kind == POOL else "ComputePool", "name": target},
                                    "gpu_allocated": sum(a.count for a in apps),
                                    "apps": sorted("%s/%s" % (a.namespace, a.name) for a in apps)}
        p.report(entry, report)

