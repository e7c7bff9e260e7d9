"""Capacity and quota arithmetic: one set of numbers for status, pool tables, placement and quota checks.

Every figure is an exact integer or Fraction; free is always total - used (never clamped), so
total == used + free holds everywhere a table shows both.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import (
    covering, covers, gpu_row, overlap_errors, overlaps, row_name)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import GPU_RESOURCE
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    MAX_COUNT, family_errors, normalise_architecture, normalise_family)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import (
    format_quantity, parse_quantity, plain_number)

ACTIVE_POD_PHASES = ("Running", "Pending")
# Pods of a gpufabric app deployment carry this label; their GPUs are counted once, as the app's allocation.
APP_LABEL = "gpufabric.io/app"


@dataclass(frozen=True)
class AppAllocation:
    """GPUs an app deployment holds on a compute pool (summed into status.hardwareAllocation)."""

    name: str
    namespace: str
    architecture: str
    family: str
    count: int


def app_allocation(entry):
    """{name, namespace, architecture, family (or gpu: {family, count}), count} -> AppAllocation."""
    gpu = entry.get("gpu") or {}
    return AppAllocation(str(entry["name"]), str(entry.get("namespace") or ""),
                         normalise_architecture(entry.get("architecture") or "AMD64") or "AMD64",
                         normalise_family(entry.get("family") or gpu.get("family") or ""),
                         int(entry.get("count", gpu.get("count", 0)) or 0))


def _gpu_list(counts):
    """{kind name: GPUs} -> status rows {family, memoryGB, gpuCount} (core.families), sorted by name."""
    return [gpu_row(name, counts[name]) for name in sorted(counts)]


def hardware_capacity(allocation, hosts):
    """status.hardwareCapacity: totals per architecture over every host of every machine pool."""
    by_name = dict((host.name, host) for host in hosts)
    totals = {}
    for name in sorted(set(entry.host for pool in allocation for entry in pool.hosts)):
        host = by_name.get(name)
        if host is None:
            continue
        row = totals.setdefault(host.architecture or "UNKNOWN", [Fraction(0), Fraction(0), {}])
        row[0] += host.cpu
        row[1] += host.memory
        for group in host.gpus:
            row[2][group.kind] = row[2].get(group.kind, 0) + group.count
    return [{"architecture": arch, "totalCPU": plain_number(cpu), "totalMemory": format_quantity(memory, "binary"),
             "gpu": _gpu_list(gpus)} for arch, (cpu, memory, gpus) in sorted(totals.items())]


def hardware_allocation(apps):
    """status.hardwareAllocation: GPUs held by app deployments, summed per architecture and family."""
    totals = {}
    for app in apps:
        families = totals.setdefault(app.architecture, {})
        families[app.family] = families.get(app.family, 0) + app.count
    return [{"architecture": arch, "gpu": _gpu_list(families)} for arch, families in sorted(totals.items())]


def workload_refs(apps):
    """status.aiWorkloadRefs: each app once, sorted by namespace then name, with the GPUs it holds (the ledger
    a concurrent run checks against before its own workload exists)."""
    refs = dict(((app.namespace, app.name), app) for app in apps)
    return [dict(gpu_row(app.family, app.count), name=app.name, namespace=app.namespace,
                 architecture=app.architecture) for key, app in sorted(refs.items())]


def gpu_totals(hardware):
    """hardwareCapacity or hardwareAllocation list -> {(architecture, kind name): count}."""
    totals = {}
    for row in hardware or ():
        for gpu in row.get("gpu") or ():
            key = (row.get("architecture"), row_name(gpu))
            totals[key] = totals.get(key, 0) + int(gpu.get("gpuCount") or 0)
    return totals


@dataclass(frozen=True)
class Fit:
    """A placement or quota check. message says the shortfall when fits is False, the headroom otherwise."""

    fits: bool
    family: str
    requested: int
    total: int
    used: int
    free: int
    free_after: int
    message: str


def check_fit(compute_pool, capacity, allocation, family, count, architecture=None, what="compute pool"):
    """Does `count` GPUs of `family` fit on a compute pool, given its status capacity and allocation lists?

    The total counts the GPUs `family` covers (core.families); the used figure counts every allocation that may
    stand on them (one recorded without memory may hold 80 GB GPUs an NVIDIA-A100-80GB request asks for).
    what: how the message names the target ('compute pool', or 'pool' for a labelled pool)."""
    family = normalise_family(family)
    total_by, used_by = gpu_totals(capacity), gpu_totals(allocation)
    arch_ok = (lambda arch: True) if architecture is None else (lambda arch: arch == architecture)
    total = sum(n for (arch, fam), n in total_by.items() if covers(family, fam) and arch_ok(arch))
    used = sum(n for (arch, fam), n in used_by.items() if overlaps(family, fam) and arch_ok(arch))
    free = total - used
    where = "%s %s%s" % (what, compute_pool, " (%s)" % architecture if architecture else "")
    if count <= free:
        message = "%d x %s fits on %s: %d free of %d, %d left after" % (count, family, where, free, total,
                                                                        free - count)
        return Fit(True, family, count, total, used, free, free - count, message)
    message = "needs %d x %s, %d free on %s (%d total, %d allocated): short by %d" % (
        count, family, free, where, total, used, count - free)
    return Fit(False, family, count, total, used, free, free - count, message)


def dedicated_errors(compute_pool, mode, apps, app_name):
    """A dedicated compute pool hosts a single app deployment; shared pools host many."""
    others = sorted(set("%s/%s" % (app.namespace, app.name) for app in apps if app.name != app_name))
    if mode == "dedicated" and others:
        return ["compute pool %s is dedicated and already hosts %s; use a shared compute pool or another "
                "dedicated one" % (compute_pool, ", ".join(others))]
    return []


def quota_key(quota, family):
    """The quota family that counts GPUs of `family` (the one key covering it: a quota's keys never overlap),
    or None when no key does."""
    keys = covering(sorted(_by_family(quota)), normalise_family(family))
    return keys[0] if keys else None


def usage_by_quota(quota, used):
    """{quota family: GPUs} of `used` ({kind: GPUs}): each kind counted under the quota family that covers it
    (an NVIDIA-A100-80GB app under NVIDIA-A100), a kind no quota family covers under its own name."""
    result = {}
    for kind, count in sorted(_by_family(used).items()):
        key = quota_key(quota, kind) or kind
        result[key] = result.get(key, 0) + count
    return result


def check_quota(project, quota, used, family, count):
    """Does `count` more GPUs of `family` stay within the project's quota? quota/used: {family: count}.
    The quota key covering the family counts it (NVIDIA-A100 counts NVIDIA-A100-80GB apps), with every app
    it covers."""
    family = normalise_family(family)
    quota = _by_family(quota)
    key = quota_key(quota, family)
    limit = quota.get(key, 0)
    taken = sum(n for kind, n in _by_family(used).items() if (covers(key, kind) if key else kind == family))
    left = limit - taken
    named = family if key in (None, family) else "%s (quota %s)" % (family, key)
    if count <= left:
        return Fit(True, family, count, limit, taken, left, left - count,
                   "%d x %s within project %s's quota: %d left of %d, %d left after"
                   % (count, named, project, left, limit, left - count))
    return Fit(False, family, count, limit, taken, left, left - count,
               "needs %d x %s, %d left of project %s's quota (%d quota, %d used): short by %d"
               % (count, named, left, project, limit, taken, count - left))


def _by_family(counts):
    result = {}
    for family, count in (counts or {}).items():
        key = normalise_family(family)
        result[key] = result.get(key, 0) + int(count)
    return result


def quota_errors(tenant, tenant_quota, project_quotas):
    """Tenant quota must hold the sum of its projects' quotas, per family; errors name family and numbers.

    A project's family counts under the tenant family that covers it (a project's NVIDIA-A100-80GB under the
    tenant's NVIDIA-A100); one no tenant family covers is over a quota of 0.
    project_quotas: {project name: {family: count}} for every project of the tenant (including the new one).
    """
    limits = _by_family(tenant_quota)
    requested = {}
    for project in sorted(project_quotas):
        for family, count in sorted(_by_family(project_quotas[project]).items()):
            key = quota_key(limits, family) or family
            shown = "%s %d" % (project, count) if key == family else "%s %d x %s" % (project, count, family)
            requested.setdefault(key, []).append((shown, count))
    errors = []
    for family in sorted(requested):
        total = sum(item[1] for item in requested[family])
        if total > limits.get(family, 0):
            parts = ", ".join(item[0] for item in requested[family])
            errors.append("tenant %s: projects request %d x %s (%s) but the tenant quota is %d: over by %d"
                          % (tenant, total, family, parts, limits.get(family, 0), total - limits.get(family, 0)))
    return errors


def quota_capacity_warnings(owner, quota, capacity, where="the cluster"):
    """Flag a quota the cluster's GPUs of that family cannot hold. capacity: {kind name: GPUs in the cluster};
    a quota family counts every kind it covers (NVIDIA-A100: the 80 GB and the 40 GB ones). where: what capacity
    counts, for the message."""
    kinds = _by_family(capacity)
    warnings = []
    for family, count in sorted(_by_family(quota).items()):
        have = sum(n for kind, n in kinds.items() if covers(family, kind))
        if count > have:
            warnings.append("%s quota %d x %s exceeds the %d %s GPUs in %s: over by %d"
                            % (owner, count, family, have, family, where, count - have))
    return warnings


def parse_gpu_quota(quota, what="gpu_quota"):
    """{family: count} -> sorted ((family, count), ...) with families normalised; raises on bad counts."""
    errors, result, seen = [], {}, set()
    if not isinstance(quota or {}, dict):
        raise_if(["%s must be a mapping of GPU family to count, got %r" % (what, quota)])
    for family, count in (quota or {}).items():
        key = normalise_family(family)
        if not key:
            errors.append("%s: empty GPU family" % what)
            continue
        family_problems = family_errors(family, "%s family" % what)
        if family_problems:
            errors += family_problems
            continue
        if key in seen:
            errors.append("%s: family %s is listed twice (as %r)" % (what, key, family))
        seen.add(key)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            errors.append("%s %s: %r is not a non-negative integer" % (what, key, count))
            continue
        if count > MAX_COUNT:
            errors.append("%s %s: %d is more than %d GPUs" % (what, key, count, MAX_COUNT))
            continue
        result[key] = count
    raise_if(errors + overlap_errors(result, what))
    return tuple(sorted(result.items()))


def pod_gpu_request(pod):
    """GPUs a pod asks for, as the scheduler counts it: max(sum over containers, largest init container)."""
    spec = pod.get("spec") or {}

    def gpus(container):
        resources = container.get("resources") or {}
        value = (resources.get("requests") or {}).get(GPU_RESOURCE)
        if value is None:
            value = (resources.get("limits") or {}).get(GPU_RESOURCE, 0)
        return int(parse_quantity(value))

    main = sum(gpus(c) for c in spec.get("containers") or ())
    init = max([gpus(c) for c in spec.get("initContainers") or ()] or [0])
    return max(main, init)


def node_gpus(node):
    return int(parse_quantity(((node.get("status") or {}).get("capacity") or {}).get(GPU_RESOURCE, 0)))


def is_app_pod(pod):
    return APP_LABEL in ((pod.get("metadata") or {}).get("labels") or {})


def pool_row(name, nodes, pods, allocated=0):
    """One row of the pool table: GPUs on the pool's nodes, GPUs requested by Running/Pending pods on them.

    allocated: GPUs app deployments hold on the pool (the ledger); gpufabric app pods are never counted from
    the pods themselves, so an app is counted once, whether or not its pods exist yet, and not at all once it is
    removed (its pods may linger while they terminate).
    """
    names = set((node.get("metadata") or {}).get("name") for node in nodes)
    total = sum(node_gpus(node) for node in nodes)
    used = sum(pod_gpu_request(pod) for pod in pods
               if (pod.get("status") or {}).get("phase") in ACTIVE_POD_PHASES
               and (pod.get("spec") or {}).get("nodeName") in names
               and not is_app_pod(pod)) + allocated
    return {"name": name, "state": "active", "gpuTotal": total, "gpuUsed": used, "gpuFree": total - used,
            "nodeCount": len(names)}


def delete_guard_errors(what, workloads, force=False):
    """Refuse to delete a pool that still runs workloads unless forced; names them and what stays running.

    what: e.g. 'compute pool vision-cluster'; workloads: 'namespace/name' strings.
    """
    workloads = sorted(set(workloads))
    if not workloads or force:
        return []
    return ["%s still runs %d workload(s) (%s); set force to delete it anyway: node labels under the prefix "
            "are removed and running workloads are not stopped" % (what, len(workloads), ", ".join(workloads))]


@dataclass(frozen=True)
class Placement:
    """Where an app deployment lands (target: its labelled pool or compute pool) and what is left; errors empty
    means it may be applied.

    apps_after: the pool's apps with this one placed, for hardwareAllocation / aiWorkloadRefs.
    products: the GPU product labels of the pool's nodes the family covers; with more than one, the pods
    select them by node affinity (a node selector holds one value).
    """

    target: str
    family: str
    count: int
    node_selector: tuple
    gpu: Fit
    quota: Fit
    errors: tuple
    apps_after: tuple
    products: tuple = ()

    def to_dict(self):
        report = {"target": self.target, "family": self.family, "gpuCount": self.count,
                  "nodeSelector": dict(self.node_selector), "gpuFree": self.gpu.free,
                  "gpuFreeAfter": self.gpu.free_after, "quotaLeft": self.quota.free,
                  "quotaLeftAfter": self.quota.free_after, "errors": list(self.errors)}
        if len(self.products) > 1:
            report["gpuProducts"] = list(self.products)
        return report


def gpu_usage(apps):
    """{family: GPUs} held by a list of AppAllocation."""
    used = {}
    for app in apps:
        used[app.family] = used.get(app.family, 0) + app.count
    return used
