"""App deployments in a plan: each app checked against the pool it lands on (free GPUs of its family, the
project's quota, a dedicated compute pool's single app, the caller's pool access), in spec order, each seeing the
apps placed before it; then its workload, and the ledger (the apps each pool holds) that the pools' statuses
record before any workload is written.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import (
    app_from_workload, choose_family, labelled_capacity, node_selector, place, placement_report, render_workload,
    validation_messages, workload_gpu_errors)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import APP_LABEL, AppAllocation
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import covers, products_of, row_name
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_keys
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import COMPUTE_POOL, POOL
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import MANAGED_BY
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import ProjectSpec, render_project
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import (
    contains, delete_write, drop_empty_strings, with_fingerprint)

UNUSABLE_STATES = ("Deleting", "Failed")
DIRECT, MANIFEST_WORK = "direct", "manifestwork"


def _architecture(capacity, family):
    """The architecture whose capacity rows hold GPUs the family covers (the first, by name; AMD64 when none)."""
    for row in sorted(capacity or (), key=lambda r: r.get("architecture") or ""):
        if any(covers(family, row_name(g)) for g in row.get("gpu") or ()):
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


def manifest_work_name(namespace, name):
    """The ManifestWork that delivers one app: <namespace>-<app>, in the spoke's namespace on the hub."""
    return "%s-%s" % (namespace, name)


def render_manifest_work(spoke, namespace, name, objects):
    """An OCM ManifestWork carrying exactly the objects a direct delivery would apply (fingerprints included)."""
    return {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
            "metadata": {"name": manifest_work_name(namespace, name), "namespace": spoke,
                         "labels": dict(MANAGED_BY, **{APP_LABEL: name})},
            "spec": {"workload": {"manifests": [with_fingerprint(obj) for obj in objects]},
                     "deleteOption": {"propagationPolicy": "Foreground"}}}


