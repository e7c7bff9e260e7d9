"""The fabric spec, read once and validated by the core's own parsers (never a second schema).

Every list entry is the argument dict of the module that applies it in the Ansible role; here each entry goes
through the same core parser that module calls, and all errors of all entries are raised together, before a
single resource is declared (a rejected spec declares nothing). Entries with `state: absent` are left out:
under Pulumi, what the spec no longer declares is deleted by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import yaml

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import quota_errors
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import (
    PoolSpec, parse_pool, parse_pool_document)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import DEFAULT_LABEL_PREFIX
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import label_prefix_errors
from ansible_collections.gpufabric.platform.plugins.module_utils.core.project import (
    ProjectSpec, parse_project, parse_tenant)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.spec import (
    ComputePoolSpec, parse_compute_pool)
from ansible_collections.gpufabric.platform.plugins.module_utils.documents import read_pool_document


@dataclass(frozen=True)
class Fabric:
    """The validated spec: tenants as (name, ((family, n), ...)), the core's specs for the rest."""

    label_prefix: str
    tenants: Tuple[Tuple[str, Tuple[Tuple[str, int], ...]], ...] = ()
    projects: Tuple[ProjectSpec, ...] = ()
    pools: Tuple[PoolSpec, ...] = ()
    compute_pools: Tuple[ComputePoolSpec, ...] = ()


def _entries(document, key, errors):
    """The present entries of one spec list; a non-mapping entry is an error, not a crash."""
    entries = []
    for index, entry in enumerate(document.get(key) or ()):
        if not isinstance(entry, dict):
            errors.append("%s[%d]: expected a mapping of module arguments, got %r" % (key, index, entry))
        elif entry.get("state", "present") != "absent":
            entries.append(entry)
    return entries


def _parsed(parse, entry, errors):
    try:
        return parse(entry)
    except FabricError as error:
        errors.extend(error.errors)
        return None


def pool_spec(entry, base):
    """A pool_label entry -> PoolSpec: `src` (relative to the spec file) or `definition` is a gpuctl document,
    otherwise name/description/nodes. `node_selector` needs the cluster's Nodes, which a Pulumi program does not
    list before declaring, so it is refused here (the Ansible module resolves it)."""
    document = entry.get("definition")
    if entry.get("src"):
        document = read_pool_document(base / entry["src"])
    if document is not None:
        spec = parse_pool_document(document)
        if entry.get("name") and entry["name"] != spec.name:
            raise_if(["name %s differs from the pool document's name %s" % (entry["name"], spec.name)])
        return spec
    if entry.get("node_selector") is not None:
        raise_if(["pool %s: node_selector is resolved against live Nodes by the pool_label module; the Pulumi "
                  "program needs nodes, definition or src" % entry.get("name")])
    if entry.get("nodes") is None:
        raise_if(["pool %s: state=present needs nodes, node_selector, definition or src" % entry.get("name")])
    return parse_pool(entry.get("name"), entry.get("description", ""), entry["nodes"])


def _duplicates(what, keys):
    return ["%s %s is declared twice" % (what, key) for key in sorted(set(k for k in keys if keys.count(k) > 1))]


def _cross_errors(fabric):
    """What no single entry can tell: names declared twice, a node in two pools, tenant quotas too small for
    the projects of the spec (the core's quota_errors, as the project module checks it)."""
    errors = _duplicates("tenant", [tenant[0] for tenant in fabric.tenants])
    errors += _duplicates("project", [p.name for p in fabric.projects])
    errors += _duplicates("pool", [p.name for p in fabric.pools])
    errors += _duplicates("compute pool", ["%s/%s" % (c.namespace, c.name) for c in fabric.compute_pools])
    owners = {}
    for pool in fabric.pools:
        for member in pool.nodes:
            owners.setdefault(member[0], []).append(pool.name)
    errors += ["node %s is in pools %s; a node belongs to one pool" % (node, ", ".join(pools))
               for node, pools in sorted(owners.items()) if len(pools) > 1]
    tenants = dict(fabric.tenants)
    for project in fabric.projects:
        if project.tenant and project.tenant not in tenants:
            errors.append("project %s: tenant %s is not among the spec's tenants" % (project.name, project.tenant))
    for tenant, quota in sorted(tenants.items()):
        members = dict((p.name, dict(p.gpu_quota)) for p in fabric.projects if p.tenant == tenant)
        errors += quota_errors(tenant, dict(quota), members)
    return errors


def load_fabric(path, label_prefix=None):
    """Read and validate the spec at `path`; `label_prefix` (stack config) overrides the spec's own."""
    path = Path(path)
    try:
        with open(path) as handle:
            document = yaml.safe_load(handle) or {}
    except (IOError, OSError, yaml.YAMLError) as error:
        raise FabricError(["cannot read fabric spec %s: %s" % (path, error)])
    if not isinstance(document, dict):
        raise FabricError(["fabric spec %s must be a mapping, got %r" % (path, document)])
    prefix = label_prefix or document.get("label_prefix") or DEFAULT_LABEL_PREFIX
    errors = list(label_prefix_errors(prefix))
    tenants = [_parsed(parse_tenant, e, errors) for e in _entries(document, "tenants", errors)]
    projects = [_parsed(parse_project, e, errors) for e in _entries(document, "projects", errors)]
    pools = [_parsed(lambda e: pool_spec(e, path.parent), e, errors) for e in _entries(document, "pools", errors)]
    compute_pools = [_parsed(parse_compute_pool, e, errors) for e in _entries(document, "compute_pools", errors)]
    raise_if(errors)
    fabric = Fabric(prefix, tuple(tenants), tuple(projects), tuple(pools), tuple(compute_pools))
    raise_if(_cross_errors(fabric))
    return fabric
