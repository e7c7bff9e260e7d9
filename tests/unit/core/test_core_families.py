"""The family model: product labels as GPU feature discovery writes them -> family and memory; the covering rule."""

from __future__ import annotations

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import (
    covers, family_name, gpu_row, kind_of, memory_from_mib, node_kind, overlap_errors, products_of, row_name,
    unknown_product_warnings)

# (nvidia.com/gpu.product, nvidia.com/gpu.memory in MiB or None, family, memory GB, name it counts as)
LABELS = [
    ("NVIDIA-A100-SXM4-80GB", None, "NVIDIA-A100", 80, "NVIDIA-A100-80GB"),
    ("NVIDIA-A100-SXM4-80GB", 81920, "NVIDIA-A100", 80, "NVIDIA-A100-80GB"),
    ("NVIDIA-A100-SXM4-40GB", 40960, "NVIDIA-A100", 40, "NVIDIA-A100-40GB"),
    ("NVIDIA-A100-PCIE-40GB", None, "NVIDIA-A100", 40, "NVIDIA-A100-40GB"),
    ("NVIDIA-A100-80GB-PCIe", 81920, "NVIDIA-A100", 80, "NVIDIA-A100-80GB"),
    ("NVIDIA-A100", 40960, "NVIDIA-A100", 40, "NVIDIA-A100-40GB"),
    ("NVIDIA-A100", None, "NVIDIA-A100", None, "NVIDIA-A100"),
    ("NVIDIA-H100-80GB-HBM3", 81559, "NVIDIA-H100", 80, "NVIDIA-H100-80GB"),
    ("NVIDIA-H100-PCIe", 81559, "NVIDIA-H100", 80, "NVIDIA-H100-80GB"),
    ("NVIDIA-H100-NVL", 95830, "NVIDIA-H100", 94, "NVIDIA-H100-94GB"),
    ("NVIDIA-H200", 143771, "NVIDIA-H200", 141, "NVIDIA-H200-141GB"),
    ("Tesla-V100-SXM2-16GB", 16160, "NVIDIA-V100", 16, "NVIDIA-V100-16GB"),
    ("Tesla-V100-SXM2-32GB", 32510, "NVIDIA-V100", 32, "NVIDIA-V100-32GB"),
    ("Tesla-V100-PCIE-16GB", None, "NVIDIA-V100", 16, "NVIDIA-V100-16GB"),
    ("Tesla-T4", 15360, "NVIDIA-T4", 16, "NVIDIA-T4-16GB"),
    ("NVIDIA-GeForce-RTX-4090", 24564, "NVIDIA-RTX-4090", 24, "NVIDIA-RTX-4090-24GB"),
    ("NVIDIA-GeForce-RTX-4090", None, "NVIDIA-RTX-4090", None, "NVIDIA-RTX-4090"),
    ("NVIDIA-GeForce-RTX-3090", 24576, "NVIDIA-RTX-3090", 24, "NVIDIA-RTX-3090-24GB"),
    ("NVIDIA-L40S", 46068, "NVIDIA-L40S", 48, "NVIDIA-L40S-48GB"),
    ("NVIDIA-L4", 23034, "NVIDIA-L4", 24, "NVIDIA-L4-24GB"),
    ("NVIDIA-A10", 23028, "NVIDIA-A10", 24, "NVIDIA-A10-24GB"),
    ("NVIDIA-A10", None, "NVIDIA-A10", None, "NVIDIA-A10"),
    ("NVIDIA-A10G", 23028, "NVIDIA-A10G", 24, "NVIDIA-A10G-24GB"),
    ("NVIDIA-RTX-A6000", 49140, "NVIDIA-RTX-A6000", 48, "NVIDIA-RTX-A6000-48GB"),
    ("NVIDIA-RTX-6000-Ada-Generation", 49140, "NVIDIA-RTX-6000-ADA", 48, "NVIDIA-RTX-6000-ADA-48GB"),
    # a MIG slice counts slices: its own family, whatever the card's memory
    ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", 4864, "NVIDIA-A100-MIG-1G.5GB", None, "NVIDIA-A100-MIG-1G.5GB"),
    ("NVIDIA-H100-80GB-HBM3-MIG-3g.40gb", 40192, "NVIDIA-H100-MIG-3G.40GB", None, "NVIDIA-H100-MIG-3G.40GB"),
]


@pytest.mark.parametrize("product,memory,family,memory_gb,name", LABELS)
def test_a_product_label_names_its_family_and_memory(product, memory, family, memory_gb, name):
    kind = kind_of(product, memory)
    assert (kind.family, kind.memory_gb, kind.known, kind.name) == (family, memory_gb, True, name)


@pytest.mark.parametrize("product,memory,family", [
    ("Quadro-RTX-8000", 48601, "QUADRO-RTX-8000"),
    ("NVIDIA-B300-SXM6-288GB", 294912, "NVIDIA-B300-SXM6-288GB"),
    ("AMD-Instinct-MI300X", None, "AMD-INSTINCT-MI300X"),
])
def test_an_unknown_product_is_a_family_of_its_own_named_by_its_label(product, memory, family):
    kind = kind_of(product, memory)
    assert (kind.family, kind.memory_gb, kind.known, kind.name) == (family, None, False, family)


