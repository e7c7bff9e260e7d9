#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compute_pool
short_description: Declare a compute pool and allocate hosts to its machine pools (PaletteAI semantics)
version_added: 0.1.0
description:
  - Allocates hosts (the cluster's Nodes, or an explicit host list) to a control-plane machine pool and one worker
    machine pool per GPU requirement, and keeps a C(ComputePool) object (C(gpufabric.io/v1alpha1)) whose status
    shows C(hardwareCapacity), C(hardwareAllocation), C(allocatedMachinePools) with each host's status, and
    C(aiWorkloadRefs), as PaletteAI does.
  - Requirement changes are classified as Create, Delete, Scale or Replace per machine pool. Removing hosts waits
    until a replacement host is Healthy (its Node Ready), keeping one bridge host of the old set during a
    replace, and control-plane quorum never drops. A run that has to wait says what for in RV(plan.waiting); the
    next run (or this one, with O(wait)) finishes.
  - Member nodes carry C(<label_prefix>/compute-pool=<name>) and C(<label_prefix>/machine-pool=<machine pool>);
    no other label is written. A host belongs to at most one compute pool.
  - Everything is validated, allocated and planned before the first write; when the requirements cannot be met
    the module fails with the shortfall (requirement, hosts needed, hosts eligible, why the others are not) and
    writes nothing.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Compute pool name, a DNS-1123 label. Node labels carry the name only, so it must be unique across
        namespaces.
    type: str
    required: true
  namespace:
    description:
      - The project namespace the C(ComputePool) object lives in.
    type: str
    required: true
  description:
    description:
      - What the compute pool is for.
    type: str
  mode:
    description:
      - V(dedicated) hosts a single app deployment; V(shared) hosts several. Cannot change once created.
    type: str
    choices: [dedicated, shared]
    default: dedicated
  control_plane:
    description:
      - The control-plane machine pool.
    type: dict
    default: {}
    suboptions:
      node_count:
        description:
          - Control-plane hosts; an odd count keeps etcd quorum.
        type: int
        choices: [1, 3, 5]
        default: 1
      single_node_cluster:
        description:
          - One host serves as control plane and worker. Only the control-plane machine pool is managed; worker
            requirements only steer which host is chosen, and selection uses the control-plane resource groups.
        type: bool
        default: false
      schedule_workloads:
        description:
          - The control-plane hosts run app workloads too - machine pool node type C(ControlPlaneAndWorker), as in
            PaletteAI's example. With V(false) and worker pools, the node type is C(ControlPlaneOnly).
        type: bool
        default: true
      architecture:
        description:
          - CPU architecture of the control-plane hosts.
        type: str
        choices: [AMD64, ARM64, amd64, arm64]
        default: AMD64
      resource_groups:
        description:
          - Control-plane hosts must carry each C(<resource_group_prefix><key>=<value>) label.
        type: dict
  worker_pools:
    description:
      - GPU worker requirements, one machine pool each.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Requirement name (63 characters at most). Without it a name is generated that stays the same for this
            compute pool and position, and is stored in the C(ComputePool) spec.
        type: str
      architecture:
        description:
          - CPU architecture of the workers.
        type: str
        choices: [AMD64, ARM64, amd64, arm64]
        default: AMD64
      gpu:
        description:
          - The GPUs the pool needs in total.
        type: dict
        required: true
        suboptions:
          family:
            description:
              - GPU family as GPU feature discovery reports it (C(NVIDIA-A100), C(NVIDIA A100) and C(nvidia-a100) are
                the same family).
            type: str
            required: true
          count:
            description:
              - Total GPUs across the pool's hosts.
            type: int
            required: true
      min_worker_nodes:
        description:
          - The GPUs are spread over at least this many hosts.
        type: int
        default: 1
  worker_resource_groups:
    description:
      - Worker hosts must carry each C(<resource_group_prefix><key>=<value>) label.
    type: dict
  resource_group_prefix:
    description:
      - Prefix of the resource-group labels on hosts.
    type: str
    default: palette.ai.rg/
  scaling_policy:
    description:
      - Reference to a C(ScalingPolicy) object, recorded in the compute pool's spec.
    type: dict
    suboptions:
      name:
        description: Policy name.
        type: str
        required: true
      namespace:
        description: Policy namespace.
        type: str
  autoscale:
    description:
      - Apply the autoscaler's decision to one worker pool, from utilization samples (for example the result of a
        metrics query), against the C(ScalingPolicy) named by O(scaling_policy) (thresholds, durations, bounds,
        cooldown, abort duration).
      - Scale up when the minimum CPU or GPU utilization over the scale-up window is strictly above the threshold,
        down when the maximum of both over the scale-down window is strictly below; an equal value never
        triggers. After an action the pool cools down. A scale-up whose new hosts are not Healthy within the
        abort duration gives up those hosts and keeps the Healthy ones; a scale-down is never aborted.
      - The decision and the size it sets are recorded in C(status.autoscaling); runs without O(autoscale) keep
        that size while O(scaling_policy) is set. GPUs per worker node stay as declared.
    type: dict
    suboptions:
      samples:
        description:
          - "Average utilization over time: a list of C({time: RFC 3339 text or epoch seconds, cpu: percent,
            gpu: percent})."
        type: list
        elements: dict
        required: true
      worker_pool:
        description:
          - The worker pool to size. Default - the one sized before, else the first.
        type: str
      now:
        description:
          - The time of the decision (RFC 3339); default the current time.
        type: str
  hosts:
    description:
      - An explicit host list (bare-metal inventory) used instead of the cluster's Nodes. No Node labels are
        written for such hosts.
      - Each entry has C(name), C(architecture), C(cpu), C(memory), C(gpus) (list of C(family), C(count),
        C(memory_mib)), C(labels), C(status) and C(status_updated_at).
    type: list
    elements: dict
  state:
    description:
      - V(absent) deletes the machines first (hosts marked Deleting, labels removed), then the C(ComputePool).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Delete even though C(aiWorkloadRefs) lists workloads; they keep running and the module warns.
    type: bool
    default: false
  wait:
    description:
      - Keep running until no step waits (replacement hosts Healthy), re-reading the Nodes every 2 seconds.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait) before failing with what is still waiting.
    type: int
    default: 600
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
  - gpufabric.platform.spoke
