#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fabric
short_description: Apply a whole fabric spec as one job - tenants, projects, pools, compute pools and apps
version_added: 0.2.0
description:
  - Takes the platform as one document, a fabric spec, whose lists hold the argument dicts of the per-object
    modules - C(tenants) (M(gpufabric.platform.tenant)), C(projects) (M(gpufabric.platform.project)), C(pools)
    (M(gpufabric.platform.pool_label)), C(compute_pools) (M(gpufabric.platform.compute_pool)) and C(apps)
    (M(gpufabric.platform.app_deployment)). A task's arguments move into the spec by copy and back.
  - Validates everything before the first write - every key known (an unknown key is named, with the closest known
    one), every entry valid by the same rules as its module, and the rules across entries (a node in one pool
    only, projects within their tenant's quota, apps on pools and compute pools that exist or are declared,
    quotas and capacity). All errors are reported at once and nothing is written.
  - Plans every kind at once, in dependency order, from one LIST per kind, then sends only the writes that
    differ (node label patches side by side). A converged run sends no write.
  - Objects declared earlier in the spec count as existing for later entries, so check mode on an empty cluster
    reports the whole plan, and its C(changed) and diff equal what the real run then does.
  - With O(prune), managed objects the spec no longer names are removed, with the guards of C(state=absent).
  - Before the first write, the permissions every write needs are checked (one access review each) and every
    object is dry-run on the server, so a run that would be refused writes nothing.
  - The C(src) of the spec and of pool entries are read on the controller by the module's action plugin.
author:
  - gpufabric maintainers (@gpufabric)
options:
  spec:
    description:
      - "The fabric spec as a mapping - C(label_prefix), C(tenants), C(projects), C(pools), C(compute_pools),
        C(apps), and for a fleet C(hub) (its connection options, for the playbooks) and C(spokes)
        (M(gpufabric.platform.spoke) argument dicts, registered by C(playbooks/spokes.yml)). Each list entry is
        the argument dict of the module named above (connection options and C(label_prefix) aside). Entries may
        carry C(state=absent)."
      - Mutually exclusive with O(src).
    type: dict
  src:
    description:
      - Path to a fabric spec file (YAML), read on the controller like any file of the play. A pool entry's
        C(src) is read relative to the spec file.
    type: path
  prune:
    description:
      - Remove managed objects (labelled C(app.kubernetes.io/managed-by=gpufabric)) that the spec no longer
        names - tenants, projects, labelled pools, compute pools and apps - with the same guards as
        C(state=absent) and without C(force). To force one, name it in the spec with C(state=absent) and
        C(force=true). Nodes are never deleted; only their labels under the prefix are removed.
      - Without it, nothing outside the spec is touched.
    type: bool
    default: false
  label_prefix:
    description:
      - Overrides the spec's own C(label_prefix). Default - the spec's, else C(runwhere.ai).
    type: str
  spoke:
    description:
      - Apply only the part of the spec that lives on this spoke - its labelled pools (entries with this
        C(spoke)), the compute pools whose hosts are there, and the apps that land there - with the hub objects
        they update (compute pools and their allocation). The per-spoke step of C(playbooks/spokes.yml), run for
        many spokes side by side with Ansible's forks.
      - An empty string selects the hub's own part - tenants, projects, and the pools, compute pools and apps on
        no spoke (the step of C(playbooks/hub.yml)).
      - Unset, the whole spec is applied, spokes included (reached through the connections the hub keeps).
    type: str
extends_documentation_fragment:
  - gpufabric.platform.auth
attributes:
  check_mode:
    support: full
    description:
      - Plans the whole spec against the cluster as the run would leave it and sends every write the server can
        dry-run as a dry run. Objects inside a namespace the run would create are reported from the plan.
  diff_mode:
    support: full
    description:
      - Per object, the values gpufabric sets - before and after; per node, its labels under the prefix.
"""

EXAMPLES = r"""
- name: Apply the platform
  gpufabric.platform.fabric:
    src: fabric.yml

- name: Apply it, removing what the spec no longer names
  gpufabric.platform.fabric:
    src: fabric.yml
    prune: true

- name: A small spec inline
  gpufabric.platform.fabric:
    spec:
      tenants:
        - {name: research, gpu_quota: {NVIDIA-A100: 16}}
      projects:
        - {name: vision, tenant: research, gpu_quota: {NVIDIA-A100: 8}}
"""

RETURN = r"""
summary:
  description: Per kind, the objects created, changed, removed and left alone (declared but already so).
  returned: always
  type: dict
  sample:
    Pool: {created: [training-pool], changed: [], removed: [], unchanged: [dev-pool]}
    Node: {created: [], changed: [gpu-node-1, gpu-node-2], removed: [], unchanged: []}
entries:
  description:
    - Per spec entry, what its module would return (C(pool), C(project), C(compute_pool) with its C(plan),
      C(placement) and C(allocation) of an app), with C(entry), its place in the spec, and C(kind).
  returned: always
  type: list
  elements: dict
waiting:
  description: Compute-pool steps waiting for hosts to become Healthy; the next run continues them.
  returned: always
  type: list
  elements: str
writes:
  description: Number of writes the run sent (or, in check mode, would send).
  returned: always
  type: int
  sample: 0
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule
from ansible_collections.gpufabric.platform.plugins.module_utils.runner import FabricRunner


def main():
    module = GpufabricModule(argument_spec("fabric", label_prefix=dict(type="str")), kind="fabric",
                             required_one_of=[("spec", "src")], mutually_exclusive=[("spec", "src")])
    module.run(lambda: module.exit_json(**FabricRunner(module).run()))


if __name__ == "__main__":
    main()
