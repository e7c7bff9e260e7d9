"""What the program reads before it declares anything, through the kube layer (the only code that talks to API
servers): the hub's and the spokes' objects, one LIST per kind as the fabric module reads them, and the core's
plan of the whole spec against them.

The plan is made against the live clusters so the compute pools get the hosts the Ansible modules would give them
(current healthy hosts stay, ties break by name), and with prune on: what leaves the spec is what Pulumi deletes,
so the core refuses that removal exactly as it refuses `state: absent` without `force` (a project that still holds
apps, a pool whose nodes still run its workloads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
    Context, FabricPlan, plan_fabric, spokes_needed)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan_apps import access_questions
from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import (
    SPOKE_READS, ClusterState, kinds_for)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster, KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import AuthError, connect
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.reader import read_state
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.send import may
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.spokes import connect_spoke


@dataclass
class Clusters:
    """The hub ("" in every map) and the spokes the stack has connections for, as the kube layer reaches them."""

    hub: Cluster
    spokes: Dict[str, Cluster] = field(default_factory=dict)

    def get(self, name):
        return self.hub if not name else self.spokes[name]


def open_clusters(config, spoke_options) -> Clusters:
    """spoke_options: {spoke: connection options} (stack config first, else the spec's `cluster` of the spoke)."""
    try:
        hub = Cluster(connect(config.hub.options()))
    except AuthError as error:
        raise FabricError(["the hub (stack config kubeconfig/context): %s" % error])
    spokes = {}
    for name, options in sorted(spoke_options.items()):
        try:
            spokes[name] = connect_spoke(name, options)
        except KubeError as error:
            raise FabricError([str(error)])
    return Clusters(hub, spokes)


def _access(hub, question):
    """The server's word on `use` of one pool, and, when refused, whom its pool-access binding names."""
    resource, name, namespace = question
    allowed = may(hub, "use", "gpufabric.io", resource, namespace=namespace, name=name)
    subjects = ""
    if not allowed:
        binding = hub.get("RoleBinding", "pool-access-%s" % name, namespace) or {}
        subjects = ", ".join("%s %s" % (s.get("kind"), s.get("name")) for s in binding.get("subjects") or ())
    return question, allowed, subjects


@dataclass
class Reading:
    plan: FabricPlan
    states: Dict[str, ClusterState]


def read_and_plan(spec, clusters: Clusters) -> Reading:
    """One LIST per kind on the hub and on each spoke the spec needs, then the core's plan (prune on)."""
    state = read_state(clusters.hub, kinds_for(spec.kinds))
    states = {"": state}
    needed = spokes_needed(spec, state)
    missing = [name for name in needed if name not in clusters.spokes]
    if missing:
        raise FabricError(["spoke %s: the spec places pools, compute pools or apps there but the stack has no "
                           "connection to it; add it to the spokeConnections stack config (or give the spoke entry "
                           "a cluster)" % name for name in missing])
    for name in needed:
        states[name] = read_state(clusters.spokes[name], SPOKE_READS)
    access = tuple(_access(clusters.hub, question)
                   for question in access_questions(spec, state, spec.label_prefix))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = plan_fabric(spec, state, Context(now=now, access=access, prune=True),
                       dict((name, states[name]) for name in needed))
    return Reading(plan, states)