attributes:
  check_mode:
    support: full
    description: Sends every write as a server-side dry run and reports the plan the real run would carry out.
  diff_mode:
    support: full
    description: Shows the C(ComputePool) object and the member nodes' labels under the prefix, before and after.
"""

EXAMPLES = r"""
- name: A dedicated compute pool - one control-plane host, 8 A100 over at least 2 workers
  gpufabric.platform.compute_pool:
    name: vision-cluster
    namespace: vision
    mode: dedicated
    control_plane:
      node_count: 1
    worker_pools:
      - name: gpu-workers
        gpu: {family: NVIDIA-A100, count: 8}
        min_worker_nodes: 2
    worker_resource_groups:
      storage-tier: high-performance

- name: Replace the workers with H100s and wait until the new hosts are Healthy
  gpufabric.platform.compute_pool:
    name: vision-cluster
    namespace: vision
    worker_pools:
      - name: gpu-workers
        gpu: {family: NVIDIA-H100, count: 8}
        min_worker_nodes: 2
    wait: true
    wait_timeout: 900

- name: Let the autoscaler size the workers from the last 10 minutes of utilization
  gpufabric.platform.compute_pool:
    name: vision-cluster
    namespace: vision
    scaling_policy: {name: gpu-burst}
    worker_pools:
      - {name: gpu-workers, gpu: {family: NVIDIA-A100, count: 8}, min_worker_nodes: 2}
    autoscale:
      samples: "{{ utilization }}"   # [{time: '2024-01-15T10:30:00Z', cpu: 35, gpu: 92}, ...]

- name: Delete it even though an app still runs there
  gpufabric.platform.compute_pool:
    name: vision-cluster
    namespace: vision
    state: absent
    force: true
"""

RETURN = r"""
compute_pool:
  description: The C(ComputePool) object as stored after the run (as the dry run returns it in check mode).
  returned: when state is present
  type: dict
  sample:
    apiVersion: gpufabric.io/v1alpha1
    kind: ComputePool
    metadata: {name: vision-cluster, namespace: vision}
    status:
      status: Running
      gpuTotal: 8
      allocatedMachinePools: [{name: control-plane-pool, nodeType: ControlPlaneOnly}]
plan:
  description: The ordered operations per machine pool, with host-level steps and what any step waits for.
  returned: always
  type: dict
  contains:
    computePool: {description: Compute pool name., type: str}
    mode: {description: dedicated or shared., type: str}
    operations:
      description: "create, delete, scale, replace or update, each with steps: create-machine-pool, add-host,
        remove-host, wait, delete-machine-pool."
      type: list
      elements: dict
      sample: [{kind: create, machinePool: worker-pool-nvidia-amd64-0, workerPoolRequirementsName: gpu-workers,
                steps: [{action: add-host, machinePool: worker-pool-nvidia-amd64-0, host: gpu-3, status: Healthy}]}]
    waiting:
      description: Steps held back, each saying what it waits for.
      type: list
      elements: str
    shortfalls:
      description: Requirements that cannot be met (the module fails when there are any).
      type: list
      elements: str
autoscaling:
  description:
    - The autoscaler's decision in this run - C(scale-up), C(scale-down), C(abort) or C(none) - with the worker
      node count it sets and why. Actions are recorded in C(status.autoscaling).
  returned: when autoscale is given
  type: dict
  sample: {decision: scale-up, targetNodes: 3, reason: "minimum gpu utilization over 300 s is 92%, above 80%"}
changed_nodes:
  description: Nodes whose compute-pool labels changed (or would change in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import CONSTRAINTS, argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.compute_pools import ComputePoolRunner


def main():
    module = GpufabricModule(argument_spec("compute_pool", label_prefix=LABEL_PREFIX_ARG), kind="compute_pool",
                             **CONSTRAINTS.get("compute_pool", {}))
    module.run(lambda: module.exit_json(**ComputePoolRunner(module).run()))


if __name__ == "__main__":
    main()
