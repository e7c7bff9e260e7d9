"""Capacity, placement fit and quota arithmetic."""

from __future__ import annotations

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    AppAllocation, app_allocation, check_fit, check_quota, dedicated_errors, delete_guard_errors, hardware_allocation,
    parse_gpu_quota, pod_gpu_request, quota_capacity_warnings, quota_errors)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError

CAPACITY = [{"architecture": "AMD64", "totalCPU": 64, "totalMemory": "256Gi",
             "gpu": [{"family": "NVIDIA-A100", "gpuCount": 16}]}]
ALLOCATED = [{"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 12}]}]


def test_fit_shortfall_message_has_the_numbers():
    fit = check_fit("vision-cluster", CAPACITY, ALLOCATED, "NVIDIA A100", 8)
    assert not fit.fits
    assert fit.message == ("needs 8 x NVIDIA-A100, 4 free on compute pool vision-cluster (16 total, 12 allocated): "
                           "short by 4")
    assert (fit.total, fit.used, fit.free, fit.free_after) == (16, 12, 4, -4)


def test_fit_that_fits_reports_what_is_left():
    fit = check_fit("vision-cluster", CAPACITY, ALLOCATED, "NVIDIA-A100", 4)
    assert fit.fits and fit.free_after == 0
    assert not check_fit("vision-cluster", CAPACITY, ALLOCATED, "NVIDIA-A100", 4, architecture="ARM64").fits


def test_hardware_allocation_sums_apps_per_architecture_and_family():
    apps = [app_allocation({"name": "a", "namespace": "x", "gpu": {"family": "nvidia a100", "count": 4}}),
            AppAllocation("b", "x", "AMD64", "NVIDIA-A100", 2), AppAllocation("c", "x", "ARM64", "NVIDIA-H100", 1)]
    assert hardware_allocation(apps) == [
        {"architecture": "AMD64", "gpu": [{"family": "NVIDIA-A100", "gpuCount": 6}]},
        {"architecture": "ARM64", "gpu": [{"family": "NVIDIA-H100", "gpuCount": 1}]}]


def test_tenant_quota_must_hold_the_projects():
    errors = quota_errors("research", {"NVIDIA-A100": 16}, {"vision": {"NVIDIA A100": 8}, "nlp": {"NVIDIA-A100": 16},
                                                            "misc": {"NVIDIA-H100": 1}})
    assert errors == [
        "tenant research: projects request 24 x NVIDIA-A100 (nlp 16, vision 8) but the tenant quota is 16: over by 8",
        "tenant research: projects request 1 x NVIDIA-H100 (misc 1) but the tenant quota is 0: over by 1"]
    assert quota_errors("research", {"NVIDIA-A100": 24}, {"vision": {"NVIDIA-A100": 8},
                                                          "nlp": {"NVIDIA-A100": 16}}) == []


def test_quota_larger_than_the_cluster_is_flagged():
    assert quota_capacity_warnings("project vision", {"NVIDIA-A100": 24}, {"NVIDIA-A100": 16}) == [
        "project vision quota 24 x NVIDIA-A100 exceeds the 16 NVIDIA-A100 GPUs in the cluster: over by 8"]


def test_project_quota_check():
    fit = check_quota("vision", {"NVIDIA-A100": 8}, {"NVIDIA-A100": 4}, "NVIDIA-A100", 8)
    assert fit.message == "needs 8 x NVIDIA-A100, 4 left of project vision's quota (8 quota, 4 used): short by 4"
    assert check_quota("vision", {"NVIDIA-A100": 8}, {}, "NVIDIA-A100", 8).fits


def test_gpu_quota_parsing_normalises_and_rejects_bad_counts():
    assert parse_gpu_quota({"nvidia a100": 8, "NVIDIA-H100": 0}) == (("NVIDIA-A100", 8), ("NVIDIA-H100", 0))
    with pytest.raises(FabricError) as caught:
        parse_gpu_quota({"NVIDIA-A100": -1, "nvidia a100": 2})
    assert len(caught.value.errors) == 2


def test_pod_gpu_request_counts_like_the_scheduler():
    pod = {"spec": {"containers": [{"resources": {"requests": {"nvidia.com/gpu": "2"}}},
                                   {"resources": {"limits": {"nvidia.com/gpu": 1}}}],
                    "initContainers": [{"resources": {"limits": {"nvidia.com/gpu": 4}}}]}}
    assert pod_gpu_request(pod) == 4
    assert pod_gpu_request({"spec": {"containers": [{}]}}) == 0


def test_dedicated_pool_hosts_one_app():
    apps = [AppAllocation("a", "x", "AMD64", "NVIDIA-A100", 4)]
    assert dedicated_errors("p", "dedicated", apps, "a") == []
    assert dedicated_errors("p", "shared", apps, "b") == []
    assert dedicated_errors("p", "dedicated", apps, "b") == [
        "compute pool p is dedicated and already hosts x/a; use a shared compute pool or another dedicated one"]


def test_deleting_a_pool_with_workloads_needs_force():
    assert delete_guard_errors("compute pool p", ["b/x", "a/y"]) == [
        "compute pool p still runs 2 workload(s) (a/y, b/x); set force to delete it anyway: node labels under the "
        "prefix are removed and running workloads are not stopped"]
    assert delete_guard_errors("compute pool p", ["a/y"], force=True) == []
    assert delete_guard_errors("compute pool p", []) == []
