# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Hands the spoke module the collection's manifests/ (the CRDs and ClusterRoles a spoke gets), read on the
controller."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.action.hub import ActionModule as HubAction, collection_manifests


class ActionModule(HubAction):
    module = "gpufabric.platform.spoke"

    def arguments(self, args, task_vars):
        if args.get("state", "present") == "present" and not args.get("manifests"):
            args["manifests"] = collection_manifests()
        return args
