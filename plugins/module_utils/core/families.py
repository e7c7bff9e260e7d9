"""GPU families: what a GPU product label names, and the one rule for whether a requested family covers it.

GPU feature discovery labels a Node with the product as the driver reports it (`nvidia.com/gpu.product`:
NVIDIA-A100-SXM4-80GB, NVIDIA-A100-PCIE-40GB, NVIDIA-H100-80GB-HBM3, Tesla-V100-SXM2-16GB,
NVIDIA-GeForce-RTX-4090, NVIDIA-L40S) and the memory per GPU in MiB (`nvidia.com/gpu.memory`). Quotas, worker
pools and apps name families (NVIDIA-A100, NVIDIA-H100, NVIDIA-V100, NVIDIA-RTX-4090), optionally with a memory
variant (NVIDIA-A100-80GB). This module turns both into a GpuKind - the family and, when known, the memory of
one GPU in GB - and decides every family comparison the platform makes:

- a GPU's kind is written by its name: the family, then -<memory>GB when the memory is known
  (NVIDIA-A100-80GB; NVIDIA-A100 when neither the product nor the memory label says it);
- a request covers a kind when the families are equal and the request names no memory or the same memory
  (NVIDIA-A100 covers every A100, NVIDIA-A100-80GB only the 80 GB ones);
- a product this table does not know is a family of its own (its label, normalised), never dropped: it is
  counted under that name, and the planner names it in a warning.

The form factor (SXM4, PCIE, HBM3, NVL) does not make another family. A MIG slice (...-MIG-1g.10gb) is a
family of its own: NVIDIA-A100-MIG-1G.10GB counts slices, not whole A100s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

# The model as it remains of a product label once vendor, brand, form factor and memory are taken out
# -> (family, the memory sizes in GB the model is sold with: a gpu.memory label is read as the nearest one).
FAMILIES = {
    "A100": ("NVIDIA-A100", (40, 80)),
    "A800": ("NVIDIA-A800", (40, 80)),
    "A10": ("NVIDIA-A10", (24,)),
    "A10G": ("NVIDIA-A10G", (24,)),
    "A16": ("NVIDIA-A16", (16,)),
    "A2": ("NVIDIA-A2", (16,)),
    "A30": ("NVIDIA-A30", (24,)),
    "A40": ("NVIDIA-A40", (48,)),
    "B200": ("NVIDIA-B200", (180, 192)),
    "H100": ("NVIDIA-H100", (80, 94, 96)),
    "H200": ("NVIDIA-H200", (141,)),
    "H800": ("NVIDIA-H800", (80,)),
    "H20": ("NVIDIA-H20", (96,)),
    "L4": ("NVIDIA-L4", (24,)),
    "L40": ("NVIDIA-L40", (48,)),
    "L40S": ("NVIDIA-L40S", (48,)),
    "P100": ("NVIDIA-P100", (12, 16)),
    "T4": ("NVIDIA-T4", (16,)),
    "V100": ("NVIDIA-V100", (16, 32)),
    "V100S": ("NVIDIA-V100S", (32,)),
    "RTX-3090": ("NVIDIA-RTX-3090", (24,)),
    "RTX-4090": ("NVIDIA-RTX-4090", (24,)),
    "RTX-A4000": ("NVIDIA-RTX-A4000", (16,)),
    "RTX-A5000": ("NVIDIA-RTX-A5000", (24,)),
    "RTX-A6000": ("NVIDIA-RTX-A6000", (48,)),
    "RTX-6000-ADA-GENERATION": ("NVIDIA-RTX-6000-ADA", (48,)),
    "RTX-6000-ADA": ("NVIDIA-RTX-6000-ADA", (48,)),
}
VENDOR_TOKENS = frozenset(("NVIDIA", "TESLA", "GEFORCE", "QUADRO"))
FORM_FACTOR_TOKENS = frozenset(("SXM", "SXM2", "SXM3", "SXM4", "SXM5", "PCIE", "HBM2", "HBM2E", "HBM3", "HBM3E",
                                "NVL", "NVLINK"))
MIG_TOKEN = "MIG"
# A gpu.memory label is read as one of the model's sizes when within this share of it (the driver reports a
# little less than the size a GPU is sold with: 81559 MiB for an 80 GB H100, 23028 MiB for a 24 GB A10).
SIZE_TOLERANCE = 0.1

_MEMORY = re.compile(r"^(\d+)GB?$")


@dataclass(frozen=True)
class GpuKind:
    """family: NVIDIA-A100, or the product itself (normalised) when the table does not know it; memory_gb: per
    GPU, None when unknown (always None for a family the table does not know, and for a MIG slice)."""

    family: str
    memory_gb: Optional[int] = None
    known: bool = True

    @property
    def name(self):
        return "%s-%dGB" % (self.family, self.memory_gb) if self.memory_gb else self.family


def normalise(text):
    """'NVIDIA A100', 'nvidia_a100', ' NVIDIA--A100 ' -> 'NVIDIA-A100': spaces and underscores to '-', upper case."""
    text = re.sub(r"[\s_]+", "-", str(text or "").strip()).upper()
    return re.sub(r"-{2,}", "-", text).strip("-")


def memory_from_mib(mib, sizes=()):
    """GB per GPU from a gpu.memory label (MiB): the nearest size the model is sold with, within SIZE_TOLERANCE,
    else the MiB rounded to whole GiB. None for no value."""
    if mib is None or mib <= 0:
        return None
    gib = mib / 1024.0
    if sizes:
        nearest = min(sizes, key=lambda size: (abs(gib - size), size))
        if abs(gib - nearest) <= SIZE_TOLERANCE * nearest:
            return nearest
    return int(round(gib))


@lru_cache(maxsize=4096)
def _parse(text):
    """(family, memory from the text or None, sizes, known) of a product label or a family name."""
    normal = normalise(text)
    tokens = [token for token in normal.split("-") if token]
    mig = None
    if MIG_TOKEN in tokens:
        index = tokens.index(MIG_TOKEN)
        tokens, mig = tokens[:index], "-".join(tokens[index + 1:])
    memory = None
    model = []
    for token in tokens:
        found = _MEMORY.match(token)
        if found and model:
            memory = int(found.group(1))
        elif token not in VENDOR_TOKENS and token not in FORM_FACTOR_TOKENS:
            model.append(token)
    entry = FAMILIES.get("-".join(model))
    if entry is None:
        return normal, None, (), False
    family, sizes = entry
    if mig is not None:
        return "%s-%s%s" % (family, MIG_TOKEN, "-" + mig if mig else ""), None, (), True
    return family, memory, sizes, True


def kind_of(text, memory_mib=None):
    """The GpuKind of a product label or of a family a user wrote ('NVIDIA A100', 'NVIDIA-A100-80GB',
    'NVIDIA-A100-SXM4-80GB' all name A100s; the last two only the 80 GB ones). memory_mib: the gpu.memory label,
    read only when the text names no memory."""
    return _kind(str(text if text is not None else ""), memory_mib if isinstance(memory_mib, int) else None)


@lru_cache(maxsize=16384)
def _kind(text, memory_mib):
    family, memory, sizes, known = _parse(text)
    if not known:
        return GpuKind(family, None, False)
    if memory is None and memory_mib is not None and MIG_TOKEN not in family.split("-"):
        memory = memory_from_mib(memory_mib, sizes)
    return GpuKind(family, memory, True)


def family_name(text):
    """The canonical name of a family as written by a user or a label: kind_of(text).name."""
    return kind_of(text).name if normalise(text) else ""


def split_name(name):
    """A kind's name -> (family, memory GB or None): 'NVIDIA-A100-80GB' -> ('NVIDIA-A100', 80)."""
    kind = kind_of(name)
    return kind.family, kind.memory_gb


