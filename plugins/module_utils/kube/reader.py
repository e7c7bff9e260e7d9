# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Read what a plan starts from: one LIST per kind, sent side by side, into the core's ClusterState."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import LISTS, state_from_lists
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import PATCH_THREADS, RESOURCES


def listed(kind, obj):
    """A list item as GET returns it: the server leaves kind and apiVersion off the items of a list."""
    return dict(obj, kind=kind, apiVersion=RESOURCES[kind][0])


def read_state(cluster, kinds):
    """ClusterState holding every object of `kinds` (each read with the selectors core.state gives it)."""
    def read(kind):
        label_selector, field_selector = LISTS[kind]
        items = cluster.list(kind, label_selector=label_selector, field_selector=field_selector)
        return [listed(kind, obj) for obj in items]

    kinds = list(kinds)
    if not kinds:
        return state_from_lists({})
    with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(kinds))) as pool:
        results = list(pool.map(read, kinds))
    return state_from_lists(dict(zip(kinds, results)))
