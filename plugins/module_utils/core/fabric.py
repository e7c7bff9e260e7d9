"""The fabric spec as one job: every entry validated, then one plan for every kind, in dependency order.

A spec is a mapping whose lists hold module argument dicts (a task's arguments move into the spec by copy). Each
entry is checked by the same option spec and the same parser as its module; a single-module run is a spec of one
entry, planned by the same functions. Planning is pure: it takes the objects the run listed (ClusterState) and
returns the writes that make the cluster match, the per-entry reports and the warnings, or raises FabricError
with every problem of every entry. Objects the spec declares count as existing for the entries after them, so
check mode on an empty cluster predicts the whole run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import DEFAULT_LABEL_PREFIX
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import label_prefix_errors
from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import validate_options

# spec key -> module (entry kind), in the order the spec is applied
SECTIONS = (("tenants", "tenant"), ("projects", "project"), ("pools", "pool_label"),
            ("compute_pools", "compute_pool"), ("apps", "app_deployment"))
TOP_LEVEL = ("label_prefix", "hub", "spokes") + tuple(section for section, unused in SECTIONS)
NAMESPACED = ("compute_pool", "app_deployment")


@dataclass(frozen=True)
class Entry:
    """One spec entry: its kind, where it stands in the spec, its checked options and its parsed spec (the
    kind's own dataclass; None for state=absent and for pools chosen by node_selector, resolved when planning)."""

    kind: str
    where: str
    params: dict
    spec: object = None

    @property
    def name(self):
        return self.params.get("name") or getattr(self.spec, "name", None)

    @property
    def namespace(self):
        return self.params.get("namespace") if self.kind in NAMESPACED else None

    @property
    def present(self):
        return self.params.get("state", "present") == "present"

    @property
    def key(self):
        return (self.namespace or "", self.name)

    @property
    def cluster(self):
        """The spoke the entry's nodes and workloads are on ("" for the cluster the run addresses). An app on a
        compute pool is where its compute pool is; the planner resolves that."""
        return self.params.get("spoke") or ""


@dataclass(frozen=True)
class FabricSpec:
    label_prefix: str
    entries: Tuple[Entry, ...] = ()
    spokes: Tuple[str, ...] = ()  # the names under `spokes:`, registered by the spoke module

    def of(self, kind):
        return tuple(entry for entry in self.entries if entry.kind == kind)

    @property
    def kinds(self):
        return tuple(sorted(set(entry.kind for entry in self.entries)))


def _prefixed(where, errors):
    return ["%s: %s" % (where, error) if where else error for error in errors]


def _parse_spec(kind, params):
    """The kind's parsed spec for a present entry (the parsers are the modules' own)."""
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.apps import parse_app
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_spec_from_params
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import parse_project, parse_tenant
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import parse_compute_pool

    if kind == "pool_label":
        return pool_spec_from_params(params)
    if params.get("state", "present") != "present":
        return None
    parser = {"tenant": parse_tenant, "project": parse_project, "compute_pool": parse_compute_pool,
              "app_deployment": parse_app}[kind]
    return parser(params)


def parse_entry(kind, args, where=""):
    """One module's arguments -> Entry, or FabricError listing every problem (each prefixed with `where`)."""
    params, errors = validate_options(kind, args, where)
    if errors:
        raise FabricError(errors)
    try:
        spec = _parse_spec(kind, params)
    except FabricError as error:
        raise FabricError(_prefixed(where, error.errors))
    return Entry(kind, where, params, spec)


def _label(args):
    """' (namespace/name)' of an entry for its place in messages, '' when it names nothing usable."""
    if not isinstance(args, dict):
        return ""
    name = args.get("name")
    definition = args.get("definition")
    if not name and isinstance(definition, dict) and isinstance(definition.get("pool"), dict):
        name = definition["pool"].get("name")
    if not isinstance(name, str) or not name:
        return ""
    namespace = args.get("namespace")
    return " (%s%s)" % ("%s/" % namespace if isinstance(namespace, str) and namespace else "", name)


def parse_fabric(document, label_prefix=None):
    """A fabric spec (mapping) -> FabricSpec; FabricError listing every problem of every entry, and the
    cross-entry ones (names declared twice, a node in two pools), before anything is planned.

    `src` of a pool entry must already be read into `definition` (the core reads no files)."""
    if not isinstance(document, dict):
        raise FabricError(["the fabric spec must be a mapping with %s; got %r" % (", ".join(TOP_LEVEL), document)])
    errors = []
    for key in sorted(str(k) for k in document if k not in TOP_LEVEL):
        close = difflib.get_close_matches(key, TOP_LEVEL, n=1)
        errors.append("unknown top-level key %s (%s)" % (key, "did you mean %s?" % close[0] if close
                                                         else "known: %s" % ", ".join(TOP_LEVEL)))
    prefix = label_prefix or document.get("label_prefix") or DEFAULT_LABEL_PREFIX
    errors += label_prefix_errors(prefix)
    errors += _fleet_errors(document)
    entries = []
    for section, kind in SECTIONS:
        items = document.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            errors.append("%s must be a list of %s entries (module arguments), got %s" % (
                section, kind, type(items).__name__))
            continue
        for index, args in enumerate(items):
            where = "%s[%d]%s" % (section, index, _label(args))
            if isinstance(args, dict) and "label_prefix" in args:
                errors.append("%s: label_prefix is set once, at the top of the spec" % where)
                args = dict((k, v) for k, v in args.items() if k != "label_prefix")
            if isinstance(args, dict) and args.get("src") is not None and args.get("definition") is None:
                errors.append("%s: src %s was not read; apply the spec with the fabric module, which reads it "
                              "beside the spec" % (where, args["src"]))
                continue
            try:
                entries.append(parse_entry(kind, args, where))
            except FabricError as error:
                errors += error.errors
    spokes = document.get("spokes") if isinstance(document.get("spokes"), list) else ()
    spec = FabricSpec(prefix, tuple(entries), tuple(sorted(set(
        str(entry["name"]) for entry in spokes if isinstance(entry, dict) and entry.get("name")))))
    raise_if(errors + duplicate_errors(spec))
    return spec


def secret_values(document):
    """The values of no_log options in a fabric spec's entries (a Prometheus token, say), to be masked wherever
    the spec is printed."""
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import secret_values as of_entry

    found = set()
    for section, kind in SECTIONS:
        items = document.get(section) if isinstance(document, dict) else None
        for args in items if isinstance(items, list) else ():
            found |= of_entry(kind, args)
    return found


def _fleet_errors(document):
    """`hub` (the hub's connection: the playbooks' business, checked here for its keys) and `spokes` (each a
    gpufabric.platform.spoke argument dict, checked by that module's options when the collection has it)."""
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import (
        CONNECTION_OPTIONS, OPTIONS)

    errors = []
    hub = document.get("hub")
    if hub is not None:
        if not isinstance(hub, dict):
            errors.append("hub must be a mapping of connection options (%s), got %r"
                          % (", ".join(CONNECTION_OPTIONS), hub))
        else:
            errors += ["hub: unknown connection option %s (known: %s)" % (key, ", ".join(CONNECTION_OPTIONS))
                       for key in sorted(str(k) for k in hub if k not in CONNECTION_OPTIONS)]
    spokes = document.get("spokes")
    if spokes is not None and not isinstance(spokes, list):
        errors.append("spokes must be a list of spoke entries (gpufabric.platform.spoke arguments), got %s"
                      % type(spokes).__name__)
    elif spokes:
        names = []
        for index, entry in enumerate(spokes):
            where = "spokes[%d]%s" % (index, _label(entry))
            if "spoke" in OPTIONS:
                errors += validate_options("spoke", entry, where)[1]
            elif not isinstance(entry, dict) or not entry.get("name"):
                errors.append("%s: a spoke entry is a mapping with a name" % where)
            names.append(entry.get("name") if isinstance(entry, dict) else None)
        errors += ["spoke %s is declared %d times" % (name, names.count(name))
                   for name in sorted(set(n for n in names if n and names.count(n) > 1))]
    return errors


def duplicate_errors(spec):
    """Names declared twice, and a node listed by two pools: what no single entry can tell."""
    errors = []
    for kind, what in (("tenant", "tenant"), ("project", "project"), ("pool_label", "pool"),
                       ("compute_pool", "compute pool"), ("app_deployment", "app")):
        seen = {}
        for entry in spec.of(kind):  # compute pools are unique by name alone, across namespaces
            seen.setdefault(entry.key if kind == "app_deployment" else entry.name, []).append(entry.where)
        for key, places in sorted(seen.items(), key=lambda item: str(item[0])):
            if len(places) > 1:
                shown = "%s/%s" % key if isinstance(key, tuple) else key
                errors.append("%s %s is declared %d times (%s)%s" % (
                    what, shown, len(places), ", ".join(places),
                    "; node labels carry the name only, so compute pool names are unique across namespaces"
                    if kind == "compute_pool" else ""))
    owners = {}
    for entry in spec.of("pool_label"):
        if entry.present and entry.spec is not None:
            for node, unused in entry.spec.nodes:
                owners.setdefault(node, []).append(entry.spec.name)
    errors += ["node %s is listed by pools %s; a node belongs to one pool" % (node, ", ".join(pools))
               for node, pools in sorted(owners.items()) if len(pools) > 1]
    return errors


@dataclass(frozen=True)
class Context:
    """What a plan needs besides the spec and the cluster: the time (recorded as statusUpdatedAt), the server's
    word on pool access (((resource, name, namespace), allowed, who the pool's binding names), ...), whether
    to prune, and the utilization samples read from Prometheus for compute pools that autoscale from it
    ((((namespace, name), samples), ...), core.metrics)."""

    now: str = ""
    access: Tuple[Tuple[Tuple[str, str, str], bool, str], ...] = ()
    prune: bool = False
    metrics: Tuple = ()

    def samples_of(self, namespace, name):
        """The samples measured for one compute pool; None when nothing was measured for it."""
        for key, samples in self.metrics:
            if key == (namespace, name):
                return samples
        return None

    def may_use(self, resource, name, namespace):
        """(allowed, who may) for one pool; (None, '') when nobody asked."""
        for question, allowed, subjects in self.access:
            if question == (resource, name, namespace):
                return allowed, subjects
        return None, ""


@dataclass(frozen=True)
class FabricPlan:
    """writes: in the order they are sent; reports: (entry place, kind, what the entry's module returns);
    waiting: compute-pool steps that wait for hosts to become Healthy. What the spec declares, whatever the cluster
    already holds (for a declarative front end): objects, ((cluster, object without status, entry place), ...) in
    dependency order, and node_labels, {(cluster, node): the labels under the prefix it ends with}."""

    writes: Tuple = ()
    reports: Tuple[Tuple[str, str, dict], ...] = ()
    warnings: Tuple[str, ...] = ()
    waiting: Tuple[str, ...] = ()
    objects: Tuple = ()
    node_labels: dict = None

    @property
    def changed(self):
        return bool(self.writes)

    def report(self, where):
        for place, unused, body in self.reports:
            if place == where:
                return body
        return None


def tagged(write, where):
    """The write marked as serving one entry (None passes through)."""
    return None if write is None else replace(write, entry=where)


def plan_fabric(spec, state, context=Context(), spokes=None):
    """The whole plan. state: the cluster the run addresses (the hub, when there are spokes); spokes: {name:
    ClusterState} of the spokes the entries name. Raises FabricError with every problem found; otherwise
    returns FabricPlan."""
    from ansible_collections.gpufabric.platform.plugins.module_utils.core.planner import Planner

    return Planner(spec, state, context, spokes).plan()


def spokes_needed(spec, state):
    """The spokes a plan of `spec` reads: those its entries name, and those of the compute pools its apps use
    (declared in the spec, or as the hub's ComputePool objects record them)."""
    # A compute pool over the hub's EdgeHosts names the cluster its hosts become: read only for the apps on it.
    names = set(entry.cluster for entry in spec.entries if entry.kind in ("pool_label", "compute_pool",
                                                                          "app_deployment")
                and entry.params.get("host_source") != "edgehosts")
    declared = dict(((e.namespace, e.name), e.cluster) for e in spec.of("compute_pool") if e.present)
    for entry in spec.of("app_deployment"):
        if entry.present and entry.spec.target_kind == "compute_pool":
            key = (entry.namespace, entry.spec.target)
            live = state.get("ComputePool", key[1], key[0]) or {}
            names.add(declared.get(key, (live.get("spec") or {}).get("spoke") or ""))
        elif not entry.present:  # the spoke of the compute pool that records the app (its workload is there)
            for cp in state.items("ComputePool"):
                refs = ((cp.get("status") or {}).get("aiWorkloadRefs") or ())
                if any((ref.get("namespace"), ref.get("name")) == entry.key for ref in refs):
                    names.add((cp.get("spec") or {}).get("spoke") or "")
    return sorted(name for name in names if name)


def scoped(spec, spoke, state):
    """The part of a spec that lives on one spoke: its labelled pools, the compute pools whose hosts are there,
    and the apps that land there (the per-spoke step of a fleet, run side by side with Ansible's forks). Spoke
    "" is the hub's own part: tenants, projects, and the pools, compute pools and apps on no spoke."""
    spokes = dict(((e.namespace, e.name), e.cluster) for e in spec.of("compute_pool"))

    def spoke_of(namespace, compute_pool):
        if (namespace, compute_pool) in spokes:
            return spokes[(namespace, compute_pool)]
        live = state.get("ComputePool", compute_pool, namespace) or {}
        return (live.get("spec") or {}).get("spoke") or ""

    def kept(entry):
        if entry.kind == "app_deployment" and entry.present and entry.spec.target_kind == "compute_pool":
            return spoke_of(entry.namespace, entry.spec.target) == spoke
        if entry.kind in ("tenant", "project"):
            return not spoke
        return entry.cluster == spoke
    return FabricSpec(spec.label_prefix, tuple(entry for entry in spec.entries if kept(entry)), spec.spokes)


def single_entry_spec(kind, args, label_prefix):
    """A spec of one module's arguments: how every per-object module plans."""
    prefix_errors = label_prefix_errors(label_prefix)
    raise_if(prefix_errors)
    return FabricSpec(label_prefix, (parse_entry(kind, args),))
