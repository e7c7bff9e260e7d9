"""Hosts: the inventory the allocator chooses from, read from Kubernetes Nodes or a bare-metal host list."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import covers, kind_of, memory_from_mib
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import normalise_architecture
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import parse_quantity

HOST_STATUSES = ("Initial", "Provisioning", "Healthy", "Unhealthy", "Failed", "Deleting", "Unknown", "Unsupported")
# A host in one of these states may be chosen; others are counted as "unhealthy" in shortfalls.
ELIGIBLE_STATUSES = frozenset(("Initial", "Provisioning", "Healthy"))
DEFAULT_LABEL_PREFIX = "runwhere.ai"
DEFAULT_RG_PREFIX = "palette.ai.rg/"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"
ARCH_LABEL = "kubernetes.io/arch"
UNKNOWN_GPU_FAMILY = "NVIDIA-UNKNOWN"
# The keys of a bare-metal inventory entry (host_from_dict) and of each of its gpus.
HOST_KEYS = ("name", "uid", "architecture", "cpu", "cpu_count", "memory", "gpus", "gpu", "labels", "resource_groups",
             "status", "status_updated_at", "compute_pool", "machine_pool")
GPU_KEYS = ("family", "count", "gpu_count", "memory_mib")


@dataclass(frozen=True)
class GpuGroup:
    """GPUs of one family on a host (core.families: NVIDIA-A100, not the product label); memory_mib is per GPU
    (as GPU feature discovery reports it, or as the product label names it), None if unknown."""

    family: str
    count: int
    memory_mib: Optional[int] = None

    @property
    def kind(self):
        """The name the GPUs count as: the family with its memory when known (NVIDIA-A100-80GB)."""
        return kind_of(self.family, self.memory_mib).name

    @property
    def memory_gb(self):
        """GB per GPU: the size the model is sold with when the family table knows it, else whole GiB."""
        return kind_of(self.family, self.memory_mib).memory_gb or memory_from_mib(self.memory_mib)


def gpu_group(text, count, memory_mib=None):
    """A GpuGroup from a product label or a family as written, and the gpu.memory label: memory named by the
    product (NVIDIA-A100-SXM4-80GB) wins over the label."""
    kind = kind_of(text, memory_mib)
    if kind.memory_gb and kind_of(text).memory_gb:
        memory_mib = kind.memory_gb * 1024
    return GpuGroup(kind.family, count, memory_mib)


@dataclass(frozen=True)
class Host:
    """One machine. compute_pool / machine_pool are its current assignment, read from the managed labels."""

    name: str
    architecture: Optional[str]
    cpu: Fraction
    memory: Fraction
    gpus: Tuple[GpuGroup, ...] = ()
    labels: Tuple[Tuple[str, str], ...] = ()
    resource_groups: Tuple[Tuple[str, str], ...] = ()
    status: str = "Healthy"
    status_updated_at: Optional[str] = None
    compute_pool: Optional[str] = None
    machine_pool: Optional[str] = None
    uid: Optional[str] = None

    def gpu_count(self, family=None):
        """GPUs that `family` covers (core.families: NVIDIA-A100 counts every A100, NVIDIA-A100-80GB the 80 GB
        ones); all GPUs when None."""
        if family is None:
            return sum(group.count for group in self.gpus)
        return sum(group.count for group in self.gpus if covers(family, group.kind))

    @property
    def eligible(self):
        return self.status in ELIGIBLE_STATUSES

    def matches(self, resource_groups):
        """True when every (key, value) of the requirement is one of the host's resource groups."""
        if not resource_groups:
            return True
        mine = dict(self.resource_groups)
        return all(mine.get(key) == value for key, value in resource_groups)


def _status_from_conditions(conditions):
    """Ready True -> Healthy, False -> Unhealthy, Unknown -> Unknown, no Ready condition -> Provisioning."""
    for condition in conditions or ():
        if condition.get("type") == "Ready":
            status = {"True": "Healthy", "False": "Unhealthy"}.get(str(condition.get("status")), "Unknown")
            return status, condition.get("lastTransitionTime")
    return "Provisioning", None


def _int_quantity(value, what, errors):
    try:
        quantity = parse_quantity(value)
    except ValueError as exc:
        errors.append("%s: %s" % (what, exc))
        return 0
    if quantity.denominator != 1 or quantity < 0:
        errors.append("%s: %s is not a whole non-negative number" % (what, value))
        return 0
    return int(quantity)


