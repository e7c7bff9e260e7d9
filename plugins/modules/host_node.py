#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_node
short_description: Register a bare-metal host as a Node of a cluster the appliance installed
version_added: 0.4.0
description:
  - The connection options address the cluster (a compute pool's cluster, installed by
    C(playbooks/spoke-cluster.yml)).
  - V(present) applies the Node O(name) as a kubelet on the host would register it - C(kubernetes.io/arch),
    C(kubernetes.io/os) and C(kubernetes.io/hostname), GPU feature discovery's C(nvidia.com/gpu.product),
    C(nvidia.com/gpu.count) and C(nvidia.com/gpu.memory), the compute pool's labels under O(label_prefix)
    (C(<prefix>/compute-pool), C(<prefix>/machine-pool)) and O(labels); a control-plane host gets the
    C(node-role.kubernetes.io/control-plane) label, and a C(NoSchedule) taint unless O(schedule_workloads) - then its
    status - capacity and allocatable (CPUs, memory, pods, C(nvidia.com/gpu)), its addresses and C(Ready), whose
    times stay as they are while it stays Ready.
  - V(absent) deletes the Node.
  - A converged run writes nothing.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description: The Node's name (the host's inventory name, as its EdgeHost is named).
    type: str
    required: true
  address:
    description: The host's address (the Node's C(InternalIP)).
    type: str
  architecture:
    description: V(AMD64) or V(ARM64).
    type: str
    default: AMD64
  cpus:
    description: Logical CPUs.
    type: int
    default: 0
  memory:
    description: Memory, a Kubernetes quantity (V(503Gi)) as the EdgeHost records it.
    type: str
    default: "0"
  gpus:
    description: GPUs by model, as the EdgeHost records them (C(family), C(model), C(count), C(memoryMiB)).
    type: list
    elements: dict
    default: []
  compute_pool:
    description: The compute pool the host is in (C(<prefix>/compute-pool), which apps on the pool select).
    type: str
  machine_pool:
    description: The machine pool the host is in (C(<prefix>/machine-pool)).
    type: str
  labels:
    description: Further labels.
    type: dict
    default: {}
  control_plane:
    description: The host runs the cluster's control plane.
    type: bool
    default: false
  schedule_workloads:
    description: With O(control_plane), whether workloads may run there (no C(NoSchedule) taint).
    type: bool
    default: true
  state:
    description: V(present) registers the Node; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
attributes:
  check_mode:
    support: full
    description: The writes are server-side dry runs (a new Node's status is reported from the plan).
  diff_mode:
    support: full
    description: The Node's labels and status before and after.
notes:
  - No kubelet runs on the host; the cluster's controller manager must not mark Nodes without heartbeats unready
    (the appliance role starts it with a long C(--node-monitor-grace-period)).
"""

EXAMPLES = r"""
- name: Register a compute pool's worker as a Node of its cluster
  gpufabric.platform.host_node:
    kubeconfig: ~/.gpufabric/appliance/vision-cluster/admin.kubeconfig
    name: gpu-node-7
    address: 10.0.0.17
    architecture: AMD64
    cpus: 64
    memory: 503Gi
    gpus: [{family: NVIDIA-A100, model: NVIDIA-A100-SXM4-80GB, count: 8, memoryMiB: 81920}]
    compute_pool: vision-cluster
    machine_pool: nvidia-a100-workers
"""

RETURN = r"""
node:
  description: The Node's name, state and the labels the module sets beyond the standard ones.
  returned: always
  type: dict
  sample: {name: gpu-node-7, state: present, labels: {runwhere.ai/compute-pool: vision-cluster}}
writes:
  description: The writes sent (or that would be).
  returned: always
  type: list
  elements: str
  sample: [Node/gpu-node-7, Node/gpu-node-7/status]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.edgehosts import HostNodeRunner
from ansible_collections.gpufabric.platform.plugins.module_utils.module import LABEL_PREFIX_ARG, GpufabricModule


def main():
    module = GpufabricModule(dict(
        name=dict(type="str", required=True),
        address=dict(type="str"),
        architecture=dict(type="str", default="AMD64"),
        cpus=dict(type="int", default=0),
        memory=dict(type="str", default="0"),
        gpus=dict(type="list", elements="dict", default=[]),
        compute_pool=dict(type="str"),
        machine_pool=dict(type="str"),
        labels=dict(type="dict", default={}),
        control_plane=dict(type="bool", default=False),
        schedule_workloads=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        label_prefix=LABEL_PREFIX_ARG,
    ))
    module.run(lambda: module.exit_json(**HostNodeRunner(module).run()))


if __name__ == "__main__":
    main()
