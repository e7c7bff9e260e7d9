"""A compute pool's allocation: its machine pools and their hosts with status, as kept in the CR status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

CONTROL_PLANE_POOL = "control-plane-pool"
CONTROL_PLANE_LABELS = ("control-plane",)


@dataclass(frozen=True)
class HostEntry:
    """A host's membership in a machine pool; status as last recorded (None when the status never said)."""

    host: str
    status: Optional[str] = None
    status_updated_at: Optional[str] = None


@dataclass(frozen=True)
class MachinePool:
    """requirement is the worker pool name it serves (workerPoolRequirementsName); None for the control plane."""

    name: str
    node_type: str
    labels: Tuple[str, ...]
    requirement: Optional[str] = None
    hosts: Tuple[HostEntry, ...] = ()

    @property
    def host_names(self):
        return tuple(entry.host for entry in self.hosts)

    def with_hosts(self, entries):
        return replace(self, hosts=tuple(sorted(entries, key=lambda entry: entry.host)))


def sort_pools(pools):
    """Control-plane pool first, then by name: the order of allocatedMachinePools and of plan operations."""
    return tuple(sorted(pools, key=lambda pool: (pool.name != CONTROL_PLANE_POOL, pool.name)))


def worker_labels(vendor):
    return ("worker", "gpu-family-%s" % vendor)


def allocation_from_status(status):
    """CR status (dict, possibly empty or None) -> tuple of MachinePool, sorted."""
    pools = []
    for raw in (status or {}).get("allocatedMachinePools") or ():
        hosts = raw.get("hosts") or {}
        entries = [HostEntry(str(name), (body or {}).get("status"), (body or {}).get("statusUpdatedAt"))
                   for name, body in hosts.items()]
        pools.append(MachinePool(name=raw["name"], node_type=raw.get("nodeType", "WorkerOnly"),
                                 labels=tuple(raw.get("labels") or ()),
                                 requirement=raw.get("workerPoolRequirementsName")).with_hosts(entries))
    return sort_pools(pools)


def allocated_hosts(compute_pools):
    """compute_pool_info's host list: one row per host of every machine pool of the given ComputePool objects,
    in their order (machine pools as in the status, hosts by name), from the status's hosts mapping.

    Each row names its compute pool, namespace, spoke (None: on the cluster read), machine pool, node type and
    the worker pool it serves, with the host's status and hardware; gpus lists its GPUs by family.
    """
    rows = []
    for obj in compute_pools:
        metadata, status = obj.get("metadata") or {}, obj.get("status") or {}
        spoke = (obj.get("spec") or {}).get("spoke") or None
        for pool in status.get("allocatedMachinePools") or ():
            hosts = pool.get("hosts") or {}
            for name in sorted(hosts, key=str):
                body = hosts[name] or {}
                counts = body.get("gpuCountByFamily") or {}
                memory = body.get("gpuMemoryGBByFamily") or {}
                rows.append({
                    "name": str(name),
                    "compute_pool": metadata.get("name"),
                    "namespace": metadata.get("namespace"),
                    "spoke": spoke,
                    "machine_pool": pool.get("name"),
                    "node_type": pool.get("nodeType"),
                    "worker_pool": pool.get("workerPoolRequirementsName"),
                    "status": body.get("status"),
                    "status_updated_at": body.get("statusUpdatedAt"),
                    "architecture": body.get("architecture"),
                    "cpu_count": body.get("cpuCount"),
                    "memory_gb": body.get("memoryGB"),
                    "gpu_count": sum(int(count or 0) for count in counts.values()),
                    "gpus": [{"family": family, "count": counts[family], "memory_gb": memory.get(family)}
                             for family in sorted(counts)],
                })
    return rows
