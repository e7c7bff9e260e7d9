"""What a user reads after `pulumi up`: per component and for the stack, from the spec, the plan and the items (plain
data, no Pulumi), so the outputs say what was declared rather than echo the spec."""

from __future__ import annotations

from typing import Dict, List

from gpufabric_pulumi.desired import HUB, WORKLOADS, Item, component_of, resource_name


def node_ref(cluster: str, node: str) -> str:
    return "%s:%s" % (cluster, node) if cluster else node


def node_pools(items: List[Item], prefix: str) -> Dict[str, dict]:
    """{node (spoke:node on a spoke): {pool, gpu-type, compute-pool, machine-pool: value}}: the labels under the
    prefix each labelled node ends with, keys without the prefix."""
    result = {}
    for item in items:
        if item.patch:
            labels = item.obj["metadata"]["labels"]
            result[node_ref(item.cluster, item.key[3])] = dict(
                (key[len(prefix) + 1:], value) for key, value in sorted(labels.items()))
    return dict(sorted(result.items()))


def component_summaries(spec, items: List[Item]) -> Dict[tuple, dict]:
    """{(component type, name): outputs} for every component that declares something."""
    prefix = spec.label_prefix
    owners = []
    for item in items:
        if item.owner not in owners:
            owners.append(item.owner)
    summaries = dict((owner, {}) for owner in owners)
    pools = node_pools(items, prefix)
    for entry in spec.entries:
        if not entry.present:
            continue
        owner = component_of(entry)
        if owner not in summaries:
            continue
        if entry.kind == "tenant":
            summaries[owner] = {"name": entry.name, "gpuQuota": dict(entry.spec[1])}
        elif entry.kind == "project":
            summaries[owner] = {"namespace": entry.name, "tenant": entry.spec.tenant or None,
                                "gpuQuota": dict(entry.spec.gpu_quota)}
        elif entry.kind == "pool_label":
            summaries[owner] = {"name": entry.name, "spoke": entry.cluster or None,
                                "nodes": sorted(node for node, labels in pools.items()
                                                if labels.get("pool") == entry.name
                                                and (":" in node) == bool(entry.cluster))}
        elif entry.kind == "compute_pool":
            hosts = {}
            for node, labels in pools.items():
                if labels.get("compute-pool") == entry.name:
                    hosts.setdefault(labels.get("machine-pool", ""), []).append(node)
            summaries[owner] = {"name": entry.name, "namespace": entry.namespace, "spoke": entry.cluster or None,
                                "hosts": hosts}
        elif entry.kind == "app_deployment":
            workload = next((item for item in items if item.owner == owner and item.obj["kind"] in WORKLOADS), None)
            placed = {"name": entry.name, "namespace": entry.namespace, "kind": entry.params.get("kind") or
                      "Deployment", "target": {entry.spec.target_kind: entry.spec.target}}
            if workload is not None:
                work = workload.obj["kind"] == "ManifestWork"
                placed["spoke"] = (workload.obj["metadata"]["namespace"] if work else workload.cluster) or None
                placed["delivery"] = "manifestwork" if work else "direct"
            summaries[owner] = placed
    for owner in owners:
        if owner[0] in ("Hub", "Spoke"):
            cluster = HUB if owner[0] == "Hub" else owner[1]
            mine = [item for item in items if item.owner == owner]
            summaries[owner] = {
                "crds": sorted(item.key[3] for item in mine if item.obj["kind"] == "CustomResourceDefinition"),
                "nodes": dict((node, labels) for node, labels in pools.items()
                              if (node.split(":", 1)[0] == cluster if cluster else ":" not in node))}
    for item in items:
        if item.protect:
            summaries[item.owner].setdefault("protected", {})[
                "%s %s" % (item.obj["kind"] if not item.patch else "NodePatch", item.name)] = item.protect
    return summaries


def stack_outputs(spec, items: List[Item], spokes) -> dict:
    """labelPrefix; nodePools (node -> its pool labels); projectQuotas and tenantQuotas (GPUs per family); per
    spoke its labelled pools, compute pools and apps; what is protected and why."""
    prefix = spec.label_prefix
    projects = dict((e.name, dict(e.spec.gpu_quota)) for e in spec.of("project") if e.present)
    tenants = dict((e.name, dict(e.spec[1])) for e in spec.of("tenant") if e.present)
    names = sorted(set([spoke.name for spoke in spokes] + [item.cluster for item in items if item.cluster]))
    per_spoke = dict((name, {"pools": [], "computePools": [], "apps": []}) for name in names)
    for entry in spec.entries:
        if not entry.present:
            continue
        if entry.kind == "pool_label" and entry.cluster in per_spoke:
            per_spoke[entry.cluster]["pools"].append(entry.name)
        elif entry.kind == "compute_pool" and entry.cluster in per_spoke:
            per_spoke[entry.cluster]["computePools"].append("%s/%s" % (entry.namespace, entry.name))
    for item in items:
        if item.obj["kind"] in WORKLOADS and item.owner[0] == "App":
            work = item.obj["kind"] == "ManifestWork"
            cluster = item.obj["metadata"]["namespace"] if work else item.cluster
            if cluster in per_spoke:
                per_spoke[cluster]["apps"].append(item.owner[1])
    protected = dict(("%s %s" % ("NodePatch" if item.patch else item.obj["kind"], resource_name(item.key)),
                      item.protect) for item in items if item.protect)
    return {"labelPrefix": prefix, "nodePools": node_pools(items, prefix), "projectQuotas": projects,
            "tenantQuotas": tenants,
            "spokes": dict((name, dict((k, sorted(v)) for k, v in row.items())) for name, row in per_spoke.items()),
            "protected": protected}