def join_name(family, memory_gb=None):
    """(family, memory GB) as a status row holds them -> the kind's name."""
    if memory_gb:
        return family_name("%s-%dGB" % (family, int(memory_gb)))
    return family_name(family)


def covers(request, kind):
    """Does a requested family (a quota key, a worker pool's or an app's family) take a GPU of `kind`?
    The families must be equal; the request's memory, when it names one, must be the kind's."""
    return _covers(str(request if request is not None else ""), str(kind if kind is not None else ""))


@lru_cache(maxsize=16384)
def _covers(request, kind):
    wanted, have = kind_of(request), kind_of(kind)
    return wanted.family == have.family and (wanted.memory_gb is None or wanted.memory_gb == have.memory_gb)


def overlaps(first, second):
    """Could one GPU be counted by both names (one covers the other)? Used where an allocation recorded
    without memory may stand on GPUs a request with memory asks for."""
    return covers(first, second) or covers(second, first)


def covering(keys, kind):
    """The keys (quota families) that cover `kind`, in the order given."""
    return [key for key in keys if covers(key, kind)]


def overlap_errors(keys, what):
    """Two keys of one quota must not both count a GPU (NVIDIA-A100 and NVIDIA-A100-80GB would count an 80 GB A100
    twice): one message per overlapping pair."""
    keys = sorted(keys)
    errors = []
    for index, first in enumerate(keys):
        for second in keys[index + 1:]:
            if overlaps(first, second):
                wide, narrow = (first, second) if covers(first, second) else (second, first)
                errors.append("%s lists %s and %s, which overlap (every %s is an %s); keep one"
                              % (what, wide, narrow, narrow, wide))
    return errors


