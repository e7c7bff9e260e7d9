#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: spoke_info
short_description: List the spokes registered to the hub, with reachability, nodes, GPUs, compute pools and apps
version_added: 0.3.0
description:
  - Lists the spokes M(gpufabric.platform.spoke) registered - the hub's C(ManagedCluster) objects labelled
    C(app.kubernetes.io/managed-by=gpufabric) - and reaches each through the connection the hub keeps for it
    (side by side) - whether it answers and if not why, its Kubernetes version, its Nodes (all and Ready), its GPUs
    in all and per family, the compute pools on the hub bound to it (C(spec.spoke)) and the apps on it (Deployments
    and Jobs labelled C(gpufabric.io/app) on the spoke, ManifestWorks in its namespace on the hub).
  - Every list holds objects with fixed keys, for JMESPath queries such as
    C(spokes[?reachable].gpu_families[].family).
  - Never changes anything.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Only this spoke. Without it, every spoke.
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
- name: The spokes
  gpufabric.platform.spoke_info:
  register: fleet

- name: Spokes that do not answer
  ansible.builtin.debug:
    msg: "{{ fleet.spokes | community.general.json_query('[?!reachable].{name: name, error: error}') }}"

- name: A100 GPUs across the fleet
  ansible.builtin.debug:
    msg: "{{ fleet.spokes | map(attribute='gpu_families') | flatten | selectattr('family', 'eq', 'NVIDIA-A100')
             | map(attribute='count') | sum }}"
"""

RETURN = r"""
spokes:
  description: The spokes, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The spoke's name., type: str, sample: edge-a}
    cluster_set: {description: Its cluster set label., type: str, sample: default}
    accepted: {description: C(hubAcceptsClient)., type: bool, sample: true}
    url: {description: Its API server., type: str}
    uid: {description: The uid of its kube-system namespace., type: str}
    reachable: {description: Whether it answered through the hub's connection., type: bool, sample: true}
    error: {description: Why not (empty when it answered)., type: str, sample: ""}
    kubernetes_version: {description: Its version (empty when unreachable)., type: str, sample: v1.20.2}
    nodes: {description: Its Nodes., type: int, sample: 2}
    ready_nodes: {description: Its Ready Nodes., type: int, sample: 2}
    gpus: {description: Its GPUs (C(nvidia.com/gpu) capacity)., type: int, sample: 16}
    gpu_families:
      description: GPUs per family.
      type: list
      elements: dict
      sample: [{family: NVIDIA-A100, count: 16}]
    labelled_gpus: {description: The GPUs its ManagedCluster is labelled with (as of its last registration)., type: int}
    compute_pools:
      description: Compute pools on the hub bound to it.
      type: list
      elements: dict
      sample: [{namespace: vision, name: edge}]
    apps:
      description: Apps on it - C(kind), C(namespace), C(name), C(delivery) (C(direct) or C(manifestwork)).
      type: list
      elements: dict
      sample: [{kind: Deployment, namespace: vision, name: llm, delivery: direct}]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.spokes import SpokeInfoRunner


def main():
    module = GpufabricModule(dict(name=dict(type="str"), label_prefix=LABEL_PREFIX_ARG))
    module.run(lambda: module.exit_json(**SpokeInfoRunner(module).run()))


if __name__ == "__main__":
    main()
