"""Label selectors resolved locally against node labels (Kubernetes semantics)."""

from __future__ import annotations

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.selector import matches, parse_selector

LABELS = {"nvidia.com/gpu.product": "NVIDIA-A100", "zone": "a", "tier": "gold"}


@pytest.mark.parametrize("selector,expected", [
    ("zone=a", True), ("zone==a", True), ("zone=b", False), ("zone!=b", True), ("missing!=x", True),
    ("zone in (a, b)", True), ("zone in (b,c)", False), ("missing in (a)", False), ("zone notin (b)", True),
    ("missing notin (b)", True), ("tier", True), ("missing", False), ("!missing", True), ("!tier", False),
    ("zone=a,tier in (gold,silver),!spot", True), ("zone=a,tier=silver", False)])
def test_selector_semantics(selector, expected):
    assert matches(parse_selector(selector), LABELS) is expected


def test_bad_terms_are_all_reported():
    with pytest.raises(FabricError) as caught:
        parse_selector("zone=a,in (x),a b c")
    assert len(caught.value.errors) == 2


def test_a_selector_without_requirements_is_an_error():
    with pytest.raises(FabricError, match="selects nothing"):
        parse_selector(" , ")
