"""Hosts from Node objects and bare-metal inventories."""

from __future__ import annotations

from fractions import Fraction

import pytest
from core_helpers import node

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import (
    GpuGroup, host_from_dict, host_from_node, parse_hosts)


def test_node_becomes_a_host_with_gpus_groups_health_and_assignment():
    host = host_from_node(node("gpu-1", "32", "131072Mi", 4, "NVIDIA A100", 40960, arch="arm64",
                               labels={"palette.ai.rg/storage-tier": "high-performance",
                                       "runwhere.ai/compute-pool": "vision", "runwhere.ai/machine-pool": "wp"}))
    assert host.name == "gpu-1" and host.uid == "uid-gpu-1"
    assert host.architecture == "ARM64"
    assert host.cpu == 32 and host.memory == 128 * 1024 ** 3
    assert host.gpus == (GpuGroup("NVIDIA-A100", 4, 40960),)
    assert host.resource_groups == (("storage-tier", "high-performance"),)
    assert (host.status, host.status_updated_at) == ("Healthy", "2024-01-15T10:30:00Z")
    assert (host.compute_pool, host.machine_pool) == ("vision", "wp")


@pytest.mark.parametrize("ready,status", [("True", "Healthy"), ("False", "Unhealthy"), ("Unknown", "Unknown"),
                                          (None, "Provisioning")])
def test_health_comes_from_the_ready_condition(ready, status):
    assert host_from_node(node("n", ready=ready)).status == status


def test_custom_prefixes_are_honoured():
    host = host_from_node(node("n", labels={"rg.example.com/zone": "a", "acme.io/compute-pool": "p"}),
                          label_prefix="acme.io", rg_prefix="rg.example.com/")
    assert host.resource_groups == (("zone", "a"),) and host.compute_pool == "p"


def test_node_without_gpu_memory_label_has_unknown_gpu_memory():
    assert host_from_node(node("n", gpus=2, product="NVIDIA-L40S")).gpus == (GpuGroup("NVIDIA-L40S", 2, None),)


def test_a_node_with_an_unreadable_capacity_or_architecture_is_an_unsupported_host():
    for bad in (node("n", cpu="lots"), node("n", arch="s390x")):
        host = host_from_node(bad)
        assert (host.name, host.status, host.eligible) == ("n", "Unsupported", False)


def test_inventory_entry_becomes_a_host():
    host = host_from_dict({"name": "bm-1", "architecture": "x86_64", "cpu_count": 64, "memory": "512Gi",
                           "gpu": {"family": "nvidia h100", "count": 8}, "status": "Initial",
                           "resource_groups": {"zone": "a"}})
    assert host.architecture == "AMD64" and host.cpu == 64 and host.memory == Fraction(512 * 1024 ** 3)
    assert host.gpus == (GpuGroup("NVIDIA-H100", 8, None),) and host.status == "Initial"
    assert host.resource_groups == (("zone", "a"),)


def test_parse_hosts_reports_every_error_together():
    with pytest.raises(FabricError) as caught:
        parse_hosts(nodes=[node("a"), node("a")], inventory=[{"name": "b", "architecture": "sparc"},
                                                             {"name": "c", "status": "Bored"}])
    text = str(caught.value)
    assert "host b: unknown architecture 'sparc'" in text
    assert "host c: status 'Bored' is not one of" in text
    assert "host a is listed more than once" in text
    assert len(caught.value.errors) == 3


def test_parse_hosts_sorts_by_name():
    assert [h.name for h in parse_hosts(nodes=[node("b"), node("a")])] == ["a", "b"]
