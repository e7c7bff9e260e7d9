# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Read, plan, send: the one run every writing module and the fabric module share.

The kinds the spec needs are listed once each, the core plans the whole spec, and the writes go out only where
something differs. A status write that finds its object changed by someone else makes the run read and plan
again (a bounded number of times); a write that fails says what had already been written, and the run reports
changed when anything was.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import (
    Context, plan_fabric, scoped, spokes_needed)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan_apps import access_questions
from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import SPOKE_READS, kinds_for
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import APPLY, DELETE, diff_of
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.reader import read_state
from ansible_collections.gpufabric.platform.plugins.module_utils.prometheus import read_utilization
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.send import (
    Conflict, Sender, WriteError, key_list, may)

REPLANS = 5  # reads and plans after a conflicting concurrent write, before giving up


def utc_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _namespaces(state):
    if "Namespace" not in state.read:
        return None
    return set(obj["metadata"]["name"] for obj in state.items("Namespace"))


class FabricRun(object):
    """One run of a spec against the cluster a module addresses."""

    def __init__(self, module, spec, prune=False, spoke=None):
        """spoke: apply only the part of the spec that lives on that spoke (core.fabric.scoped)."""
        self.module, self.spec, self.prune = module, spec, prune
        self.whole, self.scope = spec, spoke
        self.cluster = module.cluster
        self.check_mode = module.check_mode
        self.done = []       # writes that went through in earlier, conflicting attempts
        self.plan = None
        self.state = None
        self.states = {}     # cluster -> ClusterState ("" the hub, or the one cluster)
        self.clusters = {"": self.cluster}

    def identity(self):
        describe = getattr(self.cluster.connection, "describe", None)
        return describe() if callable(describe) else "the identity at %s" % self.cluster.connection.host

    def _plan(self):
        self.state = read_state(self.cluster, kinds_for(self.whole.kinds))
        if self.scope is not None:
            self.spec = scoped(self.whole, self.scope, self.state)
        self.states = {"": self.state}
        for name in spokes_needed(self.spec, self.state):
            self.states[name] = read_state(self.spoke(name), SPOKE_READS)
        access = tuple(self._access(*question) for question in
                       access_questions(self.spec, self.state, self.spec.label_prefix))
        spokes = dict((name, state) for name, state in self.states.items() if name)
        now = utc_now()
        context = Context(now=now, access=access, prune=self.prune,
                          metrics=read_utilization(self.spec, self.state, now))
        return plan_fabric(self.spec, self.state, context, spokes)

    def spoke(self, name):
        """The Cluster of a registered spoke, through the connection the hub keeps for it (opened once)."""
        if name not in self.clusters:
            from ansible_collections.gpufabric.platform.plugins.module_utils.kube.spokes import open_spoke

            self.clusters[name] = open_spoke(self.cluster, name)
        return self.clusters[name]

    def _access(self, resource, name, namespace):
        """The server's word on `use` of one pool, and, when refused, whom its pool-access binding names."""
        allowed = may(self.cluster, "use", "gpufabric.io", resource, namespace=namespace, name=name)
        subjects = ""
        if not allowed:
            binding = self.cluster.get("RoleBinding", "pool-access-%s" % name, namespace) or {}
            subjects = ", ".join("%s %s" % (s.get("kind"), s.get("name")) for s in binding.get("subjects") or ())
        return (resource, name, namespace), allowed, subjects

    def run(self):
        """Plan and send; returns the plan that was carried out (FabricError / KubeError raise).

        A run that fails after an earlier, conflicting attempt wrote something (its new plan is refused, say, now
        that a concurrent run took the GPUs it counted on) fails with a WriteError naming those writes too."""
        try:
            return self._attempts()
        except WriteError as error:
            earlier = [write for write in self.done if write not in error.done]
            if earlier:
                error.args = (self._with_earlier(error, earlier),)
                error.done[:0] = earlier
            raise
        except (FabricError, KubeError) as error:
            if not self.done:
                raise
            raise WriteError(self._with_earlier(error, self.done), getattr(error, "status", None), self.done)

    @staticmethod
    def _with_earlier(error, earlier):
        return "%s. Written before a concurrent change made this run read and plan again: %s" % (
            error, key_list(earlier))

    def _attempts(self):
        for attempt in range(REPLANS):
            self.plan = self._plan()
            try:
                self._send(self.plan.writes)
            except Conflict as conflict:
                if attempt == REPLANS - 1:
                    raise
                self.done.extend(conflict.done)
                continue
            return self.plan
        return self.plan

    def _send(self, writes):
        """Permissions on every cluster, then dry runs on every cluster, then the writes in plan order, each to
        its cluster. A failure lists what every cluster had already been sent."""
        sender = Sender(self.clusters, self.check_mode,
                        dict((name, _namespaces(state)) for name, state in self.states.items()))
        sender.preflight(writes, dict((name, self.identity() if not name else "the hub's identity on spoke %s"
                                       % name) for name in self.clusters))
        sender.send(writes)

    @property
    def sent(self):
        """Every write of the run: those an earlier attempt made before a conflict cut it short, then the plan
        carried out (a write of the first attempt is in no later plan: that plan reads it as done)."""
        return list(self.done) + list(self.plan.writes if self.plan else ())

    @property
    def changed(self):
        return bool(self.sent)

    def writes_of(self, entry):
        return [write for write in self.sent if write.entry == entry.where]

    def report(self, where, report):
        """An entry's report from the plan carried out, with the Nodes an earlier attempt labelled for it in
        `changed_nodes` (the later plan reads them as done)."""
        earlier = set(write.name for write in self.done if write.kind == "Node" and write.entry == where)
        if not earlier or "changed_nodes" not in report:
            return report
        return dict(report, changed_nodes=sorted(earlier | set(report["changed_nodes"])))

    def diff(self, writes=None):
        """{"before": {key: ...}, "after": {key: ...}} of the writes, as check mode and the real run both show it:
        a key's before is what the run first found, its after what it last wrote."""
        before, after = {}, {}
        for write in self.sent if writes is None else writes:
            old, new = diff_of(write, self.spec.label_prefix)
            key = write.key
            before.setdefault(key, old)
            if key in after and isinstance(after[key], dict) and isinstance(new, dict) and "labels" in new:
                merged = dict(after[key]["labels"])
                merged.update(new["labels"])
                new = {"labels": dict((k, v) for k, v in sorted(merged.items()) if v is not None)}
            after[key] = new
        return {"before": before, "after": after}

    def summary(self):
        """Per kind: what was created, changed, removed, and the declared objects left alone."""
        kinds = {}
        touched = set()
        for write in self.sent:
            row = kinds.setdefault(write.kind, {"created": [], "changed": [], "removed": [], "unchanged": []})
            name = "%s/%s" % (write.namespace, write.name) if write.namespace else write.name
            touched.add((write.kind, name))
            bucket = "removed" if write.action == DELETE else ("created" if write.action == APPLY and write.creates
                                                               else "changed")
            if name not in row[bucket] and not (bucket == "changed" and name in row["created"]):
                row[bucket].append(name)
        for entry in self.spec.entries:
            kind = ENTRY_KINDS[entry.kind]
            name = "%s/%s" % (entry.namespace, entry.name) if entry.namespace else entry.name
            if entry.present and (kind, name) not in touched and name:
                kinds.setdefault(kind, {"created": [], "changed": [], "removed": [], "unchanged": []})[
                    "unchanged"].append(name)
        return dict((kind, dict((bucket, sorted(names)) for bucket, names in row.items()))
                    for kind, row in sorted(kinds.items()))


