"""Choose hosts for compute pools: stability first, then best fit, ties by name.

Rules: a host belongs to at most one compute pool; current hosts that are still valid stay; new hosts come from
the free ones (eligible status, not in any current allocation, no compute-pool label but the compute pool's own:
a run that labelled hosts and stopped before it recorded them leaves them to the next run of that compute pool,
which chooses them again); the control plane prefers
GPU-less hosts; a requirement that cannot be met keeps its current hosts and yields a Shortfall (returned, not
raised) that counts why the other hosts were not eligible. Free hosts are indexed once per call by
(family, architecture) and, lazily, by resource-group filter, so each requirement only touches its own bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import (
    CONTROL_PLANE_LABELS, CONTROL_PLANE_POOL, worker_labels)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import kind_of
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fit import best_fit, caps_for
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import family_vendor

CONTROL_PLANE = "control-plane"  # requirement key of the control plane in shortfalls
_LISTED_POOLS = 3  # shortfalls name this many other compute pools holding hosts, and sum the rest


@dataclass(frozen=True)
class Shortfall:
    """An unmet requirement: needed vs eligible, with the reasons other hosts were not eligible, counted."""

    compute_pool: str
    requirement: str
    needed: int
    min_hosts: int
    eligible: int
    eligible_hosts: int
    reasons: Tuple[str, ...]   # e.g. "1 host in compute pool x", "2 wrong family"
    message: str


@dataclass(frozen=True)
class TargetPool:
    """The hosts a machine pool should have. satisfied False: requirement unmet, current hosts left as they are."""

    machine_pool: str
    node_type: str
    labels: Tuple[str, ...]
    requirement: Optional[str]
    hosts: Tuple[str, ...]
    satisfied: bool = True


@dataclass(frozen=True)
class AllocationResult:
    compute_pool: str
    pools: Tuple[TargetPool, ...]
    shortfalls: Tuple[Shortfall, ...]


def _rank(host):
    return 0 if host.status == "Healthy" else 1


class _FreeHosts:
    """Hosts nobody holds, indexed once; claims are permanent for the call, lists are walked with cursors.
    A host labelled for a compute pool that no allocation records is free for that compute pool only."""

    def __init__(self, hosts, taken):
        self.claimed = set(taken)
        self.labelled = {}  # host -> the compute pool its label names
        self.by_family_arch, self.by_arch = {}, {}
        for host in hosts:
            if host.name in self.claimed or not host.eligible:
                continue
            if host.compute_pool:
                self.labelled[host.name] = host.compute_pool
            self.by_arch.setdefault(host.architecture, []).append(host)
            for group in host.gpus:
                bucket = self.by_family_arch.setdefault((group.family, host.architecture), [])
                if not bucket or bucket[-1] is not host:  # two memory sizes of one family: the host once
                    bucket.append(host)
        self._lists = {}

    def worker_groups(self, family, arch, groups):
        """Free hosts with GPUs `family` covers, by how many: the index is by family, the memory a request may
        name (NVIDIA-A100-80GB) is checked per host."""
        key = ("w", family, arch, groups)
        if key not in self._lists:
            by_size = {}
            for host in self.by_family_arch.get((kind_of(family).family, arch), ()):
                if host.matches(groups) and host.gpu_count(family) > 0:
                    by_size.setdefault(host.gpu_count(family), []).append(host)
            self._lists[key] = {size: [[h.name for h in sorted(items, key=lambda h: (_rank(h), h.name))], 0]
                                for size, items in by_size.items()}
        return self._lists[key]

    def control_plane_list(self, arch, groups, families):
        key = ("cp", arch, groups, families)
        if key not in self._lists:
            def order(host):
                if families:  # single-node: the one host is also the worker, so prefer the requested GPUs
                    wanted = sum(host.gpu_count(family) for family in families)
                    return (0 if wanted else 1, _rank(host), -wanted, host.name)
                return (1 if host.gpus else 0, _rank(host), host.gpu_count(), host.name)
            items = [host for host in self.by_arch.get(arch, ()) if host.matches(groups)]
            self._lists[key] = [[host.name for host in sorted(items, key=order)], 0]
        return self._lists[key]

    def take(self, entry, limit, compute_pool):
        """Up to `limit` unclaimed names from a list that `compute_pool` may take, in order (advances the cursor
        past claimed ones)."""
        names, cursor = entry
        while cursor < len(names) and names[cursor] in self.claimed:
            cursor += 1
        entry[1] = cursor
        found = []
        while cursor < len(names) and len(found) < limit:
            name = names[cursor]
            if name not in self.claimed and self.labelled.get(name, compute_pool) == compute_pool:
                found.append(name)
            cursor += 1
        return found


@dataclass(frozen=True)
class _Requirement:
    key: str
    machine_pool: str
    node_type: str
    labels: Tuple[str, ...]
    family: Optional[str]   # None for the control plane
    need: int               # GPUs (workers) or hosts (control plane)
    min_hosts: int
    architecture: str
    groups: Tuple[Tuple[str, str], ...]
    worker: Optional[str]   # worker pool name; None for the control plane
    families: Tuple[str, ...] = ()


def _requirements(spec, current):
    """The spec's managed requirements with their machine pool names (current names kept, new ones indexed)."""
    workers = spec.managed_worker_pools
    dedicated_control_plane = workers and not spec.control_plane.schedule_workloads
    node_type = "ControlPlaneOnly" if dedicated_control_plane else "ControlPlaneAndWorker"
    single_families = tuple(sorted(set(w.family for w in spec.worker_pools))) \
        if spec.control_plane.single_node_cluster else ()
    result = [_Requirement(CONTROL_PLANE, CONTROL_PLANE_POOL, node_type, CONTROL_PLANE_LABELS, None,
                           spec.control_plane.node_count, spec.control_plane.node_count,
                           spec.control_plane.architecture, spec.control_plane_resource_groups, None,
                           single_families)]
    by_requirement = dict((pool.requirement, pool.name) for pool in current if pool.requirement)
    used = set(pool.name for pool in current)
    for worker in sorted(workers, key=lambda w: w.name):
        name = by_requirement.get(worker.name)
        if name is None:
            stem = "worker-pool-%s-%s-" % (family_vendor(worker.family), worker.architecture.lower())
            index = 0
            while stem + str(index) in used:
                index += 1
            name = stem + str(index)
            used.add(name)
        result.append(_Requirement(worker.name, name, "WorkerOnly", worker_labels(family_vendor(worker.family)),
                                   worker.family, worker.gpu_count, worker.min_worker_nodes, worker.architecture,
                                   spec.worker_selection_groups(), worker.name))
    return result


