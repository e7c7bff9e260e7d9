#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pool_label
short_description: Declare a labelled GPU pool and its member nodes (gpuctl semantics)
version_added: 0.1.0
description:
  - Makes the listed nodes carry C(<label_prefix>/pool=<name>) and C(<label_prefix>/gpu-type=<type>), removes
    those labels from nodes that carry this pool's label but are no longer listed, and keeps a cluster-scoped
    C(Pool) object (C(gpufabric.io/v1alpha1)) with the description and the pool's GPU total, used, free and node
    count, as C(gpuctl get pools) shows them.
  - "GPU used is measured from the cluster when the module runs: the GPUs the app deployments placed on the pool
    hold (their records) plus C(nvidia.com/gpu) requested by the other running or pending pods bound to its
    nodes. The Pool status keeps that figure with C(observedAt), the run's time, and C(kubectl get pools) prints
    it with an Observed column; a run that measures the same figures writes nothing and leaves C(observedAt) as it
    was, and a pod added after the last run is not counted there until the next run that changes the status.
    M(gpufabric.platform.pool_info) shows the live figures."
  - Only label keys under O(label_prefix) are ever written or removed; every other label on a node is left as
    it is.
  - Everything is validated before the first write; a rejected run writes nothing.
  - One LIST of nodes, one LIST of pods and one LIST of pools per run, and one PATCH per node that actually
    changes. A converged run sends no write.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Pool name, a DNS-1123 label of at most 63 characters. C(default) is reserved for nodes without a pool.
      - Required unless O(definition) or O(src) gives it.
    type: str
  description:
    description:
      - What the pool is for; stored in the C(Pool) object.
    type: str
    default: ""
  nodes:
    description:
      - "Member nodes, as in gpuctl's pool YAML - node name mapped to C({gpu_type: TYPE})."
      - An empty C(gpu_type) removes the GPU type label; a node mapped to nothing keeps the GPU type label it has.
      - Mutually exclusive with O(node_selector), O(definition) and O(src).
    type: dict
  node_selector:
    description:
      - Label selector choosing the member nodes instead of listing them, for example
        C(nvidia.com/gpu.product=NVIDIA-A100). Matched against the same single LIST of nodes.
    type: str
  definition:
    description:
      - "A gpuctl pool document given inline - C(kind: pool), C(version: v0.1), C(pool: {name, description}),
        C(nodes: {NODE: {gpu-type: TYPE}})."
    type: dict
  src:
    description:
      - Path to a gpuctl pool document (YAML), read on the controller by the module's action plugin and searched
        like any file of the play (the role's or the playbook's C(files/)). The module then receives it as
        O(definition).
    type: path
  overwrite:
    description:
      - Move nodes that are in another pool into this one. Without it the module fails, names each such node and
        its pool, and writes nothing (gpuctl's C(--overwrite)).
    type: bool
    default: false
  state:
    description:
      - V(present) declares the pool; V(absent) removes this pool's labels from its nodes and deletes the
        C(Pool) object.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), remove the pool even though pods that select it run on its nodes. The workloads
        keep running (as with gpuctl); the module warns about them.
    type: bool
    default: false
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
  - gpufabric.platform.spoke
attributes:
  check_mode:
    support: full
    description: Sends every write as a server-side dry run and reports what the real run would change.
  diff_mode:
    support: full
    description: Shows per-node labels under the prefix and the C(Pool) object, before and after.
"""

EXAMPLES = r"""
- name: Training pool on two A100 nodes
  gpufabric.platform.pool_label:
    name: training-pool
    description: Large model training (high-end GPUs)
    nodes:
      gpu-node-1: {gpu_type: A100-100G}
      gpu-node-2: {gpu_type: A100-100G}

- name: Inference pool from a gpuctl pool document
  gpufabric.platform.pool_label:
    src: pools/inference-pool.yaml

- name: Every L40S node in the simulation pool, moving them from wherever they are
  gpufabric.platform.pool_label:
    name: simulation-pool
    node_selector: nvidia.com/gpu.product=NVIDIA-L40S
    overwrite: true

- name: Remove the dev pool even though notebooks still run on it
  gpufabric.platform.pool_label:
    name: dev-pool
    state: absent
    force: true
"""

RETURN = r"""
pool:
  description: The pool as C(gpuctl get pools) and C(describe pool) show it, after the run.
  returned: always
  type: dict
  contains:
    name: {description: Pool name., type: str, sample: training-pool}
    description: {description: What the pool is for., type: str}
    nodes:
      description: Member nodes with their GPU type label and GPU count.
      type: list
      elements: dict
      sample: [{name: gpu-node-1, gpu_type: A100-100G, gpu_count: 8}]
    gpu_total: {description: GPUs on the member nodes., type: int, sample: 16}
    gpu_used:
      description: GPUs held by the app deployments on the pool and requested by other running or pending pods on its
        nodes, when this run measured them.
      type: int
      sample: 12
    gpu_free: {description: gpu_total minus gpu_used., type: int, sample: 4}
    node_count: {description: Number of member nodes., type: int, sample: 2}
    status: {description: "C(active), or C(absent) after O(state=absent).", type: str, sample: active}
changed_nodes:
  description: Nodes whose labels under the prefix changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: [gpu-node-1, gpu-node-2]
workloads:
  description: Pods selecting this pool that run on its nodes (reported by O(state=absent)).
  returned: when state is absent
  type: list
  elements: dict
  sample: [{namespace: research, name: train-0, node: gpu-node-1}]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import CONSTRAINTS, argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.pools import PoolLabelRunner


def main():
    module = GpufabricModule(argument_spec("pool_label", label_prefix=LABEL_PREFIX_ARG), kind="pool_label",
                             **CONSTRAINTS.get("pool_label", {}))
    module.run(lambda: module.exit_json(**PoolLabelRunner(module).run()))


if __name__ == "__main__":
    main()
