"""Plan: current allocation + hosts + requirements -> ordered machine pool operations with host-level steps.

Safety rules: delete removes the hosts (marked Deleting) before the pool; a scale that adds hosts removes old
ones only once a replacement is Healthy (a pure shrink removes them directly); replace keeps one bridge host from
the old set (Healthy if any is) until a replacement is Healthy; no step lowers the Healthy control-plane count
below the quorum of the desired node count. A step that must wait says what it waits for.
apply_plan gives the allocation after the non-waiting steps; planning again on it repeats only the waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.allocate import allocate_many
from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import (
    CONTROL_PLANE_POOL, HostEntry, MachinePool, sort_pools)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import quorum

ADD, REMOVE, WAIT = "add-host", "remove-host", "wait"
CREATE_POOL, DELETE_POOL, SET_NODE_TYPE = "create-machine-pool", "delete-machine-pool", "set-node-type"
_STEP_ORDER = {CREATE_POOL: 0, SET_NODE_TYPE: 1, ADD: 2, REMOVE: 3, WAIT: 4, DELETE_POOL: 5}


@dataclass(frozen=True)
class Step:
    """action: create-machine-pool | set-node-type | add-host | remove-host | wait | delete-machine-pool.
    status: the host's status after the step (add-host: Provisioning or Healthy; remove-host: Deleting)."""

    action: str
    machine_pool: str
    host: Optional[str] = None
    status: Optional[str] = None
    message: str = ""

    def to_dict(self):
        body = {"action": self.action, "machinePool": self.machine_pool}
        for key, value in (("host", self.host), ("status", self.status), ("message", self.message)):
            if value:
                body[key] = value
        return body


@dataclass(frozen=True)
class Operation:
    """kind: create | delete | scale | replace | update (node type / labels of an existing pool)."""

    kind: str
    machine_pool: str
    requirement: Optional[str]
    steps: Tuple[Step, ...]

    @property
    def waiting(self):
        return tuple(step.message for step in self.steps if step.action == WAIT)

    @property
    def changes(self):
        return any(step.action != WAIT for step in self.steps)

    def to_dict(self):
        body = {"kind": self.kind, "machinePool": self.machine_pool, "steps": [s.to_dict() for s in self.steps]}
        if self.requirement:
            body["workerPoolRequirementsName"] = self.requirement
        return body


@dataclass(frozen=True)
class Plan:
    compute_pool: str
    operations: Tuple[Operation, ...]
    shortfalls: Tuple = ()
    targets: Tuple = ()
    mode: str = "dedicated"

    @property
    def changed(self):
        """True when some step changes something (a plan of waits only changes nothing)."""
        return any(op.changes for op in self.operations)

    @property
    def waiting(self):
        return tuple(message for op in self.operations for message in op.waiting)

    def to_dict(self):
        return {"computePool": self.compute_pool, "mode": self.mode,
                "operations": [op.to_dict() for op in self.operations],
                "waiting": list(self.waiting), "shortfalls": [s.message for s in self.shortfalls]}


def recorded_status(host):
    """Status written to the allocation for a live host: Node Ready -> Healthy, not yet ready -> Provisioning."""
    if host is None:
        return "Unknown"
    if host.status in ("Initial", "Provisioning"):
        return "Provisioning"
    return host.status


def _healthy(hosts, name):
    host = hosts.get(name)
    return host is not None and host.status == "Healthy"


def _waiting_text(pool, replacements):
    if len(replacements) == 1:
        return "%s host %s" % (pool, replacements[0])
    return "%s hosts %s (any one)" % (pool, ", ".join(replacements))


def _pool_operation(target, current, hosts, desired_cp):
    """The operation (or None) that takes one machine pool from current to target."""
    if not target.satisfied:
        return None
    name = target.machine_pool
    if current is None:
        steps = [Step(CREATE_POOL, name)] + [Step(ADD, name, h, recorded_status(hosts.get(h))) for h in target.hosts]
        return Operation("create", name, target.requirement, tuple(steps))
    now_names, wanted = set(current.host_names), set(target.hosts)
    added = sorted(wanted - now_names)
    dropped = sorted(now_names - wanted)
    # Replacements: hosts added now, and hosts added earlier that the allocation does not yet record as
    # Healthy; one of them being Healthy now is what lets the old hosts go.
    recorded = dict((entry.host, entry.status) for entry in current.hosts)
    replacements = sorted(set(added) | set(h for h in wanted & now_names if recorded.get(h) != "Healthy"))
    waiting_for = [h for h in replacements if not _healthy(hosts, h)]
    must_wait = bool(waiting_for) and len(waiting_for) == len(replacements)
    replace = bool(dropped) and bool(wanted) and wanted <= set(replacements)
    steps = []
    if (current.node_type, tuple(current.labels)) != (target.node_type, tuple(target.labels)):
        steps.append(Step(SET_NODE_TYPE, name, status=target.node_type))
    steps.extend(Step(ADD, name, h, recorded_status(hosts.get(h))) for h in added)
    steps.extend(_removal_steps(name, dropped, hosts, replace, must_wait, waiting_for,
                                sum(1 for h in now_names | set(added) if _healthy(hosts, h)), desired_cp))
    if not steps:
        return None
    kind = "replace" if replace else ("scale" if added or dropped else "update")
    steps.sort(key=lambda step: _STEP_ORDER[step.action])
    return Operation(kind, name, target.requirement, tuple(steps))