def _valid_for(host, requirement, compute_pool):
    """Can a host the pool already has stay for this requirement?"""
    if host is None or not host.eligible or host.architecture != requirement.architecture:
        return False
    if host.compute_pool and host.compute_pool != compute_pool:
        return False
    if requirement.family is not None and host.gpu_count(requirement.family) <= 0:
        return False
    return host.matches(requirement.groups)


def _size(host, requirement):
    return host.gpu_count(requirement.family)


def _fit(hosts, requirement, ordered_names, need, min_hosts):
    groups = {}
    for name in ordered_names:
        groups.setdefault(_size(hosts[name], requirement), []).append(name)
    return best_fit(groups.items(), need, min_hosts)


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _groups_text(groups):
    return " in " + ",".join("%s=%s" % pair for pair in groups) if groups else ""


def _signature(host):
    """Hosts with one signature answer every eligibility question alike, so shortfalls count classes, not hosts."""
    return (host.gpus, host.architecture, host.resource_groups, host.eligible, host.compute_pool)


def _intrinsic_reason(host, requirement):
    """Why the host could never serve the requirement (GPUs, architecture, resource groups); None if it could."""
    if requirement.family is not None and not host.gpus:
        return (3, "without GPUs", False)
    if requirement.family is not None and host.gpu_count(requirement.family) <= 0:
        return (4, "wrong family", False)
    if host.status == "Unsupported":
        return (7, "unsupported", False)
    if host.architecture != requirement.architecture:
        return (5, "wrong architecture", False)
    if not host.matches(requirement.groups):
        return (6, "outside the resource groups", False)
    return None


