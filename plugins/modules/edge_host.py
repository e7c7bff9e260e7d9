#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: edge_host
short_description: Register a bare-metal host on the hub as an EdgeHost with an identity of its own, or deregister it
version_added: 0.4.0
description:
  - The module's connection options address the hub (the appliance's admin kubeconfig).
  - V(present) applies the cluster-scoped C(EdgeHost) O(name) (C(gpufabric.io/v1alpha1)) with the facts the host
    registered with - address, machine id, architecture, CPUs, memory and GPUs by family and model - and the host's
    own identity - the ServiceAccount C(gpufabric-edge/edge-<name>), its token Secret (filled in by the hub's
    controller manager), and a ClusterRole C(gpufabric-edge-<name>) bound to it that allows reading this EdgeHost
    and updating its status, by C(resourceNames), and nothing else. With O(kubeconfig_path) a kubeconfig for that
    identity is written there (mode 0600, never printed); M(gpufabric.platform.edge_host_report) reports with it.
  - A name is held by one machine. When the EdgeHost exists with another address or another machine id, the module
    fails naming both and writes nothing; deregister the name first.
  - V(absent) refuses while a compute pool's status holds the host, unless O(force); then it deletes the binding,
    the role, the token Secret, the ServiceAccount and the EdgeHost - only objects made for this host - and the
    kubeconfig at O(kubeconfig_path).
  - Every write's permission is checked and every object dry-run on the hub before the first write. A converged
    run writes nothing.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description: The edge host's name on the hub (its inventory name); a DNS-1123 subdomain of at most 63 characters.
    type: str
    required: true
  address:
    description: The host's address (what the appliance reached it at). Required with O(state=present).
    type: str
  machine_id:
    description: The host's C(/etc/machine-id); with the address, which machine holds the name.
    type: str
  architecture:
    description: V(AMD64) or V(ARM64) (V(x86_64) and V(aarch64) are read as those). Required with O(state=present).
    type: str
  kubeconfig_path:
    description:
      - Where to write the kubeconfig of the host's identity, on the machine the module runs on (mode 0600). With
        O(state=absent), the file is removed.
    type: path
  server:
    description: The hub's URL written into that kubeconfig; default the hub's URL as this module reaches it.
    type: str
  cluster_name:
    description: The cluster and context name in that kubeconfig.
    type: str
    default: hub
  wait_timeout:
    description: Seconds to wait for the controller manager to fill in the identity's token.
    type: int
    default: 60
  state:
    description: V(present) registers the host; V(absent) deregisters it.
    type: str
    choices: [present, absent]
    default: present
  force:
    description: With O(state=absent), deregister although compute pools hold the host.
    type: bool
    default: false
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.host_facts
attributes:
  check_mode:
    support: full
    description: Every write is a server-side dry run where the server can take one; the kubeconfig is not written.
  diff_mode:
    support: full
    description: Each object before and after.
notes:
  - Run it as the cluster admin the appliance installs with (it creates a ClusterRole per host, and granting a
    permission requires holding it).
"""

EXAMPLES = r"""
- name: Register this host on the hub
  gpufabric.platform.edge_host:
    kubeconfig: ~/.gpufabric/appliance/hub/admin.kubeconfig
    name: "{{ inventory_hostname }}"
    address: "{{ ansible_host }}"
    machine_id: "{{ ansible_facts.machine_id }}"
    architecture: "{{ ansible_facts.architecture }}"
    cpus: "{{ ansible_facts.processor_vcpus }}"
    memory_mb: "{{ ansible_facts.memtotal_mb }}"
    gpus: [{model: NVIDIA-A100-SXM4-80GB, count: 8, memory_mib: 81920}]
    kubeconfig_path: ~/.gpufabric/appliance/hub/edges/{{ inventory_hostname }}.kubeconfig
  delegate_to: localhost
"""

RETURN = r"""
edge_host:
  description: The registration as the run left it.
  returned: always
  type: dict
  contains:
    name: {description: The EdgeHost's name., type: str, sample: gpu-node-7}
    state: {description: C(present) or C(absent)., type: str}
    identity: {description: The user its kubeconfig authenticates as., type: str, returned: when state is present,
               sample: "system:serviceaccount:gpufabric-edge:edge-gpu-node-7"}
    kubeconfig: {description: Where its kubeconfig was written., type: str, returned: when state is present}
    writes: {description: The objects written (or that would be)., type: list, elements: str}
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.edgehosts import HOST_FACTS_ARG_SPEC, EdgeHostRunner
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule


def main():
    module = GpufabricModule(dict(
        name=dict(type="str", required=True),
        address=dict(type="str"),
        machine_id=dict(type="str"),
        architecture=dict(type="str"),
        **HOST_FACTS_ARG_SPEC,
        kubeconfig_path=dict(type="path"),
        server=dict(type="str"),
        cluster_name=dict(type="str", default="hub"),
        wait_timeout=dict(type="int", default=60),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        force=dict(type="bool", default=False),
    ), required_if=[("state", "present", ("address", "architecture"))])
    module.run(lambda: module.exit_json(**EdgeHostRunner(module).run()))


if __name__ == "__main__":
    main()
