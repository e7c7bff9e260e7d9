# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""The hardware facts an edge host registers and reports: the same options in edge_host and edge_host_report."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  cpus:
    description: Logical CPUs.
    type: int
    default: 0
  memory_mb:
    description: Memory in MiB, as Ansible's C(memtotal_mb) reports it.
    type: int
    default: 0
  gpus:
    description: GPUs by model, as M(gpufabric.platform.appliance_preflight) returns them.
    type: list
    elements: dict
    default: []
    suboptions:
      family:
        description: The GPU family (V(NVIDIA-A100)); derived from O(gpus[].model) when omitted.
        type: str
      model:
        description:
          - The product, as nvidia-smi (V(NVIDIA A100-SXM4-80GB)) or GPU feature discovery
            (V(NVIDIA-A100-SXM4-80GB)) names it.
        type: str
        required: true
      count:
        description: How many.
        type: int
        required: true
      memory_mib:
        description: Memory of one GPU in MiB.
        type: int
"""