def _attribute_reason(host, requirement, compute_pool):
    """The first rule a host not held by anyone in this call fails; None when it could serve.

    What the host is is checked before where it is (another compute pool) and how it is (health): a host that
    could never serve is not reported as merely taken.
    """
    intrinsic = _intrinsic_reason(host, requirement)
    if intrinsic is not None:
        return intrinsic
    if host.compute_pool and host.compute_pool != compute_pool:
        return (1, "in compute pool %s" % host.compute_pool, True)
    if not host.eligible:
        return (7, "unsupported" if host.status == "Unsupported" else "unhealthy", False)
    return None


class _Context:
    """One allocation call: hosts by name, the free index, who holds which host, and hosts nobody holds
    counted by signature (so a shortfall costs O(classes), not O(hosts))."""

    def __init__(self, hosts, currents):
        self.hosts = {}
        for host in sorted(hosts, key=lambda h: h.name):
            self.hosts[host.name] = host
        self.owner = {}  # host -> (compute pool, machine pool) for every host held in this call
        for compute_pool in sorted(currents):
            for pool in currents[compute_pool]:
                for entry in pool.hosts:
                    self.owner.setdefault(entry.host, (compute_pool, pool.name))
        self.held_by = {}  # compute pool -> {machine pool: hosts held}
        for compute_pool, machine_pool in self.owner.values():
            pools = self.held_by.setdefault(compute_pool, {})
            pools[machine_pool] = pools.get(machine_pool, 0) + 1
        self._classes = None  # signature -> [representative host, count] for hosts nobody holds; built lazily
        self._held_classes = None  # (compute pool, signature) -> [host, count] for hosts other pools hold
        self.free = _FreeHosts(self.hosts.values(), self.owner)
        self.held = set()  # hosts kept or chosen by a requirement in this call

    def claim(self, names, compute_pool, machine_pool):
        for name in names:
            self.held.add(name)
            self.free.claimed.add(name)
            before = self.owner.get(name)
            if before == (compute_pool, machine_pool):
                continue
            if before is None:
                if self._classes is not None and name in self.hosts:
                    self._classes[_signature(self.hosts[name])][1] -= 1
            else:
                self.held_by[before[0]][before[1]] -= 1
            self.owner[name] = (compute_pool, machine_pool)
            pools = self.held_by.setdefault(compute_pool, {})
            pools[machine_pool] = pools.get(machine_pool, 0) + 1

    @property
    def classes(self):
        """Built on the first shortfall only, so a plan that meets every requirement never pays for it."""
        if self._classes is None:
            self._classes = {}
            for name, host in self.hosts.items():
                if name not in self.owner:
                    self._classes.setdefault(_signature(host), [host, 0])[1] += 1
        return self._classes

    def held_classes(self):
        """Hosts held in this call, by holder and signature; built on the first shortfall only."""
        if self._held_classes is None:
            self._held_classes = {}
            for name, owner in self.owner.items():
                host = self.hosts.get(name)
                if host is not None:
                    self._held_classes.setdefault((owner[0], _signature(host)), [host, 0])[1] += 1
        return self._held_classes

    def eligible_free(self, requirement, compute_pool):
        """(hosts, GPUs) nobody holds that could serve the requirement."""
        hosts = gpus = 0
        for host, count in self.classes.values():
            if count and _attribute_reason(host, requirement, compute_pool) is None:
                hosts += count
                gpus += count * (host.gpu_count(requirement.family) if requirement.family else 0)
        return hosts, gpus

    def reasons(self, requirement, compute_pool, own_pool, eligible):
        """Why the other hosts cannot serve the requirement: first failing rule per host, counted."""
        counts = {}

        def add(reason, count):
            if reason is not None and count:
                counts[reason] = counts.get(reason, 0) + count

        for key, (host, count) in self.held_classes().items():
            holder = key[0]
            if holder != compute_pool:
                add(_intrinsic_reason(host, requirement) or (1, "in compute pool %s" % holder, True), count)
        for machine_pool, count in (self.held_by.get(compute_pool) or {}).items():
            if machine_pool != requirement.machine_pool:
                add((0, "in machine pool %s" % machine_pool, True), count)
        for name in own_pool:  # this pool's own hosts that cannot stay
            if name not in eligible and self.owner.get(name) == (compute_pool, requirement.machine_pool):
                host = self.hosts.get(name)
                add((8, "gone from the inventory", False) if host is None else
                    _attribute_reason(host, requirement, compute_pool) or (7, "unhealthy", False), 1)
        for host, count in self.classes.values():
            add(_attribute_reason(host, requirement, compute_pool), count)
        pools = sorted((-count, reason) for reason, count in counts.items() if reason[0] == 1)
        if len(pools) > _LISTED_POOLS:  # name the largest holders, sum the rest
            for unused, reason in pools[_LISTED_POOLS:]:
                del counts[reason]
            counts[(1.5, "in %d other compute pools" % (len(pools) - _LISTED_POOLS), True)] = -sum(
                count for count, unused in pools[_LISTED_POOLS:])
        ordered = sorted(counts.items(), key=lambda item: (item[0][0], item[0][1]))
        return tuple(("%s %s" % (_plural(count, "host"), text)) if with_host else "%d %s" % (count, text)
                     for (unused, text, with_host), count in ordered)