@pytest.mark.parametrize("written,name", [
    ("NVIDIA-A100", "NVIDIA-A100"), ("NVIDIA A100", "NVIDIA-A100"), ("nvidia_a100", "NVIDIA-A100"),
    ("A100", "NVIDIA-A100"), ("NVIDIA-A100-80GB", "NVIDIA-A100-80GB"), ("nvidia a100 80gb", "NVIDIA-A100-80GB"),
    ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB"), ("NVIDIA-H100", "NVIDIA-H100"), ("NVIDIA-V100", "NVIDIA-V100"),
    ("NVIDIA-RTX-4090", "NVIDIA-RTX-4090"), ("NVIDIA-GeForce-RTX-4090", "NVIDIA-RTX-4090"), ("", ""),
])
def test_a_family_a_user_writes_has_one_canonical_name(written, name):
    assert family_name(written) == name


@pytest.mark.parametrize("request_,kind,covered", [
    ("NVIDIA-A100", "NVIDIA-A100-80GB", True),
    ("NVIDIA-A100", "NVIDIA-A100-40GB", True),
    ("NVIDIA-A100", "NVIDIA-A100", True),
    ("NVIDIA A100", "NVIDIA-A100-80GB", True),
    ("NVIDIA-A100-80GB", "NVIDIA-A100-80GB", True),
    ("NVIDIA-A100-80GB", "NVIDIA-A100-40GB", False),
    ("NVIDIA-A100-80GB", "NVIDIA-A100", False),           # memory not known: not assumed to be 80 GB
    ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB", True),   # a product label written as a family
    ("NVIDIA-A100", "NVIDIA-A10-24GB", False),             # A10 is not a shorter A100
    ("NVIDIA-A10", "NVIDIA-A100-80GB", False),
    ("NVIDIA-A100", "NVIDIA-A100-MIG-1G.5GB", False),      # slices are not whole GPUs
    ("NVIDIA-H100", "NVIDIA-A100-80GB", False),
    ("QUADRO-RTX-8000", "QUADRO-RTX-8000", True),
    ("Quadro-RTX-8000", "QUADRO-RTX-8000", True),
])
def test_a_request_covers_a_kind_when_the_family_and_any_memory_it_names_agree(request_, kind, covered):
    assert covers(request_, kind) is covered


@pytest.mark.parametrize("mib,sizes,gb", [
    (81559, (80, 94, 96), 80), (95830, (80, 94, 96), 94), (40960, (40, 80), 40), (23028, (24,), 24),
    (46068, (48,), 48), (10240, (40, 80), 10), (52000, (), 51), (0, (40, 80), None), (None, (), None),
])
def test_a_memory_label_reads_as_the_nearest_size_sold_else_whole_gib(mib, sizes, gb):
    assert memory_from_mib(mib, sizes) == gb


def test_status_rows_keep_family_and_memory_apart_and_read_back_to_the_same_name():
    assert gpu_row("NVIDIA-A100-80GB", 16) == {"family": "NVIDIA-A100", "memoryGB": 80, "gpuCount": 16}
    assert gpu_row("NVIDIA-A100", 8) == {"family": "NVIDIA-A100", "gpuCount": 8}
    for name in ("NVIDIA-A100-80GB", "NVIDIA-A100", "QUADRO-RTX-8000", "NVIDIA-A100-MIG-1G.5GB"):
        assert row_name(gpu_row(name, 1)) == name
    # a row written before the family model, with the product as the family
    assert row_name({"family": "NVIDIA-A100-SXM4-80GB", "gpuCount": 8}) == "NVIDIA-A100-80GB"


def test_overlapping_quota_keys_are_named():
    assert overlap_errors(["NVIDIA-A100", "NVIDIA-A100-80GB", "NVIDIA-A10"], "gpu_quota") == [
        "gpu_quota lists NVIDIA-A100 and NVIDIA-A100-80GB, which overlap (every NVIDIA-A100-80GB is an "
        "NVIDIA-A100); keep one"]
    assert overlap_errors(["NVIDIA-A100-40GB", "NVIDIA-A100-80GB", "NVIDIA-H100"], "gpu_quota") == []


def _node(name, product, memory=None):
    labels = {"nvidia.com/gpu.product": product}
    if memory:
        labels["nvidia.com/gpu.memory"] = str(memory)
    return {"metadata": {"name": name, "labels": labels}}


def test_a_node_kind_comes_from_its_labels():
    assert node_kind({"nvidia.com/gpu.product": "NVIDIA-H100-PCIe", "nvidia.com/gpu.memory": "81559"}).name == \
        "NVIDIA-H100-80GB"
    assert node_kind({"kubernetes.io/arch": "amd64"}) is None


def test_placement_selects_every_product_the_family_covers():
    nodes = [_node("a", "NVIDIA-A100-SXM4-80GB"), _node("b", "NVIDIA-A100-80GB-PCIe"),
             _node("c", "NVIDIA-A100-PCIE-40GB"), _node("d", "NVIDIA-A10", 23028), {"metadata": {"name": "cpu"}}]
    assert products_of("NVIDIA-A100", nodes) == ("NVIDIA-A100-80GB-PCIe", "NVIDIA-A100-PCIE-40GB",
                                                 "NVIDIA-A100-SXM4-80GB")
    assert products_of("NVIDIA-A100-80GB", nodes) == ("NVIDIA-A100-80GB-PCIe", "NVIDIA-A100-SXM4-80GB")
    assert products_of("NVIDIA-A10", nodes) == ("NVIDIA-A10",)


def test_unknown_products_are_named_with_their_nodes():
    nodes = [_node("q1", "Quadro-RTX-8000"), _node("q2", "Quadro-RTX-8000"), _node("a", "NVIDIA-A100-SXM4-80GB")]
    assert unknown_product_warnings(nodes) == [
        "GPU product Quadro-RTX-8000 (nodes q1, q2) is not in the family table; its GPUs count as a family of "
        "their own, QUADRO-RTX-8000: quotas, worker pools and apps must name it so"]
