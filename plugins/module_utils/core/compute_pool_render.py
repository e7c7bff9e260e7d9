"""Desired ComputePool objects and compute-pool node labels as plain dicts, deterministic (sorted everywhere)."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import CONTROL_PLANE_POOL
from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    gpu_totals, hardware_allocation, hardware_capacity, workload_refs)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    API_VERSION, MANAGED_BY, cloud_config_uuid, label_prefix_errors, label_value_errors)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import plain_number, whole_units

GIB = 1024 ** 3


def render_compute_pool_spec(spec):
    """ComputePool .spec in PaletteAI's camelCase field names; worker pools sorted by name."""
    mode_body = {}
    if spec.scaling_policy_ref:
        mode_body["scalingPolicyRef"] = dict(spec.scaling_policy_ref)
    variant = {spec.mode: mode_body}
    if spec.control_plane_resource_groups:
        variant["controlPlaneResourceGroups"] = dict(spec.control_plane_resource_groups)
    if spec.worker_resource_groups:
        variant["workerResourceGroups"] = dict(spec.worker_resource_groups)
    body = {
        "clusterVariant": variant,
        "controlPlane": {"nodeCount": spec.control_plane.node_count,
                         "singleNodeCluster": spec.control_plane.single_node_cluster,
                         "architecture": spec.control_plane.architecture,
                         "scheduleWorkloads": spec.control_plane.schedule_workloads},
        "nodePoolRequirements": {"workerPools": [
            {"name": w.name, "architecture": w.architecture, "gpu": {"family": w.family, "gpuCount": w.gpu_count},
             "minWorkerNodes": w.min_worker_nodes} for w in sorted(spec.worker_pools, key=lambda w: w.name)]},
    }
    if spec.spoke:
        body["spoke"] = spec.spoke
    if spec.description:
        body["description"] = spec.description
    return body


def render_compute_pool(spec, status=None):
    """The whole ComputePool object (status included when given)."""
    obj = {"apiVersion": API_VERSION, "kind": "ComputePool",
           "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(MANAGED_BY)},
           "spec": render_compute_pool_spec(spec)}
    if status is not None:
        obj["status"] = status
    return obj


def render_host(host, entry):
    """One host of allocatedMachinePools[].hosts: hardware from the inventory, status from the allocation."""
    body = {}
    if host is not None:
        body["architecture"] = host.architecture
        body["cpuCount"] = plain_number(host.cpu)
        body["memoryGB"] = whole_units(host.memory, GIB)
        if host.gpus:  # by family (NVIDIA-A100, as PaletteAI names them); memory sizes of one family add up
            counts, memory = {}, {}
            for g in host.gpus:
                counts[g.family] = counts.get(g.family, 0) + g.count
                if g.memory_gb:
                    memory[g.family] = memory.get(g.family, 0) + g.count * g.memory_gb
            body["gpuCountByFamily"] = counts
            if memory:
                body["gpuMemoryGBByFamily"] = memory
    if entry.status:
        body["status"] = entry.status
    if entry.status_updated_at:
        body["statusUpdatedAt"] = entry.status_updated_at
    return body


def render_machine_pools(allocation, hosts):
    """status.allocatedMachinePools: control-plane pool first, hosts keyed by name in name order."""
    by_name = dict((host.name, host) for host in hosts)
    pools = []
    for pool in sorted(allocation, key=lambda p: (p.name != CONTROL_PLANE_POOL, p.name)):
        body = {"name": pool.name, "nodeType": pool.node_type}
        if pool.requirement:
            body["workerPoolRequirementsName"] = pool.requirement
        body["hosts"] = dict((entry.host, render_host(by_name.get(entry.host), entry))
                             for entry in sorted(pool.hosts, key=lambda e: e.host))
        body["labels"] = list(pool.labels)
        pools.append(body)
    return pools


def compute_pool_state(allocation, hosts, plan=None, deleting=False):
    """status.status of the allocation after a run: Deleting, Failed (unmet and nothing allocated), Updating
    (steps still waiting), Unhealthy / Provisioning (from host statuses) or Running. A plan whose steps all ran
    does not count: the same state must give the same status on the next run."""
    if deleting:
        return "Deleting"
    if plan is not None and plan.shortfalls and not any(pool.hosts for pool in allocation):
        return "Failed"
    if plan is not None and plan.waiting:
        return "Updating"
    statuses = set(entry.status for pool in allocation for entry in pool.hosts)
    if statuses & {"Unhealthy", "Failed", "Unknown"}:
        return "Unhealthy"
    if statuses & {"Provisioning", "Initial", "Deleting"}:
        return "Provisioning"
    return "Running"


def render_compute_pool_status(spec, allocation, hosts, apps=(), status="Running"):
    """ComputePool .status in PaletteAI's shape (status, hardwareCapacity, hardwareAllocation,
    allocatedMachinePools). apps: AppAllocation list for hardwareAllocation/aiWorkloadRefs.

    mode, gpuTotal, gpuAllocated and gpuFree summarise the rest for `kubectl get computepools`; mode also records
    the mode the pool was created with.
    """
    capacity, allocated = hardware_capacity(allocation, hosts), hardware_allocation(apps)
    total, used = sum(gpu_totals(capacity).values()), sum(gpu_totals(allocated).values())
    return {
        "status": status,
        "mode": spec.mode,
        "gpuTotal": total,
        "gpuAllocated": used,
        "gpuFree": total - used,
        "hardwareCapacity": capacity,
        "hardwareAllocation": allocated,
        "cloudConfigUUID": cloud_config_uuid(spec.namespace, spec.name),
        "allocatedMachinePools": render_machine_pools(allocation, hosts),
        "aiWorkloadRefs": workload_refs(apps),
    }


def with_free_gpus(status):
    """The status with gpuFree = gpuTotal - gpuAllocated again, once the allocation fields were replaced (never
    clamped: more allocated than there is shows as a negative free count)."""
    status["gpuFree"] = int(status.get("gpuTotal") or 0) - int(status.get("gpuAllocated") or 0)
    return status


def compute_pool_label_changes(hosts, compute_pool, allocation, prefix):
    """Node label patches for one compute pool: {node: {key: value or None}}, only keys under `<prefix>/`.

    Hosts of the allocation get <prefix>/compute-pool=<name> and <prefix>/machine-pool=<pool>; hosts labelled
    for this compute pool but no longer in it lose both; nodes of other compute pools are never touched.
    """
    errors = label_prefix_errors(prefix) + label_value_errors(compute_pool, "compute pool label value")
    pool_key, machine_key = prefix + "/compute-pool", prefix + "/machine-pool"
    wanted = {}
    for pool in allocation:
        errors.extend(label_value_errors(pool.name, "machine pool label value"))
        for entry in pool.hosts:
            wanted[entry.host] = pool.name
    raise_if(errors)
    changes = {}
    for host in sorted(hosts, key=lambda h: h.name):
        current = dict(host.labels)
        if host.name in wanted:
            desired = {pool_key: compute_pool, machine_key: wanted[host.name]}
        elif current.get(pool_key) == compute_pool:
            desired = {pool_key: None, machine_key: None}
        else:
            continue
        patch = dict((key, value) for key, value in sorted(desired.items()) if current.get(key) != value)
        if patch:
            changes[host.name] = patch
    return changes
