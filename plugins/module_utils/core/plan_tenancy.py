"""Tenants and projects in a plan: what the cluster will hold once the spec is applied, the checks on it, and
the writes (Tenant objects, each project's Namespace, quota, roles and bindings, then the tenants' status).

A tenant's quota must hold the sum of its projects' quotas; a project's quota must hold what its apps already
use; a tenant or project that still holds projects or apps is removed only with `force`.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import gpus_by_family
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    gpu_usage, quota_capacity_warnings, quota_errors, usage_by_quota)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import managed
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import spoke_gpus
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import parse_quantity
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import (
    QUOTA_NAME, pool_access_pools, read_quota_annotation, render_project, render_tenant, render_tenant_status,
    tenant_quota)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import (
    delete_write, status_write)

# Names of the RBAC objects a project owns: its three roles and one pair per pool_access entry.
OWNED_PREFIXES = ("gpufabric-", "pool-access-")


def quota_used(quota):
    """GPUs the project's pods request as the cluster counts them: its ResourceQuota's status.used, kept by the
    controller manager (all families together; None until the quota has been counted)."""
    used = (((quota or {}).get("status") or {}).get("used") or {}).get("requests.nvidia.com/gpu")
    return None if used is None else int(parse_quantity(used))


def terminating(obj):
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


class Tenancy(object):
    """Final tenants {name: quota} and projects {name: (tenant, quota)}; checks and writes for both."""

    def __init__(self, planner):
        self.p = planner
        state, prefix = planner.state, planner.prefix
        self.live_tenants = dict((t["metadata"]["name"], t) for t in state.items("Tenant"))
        self.live_projects = {}
        for namespace in state.items("Namespace"):
            if read_quota_annotation(namespace, prefix) is not None and not terminating(namespace):
                self.live_projects[namespace["metadata"]["name"]] = namespace
        self.tenants = dict((name, tenant_quota(obj)) for name, obj in self.live_tenants.items())
        self.projects = {}
        for name, namespace in self.live_projects.items():
            labels = namespace["metadata"].get("labels") or {}
            self.projects[name] = (labels.get(prefix + "/tenant") or "", read_quota_annotation(namespace, prefix))
        self.touched_tenants = set()
        self.removed_projects = []
        self.removed_tenants = []
        for entry in planner.spec.of("tenant"):
            if entry.present:
                name, quota = entry.spec
                self.tenants[name] = dict(quota)
                self.touched_tenants.add(name)
            elif entry.name in self.tenants:
                self.removed_tenants.append(entry)
        for entry in planner.spec.of("project"):
            old = self.projects.get(entry.name)
            if old and old[0]:
                self.touched_tenants.add(old[0])
            if entry.present:
                self.projects[entry.name] = (entry.spec.tenant, dict(entry.spec.gpu_quota))
                if entry.spec.tenant:
                    self.touched_tenants.add(entry.spec.tenant)
            elif entry.name in self.projects or planner.state.get("Namespace", entry.name):
                self.removed_projects.append(entry)
        for name in planner.pruned("Tenant", [t for n, t in self.live_tenants.items() if managed(t)]):
            self.removed_tenants.append(planner.pruned_entry("tenant", name))
        for name in planner.pruned("Namespace", [n for n in self.live_projects.values() if managed(n)]):
            self.removed_projects.append(planner.pruned_entry("project", name))
        for entry in self.removed_projects:
            old = self.projects.pop(entry.name, None)
            if old and old[0]:
                self.touched_tenants.add(old[0])
        for entry in self.removed_tenants:
            self.tenants.pop(entry.name, None)

    # -- what the cluster will hold -----------------------------------------------------------------------------

    def quota_of(self, project):
        """The final {family: n} of a project, or None when the namespace is not (or no longer) a project."""
        found = self.projects.get(project)
        return None if found is None else dict(found[1] or {})

    def projects_of(self, tenant):
        return dict((name, dict(quota or {})) for name, (owner, quota) in self.projects.items() if owner == tenant)

    def pool_access(self, project):
        """Pools a project restricts its apps to (declared in this spec, else as the namespace records it)."""
        for entry in self.p.spec.of("project"):
            if entry.name == project and entry.present:
                return tuple(access.pool for access in entry.spec.pool_access)
        return pool_access_pools(self.p.state.get("Namespace", project), self.p.prefix)

    # -- checks and writes --------------------------------------------------------------------------------------

    def plan(self):
        p = self.p
        capacity, where = self.capacity()
        for entry in p.spec.of("tenant"):
            if entry.present:
                name, quota = entry.spec
                p.apply("tenant", render_tenant(name, quota), self.live_tenants.get(name), entry)
                p.warnings.extend(quota_capacity_warnings("tenant %s" % name, dict(quota), capacity, where))
                p.report(entry, {"name": name, "state": "present", "gpu_quota": dict(quota),
                                 "assigned": self._assigned(name), "projects": sorted(self.projects_of(name))})
        for entry in p.spec.of("project"):
            if entry.present:
                self._plan_project(entry, capacity, where)
        for tenant in sorted(self.touched_tenants):
            if tenant in self.tenants:
                p.errors.extend(quota_errors(tenant, self.tenants[tenant], self.projects_of(tenant)))
        for entry in self.removed_projects:
            self._remove_project(entry)
        for entry in self.removed_tenants:
            self._remove_tenant(entry)

    def capacity(self):
        """({family: GPUs}, what that counts): the hub's own Nodes plus what each spoke gpufabric registered
        reported (its ManagedCluster), since projects' apps run on the spokes too. Spokes the spec declares but
        that are not registered yet (the hub's part of a fleet runs before the spokes register) are named."""
        capacity = dict(gpus_by_family(self.p.state.items("Node")))
        spokes = [cluster for cluster in self.p.state.items("ManagedCluster") if managed(cluster)]
        for cluster in spokes:
            for family, count in spoke_gpus(cluster, self.p.prefix).items():
                capacity[family] = capacity.get(family, 0) + count
        where = "the hub and its %d registered spoke(s)" % len(spokes) if spokes else "the cluster"
        pending = sorted(set(self.p.spec.spokes) - set(c["metadata"]["name"] for c in spokes))
        if pending:
            where += " (spoke(s) %s of the spec are not registered yet, so their GPUs are not counted)" % (
                ", ".join(pending))
        return capacity, where

    def _assigned(self, tenant):
        assigned = {}
        for quota in self.projects_of(tenant).values():
            for family, count in quota.items():
                assigned[family] = assigned.get(family, 0) + count
        return assigned

    def _plan_project(self, entry, capacity, where):
        p, spec = self.p, entry.spec
        namespace = p.state.get("Namespace", spec.name)
        if terminating(namespace):
            p.error(entry, "namespace %s is being deleted; wait until it is gone, then run again" % spec.name)
        if spec.tenant and spec.tenant not in self.tenants:
            p.error(entry, "tenant %s does not exist; declare it first (gpufabric.platform.tenant, or the spec's "
                           "tenants)" % spec.tenant)
        quota = dict(spec.gpu_quota)
        used = usage_by_quota(quota, gpu_usage(p.undeclared_apps_in(spec.name)))  # under the family counting it
        for family in sorted(used):
            if used[family] > quota.get(family, 0):
                p.error(entry, "project %s: its app deployments hold %d x %s but the new quota is %d: remove or "
                               "shrink apps first (short by %d)" % (spec.name, used[family], family,
                                                                    quota.get(family, 0),
                                                                    used[family] - quota.get(family, 0)))
        p.warnings.extend(quota_capacity_warnings("project %s" % spec.name, quota, capacity, where))
        desired = render_project(spec, p.prefix)
        owned = self.owned(spec.name)
        for obj in desired:
            live = namespace if obj["kind"] == "Namespace" else owned.get((obj["kind"], obj["metadata"]["name"]))
            p.apply("project", obj, live, entry)
        wanted = set((obj["kind"], obj["metadata"]["name"]) for obj in desired)
        for key in sorted(k for k in owned if k not in wanted):
            p.add("project", delete_write(owned[key]), entry)
        p.report(entry, {"name": spec.name, "tenant": spec.tenant or None, "gpu_quota": quota,
                         "gpu_used": usage_by_quota(quota, gpu_usage(p.live_apps_in(spec.name))),
                         "gpu_requested": quota_used(owned.get(("ResourceQuota", QUOTA_NAME))),
                         "members": [{"kind": m.kind, "name": m.name, "role": m.role} for m in spec.members],
                         "pool_access": [{"pool": a.pool, "users": list(a.users), "groups": list(a.groups)}
                                         for a in spec.pool_access],
                         "state": "present"})

    def owned(self, project):
        """{(kind, name): object} of the quota and RBAC objects gpufabric keeps in a project namespace."""
        found = {}
        for kind in ("ResourceQuota", "Role", "RoleBinding"):
            for obj in self.p.state.items(kind):
                metadata = obj["metadata"]
                if metadata.get("namespace") != project or not managed(obj):
                    continue
                if (kind == "ResourceQuota" and metadata["name"] == QUOTA_NAME) or \
                        (kind != "ResourceQuota" and metadata["name"].startswith(OWNED_PREFIXES)):
                    found[(kind, metadata["name"])] = obj
        return found

    def _remove_project(self, entry):
        """Bindings, roles and quota, then the namespace if gpufabric created it; refused while apps remain."""
        p, name = self.p, entry.name
        namespace = p.state.get("Namespace", name)
        apps = p.app_names_left_in(name)
        force = entry.params.get("force")
        if apps and not force:
            p.error(entry, "project %s still has %d app deployment(s): %s; remove them first (app_deployment "
                           "state=absent, which frees their GPUs on the pools) or set force"
                    % (name, len(apps), ", ".join(apps)))
        elif apps:
            p.warnings.append("project %s removed with %d app deployment(s) in it (%s); the namespace's deletion "
                              "removes them" % (name, len(apps), ", ".join(apps)))
        owned = self.owned(name)
        for key in sorted(owned, key=lambda k: ({"RoleBinding": 0, "Role": 1}.get(k[0], 2), k)):
            p.add("remove-project", delete_write(owned[key]), entry)
        if namespace is not None and managed(namespace) and not terminating(namespace):
            p.add("remove-project", delete_write(namespace, "Namespace"), entry)
        p.report(entry, {"name": name, "state": "absent"})

    def _remove_tenant(self, entry):
        p, name = self.p, entry.name
        projects = sorted(self.projects_of(name))
        if projects and not entry.params.get("force"):
            p.error(entry, "tenant %s still has %d project(s): %s; remove them first (project state=absent) or set "
                           "force to delete the tenant anyway (the projects keep their own quotas)"
                    % (name, len(projects), ", ".join(projects)))
        live = self.live_tenants.get(name)
        if live is not None:
            p.add("remove-tenant", delete_write(live, "Tenant"), entry)
        p.report(entry, {"name": name, "state": "absent", "projects": projects})

    def finish(self):
        """Tenant statuses: what each touched tenant's projects were given, once the spec is applied."""
        for tenant in sorted(self.touched_tenants):
            if tenant not in self.tenants:
                continue
            desired = render_tenant(tenant, tuple(sorted(self.tenants[tenant].items())))
            status = render_tenant_status(self.tenants[tenant], self.projects_of(tenant))
            entry = next((e for e in self.p.spec.of("tenant") if e.name == tenant), None)
            self.p.add("tenant-status", status_write(desired, status, self.live_tenants.get(tenant)), entry)
