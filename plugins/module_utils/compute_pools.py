# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Compute pools: compute_pool's run (allocation, the machine-pool plan, labels and the ComputePool object are
the core's, core.plan_compute_pools), with `wait` re-reading until no step waits, and compute_pool_info's report.
"""

from __future__ import annotations

import time

from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import strip_volatile
from ansible_collections.gpufabric.platform.plugins.module_utils.runner import EntryRunner

WAIT_INTERVAL = 2


class ComputePoolRunner(EntryRunner):
    """One compute_pool run; with `wait`, runs again every WAIT_INTERVAL seconds until no step waits."""

    kind = "compute_pool"

    def run(self):
        result = super(ComputePoolRunner, self).run()
        if not self.params["wait"] or self.module.check_mode:
            return result
        deadline = time.monotonic() + self.params["wait_timeout"]
        while (result.get("plan") or {}).get("waiting"):
            if time.monotonic() > deadline:  # what the runs so far wrote stays written: say so
                result.update(msg="compute pool %s/%s: still waiting after %d s: %s" % (
                    self.params["namespace"], self.params["name"], self.params["wait_timeout"],
                    "; ".join(result["plan"]["waiting"])))
                self.module.fail_json(**result)
            time.sleep(WAIT_INTERVAL)
            again = super(ComputePoolRunner, self).run()
            again["changed"] = again["changed"] or result["changed"]
            result = again
        return result


def compute_pool_report(cluster, name=None, namespace=None):
    """compute_pool_info: ComputePool objects as stored (one, a namespace's, or all), volatile metadata removed."""
    if name and namespace:
        found = cluster.get("ComputePool", name, namespace)
        return [strip_volatile(found)] if found else []
    pools = cluster.list("ComputePool", namespace=namespace)
    if name:
        pools = [p for p in pools if p["metadata"]["name"] == name]
    return [strip_volatile(p) for p in sorted(pools, key=lambda p: (p["metadata"].get("namespace"),
                                                                    p["metadata"]["name"]))]
