#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: edge_host_report
short_description: Report an edge host's facts and health on its own EdgeHost, with its own identity
version_added: 0.4.0
description:
  - The connection options are the edge host's own identity (the kubeconfig M(gpufabric.platform.edge_host)
    wrote), which may read its EdgeHost and update that EdgeHost's status and nothing else.
  - Writes the status of EdgeHost O(name) - the facts reported (architecture, CPUs, memory, GPUs by family and
    model), C(health) (V(Healthy); V(Unhealthy) with a C(message) when the host reports fewer GPUs or CPUs than it
    registered with) and C(lastSeen).
  - A report that changes no fact and no health writes nothing until C(lastSeen) is O(heartbeat) seconds old, so
    a converged run reports no change.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description: The EdgeHost's name.
    type: str
    required: true
  architecture:
    description: V(AMD64) or V(ARM64) (V(x86_64) and V(aarch64) are read as those).
    type: str
    required: true
  heartbeat:
    description: Seconds after which a report that changes nothing refreshes C(lastSeen) all the same.
    type: int
    default: 300
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.host_facts
attributes:
  check_mode:
    support: full
    description: The status write is a server-side dry run.
  diff_mode:
    support: full
    description: The status before and after.
"""

EXAMPLES = r"""
- name: Report this host's facts with its own identity
  gpufabric.platform.edge_host_report:
    kubeconfig: ~/.gpufabric/appliance/hub/edges/{{ inventory_hostname }}.kubeconfig
    name: "{{ inventory_hostname }}"
    architecture: "{{ ansible_facts.architecture }}"
    cpus: "{{ ansible_facts.processor_vcpus }}"
    memory_mb: "{{ ansible_facts.memtotal_mb }}"
  delegate_to: localhost
"""

RETURN = r"""
status:
  description: The EdgeHost's status after the run.
  returned: always
  type: dict
  sample: {architecture: AMD64, cpus: 64, memory: 503Gi, gpuCount: 8, health: Healthy,
           lastSeen: "2026-01-15T10:30:00Z",
           gpus: [{family: NVIDIA-A100, model: NVIDIA-A100-SXM4-80GB, count: 8, memoryMiB: 81920}]}
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.edgehosts import HOST_FACTS_ARG_SPEC, EdgeHostReportRunner
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule


def main():
    module = GpufabricModule(dict(
        name=dict(type="str", required=True),
        architecture=dict(type="str", required=True),
        **HOST_FACTS_ARG_SPEC,
        heartbeat=dict(type="int", default=300),
    ))
    module.run(lambda: module.exit_json(**EdgeHostReportRunner(module).run()))


if __name__ == "__main__":
    main()