def _shortfall(ctx, compute_pool, requirement, kept, current_pool):
    """Build the Shortfall for an unmet requirement, with the reasons the other hosts were not eligible."""
    free_hosts, free_gpus = ctx.eligible_free(requirement, compute_pool)
    arch = "" if requirement.architecture == "AMD64" else requirement.architecture + " "
    if requirement.family is None:
        eligible = eligible_hosts = len(kept) + free_hosts
        need_text = "control plane needs %d %s%s%s" % (requirement.need, arch, "host" if requirement.need == 1
                                                       else "hosts", _groups_text(requirement.groups))
        have_text = "%d eligible" % eligible
    else:
        eligible = sum(_size(ctx.hosts[name], requirement) for name in kept) + free_gpus
        eligible_hosts = len(kept) + free_hosts
        need_text = "worker pool %s needs %d x %s on >= %d %s%s%s" % (
            requirement.worker, requirement.need, requirement.family, requirement.min_hosts, arch,
            "host" if requirement.min_hosts == 1 else "hosts", _groups_text(requirement.groups))
        have_text = "%d eligible on %s" % (eligible, _plural(eligible_hosts, "host"))
    reasons = ctx.reasons(requirement, compute_pool, current_pool.host_names if current_pool else (), set(kept))
    if reasons:
        have_text += " (%s)" % ", ".join(reasons)
    return Shortfall(compute_pool, requirement.key, requirement.need, requirement.min_hosts, eligible,
                     eligible_hosts, reasons, "%s; %s" % (need_text, have_text))


def _keep(ctx, compute_pool, requirement, current_pool):
    """Phase 1: the current hosts that stay (all valid ones, trimmed by best fit when they exceed the need)."""
    if current_pool is None:
        return [], False
    valid = [entry.host for entry in current_pool.hosts
             if entry.host not in ctx.held
             and _valid_for(ctx.hosts.get(entry.host), requirement, compute_pool)]
    hosts = ctx.hosts
    if requirement.family is None:
        valid.sort(key=lambda name: (_rank(hosts[name]), 1 if hosts[name].gpus else 0, name))
        return valid[:requirement.need], len(valid) >= requirement.need
    valid.sort(key=lambda name: (_rank(hosts[name]), name))
    if (sum(_size(hosts[name], requirement) for name in valid) >= requirement.need
            and len(valid) >= requirement.min_hosts):
        return _fit(hosts, requirement, valid, requirement.need, requirement.min_hosts), True
    return valid, False


