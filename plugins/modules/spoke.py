#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: spoke
short_description: Register a spoke cluster to the hub, or deregister it (Open Cluster Management)
version_added: 0.3.0
description:
  - The module's connection options address the hub; O(cluster) addresses the spoke, with the same option names.
  - V(present) declares both halves of Open Cluster Management's double opt-in at once. On the hub - a
    C(ManagedCluster) named after the spoke with C(hubAcceptsClient) true (the hub accepts it), labelled
    C(cluster.open-cluster-management.io/clusterset=<cluster_set>) and with the spoke's GPU inventory read from its
    Nodes (C(<label_prefix>/gpus), C(<label_prefix>/gpu-families), and per family in the annotation
    C(<label_prefix>/gpus-by-family)), its identity (the uid of its C(kube-system) namespace) in the annotation
    C(gpufabric.io/cluster-uid); the C(ManagedClusterSet) when there is none; the spoke's namespace; and the Secret
    C(gpufabric-spoke-connection) there, a kubeconfig for the hub's identity on the spoke, which the platform
    uses to reach it (never printed). On the spoke - the agent namespace C(open-cluster-management-agent), the
    C(bootstrap-hub-kubeconfig) Secret whose kubeconfig authenticates to the hub as the bootstrap identity that
    M(gpufabric.platform.hub) made (the spoke asks to join), the C(Klusterlet) C(klusterlet) naming the spoke,
    the collection's CRDs (Established before the run ends) and ClusterRoles, and the hub's identity there - the
    ServiceAccount C(gpufabric-system/gpufabric-hub) bound to the C(gpufabric-operator) ClusterRole, with its
    token Secret, filled in by the spoke's controller manager.
  - Everything is read and checked before the first write on either server - the spoke answers (else the error
    names the spoke and its URL, and nothing is written on the hub), its TLS certificate verifies, the hub serves
    OCM's kinds and has the bootstrap identity, the same cluster (by its C(kube-system) uid) is not registered
    under another name, and every write is allowed and dry-run on its server.
  - Registering a registered spoke again writes nothing on either server; a changed GPU inventory changes only
    the labels.
  - V(absent) refuses while C(ComputePool) objects on the hub name the spoke (C(spec.spoke)), apps run on it
    (Deployments and Jobs labelled C(gpufabric.io/app)) or C(ManifestWork) objects are in its namespace, unless
    O(force). Then it deletes what registration made, on both sides, and nothing else - only objects labelled
    C(app.kubernetes.io/managed-by=gpufabric), so namespaces that existed before registration stay. The
    collection's CRDs and ClusterRoles on the spoke stay (custom resources of the platform may still be there,
    and deleting a CRD deletes them all), and so do the cluster set and the hub's bootstrap identity (other spokes
    use them). A spoke that cannot be reached is refused unless O(force); then only the hub's side is removed.
author:
  - gpufabric maintainers (@gpufabric)
