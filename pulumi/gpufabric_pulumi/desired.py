"""What the stack declares, as plain data: every object of the plan (and of the hub and spokes) with the component
that owns it, the objects it waits for, and whether a deletion guard protects it. No Pulumi here, so the rules can
be read and tested without an engine.

Identity: an item is (cluster, kind, namespace, name); cluster "" is the hub (or the one cluster), else a spoke.
Names never depend on where an entry stands in the spec or which entry produced an object, so reordering the spec,
or moving a node between pools, never renames a resource (a rename is a delete racing a create).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import APP_LABEL
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_keys, workloads_on
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import drop_empty_strings

HUB = ""
WORKLOADS = ("Deployment", "Job", "ManifestWork")
# component type tokens, by the spec section an entry comes from
COMPONENT_OF_KIND = {"tenant": "Tenant", "project": "Project", "pool_label": "LabelledPool",
                     "compute_pool": "ComputePool", "app_deployment": "App"}
SERVICE_ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name"
CLUSTERSET_LABEL = "cluster.open-cluster-management.io/clusterset"

Key = Tuple[str, str, str, str]  # (cluster, kind, namespace, name)


def key_of(cluster: str, obj: dict) -> Key:
    metadata = obj["metadata"]
    return cluster, obj["kind"], metadata.get("namespace") or "", metadata["name"]


def resource_name(key: Key) -> str:
    """The logical name: `namespace/name` or `name`, after `<spoke>:` on a spoke. Unique per kind in the stack
    (the kind is in the resource's type); a Node's patch is named by its node alone."""
    cluster, unused, namespace, name = key
    base = "%s/%s" % (namespace, name) if namespace else name
    return "%s:%s" % (cluster, base) if cluster else base


def cluster_component(cluster: str) -> Tuple[str, str]:
    return ("Hub", "hub") if cluster == HUB else ("Spoke", cluster)


@dataclass(frozen=True)
class Item:
    """One declared object. patch: a Node's labels, declared as a NodePatch (server-side apply of those keys
    only; the Node itself is never created or deleted). owner: (component type, component name). depends: keys
    of the items it waits for. protect: why deleting it would destroy workloads ("" when nothing would be)."""

    cluster: str
    obj: dict
    owner: Tuple[str, str]
    patch: bool = False
    depends: Tuple[Key, ...] = ()
    protect: str = ""

    @property
    def key(self) -> Key:
        return key_of(self.cluster, self.obj)

    @property
    def name(self) -> str:
        return resource_name(self.key)


def component_of(entry) -> Tuple[str, str]:
    """The component an entry's objects belong to, named by what the entry names (never by its place)."""
    typ = COMPONENT_OF_KIND[entry.kind]
    if entry.kind in ("compute_pool", "app_deployment"):
        return typ, "%s/%s" % (entry.namespace, entry.name)
    if entry.kind == "pool_label" and entry.cluster:
        return typ, "%s:%s" % (entry.cluster, entry.name)
    return typ, entry.name


def unique(items: List[Item]) -> List[Item]:
    """Items once each: an object two sources declare alike is declared once (the first owner keeps it); declared
    differently, it is an error naming both."""
    seen, result = {}, []
    for item in items:
        if item.key in seen:
            if seen[item.key].obj != item.obj:
                raise FabricError(["%s %s is declared twice with different content (by %s and by %s)" % (
                    item.obj["kind"], item.name, " ".join(seen[item.key].owner), " ".join(item.owner))])
            continue
        seen[item.key] = item
        result.append(item)
    return result


def fabric_items(spec, plan) -> List[Item]:
    """The plan's objects (each under its entry's component; a project's namespace and quota mirrored on a spoke
    for its apps belong to the spoke, whichever app brought them) and its node labels (one patch per node with
    labels under the prefix, under its cluster's component). Empty strings are dropped as the modules drop them."""
    entries = dict((entry.where, entry) for entry in spec.entries)
    items = []
    for cluster, obj, where in plan.objects:
        entry = entries[where]
        owner = component_of(entry)
        if entry.kind == "app_deployment" and obj["kind"] not in WORKLOADS:
            owner = cluster_component(cluster)
        items.append(Item(cluster, drop_empty_strings(obj), owner))
    for (cluster, node), labels in sorted(plan.node_labels.items()):
        if labels:  # a node left with no label under the prefix has no patch: deleting it gives the labels up
            items.append(Item(cluster, {"apiVersion": "v1", "kind": "Node",
                                        "metadata": {"name": node, "labels": dict(sorted(labels.items()))}},
                              cluster_component(cluster), patch=True))
    return unique(items)


