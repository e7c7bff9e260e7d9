"""One exception for every invalid input, so a run reports all its problems at once and writes nothing."""

from __future__ import annotations


class FabricError(ValueError):
    """All errors found in one input; str() joins them, one per line."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def raise_if(errors):
    """Raise FabricError when the collected list is non-empty (validators collect, then call this once)."""
    if errors:
        raise FabricError(errors)
