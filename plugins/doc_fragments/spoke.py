# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""The spoke option of the modules whose objects may live on a spoke cluster."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  spoke:
    description:
      - The spoke cluster, registered to the hub with M(gpufabric.platform.spoke), where the nodes and workloads
        of this object are. The module's connection options address the hub; the spoke is reached through the
        connection the hub keeps for it (a Secret in the spoke's namespace on the hub, never printed).
      - Unset, everything is on the cluster the connection options address.
    type: str
"""
