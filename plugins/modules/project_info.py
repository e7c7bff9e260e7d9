#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: project_info
short_description: List projects with their GPU quota, GPUs used and free per family, apps and members
version_added: 0.3.0
description:
  - Lists the projects M(gpufabric.platform.project) declared (namespaces carrying the C(<prefix>/gpu-quota)
    annotation, leaving out those being deleted), one row each, sorted by name.
  - For each GPU family in a project's quota or in use, the quota, the GPUs its app deployments hold, the GPUs
    left and the share of the quota in use - the numbers M(gpufabric.platform.app_deployment) checks a new app
    against (the apps recorded on the pools and compute pools of this cluster, and their workloads).
  - Also the apps with where each holds its GPUs, the members bound to the project's roles, and its pool access.
  - Reads each kind once (namespaces, role bindings, pools, compute pools, Deployments, Jobs, ManifestWorks).
    Never changes anything.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Only this project. Without it, every project.
    type: str
  tenant:
    description:
      - Only the projects of this tenant.
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
notes:
  - The rows are lists of objects with stable keys, made for C(gpufabric.platform.query) (JMESPath), which has
    no arithmetic - hence RV(projects[].gpus[].free) and RV(projects[].gpus[].used_percent).
"""

EXAMPLES = r"""
- name: Every project
  gpufabric.platform.project_info:
  register: found

- name: Projects within 10% of their quota of some GPU family
  ansible.builtin.debug:
    msg: "{{ found.projects | gpufabric.platform.query('[?gpus[?used_percent >= `90`]].name') }}"

- name: GPUs left per project and family
  ansible.builtin.debug:
    msg: "{{ found.projects | gpufabric.platform.query('[].{project: name, free: gpus[].[family, free]}') }}"

- name: Which app holds GPUs where
  ansible.builtin.debug:
    msg: "{{ found.projects | gpufabric.platform.query(expression) }}"
  vars:
    expression: "[].apps[].{app: name, project: namespace, pool: pool || compute_pool, spoke: spoke}"

- name: The projects of one tenant
  gpufabric.platform.project_info:
    tenant: research
"""

RETURN = r"""
projects:
  description: The projects, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Project (namespace) name., type: str, sample: vision}
    tenant: {description: "Tenant whose quota the project shares, or null.", type: str, sample: research}
    description: {description: "What the project is for (empty when not set).", type: str, sample: Vision research}
    gpu_quota:
      description: GPUs per family the project may hold, keyed by family (as the project module returns it).
      type: dict
      sample: {NVIDIA-A100: 16}
    gpu_used:
      description:
        - GPUs its apps hold, keyed by the quota family that covers them (an C(NVIDIA-A100-80GB) app counts under
          C(NVIDIA-A100)), as the project module reports them; RV(projects[].gpus) has the same as a list.
      type: dict
      sample: {NVIDIA-A100: 4}
    gpu_quota_total: {description: Sum of the quota over families., type: int, sample: 16}
    gpu_used_total: {description: Sum of the GPUs in use over families., type: int, sample: 4}
    gpus:
      description:
        - One row per GPU family in the quota or in use, sorted by family.
      type: list
      elements: dict
      contains:
        family: {description: GPU family., type: str, sample: NVIDIA-A100}
        quota: {description: GPUs of the family the project may hold (0 when not in its quota)., type: int, sample: 16}
        used: {description: GPUs of the family its apps hold., type: int, sample: 4}
        free: {description: quota minus used; negative when over the quota., type: int, sample: 12}
        used_percent:
          description:
            - Share of the quota in use, in percent, rounded down; 100 for a family used without quota.
          type: int
          sample: 25
    apps:
      description: The project's app deployments, sorted by name (apps without GPUs too, with C(gpu_count) 0).
      type: list
      elements: dict
      contains:
        name: {description: App name., type: str, sample: llm-serve}
        namespace: {description: "The project, so a flattened list (C([].apps[])) still says whose.", type: str}
        family:
          description: "GPU family it holds, as recorded where it was placed; null for an app without GPUs."
          type: str
          sample: NVIDIA-A100-80GB
        gpu_count: {description: GPUs it holds., type: int, sample: 4}
        architecture: {description: CPU architecture it runs on., type: str, sample: AMD64}
        pool: {description: "Labelled pool it runs on, or null.", type: str, sample: inference-pool}
        compute_pool: {description: "Compute pool it runs on, or null.", type: str, sample: vision-cluster}
        spoke:
          description: "Spoke it runs on (its compute pool's spoke, or where a ManifestWork delivers it); null on this
            cluster."
          type: str
    members:
      description: Subjects bound to the project's roles, sorted by role, kind and name.
      type: list
      elements: dict
      sample: [{kind: User, name: alice, role: admin}, {kind: Group, name: ml-team, role: editor}]
    pool_access:
      description: Pools the project restricts its apps to, each with the users and groups that may use it.
      type: list
      elements: dict
      sample: [{pool: training-pool, users: [], groups: [ml-team]}]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.projects import project_report


def main():
    module = GpufabricModule(
        argument_spec=dict(
            name=dict(type="str"),
            tenant=dict(type="str"),
            label_prefix=LABEL_PREFIX_ARG,
        ),
    )
    params = module.params
    module.run(lambda: module.exit_json(changed=False, projects=project_report(
        module.cluster, params["label_prefix"], params["name"], params["tenant"])))


if __name__ == "__main__":
    main()
