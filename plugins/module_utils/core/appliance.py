"""The appliance's preflight: what each host reported (Ansible's facts and a probe of its tools and GPUs), held
against the minimums of its role, before any host is changed.

A run installs a control plane (the hub's on the leader, a spoke's on a compute pool's control-plane host) and
links edge hosts; every host is checked here, and every problem is reported at once with the host, the fact, its
value and the minimum. Which binaries a control plane runs is checked too: they must exist, be the pinned
Kubernetes version and match the architecture of the hosts that run them.

GPUs are read from `nvidia-smi` where the driver is installed, otherwise from the PCI devices of NVIDIA's vendor
id (0x10de) under /sys/bus/pci/devices: display (0x0300) and 3D (0x0302) controllers only, so the audio and USB
functions of a graphics card do not count as GPUs.
"""

from __future__ import annotations

import re

from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import kind_of, normalise
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    dns_subdomain_errors, normalise_architecture)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import apply_write

CONTROL_PLANE, EDGE = "control_plane", "edge"
ROLES = (CONTROL_PLANE, EDGE)
MINIMUM_KEYS = ("cpus", "memory_mb", "disk_free_mb", "gpus")
NVIDIA_VENDOR = "0x10de"
GPU_CLASSES = ("0x0300", "0x0302")  # PCI class (base, subclass): VGA-compatible and 3D controllers
UNKNOWN_MODEL = "NVIDIA-UNKNOWN"
# The control-plane binaries a run installs; kube-apiserver's --version is the one that is pinned.
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
# ELF e_machine -> the architecture a binary runs on.
ELF_MACHINES = {0x3E: "AMD64", 0xB7: "ARM64"}

# PCI device ids of NVIDIA data-centre GPUs -> (product as GPU feature discovery labels it, MiB per GPU). A device
# this table does not know is counted as NVIDIA-UNKNOWN with its id, never dropped.
PCI_MODELS = {
    "0x20b0": ("NVIDIA-A100-SXM4-40GB", 40960),
    "0x20b1": ("NVIDIA-A100-PCIE-40GB", 40960),
    "0x20b2": ("NVIDIA-A100-SXM4-80GB", 81920),
    "0x20b3": ("NVIDIA-A100-SXM-64GB", 65536),
    "0x20b5": ("NVIDIA-A100-80GB-PCIe", 81920),
    "0x20f1": ("NVIDIA-A100-PCIE-40GB", 40960),
    "0x2235": ("NVIDIA-A40", 49152),
    "0x2236": ("NVIDIA-A10", 24576),
    "0x2237": ("NVIDIA-A10G", 24576),
    "0x20b7": ("NVIDIA-A30", 24576),
    "0x25b6": ("NVIDIA-A16", 16384),
    "0x25b8": ("NVIDIA-A2", 16384),
    "0x2330": ("NVIDIA-H100-80GB-HBM3", 81920),
    "0x2331": ("NVIDIA-H100-PCIe", 81920),
    "0x2335": ("NVIDIA-H200", 144384),
    "0x26b5": ("NVIDIA-L40", 49152),
    "0x26b9": ("NVIDIA-L40S", 49152),
    "0x27b8": ("NVIDIA-L4", 23034),
    "0x1eb8": ("Tesla-T4", 15360),
    "0x1db1": ("Tesla-V100-SXM2-16GB", 16384),
    "0x1db4": ("Tesla-V100-PCIE-16GB", 16384),
    "0x1db5": ("Tesla-V100-SXM2-32GB", 32768),
    "0x1db6": ("Tesla-V100-PCIE-32GB", 32768),
}

_VERSION = re.compile(r"\bv\d+\.\d+\.\d+\S*")


# -- GPUs -------------------------------------------------------------------------------------------------------------

