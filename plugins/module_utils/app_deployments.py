# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""App deployments: app_deployment's run. Placement, the workload and the allocation ledger are the core's
(core.plan_apps); the ledger goes into the pool's status before the workload is written."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.runner import EntryRunner


class AppDeploymentRunner(EntryRunner):
    """One app_deployment run."""

    kind = "app_deployment"
