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
  - Also RV(hosts), every host of those compute pools as one row with its compute pool, machine pool and status,
    because C(allocatedMachinePools[].hosts) is a mapping keyed by host name, which JMESPath
    (C(gpufabric.platform.query)) can filter only by value, never returning the name.
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
  register: every

- name: Hosts that are not Healthy, with their compute pool and machine pool
  ansible.builtin.debug:
    msg: "{{ every.hosts | gpufabric.platform.query(expression) }}"
  vars:
    expression: "[?status != 'Healthy'].{host: name, compute_pool: compute_pool, machine_pool: machine_pool}"

- name: Compute pools with GPUs left to allocate
  ansible.builtin.debug:
    msg: "{{ every.compute_pools | gpufabric.platform.query('[?status.gpuAllocated < status.gpuTotal].metadata.name') }}"

- name: Host names of each machine pool, read from the hosts mapping with keys()
  ansible.builtin.debug:
    msg: "{{ found.compute_pools | gpufabric.platform.query('[].status.allocatedMachinePools[].{pool: name, hosts: keys(hosts)}') }}"
"""

RETURN = r"""
compute_pools:
  description:
    - The compute pools found, sorted by namespace and name, as stored (managedFields and the like left out).
    - C(status.allocatedMachinePools[].hosts) is a mapping of host name to the host's status and hardware, as in
      PaletteAI's ComputePool; read the names with C(keys(hosts)) in JMESPath, or use RV(hosts).
  returned: always
  type: list
  elements: dict
  contains:
    metadata: {description: "C(name), C(namespace), labels and annotations.", type: dict}
    spec:
      description: "As the compute_pool module writes it: C(clusterVariant), C(controlPlane),
        C(nodePoolRequirements.workerPools[]), C(spoke), C(description)."
      type: dict
    status:
      description:
        - C(status) (Running, Provisioning, Updating, Unhealthy, Failed, Deleting), C(mode), C(gpuTotal),
          C(gpuAllocated), C(cloudConfigUUID).
        - C(hardwareCapacity) and C(hardwareAllocation), lists of C({architecture, totalCPU, totalMemory,
          gpu[{family, gpuCount}]}).
        - C(allocatedMachinePools), a list of C({name, nodeType, workerPoolRequirementsName, labels, hosts}).
        - C(aiWorkloadRefs), a list of C({name, namespace, family, gpuCount, architecture}).
      type: dict
  sample:
    - apiVersion: gpufabric.io/v1alpha1
      kind: ComputePool
      metadata: {name: vision-cluster, namespace: vision}
      status:
        status: Running
        mode: dedicated
        gpuTotal: 8
        gpuAllocated: 4
        allocatedMachinePools:
          - name: control-plane-pool
            nodeType: ControlPlaneAndWorker
            labels: [control-plane]
            hosts:
              host-uid-1: {architecture: AMD64, cpuCount: 16, memoryGB: 64, status: Healthy,
                           statusUpdatedAt: "2024-01-15T10:30:00Z"}
hosts:
  description:
    - Every host of the compute pools in RV(compute_pools), one row each - machine pools in their status order,
      hosts by name within each.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Host (node) name., type: str, sample: host-uid-3}
    compute_pool: {description: Compute pool holding it., type: str, sample: vision-cluster}
    namespace: {description: The compute pool's namespace., type: str, sample: vision}
    spoke: {description: "The compute pool's spoke, or null.", type: str}
    machine_pool: {description: Machine pool it is in., type: str, sample: worker-pool-nvidia-amd64-0}
    node_type: {description: "The machine pool's node type (C(ControlPlaneAndWorker), C(WorkerOnly), ...).",
                type: str, sample: WorkerOnly}
    worker_pool: {description: "Worker pool requirement the machine pool serves; null for the control plane.",
                  type: str, sample: gpu-workers}
    status: {description: "Host status as recorded (C(Healthy), C(Provisioning), C(Unhealthy), ...).",
             type: str, sample: Healthy}
    status_updated_at: {description: When the status was last recorded., type: str, sample: "2024-01-15T10:30:00Z"}
    architecture: {description: CPU architecture., type: str, sample: AMD64}
    cpu_count: {description: CPUs., type: int, sample: 32}
    memory_gb: {description: Memory in GiB., type: int, sample: 128}
    gpu_count: {description: GPUs over every family (0 for a CPU host)., type: int, sample: 4}
    gpus:
      description: Its GPUs by family, with the GPU memory of the family on the host in GiB (null when unknown).
      type: list
      elements: dict
      sample: [{family: NVIDIA-A100, count: 4, memory_gb: 160}]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.compute_pools import compute_pool_report
from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import allocated_hosts
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule


def main():
    module = GpufabricModule(
        argument_spec=dict(
            name=dict(type="str"),
            namespace=dict(type="str"),
        ),
    )
    params = module.params

    def report():
        pools = compute_pool_report(module.cluster, params["name"], params["namespace"])
        module.exit_json(changed=False, compute_pools=pools, hosts=allocated_hosts(pools))

    module.run(report)


if __name__ == "__main__":
    main()