def host_from_node(node, label_prefix=DEFAULT_LABEL_PREFIX, rg_prefix=DEFAULT_RG_PREFIX):
    """Turn a Node object (dict as the API returns it) into a Host. A Node this model cannot read (an
    architecture other than AMD64 and ARM64, a capacity that is no quantity) is a host with status Unsupported:
    never chosen, counted in shortfalls as such, and never a reason to fail a run about other hosts."""
    metadata = node.get("metadata") or {}
    status = node.get("status") or {}
    labels = dict(metadata.get("labels") or {})
    capacity = status.get("capacity") or {}
    name = metadata.get("name") or "<unnamed>"
    errors = []
    arch_text = labels.get(ARCH_LABEL) or (status.get("nodeInfo") or {}).get("architecture")
    architecture = normalise_architecture(arch_text) if arch_text else None

    def quantity(key):
        try:
            return parse_quantity(capacity.get(key, 0))
        except ValueError as exc:
            errors.append("node %s: capacity %s: %s" % (name, key, exc))
            return Fraction(0)

    cpu, memory = quantity("cpu"), quantity("memory")
    gpu_count = _int_quantity(capacity.get(GPU_RESOURCE, 0), "node %s: capacity %s" % (name, GPU_RESOURCE), errors)
    gpus = ()
    if gpu_count:
        memory_mib = None
        if labels.get(GPU_MEMORY_LABEL):
            memory_mib = _int_quantity(labels[GPU_MEMORY_LABEL], "node %s: label %s" % (name, GPU_MEMORY_LABEL),
                                       errors)
        gpus = (gpu_group(labels.get(GPU_PRODUCT_LABEL) or UNKNOWN_GPU_FAMILY, gpu_count, memory_mib),)
    health, since = _status_from_conditions(status.get("conditions"))
    if metadata.get("deletionTimestamp"):
        health, since = "Deleting", metadata["deletionTimestamp"]
    if arch_text and architecture is None:
        architecture = str(arch_text).upper()
        health, since = "Unsupported", None
    if errors:
        health, since = "Unsupported", None
    return Host(
        name=name, architecture=architecture, cpu=cpu, memory=memory, gpus=gpus,
        labels=tuple(sorted(labels.items())),
        resource_groups=tuple(sorted((key[len(rg_prefix):], value) for key, value in labels.items()
                                     if key.startswith(rg_prefix))),
        status=health, status_updated_at=since,
        compute_pool=labels.get(label_prefix + "/compute-pool"),
        machine_pool=labels.get(label_prefix + "/machine-pool"),
        uid=metadata.get("uid"))


def host_from_edgehost(edgehost, rg_prefix=DEFAULT_RG_PREFIX):
    """An EdgeHost object (a bare-metal host linked to the hub) -> Host. The facts are those it last reported
    (status), else those it registered with (spec); health is status.health (no report yet: Provisioning); its
    labels under `rg_prefix` are its resource groups. Compute pools record EdgeHosts in their status only, so the
    host carries no assignment. A host this model cannot read is Unsupported, as a Node would be."""
    metadata = edgehost.get("metadata") or {}
    spec, status = edgehost.get("spec") or {}, edgehost.get("status") or {}
    facts = status if status.get("architecture") else spec
    name = metadata.get("name") or "<unnamed>"
    labels = dict(metadata.get("labels") or {})
    errors = []
    architecture = normalise_architecture(facts.get("architecture") or "")
    try:
        cpu, memory = parse_quantity(facts.get("cpus", 0)), parse_quantity(facts.get("memory", 0))
    except ValueError as exc:
        errors.append("edge host %s: %s" % (name, exc))
        cpu = memory = Fraction(0)
    groups = {}
    for row in facts.get("gpus") or ():
        count = _int_quantity((row or {}).get("count", 0), "edge host %s: gpu count" % name, errors)
        memory_mib = (row or {}).get("memoryMiB")
        group = gpu_group((row or {}).get("model") or (row or {}).get("family") or UNKNOWN_GPU_FAMILY, count,
                          memory_mib if isinstance(memory_mib, int) else None)
        if count:
            known = groups.get(group.kind)
            groups[group.kind] = group if known is None else GpuGroup(group.family, known.count + count,
                                                                      group.memory_mib)
    health = status.get("health") or "Provisioning"
    since = status.get("lastSeen")
    if health not in HOST_STATUSES:
        health = "Unknown"
    if metadata.get("deletionTimestamp"):
        health, since = "Deleting", metadata["deletionTimestamp"]
    if architecture is None or errors:
        architecture = architecture or str(facts.get("architecture") or "").upper() or None
        health, since = "Unsupported", None
    return Host(
        name=name, architecture=architecture, cpu=cpu, memory=memory,
        gpus=tuple(groups[key] for key in sorted(groups)),
        labels=tuple(sorted(labels.items())),
        resource_groups=tuple(sorted((key[len(rg_prefix):], value) for key, value in labels.items()
                                     if key.startswith(rg_prefix))),
        status=health, status_updated_at=since, uid=metadata.get("uid"))


