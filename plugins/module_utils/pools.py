# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Labelled pools: pool_label's run (the core plans membership, labels and the Pool object) and pool_info's
report (the pool table as gpuctl shows it, from one LIST each of nodes, pods and pools)."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import (
    DEFAULT_POOL, describe_pool, member_nodes, pool_table, recorded_figures)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import POOL, Ledger
from ansible_collections.gpufabric.platform.plugins.module_utils.documents import read_pool_document
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.reader import read_state
from ansible_collections.gpufabric.platform.plugins.module_utils.runner import EntryRunner, utc_now


class PoolLabelRunner(EntryRunner):
    """One pool_label run."""

    kind = "pool_label"

    def arguments(self, args):
        """`src` read where the module runs (the action plugin has already read it on the controller)."""
        if args.get("src") and args.get("definition") is None:
            args = dict(args, definition=read_pool_document(args["src"]), src=None)
        return args


def pool_report(cluster, name, prefix):
    """pool_info: every pool found on the nodes (and every Pool object), or one, with its nodes and workloads.
    The figures are measured now (measured_at); `recorded` is what the Pool object holds, as kubectl prints it."""
    now = utc_now()
    state = read_state(cluster, ("Node", "Pod", "Pool", "Deployment", "Job"))
    nodes, pods = state.items("Node"), state.items("Pod")
    pools = dict((pool["metadata"]["name"], pool) for pool in state.items("Pool"))
    ledger = Ledger({"": state})
    names = [row["name"] for row in pool_table(nodes, pods, prefix)]
    names = sorted(set(names) | set(pools), key=lambda n: (n == DEFAULT_POOL, n))
    if name:
        names = [n for n in names if n == name]
    return [dict(describe_pool(n, member_nodes(nodes, n, prefix), pods, prefix,
                               ((pools.get(n) or {}).get("spec") or {}).get("description", ""),
                               allocated=sum(app.count for app in ledger.apps_on(POOL, n))),
                 measured_at=now, recorded=recorded_figures(pools.get(n), now))
            for n in names]
