# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""App deployments end to end: read the project, the pool and every gpufabric workload once, let the core place
and render the app, reject before the first write, then write the workload and the pool's allocation record.

The apps on a pool are read back from the workloads' allocation annotations (core.apps), so the allocation a
pool's status shows is always the sum over the apps that exist, whichever run wrote last.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import (
    app_from_workload, apps_in, apps_on, choose_family, compute_pool_app_status, compute_pool_mode,
    labelled_capacity, labelled_pool_app_status, labelled_pool_nodes, node_selector, parse_app, place,
    placement_report, render_workload, validation_messages)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_keys
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import normalise_family
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import (
    pool_access_pools, read_quota_annotation)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import (
    contains, drop_empty_strings, strip_volatile)
from ansible_collections.gpufabric.platform.plugins.module_utils.projects import WORKLOAD_KINDS, app_workloads
from ansible_collections.gpufabric.platform.plugins.module_utils.module import ModuleRun

ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
UNUSABLE_STATES = ("Deleting", "Failed")


def _name(obj):
    return obj["metadata"]["name"]


def _architecture(capacity, family):
    """The architecture whose capacity rows hold the family (the first, by name; AMD64 when none)."""
    for row in sorted(capacity or (), key=lambda r: r.get("architecture") or ""):
        if any(normalise_family(g.get("family")) == family for g in row.get("gpu") or ()):
            return row.get("architecture") or "AMD64"
    return "AMD64"


class Target(object):
    """The pool an app lands on, as read once: capacity, GPUs held by non-app pods, mode, and the object whose
    status records the allocation (None for a labelled pool without a Pool object)."""

    def __init__(self, kind, name, namespace, obj, capacity=(), foreign=(), mode="shared", members=(), pods=(),
                 gpu_types=()):
        self.kind, self.name, self.namespace, self.obj = kind, name, namespace, obj
        self.capacity, self.foreign, self.mode = list(capacity), list(foreign), mode
        self.members, self.pods, self.gpu_types = list(members), list(pods), list(gpu_types)

    @property
    def what(self):
        return "pool" if self.kind == "pool" else "compute pool"


