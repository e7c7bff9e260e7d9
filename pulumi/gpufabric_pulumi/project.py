"""Project: the Namespace, GPU ResourceQuota, admin/editor/viewer Roles and RoleBindings and per-pool access
roles that the core renders for the project module."""

from __future__ import annotations

from typing import Optional

import pulumi

from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import render_project
from gpufabric_pulumi.objects import child_options, declare


class Project(pulumi.ComponentResource):
    """Every object of render_project(spec, prefix), in its order; namespaced objects wait for the Namespace.

    A pool-access Role and RoleBinding the spec no longer names are deleted by Pulumi, as the module prunes them."""

    def __init__(self, spec, prefix: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("gpufabric:platform:Project", spec.name, None, opts)
        self.objects = render_project(spec, prefix)
        namespace = declare(self.objects[0], child_options(self))
        self.resources = [namespace] + [declare(obj, child_options(self, [namespace])) for obj in self.objects[1:]]
        self.namespace = namespace.metadata.apply(lambda meta: meta.name)
        self.register_outputs({"namespace": self.namespace, "gpuQuota": dict(spec.gpu_quota)})