def gpu_row(name, count):
    """A status row {family, memoryGB (when known), gpuCount} for `count` GPUs of a kind."""
    family, memory = split_name(name)
    row = {"family": family, "gpuCount": count}
    if memory:
        row["memoryGB"] = memory
    return row


def row_name(row):
    """The kind's name of a status row (family and memoryGB), as gpu_row wrote it or as an older run did."""
    return join_name((row or {}).get("family") or "", (row or {}).get("memoryGB"))


def node_kind(labels):
    """The GpuKind of a Node's GPUs from its labels (product, memory in MiB); None without a product label.
    A memory label that is not a whole number is left out here (the host model reports it)."""
    product = (labels or {}).get("nvidia.com/gpu.product")
    if not product:
        return None
    memory = str((labels or {}).get("nvidia.com/gpu.memory") or "").strip()
    return kind_of(product, int(memory) if memory.isdigit() else None)


def unknown_products(nodes):
    """{product label: [node names]} of GPU products the family table does not know (each its own family)."""
    found = {}
    for node in nodes:
        metadata = node.get("metadata") or {}
        product = (metadata.get("labels") or {}).get("nvidia.com/gpu.product")
        if product and not kind_of(product).known:
            found.setdefault(product, []).append(metadata.get("name") or "<unnamed>")
    return dict((product, sorted(names)) for product, names in sorted(found.items()))


def unknown_product_warnings(nodes, where=""):
    """One warning per unknown product, naming its nodes (at most five) and the family it is counted as."""
    warnings = []
    for product, names in unknown_products(nodes).items():
        shown = ", ".join(names[:5]) + (" and %d more" % (len(names) - 5) if len(names) > 5 else "")
        warnings.append("%sGPU product %s (node%s %s) is not in the family table; its GPUs count as a family of "
                        "their own, %s: quotas, worker pools and apps must name it so"
                        % (where, product, "s" if len(names) > 1 else "", shown, kind_of(product).name))
    return warnings


def products_of(name, nodes):
    """The product label values of the nodes whose GPUs `name` covers, sorted: what a pod's placement must
    select to land on those GPUs."""
    found = set()
    for node in nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        kind = node_kind(labels)
        if kind is not None and covers(name, kind.name):
            found.add(labels["nvidia.com/gpu.product"])
    return tuple(sorted(found))


__all__ = ["FAMILIES", "GpuKind", "kind_of", "family_name", "split_name", "join_name", "covers", "overlaps",
           "covering", "overlap_errors", "gpu_row", "row_name", "node_kind", "unknown_products",
           "unknown_product_warnings", "products_of", "memory_from_mib", "normalise"]
