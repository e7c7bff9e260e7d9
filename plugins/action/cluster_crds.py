# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Hands the cluster_crds module the CRDs its `crds` option names, read on the controller like any file of the
play (a path may hold several documents); mappings are passed as they are."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.gpufabric.platform.plugins.action.hub import read_documents


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        args["crds"] = read_documents("crds", args.get("crds"), lambda path: self._find_needle("files", path))
        result.update(self._execute_module(module_name="gpufabric.platform.cluster_crds", module_args=args,
                                           task_vars=task_vars))
        return result
