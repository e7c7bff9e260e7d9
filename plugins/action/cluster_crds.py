# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Hands the cluster_crds module the CRDs its `crds` option names, read on the controller like any file of the
play (a path may hold several documents); mappings are passed as they are."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.gpufabric.platform.plugins.action.hub import _documents


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        documents = []
        for index, item in enumerate(args.get("crds") or ()):
            if isinstance(item, dict):
                documents.append(item)
                continue
            if not isinstance(item, str):
                raise AnsibleActionFail("crds[%d] must be a file path or a CRD mapping, got %s"
                                        % (index, type(item).__name__))
            try:
                documents.extend(_documents(self._find_needle("files", item)))
            except AnsibleActionFail:
                raise
            except Exception as error:  # the search raises AnsibleError for a file that is not there
                raise AnsibleActionFail("crds[%d]: cannot read %s: %s" % (index, item, error))
        args["crds"] = documents
        result.update(self._execute_module(module_name="gpufabric.platform.cluster_crds", module_args=args,
                                           task_vars=task_vars))
        return result
