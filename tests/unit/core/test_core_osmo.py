"""OSMO rules: pod template merge order, default variables, resource validations."""

from __future__ import annotations

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.osmo import (
    merge_pod_templates, resolve_variables, substitute, validation_failures)

DEFAULT = {"spec": {"nodeSelector": {"kubernetes.io/arch": "amd64"},
                    "containers": [{"name": "user", "image": "base", "env": [{"name": "A", "value": "1"}]}],
                    "tolerations": [{"key": "x"}]}}
A100 = {"spec": {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100"},
                 "containers": [{"name": "user", "env": [{"name": "B", "value": "2"}]}, {"name": "sidecar"}],
                 "tolerations": [{"key": "nvidia.com/gpu.product", "value": "NVIDIA-A100"}]}}


def test_templates_merge_in_order_later_wins():
    merged = merge_pod_templates([DEFAULT, A100])
    assert merged["spec"]["nodeSelector"] == {"kubernetes.io/arch": "amd64", "nvidia.com/gpu.product": "NVIDIA-A100"}
    assert merged["spec"]["containers"] == [
        {"name": "user", "image": "base", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "sidecar"}]
    assert merged["spec"]["tolerations"] == [{"key": "nvidia.com/gpu.product", "value": "NVIDIA-A100"}]
    assert DEFAULT["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]  # inputs untouched


def test_variables_pool_then_platform_then_user():
    assert resolve_variables({"USER_GPU": 0, "USER_MEMORY": "1Gi"}, {"USER_MEMORY": "80Gi"}, {"USER_GPU": 2}) == {
        "USER_GPU": 2, "USER_MEMORY": "80Gi"}


def test_validation_compares_quantities_exactly_and_substitutes_messages():
    rules = [{"operator": "LE", "left_operand": "{{USER_MEMORY}}", "right_operand": "64Gi",
              "assert_message": "memory {{USER_MEMORY}} exceeds 64Gi"},
             {"operator": "EQ", "left_operand": "{{ USER_MEMORY }}", "right_operand": "65536Mi",
              "assert_message": "not equal"},
             {"operator": "GT", "left_operand": "{{USER_GPU}}", "right_operand": "0",
              "assert_message": "needs a GPU, got {{USER_GPU}}"}]
    assert validation_failures(rules, {"USER_MEMORY": "64Gi", "USER_GPU": 1}) == []
    assert validation_failures(rules, {"USER_MEMORY": "80Gi", "USER_GPU": 0}) == [
        "memory 80Gi exceeds 64Gi", "not equal", "needs a GPU, got 0"]


def test_bad_rules_and_unknown_variables_are_errors():
    with pytest.raises(FabricError) as caught:
        validation_failures([{"operator": "ABOUT", "left_operand": "1", "right_operand": "1"},
                             {"operator": "LT", "left_operand": "{{NOPE}}", "right_operand": "1"}], {})
    assert len(caught.value.errors) == 2 and "unknown variable NOPE" in str(caught.value)
    with pytest.raises(FabricError):
        substitute("{{X}}", {})
