# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Hands the hub module the collection's manifests/ (CRDs and RBAC) and the OCM CRD files ocm_crds names, read on
the controller: modules travel to the host without the collection's data files, and the user's files live beside
the playbook."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# plugins/action/hub.py -> the collection's root
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST_FOLDERS = ("crds", "rbac")


def _documents(path):
    import yaml

    with open(path) as handle:
        return [document for document in yaml.safe_load_all(handle) if document]


def read_documents(option, items, find):
    """The documents an option lists: a mapping as it is, a path (searched with `find`, like any file of the
    play) read for every YAML document it holds."""
    documents = []
    for index, item in enumerate(items or ()):
        if isinstance(item, dict):
            documents.append(item)
            continue
        if not isinstance(item, str):
            raise AnsibleActionFail("%s[%d] must be a file path or a CRD mapping, got %s"
                                    % (option, index, type(item).__name__))
        try:
            documents.extend(_documents(find(item)))
        except AnsibleActionFail:
            raise
        except Exception as error:  # the search raises AnsibleError for a file that is not there
            raise AnsibleActionFail("%s[%d]: cannot read %s: %s" % (option, index, item, error))
    return documents


def collection_manifests(root=ROOT):
    """The documents of manifests/crds and manifests/rbac, in file-name order."""
    documents = []
    for folder in MANIFEST_FOLDERS:
        where = os.path.join(root, "manifests", folder)
        if not os.path.isdir(where):
            raise AnsibleActionFail("the collection at %s has no manifests/%s folder; reinstall it" % (root, folder))
        for name in sorted(os.listdir(where)):
            if name.endswith((".yaml", ".yml")):
                documents.extend(_documents(os.path.join(where, name)))
    return documents


class ActionModule(ActionBase):
    module = "gpufabric.platform.hub"

    def arguments(self, args, task_vars):
        """The module's arguments with the controller's files read into them."""
        if not args.get("manifests"):
            args["manifests"] = collection_manifests()
        if "ocm_crds" in args:
            args["ocm_crds"] = read_documents("ocm_crds", args["ocm_crds"],
                                              lambda path: self._find_needle("files", path))
        return args

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.arguments(dict(self._task.args), task_vars)
        result.update(self._execute_module(module_name=self.module, module_args=args, task_vars=task_vars))
        return result