ENTRY_KINDS = {"tenant": "Tenant", "project": "Namespace", "pool_label": "Pool", "compute_pool": "ComputePool",
               "app_deployment": "Deployment"}


class EntryRunner(object):
    """A per-object module's run: its arguments as a spec of one entry, planned and sent like a fabric.
    Subclasses name the kind and shape the entry's report into the module's return values."""

    kind = None

    def __init__(self, module):
        from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import single_entry_spec
        from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import OPTIONS

        self.module = module
        self.params = module.params
        args = self.arguments(dict((key, module.params.get(key)) for key in OPTIONS[self.kind]))
        self.spec = single_entry_spec(self.kind, args, module.params["label_prefix"])
        self.entry = self.spec.entries[0]
        self.fabric = None

    def run(self):
        self.fabric = FabricRun(self.module, self.spec)
        plan = self.fabric.run()
        for warning in plan.warnings:
            self.module.warn(warning)
        report = self.fabric.report(self.entry.where, plan.report(self.entry.where) or {})
        result = dict(self.shape(report), changed=self.fabric.changed)
        if self.module._diff:
            result["diff"] = self.fabric.diff()
        return result

    def arguments(self, args):
        """The entry's arguments from the module's (a module may read what the core cannot, e.g. a file)."""
        return args

    def shape(self, report):
        """The module's return values from the entry's report (as it is, unless a module says otherwise)."""
        return dict(report)


class FabricRunner(object):
    """The fabric module's run: the whole spec validated, planned once and sent."""

    def __init__(self, module):
        from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import parse_fabric

        self.module = module
        self.spec = parse_fabric(module.params["spec"], module.params.get("label_prefix"))

    def run(self):
        fabric = FabricRun(self.module, self.spec, prune=self.module.params["prune"],
                           spoke=self.module.params.get("spoke"))
        plan = fabric.run()
        for warning in plan.warnings:
            self.module.warn(warning)
        result = {"changed": fabric.changed, "summary": fabric.summary(), "waiting": list(plan.waiting),
                  "entries": [dict(fabric.report(where, report), entry=where, kind=kind)
                              for where, kind, report in plan.reports],
                  "writes": len(fabric.sent)}
        if self.module._diff:
            result["diff"] = fabric.diff()
        return result