def _fill(ctx, compute_pool, requirement, kept):
    """Phase 2: add free hosts to the kept ones; returns the final host names or None when impossible."""
    hosts, free = ctx.hosts, ctx.free
    if requirement.family is None:
        missing = requirement.need - len(kept)
        found = free.take(free.control_plane_list(requirement.architecture, requirement.groups,
                                                  requirement.families), missing, compute_pool)
        return kept + found if len(found) == missing else None
    need = requirement.need - sum(_size(hosts[name], requirement) for name in kept)
    min_hosts = requirement.min_hosts - len(kept)
    lists = free.worker_groups(requirement.family, requirement.architecture, requirement.groups)
    groups = [(size, free.take(entry, caps_for(size, need, min_hosts), compute_pool))
              for size, entry in lists.items()]
    added = best_fit(groups, need, min_hosts)
    if added is None:
        return None
    # Trim: kept hosts that the new ones make redundant go, so the result is its own best fit (idempotence).
    return _fit(hosts, requirement, kept + added, requirement.need, requirement.min_hosts)


def allocate_many(hosts, specs, currents):
    """Allocate several compute pools in one pass over the hosts (names sorted, so the order is fixed).

    specs: ComputePoolSpec list; currents: {compute pool name: tuple of MachinePool}. All pools keep their
    valid hosts before any pool takes free ones, so adding a pool never moves another pool's hosts.
    Returns {compute pool name: AllocationResult}.
    """
    ctx = _Context(hosts, currents)
    plans = []
    for spec in sorted(specs, key=lambda s: (s.name, s.namespace)):
        current = currents.get(spec.name, ())
        by_requirement = dict((pool.requirement, pool) for pool in current if pool.requirement)
        requirements = []
        for requirement in _requirements(spec, current):
            current_pool = (next((p for p in current if p.name == CONTROL_PLANE_POOL), None)
                            if requirement.worker is None else by_requirement.get(requirement.worker))
            kept, done = _keep(ctx, spec.name, requirement, current_pool)
            ctx.claim(kept, spec.name, requirement.machine_pool)
            requirements.append((requirement, current_pool, kept, done))
        plans.append((spec, requirements))
    results = {}
    for spec, requirements in plans:
        pools, shortfalls = [], []
        for requirement, current_pool, kept, done in requirements:
            chosen = kept if done else _fill(ctx, spec.name, requirement, kept)
            if chosen is None:
                shortfalls.append(_shortfall(ctx, spec.name, requirement, kept, current_pool))
                current_hosts = current_pool.host_names if current_pool else ()
                ctx.claim(current_hosts, spec.name, requirement.machine_pool)
                pools.append(TargetPool(requirement.machine_pool, requirement.node_type, requirement.labels,
                                        requirement.worker, tuple(sorted(current_hosts)), False))
                continue
            ctx.claim(chosen, spec.name, requirement.machine_pool)
            pools.append(TargetPool(requirement.machine_pool, requirement.node_type, requirement.labels,
                                    requirement.worker, tuple(sorted(chosen))))
        pools.sort(key=lambda p: (p.machine_pool != CONTROL_PLANE_POOL, p.machine_pool))
        results[spec.name] = AllocationResult(spec.name, tuple(pools), tuple(shortfalls))
    return results


def allocate(hosts, spec, current=(), others=None):
    """Allocate one compute pool. others: {compute pool name: allocation} of the other pools, whose hosts are
    off limits (hosts labelled for another compute pool are off limits anyway)."""
    currents = dict(others or {})
    currents[spec.name] = tuple(current)
    return allocate_many(hosts, [spec], currents)[spec.name]
