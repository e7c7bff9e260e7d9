"""Compute pool requirements: parsed from module arguments (snake_case) or a ComputePool resource (camelCase).

Validation collects every error of the input before raising, so one run reports all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    MAX_COUNT, dns_label_errors, dns_subdomain_errors, family_errors, generated_worker_pool_name, label_key_errors,
    label_value_errors, normalise_architecture, normalise_family)

MODES = ("dedicated", "shared")
CONTROL_PLANE_SIZES = (1, 3, 5)
MAX_WAIT = 7 * 24 * 3600  # seconds: wait_timeout beyond a week is a typo
DEFAULT_ARCHITECTURE = "AMD64"


@dataclass(frozen=True)
class ControlPlane:
    """schedule_workloads: the control-plane hosts run app workloads too (ControlPlaneAndWorker, as PaletteAI's
    example shows); false keeps them for the control plane only when worker pools exist (ControlPlaneOnly)."""

    node_count: int = 1
    single_node_cluster: bool = False
    architecture: str = DEFAULT_ARCHITECTURE
    schedule_workloads: bool = True


@dataclass(frozen=True)
class WorkerPool:
    """A worker pool requirement: gpu_count GPUs of one family spread over at least min_worker_nodes hosts."""

    name: str
    family: str
    gpu_count: int
    min_worker_nodes: int = 1
    architecture: str = DEFAULT_ARCHITECTURE
    generated_name: bool = False


@dataclass(frozen=True)
class ComputePoolSpec:
    """One compute pool's requirements; resource groups are sorted (key, value) pairs."""

    name: str
    namespace: str
    mode: str = "dedicated"
    control_plane: ControlPlane = ControlPlane()
    worker_pools: Tuple[WorkerPool, ...] = ()
    control_plane_resource_groups: Tuple[Tuple[str, str], ...] = ()
    worker_resource_groups: Tuple[Tuple[str, str], ...] = ()
    scaling_policy_ref: Optional[Tuple[Tuple[str, str], ...]] = None
    description: str = ""
    spoke: str = ""

    @property
    def managed_worker_pools(self):
        """Single-node clusters manage only the control-plane pool: it runs the workloads too."""
        return () if self.control_plane.single_node_cluster else self.worker_pools

    def worker_selection_groups(self):
        """Single-node clusters select with the control-plane resource groups."""
        if self.control_plane.single_node_cluster:
            return self.control_plane_resource_groups
        return self.worker_resource_groups


def _resource_groups(value, what, errors):
    if value is None:
        return ()
    if not isinstance(value, dict):
        errors.append("%s must be a mapping of key: value, got %r" % (what, value))
        return ()
    pairs = []
    for key in sorted(value, key=str):
        text = "" if value[key] is None else str(value[key])
        errors.extend(label_key_errors(str(key), "%s key" % what))
        errors.extend(label_value_errors(text, "%s %s value" % (what, key)))
        pairs.append((str(key), text))
    return tuple(pairs)


def _int(value, what, errors, minimum, maximum=MAX_COUNT):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            errors.append("%s must be an integer, got %r" % (what, value))
            return minimum
    if value < minimum:
        errors.append("%s is %d; it must be at least %d" % (what, value, minimum))
    elif value > maximum:
        errors.append("%s is %d; it must be at most %d" % (what, value, maximum))
    return value


def _architecture(value, what, errors):
    if value is None:
        return DEFAULT_ARCHITECTURE
    arch = normalise_architecture(value)
    if arch is None:
        errors.append("%s %r is not AMD64 or ARM64" % (what, value))
        return DEFAULT_ARCHITECTURE
    return arch


def parse_compute_pool(args):
    """Module arguments -> ComputePoolSpec.

    args: name, namespace, mode, description, control_plane {node_count, single_node_cluster, architecture,
    resource_groups}, worker_resource_groups, worker_pools [{name, gpu {family, count}, min_worker_nodes,
    architecture}], scaling_policy {name, namespace} (the compute_pool module's options; control_plane_resource_groups
    and scaling_policy_ref, the resource's own names, are read too). An unnamed worker pool gets a uuid5
    name that is stable for (namespace, name, position); WorkerPool.generated_name tells the caller to persist it.
    """
    errors = []
    name, namespace = args.get("name"), args.get("namespace")
    errors.extend(dns_label_errors(name, "compute pool name"))
    errors.extend(dns_label_errors(namespace, "namespace"))
    mode = args.get("mode") or "dedicated"
    if mode not in MODES:
        errors.append("mode %r is not one of dedicated, shared" % (mode,))
    cp_args = args.get("control_plane") or {}
    single = bool(cp_args.get("single_node_cluster", False))
    node_count = _int(cp_args.get("node_count", 1), "control plane node_count", errors, 1)
    if node_count not in CONTROL_PLANE_SIZES:
        errors.append("control plane node_count %d is not 1, 3 or 5 (an odd count keeps etcd quorum)" % node_count)
    elif single and node_count != 1:
        errors.append("control plane node_count is %d; a single-node cluster has exactly 1" % node_count)
    control_plane = ControlPlane(node_count, single,
                                 _architecture(cp_args.get("architecture"), "control plane architecture", errors),
                                 bool(cp_args.get("schedule_workloads", True)))
    workers, seen = [], set()
    for index, raw in enumerate(args.get("worker_pools") or ()):
        worker = _worker_pool(raw, index, name or "", namespace or "", errors)
        if worker.name in seen:
            errors.append("worker pool name %s is used twice" % worker.name)
        seen.add(worker.name)
        workers.append(worker)
    if args.get("wait_timeout") is not None:
        _int(args["wait_timeout"], "wait_timeout", errors, 0, MAX_WAIT)
    rg_prefix = args.get("resource_group_prefix")
    if args.get("spoke"):
        errors.extend(dns_label_errors(args["spoke"], "spoke"))
    if rg_prefix is not None and (not isinstance(rg_prefix, str) or not rg_prefix.endswith("/")
                                  or dns_subdomain_errors(rg_prefix[:-1])):
        errors.append("resource_group_prefix %r must be a DNS subdomain followed by '/', like palette.ai.rg/"
                      % (rg_prefix,))
    ref = args.get("scaling_policy_ref", args.get("scaling_policy"))
    if ref is not None:
        errors.extend(dns_label_errors((ref or {}).get("name"), "scaling_policy_ref name"))
        if (ref or {}).get("namespace") is not None:
            errors.extend(dns_label_errors(ref["namespace"], "scaling_policy_ref namespace"))
        ref = tuple(sorted((str(k), str(v)) for k, v in ref.items() if v is not None))
    spec = ComputePoolSpec(
        name=name, namespace=namespace, mode=mode, control_plane=control_plane,
        worker_pools=tuple(workers),
        control_plane_resource_groups=_resource_groups(
            args.get("control_plane_resource_groups", cp_args.get("resource_groups")),
            "control_plane_resource_groups", errors),
        worker_resource_groups=_resource_groups(args.get("worker_resource_groups"), "worker_resource_groups",
                                                errors),
        scaling_policy_ref=ref, description=str(args.get("description") or ""), spoke=str(args.get("spoke") or ""))
    raise_if(errors)
    return spec


