"""gpufabric's Pulumi front end: the fabric spec, validated and planned by the collection's own core against the
live clusters, declared as pulumi_kubernetes resources inside ComponentResources.

The core is imported from the collection, never copied. The repository root is the collection, so
`make setup` links it as `.collections/ansible_collections/gpufabric/platform`; when that package is not already
importable (the Pulumi CLI runs this program with only `pulumi/` on sys.path), the link's parent is added here.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".collections"

try:
    import ansible_collections.gpufabric.platform.plugins.module_utils.core  # noqa: F401
except ImportError:
    sys.path.insert(0, str(COLLECTIONS))
    try:
        import ansible_collections.gpufabric.platform.plugins.module_utils.core  # noqa: F401
    except ImportError as error:
        raise ImportError("the gpufabric.platform collection is not importable; run `make setup` in the repository "
                          "(it links .collections/ansible_collections/gpufabric/platform to the repository root)"
                          ) from error
