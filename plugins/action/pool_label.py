# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reads `src` on the controller, searched like any other file of the play (a role's or the playbook's files/),
and hands the module the document as `definition`: the pool YAML lives beside the playbook, not on the host."""

from __future__ import annotations

import yaml

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.pop("src", None)
        if src:
            if args.get("definition") is not None:
                raise AnsibleActionFail("parameters are mutually exclusive: src|definition")
            path = self._find_needle("files", src)
            try:
                with open(path) as handle:
                    args["definition"] = yaml.safe_load(handle)
            except (IOError, OSError, yaml.YAMLError) as error:
                raise AnsibleActionFail("cannot read pool document %s: %s" % (path, error))
        result.update(self._execute_module(module_name="gpufabric.platform.pool_label", module_args=args,
                                           task_vars=task_vars))
        return result