class AppDeployer(ModuleRun):
    """One app_deployment run."""

    # -- reads -------------------------------------------------------------------------------------------------

    def read_target(self, kind, name, namespace, platform=None):
        if kind == "compute_pool":
            obj = self.cluster.get("ComputePool", name, namespace)
            if obj is None:
                return None
            status = obj.get("status") or {}
            return Target(kind, name, namespace, obj, status.get("hardwareCapacity") or (), (),
                          compute_pool_mode(obj))
        nodes = self.cluster.list("Node", label_selector="%s=%s" % (pool_keys(self.prefix)[0], name))
        pods = self.cluster.list("Pod", field_selector=ACTIVE_PODS)
        members = labelled_pool_nodes(nodes, name, self.prefix)
        chosen = labelled_pool_nodes(nodes, name, self.prefix, platform)
        capacity, foreign = labelled_capacity(chosen, pods)
        type_key = pool_keys(self.prefix)[1]
        gpu_types = sorted(set((n["metadata"].get("labels") or {}).get(type_key) for n in members) - {None})
        obj = self.cluster.get("Pool", name)
        if obj is None and not members:
            return None
        return Target(kind, name, None, obj, capacity, foreign, "shared", members, pods, gpu_types)

    # -- the run -----------------------------------------------------------------------------------------------

    def run(self):
        params = self.params
        workloads = app_workloads(self.cluster)
        live = self.live_workload(workloads)
        if params["state"] == "absent":
            return self.remove(workloads, live)
        spec = parse_app(dict(params))
        errors = validation_messages(spec)
        namespace = self.cluster.get("Namespace", spec.namespace)
        quota = read_quota_annotation(namespace, self.prefix) if namespace else None
        if quota is None:
            errors.append("namespace %s is not a gpufabric project (no %s/gpu-quota); declare it with "
                          "gpufabric.platform.project first" % (spec.namespace, self.prefix))
        if live is not None and live["kind"] != spec.kind:
            errors.append("%s/%s already exists as a %s; remove it first (state=absent, kind=%s)"
                          % (spec.namespace, spec.name, live["kind"], live["kind"]))
        target = self.read_target(spec.target_kind, spec.target, spec.namespace, spec.platform)
        if target is None:
            where = "in namespace %s " % spec.namespace if spec.target_kind == "compute_pool" else ""
            raise_if(errors + ["%s %s %sdoes not exist" % (
                "compute pool" if spec.target_kind == "compute_pool" else "pool", spec.target, where)])
        state = ((target.obj or {}).get("status") or {}).get("status")
        if state in UNUSABLE_STATES:
            errors.append("compute pool %s is %s and takes no new apps" % (spec.target, state))
        family, family_errors = choose_family(spec, target.capacity, target.gpu_types)
        errors += family_errors
        architecture = _architecture(target.capacity, family)
        selector = node_selector(spec, family, self.prefix)
        namespace_scope = spec.namespace if spec.target_kind == "compute_pool" else None
        placement = place(spec, family, target.capacity, target.foreign, target.mode,
                          apps_on(workloads, spec.target_kind, spec.target, namespace_scope), quota or {},
                          apps_in(workloads, spec.namespace), selector, architecture)
        if not family_errors:
            errors += list(placement.errors)
        errors += self.access_errors(spec, namespace)
        desired = render_workload(spec, placement, architecture)
        if live is not None and live["kind"] == "Job" == spec.kind and not contains(
                live["spec"].get("template"), drop_empty_strings(desired["spec"]["template"])):
            errors.append("Job %s/%s exists with another pod template, which a Job cannot change; remove it "
                          "(state=absent) and run again" % (spec.namespace, spec.name))
        raise_if(errors)

        # Validated: now the writes, each sent only when it changes something.
        changed, applied = self.cluster.apply(desired, live, self.check_mode)
        before, after = {}, {}
        if changed:
            key = "%s/%s" % (spec.kind, spec.name)
            before[key], after[key] = strip_volatile(live), strip_volatile(applied)
        recorded = self.record(target, placement.apps_after, before, after)
        moved = self.moved_from(live, spec)
        if moved is not None:
            old = self.read_target(moved[0], moved[1], spec.namespace)
            if old is not None:
                rest = [w for w in workloads if not (w["metadata"].get("namespace") == spec.namespace
                                                     and _name(w) == spec.name)]
                recorded = self.record(old, apps_on(rest, moved[0], moved[1], namespace_scope), before, after) \
                    or recorded
        result = {"changed": changed or recorded, "placement": placement_report(spec, placement),
                  "workload": {"kind": spec.kind, "name": spec.name, "namespace": spec.namespace,
                               "node_selector": dict(placement.node_selector)},
                  "allocation": self.allocation(target, placement.apps_after)}
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result

    def live_workload(self, workloads):
        """This app's workload, of whichever kind exists (Deployment first)."""
        for obj in workloads:
            if obj["metadata"].get("namespace") == self.params["namespace"] and _name(obj) == self.params["name"]:
                return obj
        return None

    @staticmethod
    def moved_from(live, spec):
        """(kind, name) of the pool the app's workload recorded before, when it is not the new one."""
        placed = app_from_workload(live) if live is not None else None
        if placed is None or (placed[0], placed[1]) == (spec.target_kind, spec.target):
            return None
        return placed[0], placed[1]

    def access_errors(self, spec, namespace):
        """A project that declared pool_access places apps only on those pools, and only for callers the
        pool's role binding names (checked by the API server's own authorizer, not guessed here)."""
        pools = pool_access_pools(namespace, self.prefix)
        if not pools:
            return []
        if spec.target not in pools:
            return ["project %s declares pool access for %s only; %s is not one of them (add it to the project's "
                    "pool_access)" % (spec.namespace, ", ".join(pools), spec.target)]
        resource = "pools" if spec.target_kind == "pool" else "computepools"
        if self.cluster.can_i("use", "gpufabric.io", resource, spec.target, spec.namespace):
            return []
        binding = self.cluster.get("RoleBinding", "pool-access-%s" % spec.target, spec.namespace) or {}
        subjects = ", ".join("%s %s" % (s.get("kind"), s.get("name")) for s in binding.get("subjects") or ())
        return ["pool access denied: the caller may not use %s %s in project %s; its pool_access grants it to %s"
                % ("pool" if spec.target_kind == "pool" else "compute pool", spec.target, spec.namespace,
                   subjects or "nobody")]

    # -- the allocation record -----------------------------------------------------------------------------------

    def record(self, target, apps, before, after):
        """Write the target's status with the apps' allocation (compute pool: hardwareAllocation,
        aiWorkloadRefs, gpuAllocated; labelled pool: the same, counted in gpuUsed). True when it changed."""
        if target.obj is None:
            return False
        if target.kind == "compute_pool":
            status = compute_pool_app_status(target.obj.get("status"), apps)
            kind = "ComputePool"
        else:
            status = labelled_pool_app_status(target.name, target.members, target.pods, apps)
            kind = "Pool"
        desired = dict(target.obj, status=status)
        changed, applied = self.cluster.apply_status(desired, target.obj, self.check_mode)
        if changed:
            key = "%s/%s/status" % (kind, target.name)
            before[key] = target.obj.get("status")
            after[key] = (applied or {}).get("status")
        return changed

    @staticmethod
    def allocation(target, apps):
        refs = sorted("%s/%s" % (a.namespace, a.name) for a in apps)
        return {"target": {"kind": "Pool" if target.kind == "pool" else "ComputePool", "name": target.name},
                "gpu_allocated": sum(a.count for a in apps), "apps": refs}

    # -- state=absent ----------------------------------------------------------------------------------------------

    def remove(self, workloads, live):
        """Delete the workload and record its pool's allocation without it. Converged (no workload, no record
        of it) sends nothing."""
        params = self.params
        before, after = {}, {}
        changed = False
        if live is not None:
            kinds = [params["kind"]] if params.get("kind") else list(WORKLOAD_KINDS)
            if live["kind"] in kinds:
                changed = self.cluster.delete(live["kind"], _name(live), params["namespace"], self.check_mode)
                key = "%s/%s" % (live["kind"], _name(live))
                before[key], after[key] = strip_volatile(live), None
        placed = app_from_workload(live) if live is not None else None
        targets = []
        if placed is not None:
            targets.append((placed[0], placed[1]))
        for kind in ("pool", "compute_pool"):
            if params.get(kind) and (kind, params[kind]) not in targets:
                targets.append((kind, params[kind]))
        rest = [w for w in workloads if w is not live]
        allocation = None
        for kind, name in targets:
            target = self.read_target(kind, name, params["namespace"])
            if target is None:
                continue
            apps = apps_on(rest, kind, name, params["namespace"] if kind == "compute_pool" else None)
            changed = self.record(target, apps, before, after) or changed
            allocation = allocation or self.allocation(target, apps)
        result = {"changed": bool(changed), "workload": {"kind": live["kind"] if live else params.get("kind"),
                                                         "name": params["name"], "namespace": params["namespace"],
                                                         "state": "absent"}}
        if allocation is not None:
            result["allocation"] = allocation
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result