def host_from_dict(entry, label_prefix=DEFAULT_LABEL_PREFIX, rg_prefix=DEFAULT_RG_PREFIX):
    """A bare-metal inventory entry (snake_case keys) -> Host.

    Keys: name (or uid), architecture, cpu (or cpu_count), memory, gpus [{family, count, memory_mib}] (or gpu
    {family, count}), labels, resource_groups {key: value}, status (default Healthy), status_updated_at,
    compute_pool, machine_pool. Raises FabricError listing every problem with the entry.
    """
    if not isinstance(entry, dict):
        raise_if(["host %r: expected a mapping (name, architecture, cpu, memory, gpus, ...)" % (entry,)])
    errors = []
    name = entry.get("name") or entry.get("uid")
    where = "host %s" % (name or "<unnamed>")
    if not name:
        errors.append("%s: name (or uid) is required" % where)
    elif not isinstance(name, str):
        errors.append("%s: name must be a string" % where)
    errors += ["%s: unknown key %s (known: %s)" % (where, key, ", ".join(HOST_KEYS))
               for key in sorted(str(k) for k in entry if k not in HOST_KEYS)]
    architecture = normalise_architecture(entry.get("architecture", "AMD64"))
    if architecture is None:
        errors.append("%s: unknown architecture %r (AMD64 or ARM64)" % (where, entry.get("architecture")))

    def quantity(key, default):
        try:
            return parse_quantity(entry.get(key, default))
        except ValueError as exc:
            errors.append("%s: %s: %s" % (where, key, exc))
            return Fraction(0)

    cpu = quantity("cpu" if "cpu" in entry else "cpu_count", 0)
    memory = quantity("memory", 0)
    raw_gpus = entry.get("gpus")
    if raw_gpus is None and entry.get("gpu"):
        raw_gpus = [entry["gpu"]]
    if raw_gpus is not None and not isinstance(raw_gpus, list):
        errors.append("%s: gpus must be a list of {family, count, memory_mib}, got %r" % (where, raw_gpus))
        raw_gpus = []
    groups = {}
    for item in raw_gpus or ():
        if not isinstance(item, dict):
            errors.append("%s: a gpus entry must be a mapping {family, count, memory_mib}, got %r" % (where, item))
            continue
        errors += ["%s: unknown gpus key %s (known: %s)" % (where, key, ", ".join(GPU_KEYS))
                   for key in sorted(str(k) for k in item if k not in GPU_KEYS)]
        count = _int_quantity(item.get("count", item.get("gpu_count", 0)), "%s: gpu count" % where, errors)
        memory_mib = item.get("memory_mib")
        if memory_mib is not None:
            memory_mib = _int_quantity(memory_mib, "%s: gpu memory_mib" % where, errors)
        group = gpu_group(item.get("family") or "", count, memory_mib)
        if not group.family:
            errors.append("%s: every gpu entry needs a family" % where)
        elif group.kind in groups:
            errors.append("%s: gpu family %s is listed twice" % (where, group.kind))
        elif count:
            groups[group.kind] = group
    status = entry.get("status", "Healthy")
    if status not in HOST_STATUSES:
        errors.append("%s: status %r is not one of %s" % (where, status, ", ".join(HOST_STATUSES)))
    mappings = {}
    for key in ("labels", "resource_groups"):
        mappings[key] = entry.get(key) or {}
        if not isinstance(mappings[key], dict):
            errors.append("%s: %s must be a mapping of key: value, got %r" % (where, key, mappings[key]))
            mappings[key] = {}
    labels = dict(mappings["labels"])
    groups_rg = dict((key[len(rg_prefix):], value) for key, value in labels.items() if key.startswith(rg_prefix))
    groups_rg.update(mappings["resource_groups"])
    raise_if(errors)
    return Host(
        name=str(name), architecture=architecture, cpu=cpu, memory=memory,
        gpus=tuple(groups[key] for key in sorted(groups)),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        resource_groups=tuple(sorted((str(k), str(v)) for k, v in groups_rg.items())),
        status=status, status_updated_at=entry.get("status_updated_at"),
        compute_pool=entry.get("compute_pool", labels.get(label_prefix + "/compute-pool")),
        machine_pool=entry.get("machine_pool", labels.get(label_prefix + "/machine-pool")),
        uid=entry.get("uid"))


def parse_hosts(nodes=(), inventory=(), label_prefix=DEFAULT_LABEL_PREFIX, rg_prefix=DEFAULT_RG_PREFIX,
                edgehosts=()):
    """Nodes, EdgeHosts and/or inventory entries -> hosts sorted by name; all errors (including duplicates) raised
    together."""
    hosts, errors = [host_from_edgehost(edgehost, rg_prefix) for edgehost in edgehosts], []
    for node in nodes:
        try:
            hosts.append(host_from_node(node, label_prefix, rg_prefix))
        except FabricError as exc:
            errors.extend(exc.errors)
    for entry in inventory:
        try:
            hosts.append(host_from_dict(entry, label_prefix, rg_prefix))
        except FabricError as exc:
            errors.extend(exc.errors)
    seen = set()
    for host in hosts:
        if host.name in seen:
            errors.append("host %s is listed more than once" % host.name)
        seen.add(host.name)
    raise_if(errors)
    return tuple(sorted(hosts, key=lambda host: host.name))