options:
  name:
    description:
      - The spoke's name on the hub - the C(ManagedCluster), the spoke's namespace there and the Klusterlet's
        C(clusterName). A DNS-1123 label.
    type: str
    required: true
  cluster:
    description:
      - The connection to the spoke, with the same option names, aliases and meaning as the module's own
        connection options (no C(K8S_AUTH_*) variables - those are the hub's). Required with O(state=present).
      - With O(state=absent) and without it, the connection the hub keeps for the spoke is used.
      - The spoke's certificate must verify (the hub keeps a kubeconfig that verifies it with the same CA).
    type: dict
    suboptions:
      kubeconfig:
        description: Path to a kubeconfig, several joined by V(:), or the kubeconfig as a dictionary.
        type: raw
      context:
        description: The kubeconfig context of the spoke.
        type: str
      host:
        description: URL of the spoke's API server.
        type: str
      api_key:
        description: Bearer token for the spoke. Never logged.
        type: str
      username:
        description: User name for HTTP basic authentication.
        type: str
      password:
        description: Password for HTTP basic authentication. Never logged.
        type: str
      validate_certs:
        description: Verify the spoke's certificate. Registration refuses V(false).
        type: bool
        aliases: [verify_ssl]
      ca_cert:
        description: CA file for the spoke's certificate.
        type: path
        aliases: [ssl_ca_cert]
      client_cert:
        description: Client certificate presented to the spoke.
        type: path
        aliases: [cert_file]
      client_key:
        description: Its private key.
        type: path
        aliases: [key_file]
      proxy:
        description: HTTP proxy URL for the spoke.
        type: str
      no_proxy:
        description: Hosts that bypass the proxy.
        type: str
      proxy_headers:
        description: Headers for the proxy itself.
        type: dict
        suboptions:
          proxy_basic_auth:
            description: C(user:password) for the proxy. Never logged.
            type: str
          basic_auth:
            description: C(user:password) sent as basic authentication. Never logged.
            type: str
          user_agent:
            description: User agent sent to the proxy.
            type: str
      impersonate_user:
        description: Act as this user on the spoke.
        type: str
      impersonate_groups:
        description: Act as these groups on the spoke.
        type: list
        elements: str
  cluster_set:
    description:
      - The C(ManagedClusterSet) the spoke joins (created when the hub has none of that name).
    type: str
    default: default
  hub_url:
    description:
      - The hub's API server as the spoke's agent reaches it, written into the bootstrap kubeconfig. Default - the
        hub's server as this module reaches it. Verified with the same CA.
    type: str
  klusterlet:
    description: The Klusterlet the spoke gets.
    type: dict
    default: {}
    suboptions:
      mode:
        description: C(spec.deployOption.mode) - V(Default) (registration and work agents apart) or V(Singleton).
        type: str
        default: Default
        choices: [Default, Singleton]
      registration_image:
        description: C(spec.registrationImagePullSpec); OCM's default when unset.
        type: str
      work_image:
        description: C(spec.workImagePullSpec); OCM's default when unset.
        type: str
      image:
        description: C(spec.imagePullSpec), the agent image of V(Singleton) mode; OCM's default when unset.
        type: str
  manifests:
    description:
      - The collection's C(manifests/crds) and C(manifests/rbac) as documents, applied on the spoke (CRDs and
        ClusterRoles). The action plugin fills this in from the installed collection.
    type: list
    elements: dict
    default: []
  wait_timeout:
    description:
      - Seconds to wait for the CRDs on the spoke to become Established and for the hub identity's token.
    type: int
    default: 60
  state:
    description:
      - V(present) registers the spoke; V(absent) deregisters it.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), deregister although compute pools, apps or ManifestWorks still use the spoke (they
        are left as they are - compute pools keep naming a spoke the hub no longer knows, workloads keep
        running), or although the spoke cannot be reached (only the hub's side is removed).
    type: bool
    default: false
extends_documentation_fragment:
  - gpufabric.platform.auth
  - gpufabric.platform.label_prefix
attributes:
  check_mode:
    support: full
    description: Every write on both servers is a server-side dry run where the server can take it (objects in a
      namespace the run creates are reported from the plan); changed, the writes and the diff equal the real run's.
  diff_mode:
    support: full
    description: Two diffs, the hub's side and the spoke's; Secret values are never shown.
notes:
  - Run M(gpufabric.platform.hub) on the hub first - it makes the bootstrap identity this module writes into
    the spoke's bootstrap kubeconfig.
  - The collection writes Open Cluster Management's objects; it does not run OCM's agents. Where OCM's klusterlet
    operator runs on the spoke, it takes over from the Klusterlet and the bootstrap Secret.
"""

EXAMPLES = r"""
- name: Register edge-a, reached by its own kubeconfig context, to the hub of the module defaults
  gpufabric.platform.spoke:
    name: edge-a
    cluster:
      kubeconfig: ~/.kube/fleet
      context: edge-a-admin
    cluster_set: edge

- name: Deregister it once nothing runs on it
  gpufabric.platform.spoke:
    name: edge-a
    state: absent
"""

RETURN = r"""
spoke:
  description: The registration as the run left it.
  returned: always
  type: dict
  contains:
    name: {description: The spoke's name., type: str, sample: edge-a}
    state: {description: C(present) or C(absent)., type: str, sample: present}
    cluster_set: {description: Its cluster set., type: str, returned: when state is present, sample: default}
    url: {description: The spoke's API server., type: str, returned: when state is present}
    uid: {description: The uid of its kube-system namespace., type: str, returned: when state is present}
    hub_url: {description: The hub's server in the bootstrap kubeconfig., type: str, returned: when state is present}
    inventory:
      description: Nodes, Ready nodes, GPUs and GPUs per family on the spoke.
      type: dict
      returned: when state is present
      sample: {nodes: 2, ready_nodes: 2, gpus: 16, gpu_families: [{family: NVIDIA-A100, count: 16}]}
    labels: {description: The ManagedCluster's labels., type: dict, returned: when state is present}
    writes:
      description: Per side, the objects written (or that would be), in order.
      type: dict
      sample: {hub: [ManagedCluster/edge-a], spoke: [Klusterlet/klusterlet]}
    left:
      description: Objects of the registration left in place because the platform did not make them.
      type: list
      elements: str
      returned: when state is absent
    blockers:
      description: Compute pools, apps and ManifestWorks that use the spoke (removed over with O(force)).
      type: dict
      returned: when state is absent
"""

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import argument_spec
from ansible_collections.gpufabric.platform.plugins.module_utils.module import GpufabricModule, LABEL_PREFIX_ARG
from ansible_collections.gpufabric.platform.plugins.module_utils.spokes import SpokeRunner


def main():
    module = GpufabricModule(argument_spec("spoke", label_prefix=LABEL_PREFIX_ARG), kind="spoke",
                             required_if=[("state", "present", ("cluster",))])
    module.run(lambda: module.exit_json(**SpokeRunner(module).run()))


if __name__ == "__main__":
    main()
