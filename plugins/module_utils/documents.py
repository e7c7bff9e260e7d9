# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reading a gpuctl pool document (`src:`) from a file: one place for the pool_label module, its action plugin
and the Pulumi program. The core parses the document; this only reads it (the core does no I/O)."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError


def load_yaml(handle):
    """One YAML document, read safely, with libyaml when PyYAML has it (a 10,000-node spec: 0.2 s, not 1.8 s)."""
    import yaml

    return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_pool_document(path):
    """The YAML mapping at `path`; FabricError naming the file when it cannot be read or parsed, is empty, or
    is not a mapping (a gpuctl pool document: kind, version, pool, nodes)."""
    import yaml

    try:
        with open(path) as handle:
            document = load_yaml(handle)
    except (IOError, OSError, yaml.YAMLError) as error:
        raise FabricError(["cannot read pool document %s: %s" % (path, error)])
    if document is None:
        raise FabricError(["pool document %s is empty; expected kind: pool, version: v0.1, pool: {name, "
                           "description}, nodes: {...}" % path])
    if not isinstance(document, dict):
        raise FabricError(["pool document %s must be a mapping (kind: pool, version: v0.1, pool, nodes), got a %s"
                           % (path, type(document).__name__)])
    return document


def read_fabric_spec(path, find=None):
    """The fabric spec at `path`, with every pool entry's `src` read into `definition` (the core reads no files).

    A pool document's `src` is looked up beside the spec first, then through `find(src)` when given (the action
    plugin passes the play's own file search). FabricError names the file that cannot be read."""
    import os

    import yaml

    try:
        with open(path) as handle:
            document = load_yaml(handle)
    except (IOError, OSError, yaml.YAMLError) as error:
        raise FabricError(["cannot read fabric spec %s: %s" % (path, error)])
    if document is None:
        raise FabricError(["fabric spec %s is empty" % path])
    if not isinstance(document, dict):
        raise FabricError(["fabric spec %s must be a mapping (label_prefix, tenants, projects, pools, "
                           "compute_pools, apps), got a %s" % (path, type(document).__name__)])
    return read_pool_sources(document, os.path.dirname(os.path.abspath(path)), find)


def read_pool_sources(document, base, find=None):
    """The spec with each pool entry's `src` (relative to `base`) read into `definition`; errors collected."""
    import os

    pools = document.get("pools")
    if not isinstance(pools, list):
        return document
    errors, entries = [], []
    for index, entry in enumerate(pools):
        if isinstance(entry, dict) and isinstance(entry.get("src"), str) and entry.get("definition") is None:
            path = os.path.join(base, os.path.expanduser(entry["src"]))
            if not os.path.exists(path) and find is not None:
                path = find(entry["src"])
            try:
                entry = dict(entry, definition=read_pool_document(path))
                entry.pop("src")
            except FabricError as error:
                errors.extend("pools[%d]: %s" % (index, message) for message in error.errors)
        entries.append(entry)
    if errors:
        raise FabricError(errors)
    return dict(document, pools=entries)
