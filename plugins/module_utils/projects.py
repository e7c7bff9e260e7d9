# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Tenants and projects: the tenant and project modules' runs. The objects, the quota arithmetic and the tenant
status are the core's (core.plan_tenancy); this names what changed in the module's own terms."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import APPLY, DELETE
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
