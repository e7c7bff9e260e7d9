"""Compute pool specs: validation that reports everything at once, generated names, immutable mode."""

from __future__ import annotations

import pytest
from core_helpers import spec

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.compute_pool_spec import (
    check_immutable, immutable_errors, parse_compute_pool)


def test_valid_spec_normalises_family_and_architecture():
    parsed = parse_compute_pool({"name": "p", "namespace": "ns", "control_plane": {"node_count": 3},
                                 "worker_pools": [{"name": "w", "architecture": "arm64",
                                                   "gpu": {"family": "NVIDIA A100", "count": 8}}]})
    worker = parsed.worker_pools[0]
    assert (worker.family, worker.architecture, worker.min_worker_nodes) == ("NVIDIA-A100", "ARM64", 1)
    assert parsed.control_plane.node_count == 3 and parsed.mode == "dedicated"


def test_all_errors_are_reported_together():
    with pytest.raises(FabricError) as caught:
        parse_compute_pool({"name": "P" * 64, "namespace": "ns", "mode": "exclusive",
                            "control_plane": {"node_count": 2},
                            "worker_pools": [{"name": "w", "gpu": {"family": "A100", "count": 1},
                                              "min_worker_nodes": 2},
                                             {"name": "w", "gpu": {"count": 4}}]})
    errors = caught.value.errors
    assert "compute pool name '%s' is 64 characters; the limit is 63" % ("P" * 64) in errors
    assert "mode 'exclusive' is not one of dedicated, shared" in errors
    assert "control plane node_count 2 is not 1, 3 or 5 (an odd count keeps etcd quorum)" in errors
    assert "worker pool w: gpu count 1 is less than min_worker_nodes 2 (each worker needs a GPU)" in errors
    assert "worker pool w: gpu.family is required" in errors
    assert "worker pool name w is used twice" in errors
    assert str(caught.value) == "\n".join(errors)


def test_single_node_cluster_has_exactly_one_control_plane_node():
    with pytest.raises(FabricError, match="a single-node cluster has exactly 1"):
        parse_compute_pool({"name": "p", "namespace": "ns",
                            "control_plane": {"node_count": 3, "single_node_cluster": True}})
    single = parse_compute_pool({"name": "p", "namespace": "ns", "control_plane": {"single_node_cluster": True},
                                 "worker_pools": [{"name": "w", "gpu": {"family": "A100", "count": 1}}]})
    assert single.managed_worker_pools == ()


def test_worker_pool_name_limit_is_63_characters():
    with pytest.raises(FabricError, match="worker pool name 'w{64}' is 64 characters; the limit is 63"):
        parse_compute_pool({"name": "p", "namespace": "ns",
                            "worker_pools": [{"name": "w" * 64, "gpu": {"family": "A100", "count": 1}}]})


def test_missing_worker_pool_names_are_generated_stably_by_position():
    args = {"name": "p", "namespace": "ns", "worker_pools": [{"gpu": {"family": "A100", "count": 1}},
                                                             {"gpu": {"family": "A100", "count": 1}}]}
    first, second = parse_compute_pool(args), parse_compute_pool(args)
    names = [w.name for w in first.worker_pools]
    assert names == [w.name for w in second.worker_pools] and len(set(names)) == 2
    assert all(w.generated_name for w in first.worker_pools)


def test_mode_is_immutable():
    assert immutable_errors(spec(mode="dedicated"), spec(mode="dedicated")) == []
    with pytest.raises(FabricError, match="mode is dedicated and cannot change to shared once created"):
        check_immutable(spec(mode="dedicated"), spec(mode="shared"))