class Apps(object):
    """Places every declared app and removes the absent ones, keeping the ledger up to date. An app lands where
    its pool is: a compute pool's spoke, or the spoke its own `spoke` option names for a labelled pool; it is
    written there directly, or carried by a ManifestWork on the hub (`delivery: manifestwork`)."""

    def __init__(self, planner, tenancy, pools, compute_pools, ledger):
        self.p, self.tenancy, self.pools, self.compute_pools, self.ledger = (
            planner, tenancy, pools, compute_pools, ledger)
        self.direct = {}   # (namespace, name) -> (cluster, workload) as written directly
        for cluster, state in sorted(planner.states.items()):
            for kind in ("Deployment", "Job"):
                for obj in state.items(kind):
                    self.direct.setdefault((obj["metadata"].get("namespace"), obj["metadata"]["name"]),
                                           (cluster, obj))
        self.works = {}    # (namespace, name) -> (ManifestWork, the workload it carries)
        for work in planner.state.items("ManifestWork"):
            for manifest in ((work.get("spec") or {}).get("workload") or {}).get("manifests") or ():
                if isinstance(manifest, dict) and manifest.get("kind") in ("Deployment", "Job") \
                        and APP_LABEL in ((manifest.get("metadata") or {}).get("labels") or {}):
                    key = ((manifest.get("metadata") or {}).get("namespace"), manifest["metadata"].get("name"))
                    self.works[key] = (work, manifest)

    def plan(self):
        p = self.p
        removed = [e for e in p.spec.of("app_deployment") if not e.present]
        declared = set(e.key for e in p.spec.of("app_deployment"))
        live = [obj for key, (unused, obj) in sorted(self.direct.items()) if key not in declared]
        live += [work for key, (work, unused) in sorted(self.works.items()) if key not in declared]
        for key in p.pruned_keys("Deployment", live):
            removed.append(p.pruned_entry("app_deployment", key[1], key[0]))
        for entry in removed:
            self._remove(entry)
        for entry in p.spec.of("app_deployment"):
            if entry.present:
                self._place(entry)

    def cluster_of(self, entry):
        """(cluster, errors): where the app's pool is. A compute pool's spoke wins; the app's own `spoke`
        names the cluster of a labelled pool, and must agree with a compute pool's."""
        app = entry.spec
        if app.target_kind != COMPUTE_POOL:
            return entry.cluster, []
        spoke = self.compute_pools.spoke_of(app.target, app.namespace)
        if entry.cluster and entry.cluster != spoke:
            return spoke, ["spoke is %s but compute pool %s has its hosts on %s" % (
                entry.cluster, app.target, spoke or "the hub")]
        return spoke, []

    def _target(self, app, cluster):
        """(capacity, foreign, mode, state, gpu types, nodes) of the pool the app lands on, as it will be; None
        when there is no such pool. nodes: the Nodes its pods may land on (the compute pool's hosts, the labelled
        pool's members of the app's GPU type)."""
        if app.target_kind == COMPUTE_POOL:
            if not self.compute_pools.exists(app.target, app.namespace):
                return None
            mode, state = self.compute_pools.mode_and_state(app.target, app.namespace)
            return (self.compute_pools.capacity(app.target, app.namespace), [], mode, state, [],
                    self.compute_pools.nodes_of(app.target, app.namespace))
        pools = self.pools.get(cluster)
        if pools is None or not pools.exists(app.target):
            return None
        members = pools.members(app.target)
        chosen = pools.members(app.target, app.platform)
        capacity, foreign = labelled_capacity(chosen, pools.pods)
        type_key = pool_keys(self.p.prefix)[1]
        gpu_types = sorted(set((n["metadata"].get("labels") or {}).get(type_key) for n in members) - {None})
        return capacity, foreign, "shared", None, gpu_types, chosen

    def _live(self, app, cluster, delivery):
        """The app's workload as this delivery finds it: on the cluster it goes to, or inside its ManifestWork."""
        key = (app.namespace, app.name)
        if delivery == MANIFEST_WORK:
            found = self.works.get(key)
            return found[1] if found and found[0]["metadata"].get("namespace") == cluster else None
        found = self.direct.get(key)
        return found[1] if found and found[0] == cluster else None

    def _place(self, entry):
        p, app = self.p, entry.spec
        delivery = entry.params.get("delivery") or DIRECT
        cluster, errors = self.cluster_of(entry)
        errors = errors + list(validation_messages(app))
        if delivery == MANIFEST_WORK and not cluster:
            errors.append("delivery manifestwork needs a spoke: the ManifestWork goes to a spoke's namespace on "
                          "the hub (set spoke, or place the app on a compute pool that names one)")
        quota = self.tenancy.quota_of(app.namespace)
        if quota is None:
            errors.append("namespace %s is not a gpufabric project (no %s/gpu-quota); declare it with "
                          "gpufabric.platform.project first (or in the spec's projects)" % (app.namespace, p.prefix))
        live = self._live(app, cluster, delivery)
        if live is not None and live["kind"] != app.kind:
            errors.append("%s/%s already exists as a %s; remove it first (state=absent, kind=%s)"
                          % (app.namespace, app.name, live["kind"], live["kind"]))
        target = self._target(app, cluster)
        if target is None:
            where = "in namespace %s " % app.namespace if app.target_kind == COMPUTE_POOL else ""
            on = " on spoke %s" % cluster if cluster and app.target_kind != COMPUTE_POOL else ""
            p.errors.extend(p.where(entry, errors + ["%s %s %sdoes not exist%s" % (
                "compute pool" if app.target_kind == COMPUTE_POOL else "pool", app.target, where, on)]))
            return
        capacity, foreign, mode, state, gpu_types, nodes = target
        if state in UNUSABLE_STATES:
            errors.append("compute pool %s is %s and takes no new apps" % (app.target, state))
        family, family_errors = choose_family(app, capacity, gpu_types)
        errors += family_errors
        architecture = _architecture(capacity, family)
        products = products_of(family, nodes) if family else ()
        selector = node_selector(app, family, p.prefix, products)
        others = [a for a in self.ledger.apps_on(app.target_kind, app.target, app.namespace, cluster)
                  if (a.namespace, a.name) != (app.namespace, app.name)]
        in_project = [a for a in self.ledger.apps_in(app.namespace) if a.name != app.name]
        placement = place(app, family, capacity, foreign, mode, others, quota or {}, in_project, selector,
                          architecture, products)
        if not family_errors:
            errors += list(placement.errors)
        errors += self._access_errors(app)
        desired = render_workload(app, placement, architecture)
        errors += workload_gpu_errors(app, desired)
        replace_job = live is not None and live["kind"] == "Job" == app.kind and not contains(
            live["spec"].get("template"), drop_empty_strings(desired["spec"]["template"]))
        if replace_job and not entry.params.get("force"):
            errors.append("Job %s/%s exists with another pod template, which a Job cannot change; set force to "
                          "replace it (the running Job is deleted, then created again), or remove it (state=absent) "
                          "and run again" % (app.namespace, app.name))
        if errors:
            p.errors.extend(p.where(entry, errors))
            return
        self.ledger.place(app.target_kind, app.target,
                          AppAllocation(app.name, app.namespace, architecture, family, app.gpu_total), cluster)
        self._remove_elsewhere(entry, cluster, delivery)
        self._write(entry, desired, live, cluster, delivery, replace_job)
        apps_after = self.ledger.apps_on(app.target_kind, app.target, app.namespace, cluster)
        p.report(entry, {
            "placement": placement_report(app, placement),
            "workload": {"kind": app.kind, "name": app.name, "namespace": app.namespace,
                         "node_selector": dict(placement.node_selector), "spoke": cluster or None,
                         "delivery": delivery},
            "allocation": {"target": {"kind": "Pool" if app.target_kind == POOL else "ComputePool",
                                      "name": app.target},
                           "gpu_allocated": sum(a.count for a in apps_after),
                           "apps": sorted("%s/%s" % (a.namespace, a.name) for a in apps_after)}})

    def _write(self, entry, desired, live, cluster, delivery, replace_job):
        """The workload where it goes: on a spoke with the project's namespace and quota beside it, or all three
        carried by one ManifestWork on the hub."""
        p, app = self.p, entry.spec
        objects = []
        if cluster:
            tenant, quota = self.tenancy.projects.get(app.namespace, ("", {}))
            spec = ProjectSpec(app.namespace, tenant or "", tuple(sorted((quota or {}).items())))
            objects = render_project(spec, p.prefix)[:2]  # the Namespace and its GPU ResourceQuota
        if delivery == MANIFEST_WORK:
            work = render_manifest_work(cluster, app.namespace, app.name, objects + [desired])
            found = self.works.get((app.namespace, app.name))
            p.apply("workload", work, found[0] if found else None, entry)
            return
        state = p.state_of(cluster)
        for obj in objects:
            metadata = obj["metadata"]
            p.apply("spoke-namespace", obj, state.get(obj["kind"], metadata["name"], metadata.get("namespace")),
                    entry, cluster)
        if replace_job:
            p.add("workload", delete_write(live), entry, cluster)
            live = None
        p.apply("workload", desired, live, entry, cluster)

    def _remove_elsewhere(self, entry, cluster, delivery):
        """An app moved to another cluster, or to the other delivery, leaves what it had where it was."""
        key = (entry.spec.namespace, entry.spec.name)
        direct = self.direct.get(key)
        if direct is not None and (delivery != DIRECT or direct[0] != cluster):
            self.p.add("remove-workload", delete_write(direct[1]), entry, direct[0])
        work = self.works.get(key)
        if work is not None and (delivery != MANIFEST_WORK or work[0]["metadata"].get("namespace") != cluster):
            self.p.add("remove-workload", delete_write(work[0]), entry)

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
        """Delete the workload (of the given kind, if any) wherever it was delivered; its GPUs leave the ledger."""
        p = self.p
        namespace, name = entry.namespace, entry.name
        key = (namespace, name)
        kinds = [entry.params["kind"]] if entry.params.get("kind") else ["Deployment", "Job"]
        live = None
        if key in self.direct and self.direct[key][1]["kind"] in kinds:
            cluster, live = self.direct[key]
            p.add("remove-workload", delete_write(live), entry, cluster)
        if key in self.works and self.works[key][1]["kind"] in kinds:
            work, live = self.works[key]
            p.add("remove-workload", delete_write(work), entry)
        held = self.ledger.where(namespace, name)
        placed = app_from_workload(live) if live is not None else None
        self.ledger.remove(namespace, name)
        report = {"workload": {"kind": live["kind"] if live else entry.params.get("kind"), "name": name,
                               "namespace": namespace, "state": "absent"}}
        targets = held or ([self.ledger.target(placed[0], placed[1], namespace)] if placed else [])
        if targets:
            kind, target, scope = targets[0]
            apps = self.ledger.apps_on(kind, target, scope if kind == COMPUTE_POOL else None,
                                       scope if kind == POOL else "")
            report["allocation"] = {"target": {"kind": "Pool" if kind == POOL else "ComputePool", "name": target},
                                    "gpu_allocated": sum(a.count for a in apps),
                                    "apps": sorted("%s/%s" % (a.namespace, a.name) for a in apps)}
        p.report(entry, report)
