# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reading a gpuctl pool document (`src:`) from a file: one place for the pool_label module, its action plugin
and the Pulumi program. The core parses the document; this only reads it (the core does no I/O)."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError


def read_pool_document(path):
    """The YAML document at `path`; FabricError naming the file when it cannot be read or parsed."""
    import yaml

    try:
        with open(path) as handle:
            return yaml.safe_load(handle)
    except (IOError, OSError, yaml.YAMLError) as error:
        raise FabricError(["cannot read pool document %s: %s" % (path, error)])
