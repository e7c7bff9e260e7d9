"""LabelledPool: the gpufabric.io Pool object and the member nodes' pool labels (gpuctl's labelled pools)."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import pool_row
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_keys, render_pool
from gpufabric_pulumi.objects import child_options, declare


def node_labels(spec, prefix):
    """{node: labels} for the pool's members: `<prefix>/pool` always, `<prefix>/gpu-type` when the spec gives a
    type. Nothing else is ever written to a Node. An empty gpu_type (the module removes the label) is left out:
    a patch resource can only set fields, so a gpu-type label set by someone else stays as it is."""
    pool_key, type_key = pool_keys(prefix)
    return dict((node, dict([(pool_key, spec.name)] + ([(type_key, gpu_type)] if gpu_type else [])))
                for node, gpu_type in spec.nodes)


class LabelledPool(pulumi.ComponentResource):
    """The Pool's spec from render_pool, and one server-side-apply NodePatch per member node.

    Pool status (GPU totals, used, free) is measured by the pool_label module and written through the status
    subresource; it is not declared here. NodePatch resources are named by node, so a node that moves between
    pools is one in-place update rather than a delete racing a create; deleting a patch (the node left the
    spec) gives up the labels it set and leaves every other label of the Node untouched.
    """

    def __init__(self, spec, prefix: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("gpufabric:platform:LabelledPool", spec.name, None, opts)
        self.object = render_pool(spec, pool_row(spec.name, [], []), prefix)
        self.pool = declare(self.object, child_options(self), fields=["spec"])
        self.labels = node_labels(spec, prefix)
        self.node_patches = [kubernetes.core.v1.NodePatch(node, metadata={"name": node, "labels": labels},
                                                          opts=child_options(self))
                             for node, labels in self.labels.items()]
        self.register_outputs({"name": spec.name, "nodes": sorted(self.labels)})
