#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hub
short_description: Prepare the hub cluster - CRDs, Open Cluster Management kinds, RBAC and the bootstrap identity
version_added: 0.3.0
description:
  - Applies the collection's CRDs (C(manifests/crds)) and waits until each is Established, so no custom resource
    is written before its kind is served.
  - Checks that the hub serves the Open Cluster Management kinds the platform writes there - C(ManagedCluster) and
    C(ManagedClusterSet) (C(cluster.open-cluster-management.io) v1 and v1beta2) and C(ManifestWork)
    (C(work.open-cluster-management.io/v1)). Where Open Cluster Management is installed its CRDs serve them and
    none is installed. Where a kind is missing the module fails, naming it, unless O(ocm_crds) holds its CRD; then
    it installs that CRD, and only for the kinds that are missing.
  - Applies the namespace C(open-cluster-management), the collection's RBAC (C(manifests/rbac) - the
    C(gpufabric-operator) ClusterRole and its binding) and the bootstrap identity spokes register with - the
    ServiceAccount C(open-cluster-management/gpufabric-bootstrap), its token Secret C(gpufabric-bootstrap-token)
    (filled in by the hub's controller manager) and the ClusterRole C(gpufabric-bootstrap) bound to it, which allows
    what an Open Cluster Management agent needs before its cluster is accepted and nothing more - create, get, list
    and watch certificate signing requests, get and create ManagedClusters, join a cluster set.
  - Validates everything and checks every permission, and dry-runs every object on the server, before the first
    write. A converged run sends no write.
  - The action plugin reads the collection's C(manifests/) and the files of O(ocm_crds) on the controller.
author:
  - gpufabric maintainers (@gpufabric)
options:
  ocm_crds:
    description:
      - Open Cluster Management CRDs to install where the hub does not serve their kinds - paths of YAML files
        (each may hold several documents), read on the controller like any file of the play, or the CRDs as
        mappings. CRDs of kinds the hub already serves are left alone.
      - Without it, a hub that lacks a kind fails the task, naming the kind.
    type: list
    elements: raw
    default: []
  manifests:
    description:
      - The collection's C(manifests/crds) and C(manifests/rbac) as documents. The action plugin fills this in from
        the installed collection; set it only to apply other versions of them.
    type: list
    elements: dict
    default: []
  wait_timeout:
    description:
      - Seconds to wait for the CRDs to become Established and for the bootstrap token to be filled in.
    type: int
    default: 60
extends_documentation_fragment:
  - gpufabric.platform.auth
attributes:
  check_mode:
    support: full
    description: Sends every write as a server-side dry run (objects in a namespace the run creates are reported from
      the plan) and reports what the real run would change.
  diff_mode:
    support: full
    description: Each object before and after (the values gpufabric sets); Secret values are never shown.
notes:
  - Run it as an identity that may create CRDs and ClusterRoles the first time (a cluster admin); once the
    C(gpufabric-operator) ClusterRole is in place, that role is enough for every later run.
"""

EXAMPLES = r"""
- name: Prepare a hub that runs Open Cluster Management
  gpufabric.platform.hub:
    kubeconfig: ~/.kube/config
    context: hub

- name: Prepare a bare hub, installing OCM's CRDs from files kept beside the playbook
  gpufabric.platform.hub:
    context: hub
    ocm_crds:
      - files/ocm/managedclusters.crd.yaml
      - files/ocm/managedclustersets.crd.yaml
      - files/ocm/manifestworks.crd.yaml
"""

RETURN = r"""
hub:
  description: What the hub holds after the run.
  returned: always
  type: dict
  contains:
    crds: {description: The collection's CRDs applied., type: list, elements: str, sample: [pools.gpufabric.io]}
    ocm:
      description: The OCM kinds the hub served before the run, and the CRDs installed from O(ocm_crds).
      type: dict
      sample: {served: [ManagedCluster, ManagedClusterSet, ManifestWork], installed: []}
    bootstrap_identity:
      description: The user spokes' agents register as.
      type: str
      sample: system:serviceaccount:open-cluster-management:gpufabric-bootstrap
    writes:
      description: The objects written (or, in check mode, that would be), in order.
      type: list
      elements: str
      sample: [ServiceAccount/open-cluster-management/gpufabric-bootstrap]
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule
from ansible_collections.gpufabric.platform.plugins.module_utils.spokes import HubRunner


def main():
    module = GpufabricModule(argument_spec("hub"), kind="hub")
    module.run(lambda: module.exit_json(**HubRunner(module).run()))


if __name__ == "__main__":
    main()
