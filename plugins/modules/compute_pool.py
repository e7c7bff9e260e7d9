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
  - "C(kubectl get computepools) prints the status: GPU Total (GPUs on the hosts), GPU Allocated (GPUs the app
    deployments recorded on the compute pool hold, as M(gpufabric.platform.app_deployment) recorded them, not
    read from pods), GPU Free (total minus allocated) and Observed - how long ago the run that last changed the
    status measured it (C(status.observedAt)). A run that finds the same figures writes nothing and leaves
    C(observedAt) as it was."
  - GPUs count by family (NVIDIA-A100, NVIDIA-H100, ...) read from each host's C(nvidia.com/gpu.product) label,
    with the memory from the product name or else C(nvidia.com/gpu.memory); C(hardwareCapacity) rows carry the
    family and C(memoryGB). A product the family table does not know counts as a family of its own, and the
    module warns naming it.
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
              - GPU family (C(NVIDIA-A100), C(NVIDIA A100) and C(nvidia-a100) are the same family). It takes hosts of
                every product of the family - C(NVIDIA-A100) takes A100-SXM4-80GB, A100-PCIE-40GB, ... hosts; a
                memory variant (C(NVIDIA-A100-80GB)) takes only hosts whose GPUs have that memory. A product label
                written as the family (C(NVIDIA-A100-SXM4-80GB)) means its family and memory.
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
      - Apply the autoscaler's decision to one worker pool against the C(ScalingPolicy) named by O(scaling_policy)
        (thresholds, durations, bounds, cooldown, abort duration), from utilization measured by Prometheus
        (O(autoscale.prometheus)) or given as samples (O(autoscale.samples)); exactly one of the two.
      - Scale up when the minimum utilization over the scale-up window is strictly above the threshold (CPU or
        GPU, each that is measured), down when the maximum of every measured one over the scale-down window is
        strictly below; an equal value never triggers. After an action the pool cools down. A scale-up whose new
        hosts are not Healthy within the abort duration gives up those hosts and keeps the Healthy ones; a
        scale-down is never aborted.
      - The decision and the size it sets are recorded in C(status.autoscaling); runs without O(autoscale) keep
        that size while O(scaling_policy) is set. GPUs per worker node stay as declared.
      - The same option is accepted in a fabric spec's C(compute_pools) entries (M(gpufabric.platform.fabric)).
    type: dict
    suboptions:
      samples:
        description:
          - "Average utilization over time: a list of C({time: RFC 3339 text or epoch seconds, cpu: percent,
            gpu: percent})."
          - Mutually exclusive with O(autoscale.prometheus).
        type: list
        elements: dict
      prometheus:
        description:
          - Read GPU utilization from a Prometheus server that scrapes dcgm-exporter, before anything is planned.
            The module runs one range query per compute pool -
            C(avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"<host>|<host>"})), the mean over every GPU of the worker pool's
            current hosts at each step, over the longer of the policy's scale-up and scale-down windows, ending at
            O(autoscale.now) - and decides on GPU utilization alone (CPU is not queried). The policy's C(metric)
            must be C(gpu).
          - A worker pool without hosts yet is not queried; it keeps the size it would have without O(autoscale).
          - Prometheus unreachable, an HTTP error, or an answer without any series for those hosts fails the run
            with the URL and the query, before anything is written.
          - Mutually exclusive with O(autoscale.samples).
        type: dict
        suboptions:
          url:
            description:
              - The server's URL, with the path prefix it is served under if any (C(https://prometheus.example:9090),
                C(https://monitoring.example/prometheus)).
            type: str
            required: true
          token:
            description:
              - "Bearer token sent as C(Authorization: Bearer <token>). Never logged."
            type: str
            aliases: [api_key]
          ca_cert:
            description:
              - CA file that signed the server's certificate; default the system's trust store.
            type: path
          validate_certs:
            description:
              - Verify the server's certificate (HTTPS).
            type: bool
            default: true
          step:
            description:
              - Seconds between the query's points.
            type: int
            default: 30
          timeout:
            description:
              - Seconds to wait for the answer.
            type: int
            default: 30
      worker_pool:
        description:
          - The worker pool to size. Default - the one sized before, else the first.
        type: str
      now:
        description:
          - The time of the decision (RFC 3339), and the end of the Prometheus query's range; default the current
            time.
        type: str
  hosts:
    description:
      - An explicit host list (bare-metal inventory) used instead of the cluster's Nodes. No Node labels are
        written for such hosts.
      - Each entry has C(name), C(architecture), C(cpu), C(memory), C(gpus) (list of C(family), C(count),
        C(memory_mib)), C(labels), C(status) and C(status_updated_at).
    type: list
    elements: dict
  host_source:
    description:
      - Where the hosts come from when no O(hosts) list is given.
      - V(nodes) - the Nodes of the cluster the compute pool's hosts are on (the hub's, or O(spoke)'s).
      - V(edgehosts) - the hub's C(EdgeHost) objects, bare-metal hosts the appliance linked to the hub
        (C(playbooks/appliance.yml)); the facts they last reported, health from their status, resource groups from
        their labels under O(resource_group_prefix). The allocation follows the same rules and is recorded in the
        C(ComputePool) status only (no Node labels). O(spoke) is then required - the name of the cluster the hosts
        become (C(playbooks/spoke-cluster.yml) installs it and registers it under that name); apps on the compute
        pool are written there.
    type: str
    choices: [nodes, edgehosts]
    default: nodes
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

- name: Let the autoscaler size the workers from the GPU utilization Prometheus holds for their hosts
  gpufabric.platform.compute_pool:
    name: vision-cluster
    namespace: vision
    scaling_policy: {name: gpu-burst}
    worker_pools:
      - {name: gpu-workers, gpu: {family: NVIDIA-A100, count: 8}, min_worker_nodes: 2}
    autoscale:
      prometheus:
        url: https://prometheus.monitoring.example:9090
        ca_cert: /etc/pki/monitoring-ca.pem
        token: "{{ prometheus_token }}"

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
      gpuAllocated: 4
      gpuFree: 4
      observedAt: "2024-01-15T10:30:00Z"
      hardwareCapacity: [{architecture: AMD64, totalCPU: 80, totalMemory: 320Gi,
                          gpu: [{family: NVIDIA-A100, memoryGB: 40, gpuCount: 8}]}]
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
  contains:
    decision: {description: "scale-up, scale-down, abort or none.", type: str}
    targetNodes: {description: Worker nodes of the autoscaled worker pool after this run., type: int}
    reason:
      description: Why, with the figures the decision rests on (from Prometheus, or from the samples given).
      type: str
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
