"""Make the repository importable as `ansible_collections.gpufabric.platform` (the root is the collection)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".collections"


def ensure_collection_path() -> Path:
    link = COLLECTIONS / "ansible_collections" / "gpufabric" / "platform"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../../.."), target_is_directory=True)
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    return COLLECTIONS
