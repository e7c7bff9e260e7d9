"""Tenant: the cluster-scoped gpufabric.io Tenant holding the GPU quota its projects share."""

from __future__ import annotations

from typing import Optional

import pulumi

from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import render_tenant
from gpufabric_pulumi.objects import child_options, declare


class Tenant(pulumi.ComponentResource):
    """Declares the Tenant's spec as the core renders it. Its status (quota assigned per project) is written by
    the tenant and project modules through the status subresource, so it is not declared here."""

    def __init__(self, name: str, quota, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("gpufabric:platform:Tenant", name, None, opts)
        obj = render_tenant(name, quota)
        self.object = obj
        self.resource = declare(obj, child_options(self), fields=["spec"])
        self.register_outputs({"name": name, "gpuQuota": obj["spec"]["gpuQuota"]})
