# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Tenants and projects: the tenant and project modules' runs, and project_info's report. The objects, the quota
arithmetic and the tenant status are the core's (core.plan_tenancy, core.project); this names what changed in the
module's own terms."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import project_rows
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import APPLY, DELETE
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.reader import read_state
from ansible_collections.gpufabric.platform.plugins.module_utils.runner import EntryRunner


class TenantRunner(EntryRunner):
    """One tenant run: the cluster-scoped Tenant and its status (the quota its projects were given)."""

    kind = "tenant"


class ProjectRunner(EntryRunner):
    """One project run: Namespace, GPU ResourceQuota, roles, exact bindings, per-pool access."""

    kind = "project"

    def shape(self, report):
        writes = self.fabric.writes_of(self.entry)
        return {"project": report,
                "changed_objects": ["%s/%s" % (w.kind, w.name) for w in writes if w.action == APPLY],
                "removed_objects": ["%s/%s" % (w.kind, w.name) for w in writes if w.action == DELETE]}


# What project_info reads: project namespaces, their bindings, and where the allocation ledger finds apps.
REPORT_KINDS = ("Namespace", "RoleBinding", "Pool", "ComputePool", "Deployment", "Job", "ManifestWork")


def project_report(cluster, prefix, name=None, tenant=None):
    """project_info: projects with quota, GPUs used and free per family, apps, members and pool access, from one
    LIST per kind."""
    return project_rows(read_state(cluster, REPORT_KINDS), prefix, name, tenant)
