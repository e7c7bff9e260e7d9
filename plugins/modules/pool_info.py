#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pool_info
short_description: List labelled GPU pools with their capacity, nodes and workloads
version_added: 0.1.0
description:
  - Lists pools as C(gpuctl get pools) and C(gpuctl describe pool) show them - for each pool its status, GPU
    total, used and free, node count, member nodes with their GPU type, and the workloads on it.
  - GPU used is the sum of C(nvidia.com/gpu) requested by running or pending pods on the pool's nodes.
  - Nodes without a pool label make up the C(default) pool, listed last.
  - Never changes anything.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Only this pool. Without it, every pool.
    type: str
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
"""

EXAMPLES = r"""
- name: The pool table
  gpufabric.platform.pool_info:
  register: pools

- name: Print it like gpuctl get pools
  ansible.builtin.debug:
    msg: "{{ item.name }} {{ item.status }} {{ item.gpu_total }} {{ item.gpu_used }} {{ item.gpu_free }} {{ item.node_count }}"
  loop: "{{ pools.pools }}"

- name: One pool in detail
  gpufabric.platform.pool_info:
    name: training-pool
"""

RETURN = r"""
pools:
  description: The pools, sorted by name, with C(default) last.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Pool name., type: str, sample: training-pool}
    description: {description: "From the Pool object, when there is one.", type: str}
    status: {description: C(active)., type: str, sample: active}
    gpu_total: {description: GPUs on the member nodes., type: int, sample: 16}
    gpu_used: {description: GPUs requested by running or pending pods on them., type: int, sample: 12}
    gpu_free: {description: gpu_total minus gpu_used., type: int, sample: 4}
    node_count: {description: Number of member nodes., type: int, sample: 2}
    nodes:
      description: Member nodes with their GPU type label and GPU count.
      type: list
      elements: dict
      sample: [{name: gpu-node-1, gpu_type: A100-100G, gpu_count: 8}]
    workloads:
      description: Active pods selecting the pool on its nodes, with the GPUs each requests.
      type: list
      elements: dict
      sample: [{namespace: research, name: train-0, node: gpu-node-1, gpus: 4}]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.pools import pool_report


def main():
    module = GpufabricModule(
        argument_spec=dict(
            name=dict(type="str"),
            label_prefix=LABEL_PREFIX_ARG,
        ),
    )
    params = module.params
    module.run(lambda: module.exit_json(changed=False, pools=pool_report(module.cluster, params["name"],
                                                                         params["label_prefix"])))


if __name__ == "__main__":
    main()
