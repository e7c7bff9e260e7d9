#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_crds
short_description: Apply CustomResourceDefinitions to a cluster and wait until they are Established
version_added: 0.4.0
description:
  - For a cluster the appliance installed - before a compute pool's new cluster is registered as a spoke, it must
    serve Open Cluster Management's C(Klusterlet) kind; where OCM's klusterlet operator is not installed there yet,
    this applies its CRD from a file.
  - Every document must be an C(apiextensions.k8s.io/v1) C(CustomResourceDefinition); a CRD that is already as
    given is not written. Permissions are checked and every CRD dry-run before the first write.
author:
  - gpufabric maintainers (@gpufabric)
options:
  crds:
    description:
      - The CRDs - paths of YAML files (read on the controller like any file of the play; each may hold several
        documents) or the CRDs as mappings.
    type: list
    elements: raw
    required: true
  wait_timeout:
    description: Seconds to wait for the CRDs to become Established.
    type: int
    default: 60
extends_documentation_fragment:
  - gpufabric.platform.auth
attributes:
  check_mode:
    support: full
    description: Every CRD is dry-run on the server.
  diff_mode:
    support: full
    description: Each CRD before and after.
"""

EXAMPLES = r"""
- name: Let the new cluster serve OCM's Klusterlet before it is registered
  gpufabric.platform.cluster_crds:
    kubeconfig: ~/.gpufabric/appliance/vision-cluster/admin.kubeconfig
    crds: [files/ocm/klusterlets.crd.yaml]
"""

RETURN = r"""
crds:
  description: The names of the CRDs given.
  returned: always
  type: list
  elements: str
  sample: [klusterlets.operator.open-cluster-management.io]
writes:
  description: The CRDs written (or that would be).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.edgehosts import ClusterCrdsRunner
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule


def main():
    module = GpufabricModule(dict(
        crds=dict(type="list", elements="raw", required=True),
        wait_timeout=dict(type="int", default=60),
    ))
    module.run(lambda: module.exit_json(**ClusterCrdsRunner(module).run()))


if __name__ == "__main__":
    main()
