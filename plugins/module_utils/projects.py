# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Tenants and projects end to end: read what exists, let the core render and check, then write only what differs.

Shared by the tenant and project modules. The objects, the quota arithmetic and the tenant status are the
core's; this file reads, orders the writes (validation first, so a rejected run writes nothing) and shapes the
result and the diff.
"""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import APP_LABEL, apps_in, gpus_by_family
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    gpu_usage, quota_capacity_warnings, quota_errors)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import MANAGED_BY
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import (
    QUOTA_NAME, parse_project, parse_tenant, read_quota_annotation, render_project, render_tenant,
    render_tenant_status, tenant_quota)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import RESOURCES, strip_volatile
from ansible_collections.gpufabric.platform.plugins.module_utils.module import ModuleRun

MANAGED_SELECTOR = ",".join("%s=%s" % item for item in MANAGED_BY.items())
WORKLOAD_KINDS = ("Deployment", "Job")
# Names of the RBAC objects a project owns: its three roles and one pair per pool_access entry.
OWNED_PREFIXES = ("gpufabric-", "pool-access-")


def _name(obj):
    return obj["metadata"]["name"]


def _key(obj):
    return "%s/%s" % (obj["kind"], _name(obj))


def listed(kind, obj):
    """A list item as GET returns it: built-in kinds' list items carry neither kind nor apiVersion."""
    return dict(obj, kind=kind, apiVersion=RESOURCES[kind][0])


def _terminating(obj):
    return bool((obj or {}).get("metadata", {}).get("deletionTimestamp"))


def tenant_projects(cluster, tenant, prefix, leave_out=None):
    """{project: {family: n}} for the live projects of a tenant (Namespaces labelled with it), one LIST."""
    quotas = {}
    for namespace in cluster.list("Namespace", label_selector="%s/tenant=%s" % (prefix, tenant)):
        if _terminating(namespace) or _name(namespace) == leave_out:
            continue
        quotas[_name(namespace)] = read_quota_annotation(namespace, prefix) or {}
    return quotas


def app_workloads(cluster, namespace=None):
    """gpufabric app workloads (Deployments and Jobs labelled with their app) in a namespace, or everywhere."""
    return [listed(kind, obj) for kind in WORKLOAD_KINDS
            for obj in cluster.list(kind, namespace=namespace, label_selector=APP_LABEL)]


def refresh_tenant(cluster, tenant, prefix, check_mode, project=None, quota=None):
    """Re-apply a Tenant's status from its projects (with `project` given `quota`, or left out when quota is
    None). Returns (changed, before, after); nothing is sent when the status already says so."""
    live = cluster.get("Tenant", tenant)
    if live is None:
        return False, None, None
    projects = tenant_projects(cluster, tenant, prefix, leave_out=project)
    if quota is not None:
        projects[project] = quota
    desired = dict(live, status=render_tenant_status(tenant_quota(live), projects))
    changed, after = cluster.apply_status(desired, live, check_mode)
    return changed, live, after


class TenantRunner(ModuleRun):
    """One tenant run: the cluster-scoped Tenant and its status (the quota its projects were given)."""

    def run(self):
        name, quota = parse_tenant(self.params)
        live = self.cluster.get("Tenant", name)
        projects = tenant_projects(self.cluster, name, self.prefix)
        result = {"changed": False}
        if self.params["state"] == "absent":
            if projects and not self.params["force"]:
                raise_if(["tenant %s still has %d project(s): %s; remove them first (project state=absent) or set "
                          "force to delete the tenant anyway (the projects keep their own quotas)"
                          % (name, len(projects), ", ".join(sorted(projects)))])
            result["changed"] = live is not None and self.cluster.delete("Tenant", name, check_mode=self.check_mode)
            after = None
            result["tenant"] = {"name": name, "state": "absent", "projects": sorted(projects)}
        else:
            raise_if(quota_errors(name, dict(quota), projects))
            desired = render_tenant(name, quota)
            desired["status"] = render_tenant_status(dict(quota), projects)
            changed, applied = self.cluster.apply(desired, live, self.check_mode)
            stored = live if self.check_mode else applied  # a dry-run apply stores nothing
            status_changed, after = self.cluster.apply_status(desired, stored, self.check_mode)
            result["changed"] = changed or status_changed
            status = desired["status"]
            result["tenant"] = {"name": name, "state": "present", "gpu_quota": dict(quota),
                                "assigned": dict((row["family"], row["gpuCount"]) for row in status["assigned"]),
                                "projects": sorted(projects)}
            for warning in quota_capacity_warnings("tenant %s" % name, dict(quota), gpus_by_family(self.cluster.list("Node"))):
                self.module.warn(warning)
        if self.module._diff:
            result["diff"] = {"before": strip_volatile(live) or {}, "after": strip_volatile(after) or {}}
        return result


