#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tenant
short_description: Declare a tenant and the GPU quota its projects share
version_added: 0.1.0
description:
  - Keeps a cluster-scoped C(Tenant) object (C(gpufabric.io/v1alpha1)) holding a GPU quota per GPU family, as
    PaletteAI tenants do. M(gpufabric.platform.project) reads it and rejects a project whose quota would take the
    tenant's projects over it.
  - The status records what the tenant's projects were given, per family and per project, so
    C(kubectl get tenants) shows quota and assigned GPUs side by side.
  - Lowering the quota below what the projects already hold is rejected, naming the family and the numbers;
    a rejected run writes nothing. A quota larger than the cluster's GPUs of that family is accepted with a
    warning that says by how much.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - Tenant name, a DNS-1123 label.
    type: str
    required: true
  gpu_quota:
    description:
      - "GPUs per family the tenant's projects may share, for example C({NVIDIA-A100: 16}). Families are
        normalised (C(NVIDIA A100) and C(NVIDIA-A100) are one family). A family not listed has quota 0."
    type: dict
    default: {}
  state:
    description:
      - V(present) declares the tenant; V(absent) deletes the C(Tenant) object.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), delete the tenant even though projects still name it. They keep their own quotas
        and namespaces.
    type: bool
    default: false
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
attributes:
  check_mode:
    support: full
    description: Sends every write as a server-side dry run and reports what the real run would change.
  diff_mode:
    support: full
    description: Shows the C(Tenant) object before and after.
"""

EXAMPLES = r"""
- name: Research tenant with 16 A100 and 4 H100 GPUs to share among its projects
  gpufabric.platform.tenant:
    name: research
    gpu_quota:
      NVIDIA-A100: 16
      NVIDIA-H100: 4

- name: Remove a tenant that no longer has projects
  gpufabric.platform.tenant:
    name: old-team
    state: absent
"""

RETURN = r"""
tenant:
  description: The tenant after the run.
  returned: always
  type: dict
  contains:
    name: {description: Tenant name., type: str, sample: research}
    state: {description: C(present) or C(absent)., type: str, sample: present}
    gpu_quota:
      description: GPUs per family (normalised family names).
      returned: when state is present
      type: dict
      sample: {NVIDIA-A100: 16}
    assigned:
      description: GPUs per family given to the tenant's projects as their quotas.
      returned: when state is present
      type: dict
      sample: {NVIDIA-A100: 12}
    projects:
      description: The tenant's projects (namespaces labelled C(<prefix>/tenant=<name>)).
      type: list
      elements: str
      sample: [nlp, vision]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import CONSTRAINTS, argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.projects import TenantRunner


def main():
    module = GpufabricModule(argument_spec("tenant", label_prefix=LABEL_PREFIX_ARG), kind="tenant",
                             **CONSTRAINTS.get("tenant", {}))
    module.run(lambda: module.exit_json(**TenantRunner(module).run()))


if __name__ == "__main__":
    main()
