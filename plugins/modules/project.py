#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: project
short_description: Declare a project - namespace, GPU quota per family, roles, bindings and per-pool access
version_added: 0.1.0
description:
  - A project as PaletteAI has them (a team's workspace with a GPU quota), made of ordinary Kubernetes objects.
  - A C(Namespace) labelled C(<prefix>/project) and C(<prefix>/tenant), annotated with the quota per family
    (C(<prefix>/gpu-quota)) where M(gpufabric.platform.app_deployment) and the tenant read it.
  - A C(ResourceQuota) C(gpu-quota) on C(requests.nvidia.com/gpu) equal to the total over families, carrying the
    same per-family annotation.
  - Roles C(gpufabric-viewer) (read workloads, pods, logs and compute pools), C(gpufabric-editor) (also create,
    update and delete Deployments, Jobs and pods) and C(gpufabric-admin) (also C(update)/C(patch) compute pools,
    PaletteAI's C(computepools:update), and C(delete) them, C(computepools:delete)), each with a RoleBinding for
    its members. Bindings are exact - a member removed from O(members) loses the binding.
  - One Role and RoleBinding C(pool-access-<pool>) per O(pool_access) entry, granting C(use) on that pool or
    compute pool to the users and groups listed (OSMO's per-pool roles). Once a project declares any pool access,
    M(gpufabric.platform.app_deployment) places its apps only on pools the caller may C(use).
  - With O(tenant), the tenant's quota must hold the sum of its projects' quotas, per family; otherwise the run is
    rejected, naming the family and the numbers, and writes nothing. A quota below what the project's app
    deployments already hold is rejected the same way. A quota larger than the cluster's GPUs of that family is
    accepted with a warning.
  - Nothing else in the namespace is touched. A converged run sends no write.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Project name, which is also the namespace name (a DNS-1123 label).
    type: str
    required: true
  tenant:
    description:
      - The tenant (see M(gpufabric.platform.tenant)) whose quota this project shares. It must exist.
    type: str
  description:
    description:
      - What the project is for, kept in the namespace's annotation C(<prefix>/description) (none when empty).
    type: str
    default: ""
  gpu_quota:
    description:
      - "GPUs per family the project's app deployments may hold, for example C({NVIDIA-A100: 8}).
        A family not listed has quota 0 (Kueue-style)."
      - A family counts every GPU product of it - C(NVIDIA-A100) counts apps on A100-SXM4-80GB and A100-PCIE-40GB
        nodes alike; a memory variant (C(NVIDIA-A100-80GB)) counts only those. Two families of one quota may not
        overlap (C(NVIDIA-A100) beside C(NVIDIA-A100-80GB) is refused). A product label written as a family
        (C(NVIDIA-A100-SXM4-80GB)) means its family and memory (C(NVIDIA-A100-80GB)).
    type: dict
    default: {}
  members:
    description:
      - Who may do what in the project. Each entry names exactly one of O(members[].user) or O(members[].group).
    type: list
    elements: dict
    default: []
    suboptions:
      user:
        description: A user name as the API server authenticates it.
        type: str
      group:
        description: A group name as the API server authenticates it.
        type: str
      role:
        description:
          - V(viewer) reads; V(editor) also manages app workloads; V(admin) also updates and deletes compute pools.
        type: str
        required: true
        choices: [admin, editor, viewer]
  pool_access:
    description:
      - Who may place apps on which labelled pool or compute pool (OSMO per-pool roles).
    type: list
    elements: dict
    default: []
    suboptions:
      pool:
        description: Name of the labelled pool or compute pool.
        type: str
        required: true
      users:
        description: Users granted C(use) on the pool.
        type: list
        elements: str
        default: []
      groups:
        description: Groups granted C(use) on the pool.
        type: list
        elements: str
        default: []
  state:
    description:
      - V(present) declares the project; V(absent) deletes the bindings, roles, quota and the namespace (when this
        collection created it).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), remove the project even though app deployments remain in it.
    type: bool
    default: false
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
attributes:
  check_mode:
    support: full
    description:
      - Sends every write as a server-side dry run. For a project whose namespace does not exist yet, only the
        namespace is dry-run (the server refuses dry runs inside a missing namespace); the objects in it are
        reported as created.
  diff_mode:
    support: full
    description: Shows every object that changes, before and after.
"""

EXAMPLES = r"""
- name: Vision project in the research tenant
  gpufabric.platform.project:
    name: vision
    tenant: research
    gpu_quota:
      NVIDIA-A100: 8
    members:
      - {user: alice, role: admin}
      - {group: ml-team, role: editor}
      - {user: bob, role: viewer}
    pool_access:
      - {pool: training-pool, groups: [ml-team]}

- name: Remove the project once its apps are gone
  gpufabric.platform.project:
    name: vision
    state: absent
"""

RETURN = r"""
project:
  description: The project after the run.
  returned: always
  type: dict
  contains:
    name: {description: Project (namespace) name., type: str, sample: vision}
    tenant: {description: "Tenant, or null.", type: str, sample: research}
    gpu_quota: {description: GPUs per family., type: dict, sample: {NVIDIA-A100: 8}}
    gpu_used:
      description:
        - GPUs per quota family held by the project's app deployments, as they recorded them when placed (an
          NVIDIA-A100-80GB app counts under an NVIDIA-A100 quota); what app_deployment checks the quota against.
      type: dict
      sample: {NVIDIA-A100: 4}
    gpu_requested:
      description:
        - GPUs the project's pods request as the cluster counts them - the C(status.used) of its C(gpu-quota)
          ResourceQuota (C(requests.nvidia.com/gpu)), kept by the controller manager, all families together, as
          read at the start of the run. Null until the cluster has counted the quota.
      type: int
      sample: 4
    members:
      description: Role bindings, sorted by role.
      type: list
      elements: dict
      sample: [{kind: User, name: alice, role: admin}]
    pool_access:
      description: Per-pool access.
      type: list
      elements: dict
      sample: [{pool: training-pool, users: [], groups: [ml-team]}]
    state: {description: C(present) or C(absent)., type: str, sample: present}
changed_objects:
  description: Objects created or updated (C(Kind/name)).
  returned: always
  type: list
  elements: str
  sample: [RoleBinding/gpufabric-editor]
removed_objects:
  description: Objects deleted (C(Kind/name)), such as the pool-access pair of a pool no longer listed.
  returned: always
  type: list
  elements: str
  sample: [Role/pool-access-old-pool]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import CONSTRAINTS, argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.projects import ProjectRunner


def main():
    module = GpufabricModule(argument_spec("project", label_prefix=LABEL_PREFIX_ARG), kind="project",
                             **CONSTRAINTS.get("project", {}))
    module.run(lambda: module.exit_json(**ProjectRunner(module).run()))


if __name__ == "__main__":
    main()
