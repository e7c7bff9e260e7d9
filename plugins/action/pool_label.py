# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reads `src` on the controller, searched like any other file of the play (a role's or the playbook's files/),
and hands the module the document as `definition`: the pool YAML lives beside the playbook, not on the host."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.documents import read_pool_document


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.pop("src", None)
        if src:
            if args.get("definition") is not None:
                raise AnsibleActionFail("parameters are mutually exclusive: src|definition")
            try:
                args["definition"] = read_pool_document(self._find_needle("files", src))
            except FabricError as error:
                raise AnsibleActionFail(str(error))
        result.update(self._execute_module(module_name="gpufabric.platform.pool_label", module_args=args,
                                           task_vars=task_vars))
        return result
