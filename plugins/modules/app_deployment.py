#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_deployment
short_description: Deploy an AI/ML app onto a labelled pool or a compute pool, with capacity and quota checks
version_added: 0.1.0
description:
  - Writes a C(Deployment) or C(Job) in a project namespace (see M(gpufabric.platform.project)) that lands on a
    labelled pool (M(gpufabric.platform.pool_label)) or a compute pool, and records what it holds in the pool's
    status - C(hardwareAllocation), C(aiWorkloadRefs) and C(gpuAllocated) on a C(ComputePool), the same fields and
    C(gpuUsed) on a C(Pool) - summed over every app on the pool.
  - "Before any write, everything is checked and every failure reported together: the resource validation rules
    (a failing rule reports its C(assert_message)); the pool's free GPUs of the app's family against
    O(resources.gpu) x O(replicas) (else the shortfall, with the pool's total and allocated GPUs); the project's
    quota for that family; a dedicated compute pool hosts one app only; and, when the project declared
    C(pool_access), whether the caller may C(use) the pool (asked of the API server). A rejected run writes
    nothing."
  - "The pod template is built in this order, later wins (OSMO): the app's container, a toleration for
    C(nvidia.com/gpu) taints and the pool's node selector; then each of O(pod_templates) in order; then the pool's
    node selector again, so a template may add to the placement but never move the app off its pool. The selector is
    C(<prefix>/pool) (and C(<prefix>/gpu-type) with O(platform)) on a labelled pool, C(<prefix>/compute-pool) on a
    compute pool, and C(nvidia.com/gpu.product) for the app's GPU family."
  - A compute pool is looked up in the app's namespace (the project namespace).
  - In check mode the result says where the app would land, the GPUs left on the pool and the quota left.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - App name; the workload, its container and the C(gpufabric.io/app) label carry it. A DNS-1123 label.
    type: str
    required: true
  namespace:
    description:
      - The project namespace. It must be a gpufabric project (it records the project's GPU quota).
    type: str
    required: true
  pool:
    description:
      - Labelled pool to place the app on. Exactly one of O(pool) and O(compute_pool) with O(state=present).
    type: str
  compute_pool:
    description:
      - Compute pool (in O(namespace)) to place the app on.
    type: str
  platform:
    description:
      - Selects the GPU type within the pool. On a labelled pool, a C(<prefix>/gpu-type) value of its nodes; on a
        compute pool, a GPU family of its capacity. Needed when the pool holds more than one GPU family.
    type: str
  kind:
    description:
      - Workload kind. With O(state=absent), limits the removal to that kind.
      - O(replicas) pods of a C(Deployment); a C(Job) runs O(replicas) pods in parallel to as many completions.
      - Defaults to V(Deployment) with O(state=present).
    type: str
    choices: [Deployment, Job]
  image:
    description:
      - Container image. Required with O(state=present).
    type: str
  command:
    description: Container entrypoint.
    type: list
    elements: str
  args:
    description: Container arguments.
    type: list
    elements: str
  env:
    description: Environment variables, name to value.
    type: dict
  replicas:
    description: Pods of the app; the app holds O(resources.gpu) x O(replicas) GPUs.
    type: int
    default: 1
  resources:
    description:
      - What each pod requests. Values given here override O(default_variables) C(USER_GPU), C(USER_CPU),
        C(USER_MEMORY) and C(USER_STORAGE); values not given come from them.
    type: dict
    suboptions:
      gpu: {description: GPUs per pod (request and limit of C(nvidia.com/gpu))., type: int}
      cpu: {description: "CPU request per pod, a quantity.", type: str}
      memory: {description: "Memory request per pod, a quantity.", type: str}
      storage: {description: "Ephemeral storage request per pod, a quantity.", type: str}
  pod_templates:
    description:
      - Pod templates (C(metadata) and C(spec) of a pod) merged in order over the app's own template, later wins.
        Mappings merge key by key; lists of items with a C(name) (containers, volumes) merge item by name; other
        values are replaced. C({{VARIABLE}}) in strings is replaced with the variable's value.
    type: list
    elements: dict
  default_variables:
    description:
      - "OSMO default variables, for example C({USER_CPU: 1, USER_MEMORY: 1Gi}), used by O(resource_validations)
        and O(pod_templates). C(USER_CONTAINER_NAME) is the app name."
    type: dict
  resource_validations:
    description:
      - OSMO resource validation rules, each C({operator, left_operand, right_operand, assert_message}) with operator
        one of C(EQ), C(NE), C(LT), C(LE), C(GT), C(GE). Operands may use C({{VARIABLE}}) and compare as quantities
        (C(64Gi) equals C(65536Mi)). A rule that does not hold rejects the run with its C(assert_message).
    type: list
    elements: dict
  state:
    description:
      - V(present) writes the workload and records its allocation; V(absent) deletes it and frees its GPUs in the
        pool's record.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Accepted for symmetry with the other modules; removing an app needs no force (its pool keeps running).
    type: bool
    default: false
  delivery:
    description:
      - How the workload reaches a spoke. V(direct) writes it on the spoke through the connection the hub keeps.
        V(manifestwork) writes an OCM C(ManifestWork) in the spoke's namespace on the hub instead, carrying
        exactly the objects a direct delivery writes, for hubs whose spokes run OCM's work agent.
      - Without a spoke (the app's compute pool names none and O(spoke) is unset), V(direct) is the only choice.
    type: str
    choices: [direct, manifestwork]
    default: direct
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
  - gpufabric.platform.spoke
attributes:
  check_mode:
    support: full
    description: Sends every write as a server-side dry run; reports the placement, GPUs and quota left.
  diff_mode:
    support: full
    description: Shows the workload and the pool status before and after.
"""

EXAMPLES = r"""
- name: vLLM server on the vision compute pool, 2 replicas of 4 GPUs
  gpufabric.platform.app_deployment:
    name: llm-serve
    namespace: vision
    compute_pool: vision-cluster
    image: vllm/vllm-openai:v0.6.0
    replicas: 2
    resources: {gpu: 4, cpu: "8", memory: 64Gi}

- name: Fine-tuning job on the A100 nodes of the training pool, OSMO-style templates and rules
  gpufabric.platform.app_deployment:
    name: finetune
    namespace: vision
    pool: training-pool
    platform: A100-80G
    kind: Job
    image: nvcr.io/nvidia/pytorch:24.05-py3
    command: [torchrun, train.py]
    resources: {gpu: 8}
    default_variables: {USER_CPU: 16, USER_MEMORY: 128Gi}
    pod_templates:
      - spec: {nodeSelector: {storage-tier: high-performance}}
      - metadata: {labels: {team: vision}}
    resource_validations:
      - operator: LE
        left_operand: !unsafe "{{USER_MEMORY}}"
        right_operand: 512Gi
        assert_message: !unsafe "Memory {{USER_MEMORY}} exceeds the 512Gi a node has"

- name: Remove the app and free its GPUs
  gpufabric.platform.app_deployment:
    name: llm-serve
    namespace: vision
    state: absent
"""

RETURN = r"""
placement:
  description: Where the app lands and what is left (with O(state=present); in check mode, where it would land).
  returned: when state is present
  type: dict
  contains:
    target: {description: "C({kind, name}) of the pool.", type: dict, sample: {kind: ComputePool, name: vision-cluster}}
    family: {description: GPU family the app takes., type: str, sample: NVIDIA-A100}
    gpuCount: {description: GPUs the app holds (per pod x replicas)., type: int, sample: 8}
    nodeSelector: {description: The node selector the pods carry., type: dict}
    gpuFree: {description: Free GPUs of the family on the pool before this app., type: int, sample: 16}
    gpuFreeAfter: {description: Free GPUs of the family after it., type: int, sample: 8}
    quotaLeft: {description: Project quota left for the family before this app., type: int, sample: 8}
    quotaLeftAfter: {description: Project quota left after it., type: int, sample: 0}
    errors: {description: Always empty on success., type: list, elements: str}
workload:
  description: The workload written (or removed).
  returned: always
  type: dict
  sample: {kind: Deployment, name: llm-serve, namespace: vision, node_selector: {runwhere.ai/compute-pool: vision-cluster}}
allocation:
  description: The pool's allocation record after the run, summed over every app on it.
  returned: when the pool exists
  type: dict
  sample: {target: {kind: ComputePool, name: vision-cluster}, gpu_allocated: 12, apps: [vision/llm-serve]}
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import CONSTRAINTS, argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.app_deployments import AppDeploymentRunner


def main():
    module = GpufabricModule(argument_spec("app_deployment", label_prefix=LABEL_PREFIX_ARG), kind="app_deployment",
                             **CONSTRAINTS.get("app_deployment", {}))
    module.run(lambda: module.exit_json(**AppDeploymentRunner(module).run()))


if __name__ == "__main__":
    main()