def _group(rows):
    """[(product, memory MiB or None)] -> GPU entries by product: family, model, count, memory_mib; sorted."""
    counted = {}
    for product, memory_mib in rows:
        key = (product, memory_mib)
        counted[key] = counted.get(key, 0) + 1
    gpus = []
    for (product, memory_mib), count in sorted(counted.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        entry = {"family": kind_of(product, memory_mib).family, "model": product, "count": count}
        if memory_mib:
            entry["memory_mib"] = memory_mib
        gpus.append(entry)
    return gpus


def gpus_from_nvidia_smi(text):
    """GPUs from `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` (one line per GPU:
    `NVIDIA A100-SXM4-80GB, 81920`)."""
    rows = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, sep, memory = line.rpartition(",")
        if not sep:
            name, memory = line, ""
        memory = memory.strip()
        rows.append((normalise(name) or UNKNOWN_MODEL, int(memory) if memory.isdigit() else None))
    return _group(rows)


def gpus_from_pci(devices):
    """GPUs from PCI devices [{address, vendor, device, class}] (the sysfs values, `0x10de`, `0x030200`): NVIDIA's
    display and 3D controllers, named by the device-id table."""
    rows = []
    for device in devices:
        if str(device.get("vendor", "")).lower() != NVIDIA_VENDOR:
            continue
        if not str(device.get("class", "")).lower().startswith(GPU_CLASSES):
            continue
        device_id = str(device.get("device", "")).lower()
        product, memory_mib = PCI_MODELS.get(device_id, ("%s-%s" % (UNKNOWN_MODEL, device_id[2:].upper()), None))
        rows.append((product, memory_mib))
    return _group(rows)


def parse_probe(text):
    """The probe script's output -> {tools: {name: path}, nvidia_smi: text or None, pci: [devices]}.

    Lines: `tool <name> <path>` for each tool found, `nvidia-smi <csv line>` per GPU the driver lists (the word
    `nvidia-smi-failed` when it is there but fails), `pci <address> <vendor> <device> <class>` per NVIDIA device."""
    tools, smi, pci, smi_failed = {}, [], [], False
    for line in (text or "").splitlines():
        word, sep, rest = line.partition(" ")
        if word == "tool" and sep:
            name, unused, path = rest.partition(" ")
            tools[name] = path.strip()
        elif word == "nvidia-smi":
            smi.append(rest)
        elif word == "nvidia-smi-failed":
            smi_failed = True
        elif word == "pci":
            fields = rest.split()
            if len(fields) == 4:
                pci.append(dict(zip(("address", "vendor", "device", "class"), fields)))
    return {"tools": tools, "nvidia_smi": None if smi_failed or "nvidia-smi" not in tools else "\n".join(smi),
            "pci": pci}


def gpus_of(probe):
    """(GPU entries, where they were read): nvidia-smi when it ran, else the PCI devices."""
    if probe.get("nvidia_smi") is not None:
        return gpus_from_nvidia_smi(probe["nvidia_smi"]), "nvidia-smi"
    return gpus_from_pci(probe.get("pci") or ()), "pci"


def gpu_count(gpus):
    return sum(int(entry.get("count") or 0) for entry in gpus or ())


# -- facts ------------------------------------------------------------------------------------------------------------

def disk_free_mb(mounts, path):
    """MB free on the filesystem holding `path`: the mount with the longest prefix of it (None: no mount known)."""
    best = None
    for mount in mounts or ():
        point = str(mount.get("mount") or "")
        if not point or mount.get("size_available") is None:
            continue
        inside = path == point or path.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and (best is None or len(point) > len(str(best.get("mount")))):
            best = mount
    return None if best is None else int(best["size_available"]) // (1024 * 1024)


def host_facts(name, facts, probe_text, install_dir):
    """One host's facts as the platform keeps them: architecture (AMD64/ARM64, or the machine's own word when the
    platform does not support it), cpus, memory_mb, disk_free_mb (where the appliance installs), os, address,
    machine_id, service manager, tools and GPUs. `facts`: Ansible's ansible_facts of the host."""
    facts = facts or {}
    probe = parse_probe(probe_text)
    gpus, source = gpus_of(probe)
    raw_arch = facts.get("architecture")
    ipv4 = facts.get("default_ipv4") or {}
    return {
        "name": name,
        "architecture": normalise_architecture(raw_arch) or str(raw_arch or "unknown"),
        "cpus": int(facts.get("processor_vcpus") or facts.get("processor_count") or 0),
        "memory_mb": int(facts.get("memtotal_mb") or 0),
        "disk_free_mb": disk_free_mb(facts.get("mounts"), install_dir),
        "os": " ".join(str(facts.get(key)) for key in ("distribution", "distribution_version") if facts.get(key)),
        "os_family": facts.get("os_family") or "",
        "system": facts.get("system") or "",
        "address": ipv4.get("address") or "",
        "addresses": sorted(set(facts.get("all_ipv4_addresses") or ())),
        "machine_id": facts.get("machine_id") or "",
        "service_mgr": facts.get("service_mgr") or "",
        "tools": probe["tools"],
        "gpus": gpus,
        "gpu_count": gpu_count(gpus),
        "gpu_source": source,
    }


# -- the decision ----------------------------------------------------------------------------------------------------

def minimum_errors(name, facts, minimums, where):
    """Every fact of the host below its minimum, named with its value and the minimum."""
    errors = []
    for key in MINIMUM_KEYS:
        minimum = (minimums or {}).get(key)
        if minimum is None:
            continue
        value = facts.get("gpu_count") if key == "gpus" else facts.get(key)
        if value is None:
            errors.append("%s: %s is unknown (Ansible reported no value); the minimum is %s (%s.%s)"
                          % (name, key, minimum, where, key))
        elif value < minimum:
            errors.append("%s: %s is %s, below the minimum %s (%s.%s)" % (name, key, value, minimum, where, key))
    return errors


def binary_version(output):
    """The version `kube-apiserver --version` prints (`Kubernetes v1.20.2` -> `v1.20.2`), or ""."""
    found = _VERSION.search(output or "")
    return found.group(0) if found else ""


def elf_architecture(header):
    """The architecture an ELF executable runs on, from its first 20 bytes; "" when it is no ELF file."""
    header = bytes(header or b"")
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return ""
    little = header[5] == 1
    machine = int.from_bytes(header[18:20], "little" if little else "big")
    return ELF_MACHINES.get(machine, "machine type 0x%x" % machine)


def binaries_errors(binaries, pinned):
    """binaries: {path, exists, missing: [names], version output, architecture}; the pinned kube-apiserver
    version. Errors name the folder, what is wrong and what is expected."""
    path = binaries.get("path") or ""
    if not binaries.get("exists"):
        return ["control-plane binaries: %s does not exist on the controller; give a folder holding %s "
                "(appliance_binaries_dir), e.g. the one `make control-plane` prints" % (path, ", ".join(BINARIES))]
    errors = []
    if binaries.get("missing"):
        errors.append("control-plane binaries: %s has no executable %s; it must hold %s"
                      % (path, ", ".join(binaries["missing"]), ", ".join(BINARIES)))
    if "kube-apiserver" not in (binaries.get("missing") or ()):
        version = binary_version(binaries.get("version_output"))
        if version != pinned:
            output = (binaries.get("version_output") or "")[:80]
            said = "says %s" % version if version else "printed no version (%r)" % output
            errors.append("control-plane binaries: %s/kube-apiserver --version %s; the pinned version is %s "
                          "(appliance_kubernetes_version)" % (path, said, pinned))
    return errors


def preflight_errors(hosts, minimums, control_planes, binaries=None, pinned=None):
    """Every reason not to start, for all hosts at once.

    hosts: {name: {"role": control_plane|edge, "reachable": bool, "address": str, "facts": host_facts(...) or
    None}}; minimums: {role: {cpus, memory_mb, disk_free_mb, gpus}} (the role argument's name is in each error);
    control_planes: {cluster: [host names]} - each cluster needs exactly one; binaries: what the controller found
    in the binaries folder (see binaries_errors), checked when any control-plane host is in the run."""
    errors = []
    for cluster in sorted(control_planes):
        members = sorted(control_planes[cluster] or ())
        if len(members) != 1:
            errors.append("%s: the control plane runs on exactly one host; %d are given (%s)"
                          % (cluster, len(members), ", ".join(members) or "none"))
    for name in sorted(hosts):
        host = hosts[name]
        errors.extend("%s: host name: %s" % (name, error) for error in dns_subdomain_errors(name, "name"))
        if not host.get("reachable") or not host.get("facts"):
            errors.append("%s (%s): unreachable - Ansible could not connect or gather its facts; no host was changed"
                          % (name, host.get("address") or "no address"))
            continue
        facts, role = host["facts"], host.get("role") or EDGE
        label = "appliance_control_plane_minimums" if role == CONTROL_PLANE else "appliance_edge_minimums"
        errors.extend(minimum_errors(name, facts, (minimums or {}).get(role), label))
        if normalise_architecture(facts.get("architecture")) is None:
            errors.append("%s: architecture is %s; the platform runs on AMD64 and ARM64"
                          % (name, facts.get("architecture")))
        if facts.get("system") and facts["system"] != "Linux":
            errors.append("%s: system is %s; the appliance installs on Linux" % (name, facts["system"]))
        if host.get("address") and facts.get("addresses") and host["address"] not in facts["addresses"]:
            errors.append("%s: address %s is not one of the host's own (%s); the control plane binds it and edge "
                          "hosts register with it" % (name, host["address"], ", ".join(facts["addresses"])))
        if role == CONTROL_PLANE:
            errors.extend(_control_plane_errors(name, facts, binaries))
    if binaries is not None and any(h.get("role") == CONTROL_PLANE for h in hosts.values()):
        errors.extend(binaries_errors(binaries, pinned))
    return errors


def _control_plane_errors(name, facts, binaries):
    errors = []
    tools = facts.get("tools") or {}
    if "openssl" not in tools:
        errors.append("%s: openssl is missing (it makes the cluster's CA, certificates and tokens on the host); "
                      "install it (Debian: apt-get install openssl)" % name)
    if facts.get("service_mgr") != "systemd" and "start-stop-daemon" not in tools:
        errors.append("%s: no systemd and no start-stop-daemon (service manager: %s); the control plane needs one "
                      "of them to run as services" % (name, facts.get("service_mgr") or "unknown"))
    wanted = (binaries or {}).get("architecture")
    have = normalise_architecture(facts.get("architecture"))
    if wanted and have and wanted != have:
        errors.append("%s: architecture is %s, but the control-plane binaries are built for %s"
                      % (name, have, wanted))
    return errors


def host_summary(facts):
    """What a run reports per host (and an EdgeHost records): the facts without the tools and mounts."""
    keys = ("architecture", "cpus", "memory_mb", "disk_free_mb", "os", "address", "machine_id", "gpus", "gpu_count",
            "gpu_source")
    return dict((key, facts.get(key)) for key in keys)


# -- a new cluster's CRDs --------------------------------------------------------------------------------------------

def plan_crds(documents, live):
    """(errors, writes) applying CustomResourceDefinitions to a cluster the appliance installed (OCM's klusterlet
    CRD on a new spoke, say). documents: the CRDs; live: {name: the CRD as stored, or None}."""
    errors, writes = [], []
    for index, document in enumerate(documents or ()):
        metadata = (document.get("metadata") or {}) if isinstance(document, dict) else {}
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition" \
                or document.get("apiVersion") != "apiextensions.k8s.io/v1" or not metadata.get("name"):
            errors.append("crds[%d]: expected an apiextensions.k8s.io/v1 CustomResourceDefinition with a name, got %s"
                          % (index, _describe(document)))
            continue
        write = apply_write(document, live.get(metadata["name"]))
        if write is not None:
            writes.append(write)
    return errors, writes


def _describe(document):
    if not isinstance(document, dict):
        return type(document).__name__
    return "%s %s" % (document.get("apiVersion"), document.get("kind"))
