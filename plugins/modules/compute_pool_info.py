#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compute_pool_info
short_description: Read compute pools with their status, capacity, allocation and machine pools
version_added: 0.1.0
description:
  - Returns C(ComputePool) objects as C(kubectl get computepool NAME -o yaml) shows them - one, every one in a
    namespace, or every one in the cluster - with C(status.hardwareCapacity), C(hardwareAllocation),
    C(allocatedMachinePools) and C(aiWorkloadRefs).
  - Never changes anything.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Only the compute pool with this name.
    type: str
  namespace:
    description:
      - Only compute pools in this namespace. Without it, every namespace.
    type: str
extends_documentation_fragment:
  - gpufabric.platform.auth
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
"""

EXAMPLES = r"""
- name: One compute pool
  gpufabric.platform.compute_pool_info:
    name: vision-cluster
    namespace: vision
  register: found

- name: Its machine pools and their hosts
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.hosts | list }}"
  loop: "{{ found.compute_pools[0].status.allocatedMachinePools }}"

- name: Every compute pool in the cluster
  gpufabric.platform.compute_pool_info:
"""

RETURN = r"""
compute_pools:
  description: The compute pools found, sorted by namespace and name (managedFields and the like left out).
  returned: always
  type: list
  elements: dict
  sample:
    - apiVersion: gpufabric.io/v1alpha1
      kind: ComputePool
      metadata: {name: vision-cluster, namespace: vision}
      status: {status: Running, mode: dedicated, gpuTotal: 8, gpuAllocated: 4}
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.compute_pools import compute_pool_report
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule


def main():
    module = GpufabricModule(
        argument_spec=dict(
            name=dict(type="str"),
            namespace=dict(type="str"),
        ),
    )
    params = module.params
    module.run(lambda: module.exit_json(changed=False, compute_pools=compute_pool_report(
        module.cluster, params["name"], params["namespace"])))


if __name__ == "__main__":
    main()