class ProjectRunner(ModuleRun):
    """One project run: Namespace, GPU ResourceQuota, roles, exact bindings, per-pool access."""

    def owned(self, namespace):
        """The RBAC objects and the quota this collection keeps in the namespace, keyed Kind/name."""
        found = {}
        for kind in ("Role", "RoleBinding"):
            for obj in self.cluster.list(kind, namespace=namespace, label_selector=MANAGED_SELECTOR):
                if _name(obj).startswith(OWNED_PREFIXES):
                    found["%s/%s" % (kind, _name(obj))] = listed(kind, obj)
        quota = self.cluster.get("ResourceQuota", QUOTA_NAME, namespace)
        if quota is not None:
            found["ResourceQuota/" + QUOTA_NAME] = quota
        return found

    def run(self):
        name = self.params["name"]
        namespace = self.cluster.get("Namespace", name)
        if self.params["state"] == "absent":
            return self.remove(name, namespace)
        if _terminating(namespace):
            raise_if(["namespace %s is being deleted; wait until it is gone, then run again" % name])
        spec = parse_project(dict(self.params))
        desired = render_project(spec, self.prefix)
        live = dict(self.owned(name), **{"Namespace/" + name: namespace}) if namespace else {}
        workloads = app_workloads(self.cluster, name) if namespace else []
        self.validate(spec, namespace, workloads)

        result = {"changed": False, "changed_objects": [], "removed_objects": []}
        before, after = {}, {}
        for obj in desired:
            key = _key(obj)
            current = live.get(key)
            if self.check_mode and namespace is None and obj["kind"] != "Namespace":
                # A dry run of an object in a namespace that does not exist yet is refused by the server; the
                # namespace's own dry run above is the server's word that the project can be created.
                changed, applied = True, obj
            else:
                changed, applied = self.cluster.apply(obj, current, self.check_mode)
            if changed:
                result["changed_objects"].append(key)
                before[key], after[key] = strip_volatile(current), strip_volatile(applied)
        wanted = set(_key(obj) for obj in desired)
        for key in sorted(k for k in live if k not in wanted and not k.startswith("Namespace/")):
            kind, obj_name = key.split("/", 1)
            if self.cluster.delete(kind, obj_name, name, self.check_mode):
                result["removed_objects"].append(key)
                before[key], after[key] = strip_volatile(live[key]), None
        tenants = self.tenant_refresh(spec.tenant, dict(spec.gpu_quota), namespace)
        result["changed"] = bool(result["changed_objects"] or result["removed_objects"] or tenants)
        result["project"] = self.summary(spec, workloads)
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result

    def validate(self, spec, namespace, workloads):
        """Everything that can reject the run, before the first write: the tenant exists and holds the sum of
        its projects' quotas; the new quota still holds what the project's apps already use."""
        errors = []
        quota = dict(spec.gpu_quota)
        if spec.tenant:
            tenant = self.cluster.get("Tenant", spec.tenant)
            if tenant is None:
                errors.append("tenant %s does not exist; create it first with gpufabric.platform.tenant"
                              % spec.tenant)
            else:
                projects = tenant_projects(self.cluster, spec.tenant, self.prefix, leave_out=spec.name)
                projects[spec.name] = quota
                errors += quota_errors(spec.tenant, tenant_quota(tenant), projects)
        used = gpu_usage(apps_in(workloads, spec.name))
        for family in sorted(used):
            if used[family] > quota.get(family, 0):
                errors.append("project %s: its app deployments hold %d x %s but the new quota is %d: remove or "
                              "shrink apps first (short by %d)" % (spec.name, used[family], family,
                                                                   quota.get(family, 0),
                                                                   used[family] - quota.get(family, 0)))
        raise_if(errors)
        for warning in quota_capacity_warnings("project %s" % spec.name, quota, gpus_by_family(self.cluster.list("Node"))):
            self.module.warn(warning)

    def tenant_refresh(self, tenant, quota, namespace):
        """Tenant statuses that count this project: the new tenant's, and the old one's if it moved."""
        changed = False
        if tenant:
            changed = refresh_tenant(self.cluster, tenant, self.prefix, self.check_mode, self.params["name"],
                                     quota)[0]
        old = ((namespace or {}).get("metadata", {}).get("labels") or {}).get(self.prefix + "/tenant")
        if old and old != tenant:
            changed = refresh_tenant(self.cluster, old, self.prefix, self.check_mode, self.params["name"])[0] \
                or changed
        return changed

    def summary(self, spec, workloads):
        return {"name": spec.name, "tenant": spec.tenant or None, "gpu_quota": dict(spec.gpu_quota),
                "gpu_used": gpu_usage(apps_in(workloads, spec.name)),
                "members": [{"kind": m.kind, "name": m.name, "role": m.role} for m in spec.members],
                "pool_access": [{"pool": a.pool, "users": list(a.users), "groups": list(a.groups)}
                                for a in spec.pool_access],
                "state": "present"}

    def remove(self, name, namespace):
        """state=absent: refuse while app deployments remain (unless force); delete the bindings, roles, quota,
        then the namespace if this collection created it; recount the tenant."""
        result = {"changed": False, "changed_objects": [], "removed_objects": [],
                  "project": {"name": name, "state": "absent"}}
        if namespace is None:
            return result
        workloads = app_workloads(self.cluster, name)
        apps = sorted("%s/%s" % (w["kind"], _name(w)) for w in workloads)
        if apps and not self.params["force"]:
            raise_if(["project %s still has %d app deployment(s): %s; remove them first (app_deployment "
                      "state=absent, which frees their GPUs on the pools) or set force"
                      % (name, len(apps), ", ".join(apps))])
        if apps:
            self.module.warn("project %s removed with %d app deployment(s) in it (%s); the namespace's deletion "
                             "removes them, but their pools keep the recorded allocation until app_deployment "
                             "state=absent runs for each" % (name, len(apps), ", ".join(apps)))
        owned = self.owned(name)
        before = {}
        order = sorted(owned, key=lambda key: ({"RoleBinding": 0, "Role": 1}.get(key.split("/")[0], 2), key))
        for key in order:
            kind, obj_name = key.split("/", 1)
            if self.cluster.delete(kind, obj_name, name, self.check_mode):
                result["removed_objects"].append(key)
                before[key] = strip_volatile(owned[key])
        labels = namespace["metadata"].get("labels") or {}
        if all(labels.get(k) == v for k, v in MANAGED_BY.items()) and not _terminating(namespace):
            if self.cluster.delete("Namespace", name, check_mode=self.check_mode):
                result["removed_objects"].append("Namespace/" + name)
                before["Namespace/" + name] = strip_volatile(namespace)
        tenant = labels.get(self.prefix + "/tenant")
        tenant_changed = bool(tenant) and refresh_tenant(self.cluster, tenant, self.prefix, self.check_mode, name)[0]
        result["changed"] = bool(result["removed_objects"]) or tenant_changed
        if self.module._diff:
            result["diff"] = {"before": before, "after": dict((key, None) for key in before)}
        return result
