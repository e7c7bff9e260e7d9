"""ComputePool: the gpufabric.io ComputePool's spec (PaletteAI's compute pools, seed 000)."""

from __future__ import annotations

from typing import Optional

import pulumi

from ansible_collections.gpufabric.platform.plugins.module_utils.core.render import render_compute_pool
from gpufabric_pulumi.objects import child_options, declare


class ComputePool(pulumi.ComponentResource):
    """Declares the requirements only: render_compute_pool(spec) without status, i.e. render_compute_pool_spec.

    Allocation stays with the compute_pool Ansible module: it lists the Nodes, plans which hosts serve the
    control plane and each worker pool (bridge hosts, quorum, stable ties), labels the hosts and writes
    status.allocatedMachinePools through the status subresource, which it alone owns. Run the module (or the
    fabric role) after `pulumi up` to allocate; this program never writes a ComputePool's status or host labels.
    """

    def __init__(self, spec, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("gpufabric:platform:ComputePool", "%s/%s" % (spec.namespace, spec.name), None, opts)
        self.object = render_compute_pool(spec)
        self.resource = declare(self.object, child_options(self), fields=["spec"])
        self.register_outputs({"name": spec.name, "namespace": spec.namespace})
