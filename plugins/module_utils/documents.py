# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reading a gpuctl pool document (`src:`) from a file: one place for the pool_label module, its action plugin
and the Pulumi program. The core parses the document; this only reads it (the core does no I/O)."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError


def read_pool_document(path):
    """The YAML mapping at `path`; FabricError naming the file when it cannot be read or parsed, is empty, or
    is not a mapping (a gpuctl pool document: kind, version, pool, nodes)."""
    import yaml

    try:
        with open(path) as handle:
            document = yaml.safe_load(handle)
    except (IOError, OSError, yaml.YAMLError) as error:
        raise FabricError(["cannot read pool document %s: %s" % (path, error)])
    if document is None:
        raise FabricError(["pool document %s is empty; expected kind: pool, version: v0.1, pool: {name, "
                           "description}, nodes: {...}" % path])
    if not isinstance(document, dict):
        raise FabricError(["pool document %s must be a mapping (kind: pool, version: v0.1, pool, nodes), got a %s"
                           % (path, type(document).__name__)])
    return document