def _removal_steps(name, dropped, hosts, replace, must_wait, waiting_for, healthy_count, desired_cp):
    """Remove or wait, host by host: while no replacement is Healthy, a replace keeps one bridge host from the
    old set (a Healthy one if there is one, else the first: the pool is never left with no host at all) and a
    scale keeps every old host; a pure shrink removes at once; the control plane never drops below the quorum
    of its desired size."""
    healthy_old = [h for h in dropped if _healthy(hosts, h)]
    bridge = (healthy_old or list(dropped))[0] if replace and must_wait and dropped else None
    steps = []
    for host in dropped:
        healthy = _healthy(hosts, host)
        if host == bridge or (must_wait and not replace):
            steps.append(Step(WAIT, name, host, message="waiting for %s to become Healthy before removing %s %s"
                              % (_waiting_text(name, waiting_for), "bridge host" if replace else "host", host)))
        elif healthy and name == CONTROL_PLANE_POOL and healthy_count - 1 < quorum(desired_cp):
            awaited = ("%s to become Healthy" % _waiting_text(name, waiting_for) if waiting_for
                       else "more Healthy control-plane hosts")
            steps.append(Step(WAIT, name, host, message=(
                "waiting for %s: removing host %s now would leave %d Healthy control-plane hosts, below the "
                "quorum of %d for %d nodes" % (awaited, host, healthy_count - 1, quorum(desired_cp), desired_cp))))
        else:
            if healthy and name == CONTROL_PLANE_POOL:
                healthy_count -= 1
            steps.append(Step(REMOVE, name, host, "Deleting"))
    return steps


def delete_operation(pool):
    """Delete a machine pool: every host removed (Deleting) first, then the pool."""
    steps = [Step(REMOVE, pool.name, h, "Deleting") for h in pool.host_names] + [Step(DELETE_POOL, pool.name)]
    return Operation("delete", pool.name, pool.requirement, tuple(steps))


def _plan_one(result, spec, current, hosts):
    by_name = dict((pool.name, pool) for pool in current)
    operations = []
    targeted = set()
    for target in result.pools:
        targeted.add(target.machine_pool)
        op = _pool_operation(target, by_name.get(target.machine_pool), hosts, spec.control_plane.node_count)
        if op is not None:
            operations.append(op)
    operations.extend(delete_operation(pool) for pool in current if pool.name not in targeted)
    operations.sort(key=lambda op: (op.machine_pool != CONTROL_PLANE_POOL, op.machine_pool))
    return Plan(spec.name, tuple(operations), result.shortfalls, result.pools, spec.mode)


def plan_many(hosts, specs, currents):
    """Plan several compute pools over one host inventory (one index, one pass). Returns {name: Plan} in name
    order. Compute pool names must be unique: node labels carry the name only."""
    names = [spec.name for spec in specs]
    raise_if(["compute pool %s is given %d times (node labels carry the name only, so names must be unique "
              "across namespaces)" % (name, names.count(name)) for name in sorted(set(names))
              if names.count(name) > 1])
    by_name = {}
    for host in sorted(hosts, key=lambda h: h.name):
        by_name[host.name] = host
    currents = dict((key, tuple(value)) for key, value in currents.items())
    results = allocate_many(by_name.values(), specs, currents)
    return dict((spec.name, _plan_one(results[spec.name], spec, currents.get(spec.name, ()), by_name))
                for spec in sorted(specs, key=lambda s: s.name))


def plan_compute_pool(hosts, spec, current=(), others=None):
    """Plan one compute pool. others: {compute pool name: allocation} whose hosts are off limits."""
    currents = dict(others or {})
    currents[spec.name] = tuple(current)
    return plan_many(hosts, [spec], currents)[spec.name]


def plan_delete(compute_pool, current):
    """state: absent — delete every machine pool, workers first and the control plane last."""
    pools = sorted(current, key=lambda pool: (pool.name == CONTROL_PLANE_POOL, pool.name))
    return Plan(compute_pool, tuple(delete_operation(pool) for pool in pools))


def apply_plan(current, plan, hosts, now):
    """The allocation once the plan's non-waiting steps are done; statuses refreshed from the live hosts.

    now: the timestamp (string) recorded as statusUpdatedAt wherever a host's status changes.
    """
    by_host = dict((host.name, host) for host in hosts)
    pools = dict((pool.name, pool) for pool in current)
    ops = dict((op.machine_pool, op) for op in plan.operations)
    for name in sorted(ops):
        op = ops[name]
        for step in op.steps:
            pool = pools.get(name)
            if step.action == CREATE_POOL:
                target = next(t for t in plan.targets if t.machine_pool == name)
                pools[name] = MachinePool(name, target.node_type, tuple(target.labels), target.requirement, ())
            elif step.action == SET_NODE_TYPE:
                target = next(t for t in plan.targets if t.machine_pool == name)
                pools[name] = MachinePool(name, target.node_type, tuple(target.labels), target.requirement,
                                          pool.hosts)
            elif step.action == ADD:
                pools[name] = pool.with_hosts(pool.hosts + (HostEntry(step.host, step.status, now),))
            elif step.action == REMOVE:
                pools[name] = pool.with_hosts(e for e in pool.hosts if e.host != step.host)
            elif step.action == DELETE_POOL:
                del pools[name]
    refreshed = []
    for pool in pools.values():
        entries = []
        for entry in pool.hosts:
            status = recorded_status(by_host.get(entry.host))
            entries.append(entry if entry.status == status else HostEntry(entry.host, status, now))
        refreshed.append(pool.with_hosts(entries))
    return sort_pools(refreshed)


def deleting_allocation(current, now):
    """The allocation with every host marked Deleting: deleting a compute pool removes its machines first, and the
    status says so before the labels go. now: the statusUpdatedAt of hosts whose status changes."""
    return sort_pools(pool.with_hosts(
        entry if entry.status == "Deleting" else HostEntry(entry.host, "Deleting", now) for entry in pool.hosts)
        for pool in current)
