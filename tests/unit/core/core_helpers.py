"""Builders shared by the core tests: Node dicts, hosts and specs in the seed's vocabulary."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import host_from_dict, host_from_node
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import parse_compute_pool


def node(name, cpu="16", memory="64Gi", gpus=0, product=None, gpu_memory=None, arch="amd64", ready="True",
         since="2024-01-15T10:30:00Z", labels=None):
    """A Node object shaped as the API returns it."""
    all_labels = {"kubernetes.io/arch": arch, "kubernetes.io/hostname": name}
    if product:
        all_labels["nvidia.com/gpu.product"] = product
    if gpu_memory:
        all_labels["nvidia.com/gpu.memory"] = str(gpu_memory)
    all_labels.update(labels or {})
    capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "lastTransitionTime": since})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": all_labels, "uid": "uid-" + name},
            "status": {"capacity": capacity, "allocatable": dict(capacity), "conditions": conditions}}


def seed_hosts():
    """Seed 000: host-uid-1,2 (16 CPU / 64Gi, no GPU) and host-uid-3,4 (32 CPU / 128Gi, 4 x A100, 160 GB)."""
    return [host_from_node(node("host-uid-1")), host_from_node(node("host-uid-2")),
            host_from_node(node("host-uid-3", "32", "128Gi", 4, "NVIDIA-A100", 40960)),
            host_from_node(node("host-uid-4", "32", "128Gi", 4, "NVIDIA-A100", 40960, since="2024-01-15T10:32:00Z"))]


def gpu_host(name, count=4, family="NVIDIA-A100", status="Healthy", arch="AMD64", groups=None, **extra):
    entry = {"name": name, "cpu": 32, "memory": "128Gi", "architecture": arch, "status": status,
             "gpus": [{"family": family, "count": count, "memory_mib": 40960}] if count else [],
             "resource_groups": groups or {}}
    entry.update(extra)
    return host_from_dict(entry)


def cpu_host(name, status="Healthy", arch="AMD64", groups=None, **extra):
    return gpu_host(name, 0, status=status, arch=arch, groups=groups, **extra)


def spec(name="vision-cluster", namespace="vision", workers=None, node_count=1, single=False, mode="dedicated",
         schedule_workloads=True, **extra):
    """A compute pool spec; workers: list of (name, family, count, min_nodes)."""
    args = {"name": name, "namespace": namespace, "mode": mode,
            "control_plane": {"node_count": node_count, "single_node_cluster": single,
                              "schedule_workloads": schedule_workloads},
            "worker_pools": [{"name": n, "gpu": {"family": f, "count": c}, "min_worker_nodes": m}
                             for n, f, c, m in (workers if workers is not None
                                                else [("gpu-workers", "NVIDIA-A100", 8, 2)])]}
    args.update(extra)
    return parse_compute_pool(args)