def _worker_pool(raw, index, pool_name, namespace, errors):
    where = "worker pool %d" % index
    name = raw.get("name")
    generated = not name
    if generated:
        name = generated_worker_pool_name(namespace, pool_name, index)
    else:
        where = "worker pool %s" % name
        errors.extend(dns_label_errors(name, "worker pool name"))
    gpu = raw.get("gpu") or {}
    family = normalise_family(gpu.get("family") or "")
    if not family:
        errors.append("%s: gpu.family is required" % where)
    errors.extend(family_errors(gpu.get("family"), "%s gpu.family" % where))
    count = _int(gpu.get("count", gpu.get("gpu_count", gpu.get("gpuCount"))), "%s gpu count" % where, errors, 1)
    min_nodes = _int(raw.get("min_worker_nodes", raw.get("minWorkerNodes", 1)), "%s min_worker_nodes" % where,
                     errors, 1)
    if isinstance(count, int) and isinstance(min_nodes, int) and count < min_nodes:
        errors.append("%s: gpu count %d is less than min_worker_nodes %d (each worker needs a GPU)"
                      % (where, count, min_nodes))
    return WorkerPool(name=name, family=family, gpu_count=count, min_worker_nodes=min_nodes,
                      architecture=_architecture(raw.get("architecture"), "%s architecture" % where, errors),
                      generated_name=generated)


def compute_pool_from_resource(resource):
    """A ComputePool object (camelCase spec as rendered) -> ComputePoolSpec, e.g. to check immutable fields."""
    metadata, spec = resource.get("metadata") or {}, resource.get("spec") or {}
    variant = spec.get("clusterVariant") or {}
    mode = "shared" if "shared" in variant else "dedicated"
    mode_body = variant.get(mode) or {}
    cp = spec.get("controlPlane") or {}
    pools = (spec.get("nodePoolRequirements") or {}).get("workerPools") or ()
    return parse_compute_pool({
        "name": metadata.get("name"), "namespace": metadata.get("namespace"), "mode": mode,
        "description": spec.get("description"),
        "control_plane": {"node_count": cp.get("nodeCount", 1), "single_node_cluster": cp.get("singleNodeCluster"),
                          "architecture": cp.get("architecture"),
                          "schedule_workloads": cp.get("scheduleWorkloads", True)},
        "control_plane_resource_groups": variant.get("controlPlaneResourceGroups"),
        "worker_resource_groups": variant.get("workerResourceGroups"),
        "worker_pools": [{"name": p.get("name"), "architecture": p.get("architecture"),
                          "gpu": {"family": (p.get("gpu") or {}).get("family"),
                                  "count": (p.get("gpu") or {}).get("gpuCount")},
                          "min_worker_nodes": p.get("minWorkerNodes", 1)} for p in pools],
        "scaling_policy_ref": mode_body.get("scalingPolicyRef"),
        "spoke": spec.get("spoke"),
    })


def immutable_errors(old, new):
    """Fields that cannot change once the compute pool exists: mode (dedicated/shared) and the spoke whose
    hosts it holds."""
    errors = []
    if old.mode != new.mode:
        errors.append("compute pool %s: mode is %s and cannot change to %s once created (delete and recreate it)"
                      % (new.name, old.mode, new.mode))
    if old.spoke != new.spoke:
        errors.append("compute pool %s: its hosts are on %s and cannot move to %s (delete and recreate it)"
                      % (new.name, old.spoke or "the hub", new.spoke or "the hub"))
    return errors


def check_immutable(old, new):
    raise_if(immutable_errors(old, new))


__all__ = ["ControlPlane", "WorkerPool", "ComputePoolSpec", "parse_compute_pool", "compute_pool_from_resource",
           "immutable_errors", "check_immutable", "FabricError"]
