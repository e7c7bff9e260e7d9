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
  - The figures are live, read from the cluster when the module runs (RV(pools[].measured_at)) - GPU used is the
    GPUs the app deployments placed on the pool hold (their records) plus C(nvidia.com/gpu) requested by the other
    running or pending pods bound to the pool's nodes (the scheduler's bindings).
  - C(kubectl get pools) prints the Pool object's status instead, written by the last run that changed it; a pod
    added since is not in it. RV(pools[].recorded) shows those figures and how old they are.
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

- name: Pools with at least 8 free GPUs on nodes of an A100 GPU type
  ansible.builtin.debug:
    msg: "{{ pools.pools | gpufabric.platform.query(expression) }}"
  vars:
    expression: "[?gpu_free >= `8` && nodes[?starts_with(gpu_type, 'A100')]].name"

- name: Which namespaces run workloads on which pool
  ansible.builtin.debug:
    msg: "{{ pools.pools | gpufabric.platform.query('[].{pool: name, namespaces: workloads[].namespace}') }}"
"""

RETURN = r"""
pools:
  description:
    - The pools, sorted by name, with C(default) last.
    - Each pool's nodes and workloads are lists of objects too, so a JMESPath filter (C(gpufabric.platform.query))
      can select pools by what runs on them or by their nodes' GPU type.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Pool name., type: str, sample: training-pool}
    description: {description: "From the Pool object, when there is one.", type: str}
    status: {description: C(active)., type: str, sample: active}
    gpu_total: {description: GPUs on the member nodes., type: int, sample: 16}
    gpu_used:
      description: GPUs held by the app deployments on the pool and requested by other running or pending pods on its
        nodes, now.
      type: int
      sample: 12
    gpu_free: {description: gpu_total minus gpu_used., type: int, sample: 4}
    measured_at: {description: "When these figures were read (RFC 3339, this run).", type: str,
                  sample: "2024-01-15T10:35:00Z"}
    recorded:
      description:
        - What the Pool object's status holds - the figures C(kubectl get pools) prints - and how old they are.
          Null for a pool without a Pool object (only labelled nodes, or C(default)).
      type: dict
      contains:
        gpu_total: {description: GPUs on the member nodes when measured., type: int, sample: 16}
        gpu_used: {description: GPUs used when measured., type: int, sample: 8}
        gpu_free: {description: GPUs free when measured., type: int, sample: 8}
        node_count: {description: Member nodes when measured., type: int, sample: 2}
        observed_at:
          description: When the run that last changed the status measured it (the C(Observed) column).
          type: str
          sample: "2024-01-15T10:30:00Z"
        age_seconds: {description: Seconds from observed_at to measured_at., type: int, sample: 300}
    node_count: {description: Number of member nodes., type: int, sample: 2}
    nodes:
      description: Member nodes with their GPU type label and GPU count.
      type: list
      elements: dict
      contains:
        name: {description: Node name., type: str, sample: gpu-node-1}
        gpu_type: {description: "The node's C(<prefix>/gpu-type) label (empty when it has none).", type: str,
                   sample: A100-100G}
        gpu_count: {description: "Its C(nvidia.com/gpu) capacity.", type: int, sample: 8}
    workloads:
      description: Active pods selecting the pool on its nodes, with the GPUs each requests.
      type: list
      elements: dict
      contains:
        namespace: {description: The pod's namespace., type: str, sample: research}
        name: {description: The pod's name., type: str, sample: train-0}
        node: {description: The node it is bound to., type: str, sample: gpu-node-1}
        gpus: {description: "GPUs it requests (C(nvidia.com/gpu)).", type: int, sample: 4}
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
