# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reads the fabric spec (`src`) and its pool documents on the controller, searched like any file of the play,
and hands the module the whole spec as `spec`: the spec lives beside the playbook, not on the host."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.documents import read_fabric_spec, read_pool_sources


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.pop("src", None)

        def find(name):
            return self._find_needle("files", name)

        try:
            if src:
                if args.get("spec") is not None:
                    raise AnsibleActionFail("parameters are mutually exclusive: src|spec")
                args["spec"] = read_fabric_spec(find(src), find)
            elif isinstance(args.get("spec"), dict):
                args["spec"] = read_pool_sources(args["spec"], self._loader.get_basedir(), find)
        except FabricError as error:
            raise AnsibleActionFail(str(error))
        except AnsibleActionFail:
            raise
        except Exception as error:  # the file search raises AnsibleError for a file that is not there
            raise AnsibleActionFail("cannot read the fabric spec %s: %s" % (src, error))
        result.update(self._execute_module(module_name="gpufabric.platform.fabric", module_args=args,
                                           task_vars=task_vars))
        return result