# -- what waits for what --------------------------------------------------------------------------------------------

def _group(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


def structural_depends(item: Item, by_key: Dict[Key, Item]) -> List[Key]:
    """What Kubernetes itself needs first, on the item's own cluster: the CRD that serves a custom resource, the
    Namespace of a namespaced object, the Role or ClusterRole a binding names (RBAC checks it), the
    ServiceAccount a token Secret is for, the Secrets in the namespace a Klusterlet reads, the ManagedClusterSet
    a ManagedCluster joins."""
    if item.patch:
        return []
    cluster, obj = item.cluster, item.obj
    metadata = obj["metadata"]
    found = []
    group = _group(obj["apiVersion"])
    for other in by_key.values():
        if other.cluster == cluster and other.obj["kind"] == "CustomResourceDefinition":
            spec = other.obj.get("spec") or {}
            if spec.get("group") == group and (spec.get("names") or {}).get("kind") == obj["kind"]:
                found.append(other.key)
    if metadata.get("namespace"):
        found.append((cluster, "Namespace", "", metadata["namespace"]))
    role = obj.get("roleRef") or {}
    if role.get("kind") == "Role":
        found.append((cluster, "Role", metadata.get("namespace") or "", role.get("name")))
    elif role.get("kind") == "ClusterRole":
        found.append((cluster, "ClusterRole", "", role.get("name")))
    account = (metadata.get("annotations") or {}).get(SERVICE_ACCOUNT_ANNOTATION)
    if obj["kind"] == "Secret" and account:
        found.append((cluster, "ServiceAccount", metadata.get("namespace") or "", account))
    if obj["kind"] == "Klusterlet":
        joining = (obj.get("spec") or {}).get("namespace")
        found += [other.key for other in by_key.values()
                  if other.cluster == cluster and other.obj["kind"] == "Secret" and other.key[2] == joining]
    clusterset = (metadata.get("labels") or {}).get(CLUSTERSET_LABEL)
    if obj["kind"] == "ManagedCluster" and clusterset:
        found.append((cluster, "ManagedClusterSet", "", clusterset))
    return [key for key in found if key in by_key and key != item.key]


def _selects(selector, labels, prefix):
    """Whether a node with these labels under the prefix is one a pod selector picks, as far as the labels the
    platform writes decide it (keys elsewhere, a GPU product say, are the node's own)."""
    mine = dict((key, value) for key, value in selector.items() if key.startswith(prefix + "/"))
    return bool(mine) and all(labels.get(key) == value for key, value in mine.items())


def _workload_selector(obj):
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return template.get("nodeSelector") or {}


def domain_depends(spec, items: List[Item]) -> Dict[Tuple[str, str], List[Key]]:
    """The spec's order of application as component edges (component -> item keys it waits for): a project waits
    for its tenant, a compute pool for the project of its namespace, an app for its project, the pool or compute
    pool it lands on, and the patches of the nodes its pods select (so they schedule where the labels say)."""
    owned = {}
    for item in items:
        owned.setdefault(item.owner, []).append(item.key)
    declared = dict(((entry.kind, entry.namespace or "", entry.name), component_of(entry))
                    for entry in spec.entries if entry.present)

    def of(kind, name, namespace=""):
        return owned.get(declared.get((kind, namespace, name)), [])

    edges = {}
    for entry in spec.entries:
        if not entry.present:
            continue
        component, needs = component_of(entry), []
        if entry.kind == "project" and entry.spec.tenant:
            needs += of("tenant", entry.spec.tenant)
        elif entry.kind == "compute_pool":
            needs += of("project", entry.namespace)
        elif entry.kind == "app_deployment":
            needs += of("project", entry.namespace)
            if entry.spec.target_kind == "compute_pool":
                needs += of("compute_pool", entry.spec.target, entry.namespace)
            else:
                needs += [key for pool in spec.of("pool_label") if pool.present and pool.name == entry.spec.target
                          for key in owned.get(component_of(pool), [])]
            workloads = [item for item in items if item.owner == component and item.obj["kind"] != "ManifestWork"]
            for workload in workloads:
                selector = _workload_selector(workload.obj)
                needs += [item.key for item in items if item.patch and item.cluster == workload.cluster
                          and _selects(selector, item.obj["metadata"]["labels"], spec.label_prefix)]
        edges[component] = needs
    return edges


def order(items: List[Item], spec=None, extra=None) -> List[Item]:
    """Items with their dependencies filled in, each placed after everything it depends on (stable otherwise).
    extra: {key: key it waits for} besides the rules (a Secret rendered from another's token). A cycle is a bug
    in these rules, reported as such."""
    by_key = dict((item.key, item) for item in items)
    edges = domain_depends(spec, items) if spec is not None else {}
    extra = extra or {}
    filled = []
    for item in items:
        needs = structural_depends(item, by_key) + [key for key in edges.get(item.owner, []) if key != item.key
                                                    and by_key[key].owner != item.owner]
        if item.key in extra and extra[item.key] in by_key:
            needs.append(extra[item.key])
        filled.append(replace(item, depends=tuple(dict.fromkeys(needs))))
    placed, result, pending = set(), [], list(filled)
    while pending:
        ready = [item for item in pending if all(key in placed for key in item.depends)]
        if not ready:
            raise FabricError(["objects wait for each other: %s" % ", ".join(item.name for item in pending)])
        for item in ready:
            placed.add(item.key)
            result.append(item)
        pending = [item for item in pending if item.key not in placed]
    return result


# -- deletion guards --------------------------------------------------------------------------------------------------

def guard(items: List[Item], spec, states, prefix) -> List[Item]:
    """Items whose deletion would destroy workloads, protected with the reason: a project's Namespace (or its copy
    on a spoke) while apps are declared in it or run in it (deleting a namespace deletes everything in it), and a
    labelled pool's Pool and the patches of its nodes while pods that select the pool run on the nodes the pool
    has once this run is applied (without the label, no new pod of theirs schedules). Pulumi refuses to delete a
    protected resource, on `pulumi up` and on `pulumi destroy`."""
    apps = {}
    for entry in spec.of("app_deployment"):
        if entry.present:
            apps.setdefault(entry.namespace, set()).add("%s/%s" % (entry.params.get("kind") or "Deployment",
                                                                   entry.name))
    live_apps = {}
    for cluster, state in states.items():
        for kind in ("Deployment", "Job"):
            for obj in state.items(kind):
                if APP_LABEL in (obj["metadata"].get("labels") or {}):
                    live_apps.setdefault((cluster, obj["metadata"].get("namespace")), set()).add("%s/%s" % (
                        kind, obj["metadata"]["name"]))
    pool_key = pool_keys(prefix)[0]
    stranded = {}  # (cluster, "Pool", pool) -> workloads; (cluster, "Node", node) -> pool
    for entry in spec.of("pool_label"):
        if not entry.present or entry.cluster not in states:
            continue
        members = [item.key[3] for item in items if item.patch and item.cluster == entry.cluster
                   and item.obj["metadata"]["labels"].get(pool_key) == entry.name]
        found = workloads_on(entry.name, members, states[entry.cluster].items("Pod"), prefix)
        if found:
            stranded[(entry.cluster, "Pool", entry.name)] = found
            for workload in found:
                stranded[(entry.cluster, "Node", workload["node"])] = entry.name
    guarded = []
    for item in items:
        cluster, kind, namespace, name = item.key
        reason = ""
        held = apps.get(name, set()) | live_apps.get((cluster, name), set())
        if kind == "Namespace" and item.owner[0] in ("Project", "Spoke") and held:
            reason = "namespace %s holds app(s) %s" % (name, ", ".join(sorted(held)))
        elif kind == "Pool" and (cluster, "Pool", name) in stranded:
            reason = "pool %s has workloads running on its nodes: %s" % (name, ", ".join(
                "%s/%s on %s" % (w["namespace"], w["name"], w["node"]) for w in stranded[(cluster, "Pool", name)]))
        elif item.patch and (cluster, "Node", name) in stranded:
            reason = "node %s runs workloads that select pool %s" % (name, stranded[(cluster, "Node", name)])
        guarded.append(replace(item, protect=reason) if reason else item)
    return guarded
