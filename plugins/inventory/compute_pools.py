# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: compute_pools
short_description: Compute pools over the hub's EdgeHosts, as groups of hosts
version_added: 0.4.0
description:
  - Reads the ComputePools and EdgeHosts on the hub with the collection's own client, and makes a group of each
    compute pool whose allocated hosts are EdgeHosts (C(host_source=edgehosts)) - C(cp_<name>) with every host,
    C(cp_<name>_control_plane) and C(cp_<name>_<worker pool>) per machine pool (characters other than letters and
    digits become C(_)) - and, across compute pools, C(gpufabric_compute_pools) and C(gpufabric_control_planes).
  - Each host's C(ansible_host) is its EdgeHost's address; C(gpufabric_edgehost) holds the facts it last reported
    (address, architecture, CPUs, memory, GPUs) and C(gpufabric_compute_pool) its place - compute pool name,
    namespace, spoke (the name its cluster registers under), machine pool, node type, worker pool, whether it is the
    control-plane host, C(schedule_workloads) and the control plane's node count.
  - How to reach the hosts over SSH (user, key) comes from the other inventory sources, by host name - the hosts
    keep the names they were linked to the hub with.
  - The file must be named C(*compute_pools.yml) or C(*compute_pools.yaml).
author:
  - gpufabric maintainers (@gpufabric)
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [gpufabric.platform.compute_pools]
  kubeconfig:
    description: The hub's kubeconfig (the admin kubeconfig the appliance playbook fetched, or any that may list
      ComputePools and EdgeHosts).
    type: path
    env:
      - name: K8S_AUTH_KUBECONFIG
  context:
    description: The kubeconfig context.
    type: str
    env:
      - name: K8S_AUTH_CONTEXT
  host:
    description: The hub's URL; with O(api_key), no kubeconfig is read.
    type: str
    env:
      - name: K8S_AUTH_HOST
  api_key:
    description: A bearer token for the hub.
    type: str
    env:
      - name: K8S_AUTH_API_KEY
  ca_cert:
    description: The CA file the hub's certificate is verified with.
    type: path
    aliases: [ssl_ca_cert]
    env:
      - name: K8S_AUTH_SSL_CA_CERT
  validate_certs:
    description: Verify the hub's certificate (default yes unless the kubeconfig says otherwise).
    type: bool
    aliases: [verify_ssl]
    env:
      - name: K8S_AUTH_VERIFY_SSL
  compute_pools:
    description: Only these compute pools (by name); default every compute pool over EdgeHosts.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
# hub.compute_pools.yml, used beside the inventory that says how to reach the hosts:
#   ansible-playbook -i inventory.yml -i hub.compute_pools.yml playbooks/spoke-cluster.yml
plugin: gpufabric.platform.compute_pools
kubeconfig: ~/.gpufabric/appliance/hub/admin.kubeconfig
compute_pools: [vision-edge]
"""

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

from ansible_collections.gpufabric.platform.plugins.module_utils.core.edgehosts import compute_pool_inventory
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster, KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import (
    AuthError, connect, options_with_env)

CONNECTION = ("kubeconfig", "context", "host", "api_key", "ca_cert", "validate_certs")


class InventoryModule(BaseInventoryPlugin):
    NAME = "gpufabric.platform.compute_pools"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(
            ("compute_pools.yml", "compute_pools.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        options = options_with_env(dict((key, self.get_option(key)) for key in CONNECTION))
        try:
            cluster = Cluster(connect(options))
            compute_pools = cluster.list("ComputePool")
            edgehosts = cluster.list("EdgeHost")
        except (AuthError, KubeError) as error:
            raise AnsibleParserError("compute_pools inventory %s: cannot read ComputePools and EdgeHosts from the "
                                     "hub: %s" % (path, error))
        found = compute_pool_inventory(compute_pools, edgehosts, self.get_option("compute_pools"))
        for message in found["skipped"]:
            self.display.warning(message)
        for group, hosts in found["groups"].items():
            self.inventory.add_group(group)
            for host in hosts:
                self.inventory.add_host(host, group=group)
        for host, variables in sorted(found["hosts"].items()):
            for key, value in sorted(variables.items()):
                self.inventory.set_variable(host, key, value)
